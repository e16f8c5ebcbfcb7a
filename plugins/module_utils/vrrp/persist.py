"""Runtime state that outlives the runner: ``<lib_dir>/runtime.json``.

Today that is the maintenance demotions (``vrrp.ctl demote``): a host demoted
for maintenance must stay demoted across a restart or a reboot, or it would
take the master role back in the middle of the work.

The file is written atomically (a temp file in the same directory, fsync,
rename over the old file, fsync of the directory), mode 0600, so a crash
leaves the old or the new state, never half of one. A file that cannot be
read or does not hold what we wrote is not fatal, but it fails safe: the
demotions it held are lost, so :meth:`RuntimeState.load` keeps the file as
``runtime.json.bad`` for a person to look at and starts in *fail-safe*:
:meth:`RuntimeState.demotion_for` is 0 (resign) for every instance until an
operator restores it (or all of them), so a host demoted for maintenance does
not take the master role back. The reason is in :attr:`RuntimeState.fail_safe`
(the control socket's ``state``, the facts) and the log, and it is written to
the new file at once, so a restart before the restore keeps it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Final

from .errors import ConfigError, ControlError
from .priorities import MAX_DEMOTION, MIN_DEMOTION

log = logging.getLogger("failover-vrrp.persist")

FILENAME: Final = "runtime.json"
FORMAT: Final = 1


MAX_SIZE: Final = 1 << 20  # bytes; the record is a few bytes per instance


def _fail_safe_of(document: Any) -> tuple[str, set[str]] | None:
    record = document.get("fail_safe")
    if record is None:
        return None
    if not isinstance(record, dict) or set(record) - {"reason", "restored"}:
        raise ConfigError("fail_safe", "must be an object with 'reason' and 'restored'")
    reason, restored = record.get("reason"), record.get("restored", [])
    if not isinstance(reason, str) or not reason:
        raise ConfigError("fail_safe.reason", "must be a non-empty string")
    if not isinstance(restored, list) or not all(isinstance(n, str) and n for n in restored):
        raise ConfigError("fail_safe.restored", "must be a list of instance names")
    return reason, set(restored)


def _demotions_of(document: Any) -> dict[str, int]:
    """Check a decoded file; raise :class:`ConfigError` naming the bad part."""
    if not isinstance(document, dict):
        raise ConfigError("", "runtime state must be a JSON object")
    unknown = sorted(set(document) - {"format", "demotions", "fail_safe"})
    if unknown:
        raise ConfigError(unknown[0], "unknown key in runtime state")
    if document.get("format") != FORMAT:
        raise ConfigError("format", f"runtime state format must be {FORMAT}")
    demotions = document.get("demotions", {})
    if not isinstance(demotions, dict):
        raise ConfigError("demotions", "must be an object of instance name to priority")
    for name, priority in demotions.items():
        if not name:
            raise ConfigError("demotions", "instance names must not be empty")
        if (
            isinstance(priority, bool)
            or not isinstance(priority, int)
            or not MIN_DEMOTION <= priority <= MAX_DEMOTION
        ):
            raise ConfigError(
                f"demotions.{name}",
                f"priority must be an integer from {MIN_DEMOTION} to {MAX_DEMOTION}",
            )
    return dict(demotions)


@dataclass
class RuntimeState:
    """What the runner must remember across restarts, and where."""

    lib_dir: str
    demotions: dict[str, int] = field(default_factory=dict)
    load_error: str | None = None  # why the file on disk was not used, if it was not
    fail_safe: str | None = None  # why every instance is demoted, until restored
    restored: set[str] = field(default_factory=set)  # restored since the fail-safe began

    @property
    def path(self) -> str:
        return os.path.join(self.lib_dir, FILENAME)

    @classmethod
    def read(cls, lib_dir: str) -> RuntimeState:
        """The state on disk (empty if there is none); a bad file raises ConfigError."""
        state = cls(lib_dir)
        try:
            with open(state.path, "rb") as fh:
                raw = fh.read(MAX_SIZE + 1)
        except FileNotFoundError:
            return state
        except OSError as exc:
            raise ConfigError("", f"cannot read: {exc.strerror or exc}") from exc
        if len(raw) > MAX_SIZE:
            raise ConfigError("", f"larger than {MAX_SIZE} bytes")
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ConfigError("", f"not valid JSON ({exc})") from exc
        state.demotions = _demotions_of(document)
        fail_safe = _fail_safe_of(document)
        if fail_safe is not None:
            state.fail_safe, state.restored = fail_safe
        return state

    @classmethod
    def load(cls, lib_dir: str) -> RuntimeState:
        """Like :meth:`read`, but a bad file gives an empty state and ``load_error``."""
        try:
            return cls.read(lib_dir)
        except ConfigError as exc:
            state = cls(lib_dir)
            where = f" at {exc.path}" if exc.path else ""
            message = f"{state.path}: {exc.rule}{where}; its demotions are lost"
            moved = False
            try:
                os.replace(state.path, state.path + ".bad")
                message += f", the bad file is kept as {state.path}.bad"
                moved = True
            except OSError as move:
                message += f" (could not move the bad file aside: {move.strerror or move})"
            message += (
                "; fail safe: every instance starts demoted (priority 0) until an operator "
                "restores it (vrrp.ctl restore)"
            )
            state.load_error = state.fail_safe = message
            log.error("%s", message)
            if moved:
                # Recorded at once: a restart before the restore must find it.
                try:
                    state.save()
                except ControlError as save:
                    log.error("%s", save)
            return state

    def demotion_for(self, name: str) -> int | None:
        """The runtime priority of instance ``name``: None when not demoted.

        In fail-safe every instance not restored since is demoted to 0.
        """
        demotion = self.demotions.get(name)
        if demotion is None and self.fail_safe is not None and name not in self.restored:
            return 0
        return demotion

    def restore(self, name: str) -> bool:
        """Remove the demotion of ``name`` (also a fail-safe one); True if it had one."""
        had = self.demotion_for(name) is not None
        self.demotions.pop(name, None)
        if self.fail_safe is not None:
            self.restored.add(name)
        return had

    def end_fail_safe(self) -> None:
        """Every instance restored: the fail-safe is over (also for instances added later)."""
        self.fail_safe = None
        self.restored.clear()

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "format": FORMAT,
            "demotions": dict(sorted(self.demotions.items())),
        }
        if self.fail_safe is not None:
            document["fail_safe"] = {"reason": self.fail_safe, "restored": sorted(self.restored)}
        return document

    def save(self) -> None:
        """Write atomically; raise :class:`ControlError` (the request that asked fails)."""
        data = json.dumps(self.as_dict(), indent=2).encode() + b"\n"
        try:
            os.makedirs(self.lib_dir, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{FILENAME}.", suffix=".tmp", dir=self.lib_dir)
        except OSError as exc:
            raise ControlError(
                f"cannot save runtime state in {self.lib_dir}: {exc.strerror or exc}"
            ) from exc
        try:
            with os.fdopen(fd, "wb") as fh:  # mkstemp made it 0600
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.lib_dir)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ControlError(
                f"cannot save runtime state to {self.path}: {exc.strerror or exc}"
            ) from exc


def _fsync_dir(path: str) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
