"""One config fragment per object: its file, canonical text, atomic writes and the lock.

``<config_dir>/instances.d/NAME.json`` and ``<config_dir>/sync_groups.d/NAME.json``
hold one object each in canonical JSON (sorted keys, two-space indent), so an
unchanged object gives the same bytes and nothing is written. A file is
replaced atomically (temp file, fsync, rename, fsync of the directory) with
mode 0644, or 0600 when it holds a password.

The change set that validates the whole directory as it will be, writes it,
reloads the runner once and puts every file back on a refusal is
:mod:`ansible_vrrp_changeset`; it runs under :func:`config_lock`, the one
exclusive ``flock`` on ``<config_dir>/.lock``: two runs at once (two plays,
two forks of one) each validate the directory the other left, never one that
changes under them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config import (
    ConfigFileError,
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
            os.makedirs(config_dir, mode=0o750, exist_ok=True)
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


def _fsync_dir(path: str) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
