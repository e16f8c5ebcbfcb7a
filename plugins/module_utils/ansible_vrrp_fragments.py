"""One config fragment per object: validate the whole set, write atomically, reload.

``vrrp_instance`` and ``vrrp_sync_group`` share this flow
(``<config_dir>/instances.d/NAME.json``, ``<config_dir>/sync_groups.d/NAME.json``):

1. the new fragment is canonical JSON (sorted keys, two-space indent), so an
   unchanged object gives the same bytes and nothing is written;
2. the directory as it would be after the change is loaded with
   :func:`vrrp.config.load_dir` (a shadow copy of symlinks plus the new file)
   so cross-object errors (a VRID twice on one interface, a sync group member
   that would vanish) fail before anything is touched;
3. the file is written atomically (temp file, fsync, rename, fsync of the
   directory) with mode 0644, or 0600 when it holds a password;
4. the runner is asked to reload. If it refuses, the previous file is put
   back (or the new one removed) and the module fails with the runner's
   error. If no runner listens, the file stays and ``reloaded`` is false: the
   runner reads the directory when it starts (the role starts it later).

Steps 1-4 (from reading the old fragment to the end of the reload) run under
an exclusive ``flock`` on ``<config_dir>/.lock``, shared by both kinds: two
runs at once (two plays, two forks of one) each validate the directory the
other left, never one that changes under them. Check mode stops after step 2,
takes no lock (it writes nothing) and predicts ``changed`` and the diff.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from ansible_collections.failover.vrrp.plugins.module_utils.vrrp import control
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config import (
    ConfigFileError,
    load_dir,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import (
    ConfigError,
    ControlError,
)

SUBDIRS: Final = ("instances.d", "sync_groups.d")
RELOAD_TIMEOUT: Final = 30.0
HIDDEN: Final = "********"
LOCK_NAME: Final = ".lock"
# Another run holds the lock for its validation, write and reload (at most
# RELOAD_TIMEOUT); a few of them may queue up before this one.
LOCK_TIMEOUT: Final = 4 * RELOAD_TIMEOUT
LOCK_POLL: Final = 0.05


def canonical_text(obj: Any) -> str:
    """The bytes a fragment holds: stable for equal objects."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def hide_secrets(obj: Any) -> Any:
    """A copy with the VRRPv2 password replaced, for results, diffs and logs."""
    if not isinstance(obj, dict):
        return obj
    auth = obj.get("authentication")
    if isinstance(auth, dict) and "password" in auth:
        return {**obj, "authentication": {**auth, "password": HIDDEN}}
    return obj


@contextlib.contextmanager
def config_lock(config_dir: str) -> Iterator[None]:
    """Hold the exclusive ``flock`` on ``<config_dir>/.lock`` (created 0600).

    ``flock`` belongs to the open file, so two runs conflict whether they are
    processes or threads, and the lock goes with the file descriptor when a run
    dies. Waits up to :data:`LOCK_TIMEOUT`, then fails naming the lock file.
    """
    path = os.path.join(config_dir, LOCK_NAME)
    try:
        with contextlib.suppress(FileExistsError):  # not a directory: open says so
            os.makedirs(config_dir, mode=0o755, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise ControlError(f"cannot lock {config_dir} ({path}): {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ControlError(
                        f"another task is changing {config_dir}: it has held {path} for "
                        f"more than {LOCK_TIMEOUT:g} s; nothing was changed"
                    ) from None
                time.sleep(LOCK_POLL)
        yield
    finally:
        os.close(fd)


class RunnerRefusedError(ConfigError):
    """The runner refused the reload; the previous file is back on disk."""

    def __init__(self, message: str, *, path: str, rule: str) -> None:
        super().__init__(path, rule)
        self.args = (message,)


@dataclass(frozen=True)
class Previous:
    """A fragment as it was before the change (``text`` None: there was none)."""

    text: str | None
    mode: int


@dataclass
class Outcome:
    """What :meth:`FragmentStore.apply` did."""

    changed: bool
    reloaded: bool
    before: str
    after: str
    warnings: list[str]


class FragmentStore:
    """The fragments of one kind (``instances.d`` or ``sync_groups.d``) under ``config_dir``."""

    def __init__(self, config_dir: str, subdir: str) -> None:
        if subdir not in SUBDIRS:
            raise ValueError(f"unknown fragment directory {subdir!r}")
        self.config_dir = config_dir
        self.subdir = subdir

    def path(self, name: str) -> str:
        return os.path.join(self.config_dir, self.subdir, f"{name}.json")

    def read(self, name: str) -> Previous:
        path = self.path(name)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            return Previous(text=None, mode=0o644)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigFileError(file=path, path="", rule=f"cannot be read: {exc}") from None
        return Previous(text=text, mode=mode)

    # -- validation of the directory as it would be ------------------------------

    def validate(self, name: str, text: str | None) -> None:
        """Load the directory with ``name`` replaced by ``text`` (None: removed)."""
        shadow = tempfile.mkdtemp(prefix=".failover-vrrp-check.")
        try:
            for subdir in SUBDIRS:
                real = os.path.join(self.config_dir, subdir)
                os.mkdir(os.path.join(shadow, subdir))
                entries = sorted(os.listdir(real)) if os.path.isdir(real) else []
                for entry in entries:
                    if subdir == self.subdir and entry == f"{name}.json":
                        continue
                    os.symlink(os.path.join(real, entry), os.path.join(shadow, subdir, entry))
            if text is not None:
                with open(self._shadow_path(shadow, name), "w", encoding="utf-8") as handle:
                    handle.write(text)
            try:
                load_dir(shadow)
            except ConfigFileError as exc:
                file, rule = exc.file, exc.rule
                if file.startswith(shadow + os.sep):
                    file = os.path.join(self.config_dir, file[len(shadow) + 1 :])
                if text is not None and exc.file != self._shadow_path(shadow, name):
                    # A cross-check blames the later file of a clash, which may be
                    # one this task does not touch: say which object caused it.
                    rule = (
                        f"{rule} (a clash with {self.subdir}/{name}.json as this task declares it)"
                    )
                raise ConfigFileError(file=file, path=exc.path, rule=rule, line=exc.line) from None
        finally:
            shutil.rmtree(shadow, ignore_errors=True)

    def _shadow_path(self, shadow: str, name: str) -> str:
        return os.path.join(shadow, self.subdir, f"{name}.json")

    # -- writing -------------------------------------------------------------------

    def write(self, name: str, text: str, *, mode: int) -> None:
        """Replace the fragment atomically; readers see the old or the new file."""
        directory = os.path.join(self.config_dir, self.subdir)
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise ControlError(f"cannot write in {directory}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), mode)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path(name))
            _fsync_dir(directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ControlError(f"cannot write {self.path(name)}: {exc.strerror or exc}") from None

    def remove(self, name: str) -> None:
        try:
            os.unlink(self.path(name))
            _fsync_dir(os.path.dirname(self.path(name)))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ControlError(f"cannot remove {self.path(name)}: {exc.strerror or exc}") from None

    def restore(self, name: str, previous: Previous) -> None:
        """Put back what :meth:`read` saw."""
        if previous.text is None:
            self.remove(name)
        else:
            self.write(name, previous.text, mode=previous.mode)

    # -- the whole flow ------------------------------------------------------------

    def apply(
        self,
        name: str,
        text: str | None,
        *,
        mode: int,
        check_mode: bool,
        reload: bool,
        control_socket: str,
    ) -> Outcome:
        """Make the fragment ``name`` hold ``text`` (None: absent); see the module docstring."""
        lock = contextlib.nullcontext() if check_mode else config_lock(self.config_dir)
        with lock:
            return self._apply(
                name, text, mode=mode, check_mode=check_mode, reload=reload,
                control_socket=control_socket,
            )  # fmt: skip

    def _apply(
        self,
        name: str,
        text: str | None,
        *,
        mode: int,
        check_mode: bool,
        reload: bool,
        control_socket: str,
    ) -> Outcome:
        previous = self.read(name)
        outcome = Outcome(
            changed=previous.text != text,
            reloaded=False,
            before=previous.text or "",
            after=text or "",
            warnings=[],
        )
        if not outcome.changed:
            return outcome
        self.validate(name, text)
        if check_mode:
            return outcome
        if text is None:
            self.remove(name)
        else:
            self.write(name, text, mode=mode)
        if reload:
            outcome.reloaded = self._reload(name, previous, control_socket, outcome.warnings)
        return outcome

    def _reload(self, name: str, previous: Previous, socket: str, warnings: list[str]) -> bool:
        try:
            response = control.request(socket, {"cmd": "reload"}, timeout=RELOAD_TIMEOUT)
        except control.NoRunnerError:
            warnings.append(
                f"no runner is listening on {socket}: {self.path(name)} is written and "
                "the runner will read it when it starts"
            )
            return False
        except ControlError as exc:
            # The runner may or may not have applied it: the file stays as asked.
            raise ControlError(
                f"{exc}; {self.path(name)} is written but the runner did not confirm the "
                "reload (check the runner, then run again)"
            ) from None
        if response["ok"]:
            return True
        self.restore(name, previous)
        what = "restored" if previous.text is not None else "removed again"
        message = (
            f"the runner refused the new configuration and keeps running the previous "
            f"one ({self.path(name)} was {what}): {response.get('error', 'refused')}"
        )
        raise RunnerRefusedError(
            message, path=str(response.get("path", "")), rule=str(response.get("rule", message))
        )


def _fsync_dir(path: str) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def apply_fragment(
    module: Any, store: FragmentStore, name: str, wanted: dict[str, Any] | None, *, secret: bool
) -> dict[str, Any]:
    """Run :meth:`FragmentStore.apply` for a module; the result for ``exit_json``.

    ``wanted`` is the canonical object (None: absent); ``secret`` makes the file
    0600. The returned object and the diff never show the password.
    """
    params = module.params
    outcome = store.apply(
        name,
        None if wanted is None else canonical_text(wanted),
        mode=0o600 if secret else 0o644,
        check_mode=module.check_mode,
        reload=params["reload"],
        control_socket=params["control_socket"],
    )
    for warning in outcome.warnings:
        module.warn(warning)
    key = "instance" if store.subdir == "instances.d" else "sync_group"
    result: dict[str, Any] = {
        "changed": outcome.changed,
        key: hide_secrets(wanted) if wanted is not None else {},
        "path": store.path(name),
        "reloaded": outcome.reloaded,
    }
    if module._diff:
        result["diff"] = {
            "before": _shown(outcome.before),
            "after": _shown(outcome.after),
            "before_header": store.path(name),
            "after_header": store.path(name),
        }
    return result


def _shown(text: str) -> str:
    """A fragment's text for a diff, its password hidden."""
    if not text:
        return ""
    try:
        obj = json.loads(text)
    except ValueError:
        return f"(not valid JSON, {len(text)} characters: replaced)\n"
    return canonical_text(hide_secrets(obj))
