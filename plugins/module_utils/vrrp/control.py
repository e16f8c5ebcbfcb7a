"""The control socket: JSON requests over a root-only UNIX stream socket.

The protocol is newline-delimited JSON: a client sends one JSON object per
line and reads one JSON object per line back, as many requests per connection
as it likes::

    → {"cmd": "demote", "instance": "web", "priority": 50}
    ← {"ok": true, "result": {"demoted": {"web": 50}}}
    → {"cmd": "history", "limit": "ten"}
    ← {"ok": false, "error": "history: 'limit' must be an integer ...", "kind": "ControlError"}

A refused request names what was wrong; a :class:`~vrrp.errors.ConfigError`
(a reload of a bad config) adds its ``path`` and ``rule``. Nothing a client
sends can stop the server: bad JSON, unknown commands or arguments, oversize
lines, slow or vanishing clients and handler exceptions all end in an error
response (or a closed connection) and a log line.

Access: the socket file is created with mode 0600 and every peer's uid is
checked with ``SO_PEERCRED`` (the kernel's credentials of the connecting
process) against ``allowed_uids``, so a relaxed mode alone opens nothing.

The runner implements :class:`ControlHandler`; :func:`request` and
:func:`call` are the blocking client used by ``vrrp.ctl`` and the Ansible
modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from .errors import ConfigError, ControlError, VRRPError
from .priorities import MAX_DEMOTION, MIN_DEMOTION

log = logging.getLogger("failover-vrrp.control")

DEFAULT_SOCKET: Final = "/run/failover-vrrp/control.sock"
MAX_LINE: Final = 64 * 1024
READ_TIMEOUT: Final = 30.0
WRITE_TIMEOUT: Final = 10.0
MAX_CLIENTS: Final = 64
_UCRED: Final = struct.Struct("3i")  # struct ucred: pid, uid, gid (linux/socket.h)


class ControlHandler(Protocol):
    """What the runner answers; one method per command, results JSON-able."""

    def state(self) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...

    def history(self, instance: str | None = None, limit: int = 20) -> dict[str, Any]: ...

    async def reload(self) -> dict[str, Any]: ...

    def demote(self, instance: str | None = None, priority: int = 0) -> dict[str, Any]: ...

    def restore(self, instance: str | None = None) -> dict[str, Any]: ...

    def version(self) -> dict[str, Any]: ...


class NoRunnerError(ControlError):
    """No runner listens on the control socket (file missing or connection refused)."""


# ----------------------------------------------------------------- requests


@dataclass(frozen=True)
class _Arg:
    """One argument of a command: an instance name or a bounded integer."""

    kind: str  # "name" or "int"
    minimum: int = 0
    maximum: int = 0

    def check(self, cmd: str, key: str, value: Any) -> None:
        if self.kind == "name":
            if value is not None and (not isinstance(value, str) or not value):
                raise ControlError(
                    f"{cmd}: {key!r} must be an instance name (a non-empty string) or null, "
                    f"not {_json_type(value)}"
                )
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise ControlError(f"{cmd}: {key!r} must be an integer, not {_json_type(value)}")
        if not self.minimum <= value <= self.maximum:
            raise ControlError(
                f"{cmd}: {key!r} must be from {self.minimum} to {self.maximum}, not {value}"
            )


_INSTANCE: Final = _Arg("name")
# The one table of commands and the arguments each accepts (all optional).
COMMANDS: Final[Mapping[str, Mapping[str, _Arg]]] = {
    "state": {},
    "stats": {},
    "history": {"instance": _INSTANCE, "limit": _Arg("int", 1, 10_000)},
    "reload": {},
    # A demotion: see vrrp.priorities.
    "demote": {"instance": _INSTANCE, "priority": _Arg("int", MIN_DEMOTION, MAX_DEMOTION)},
    "restore": {"instance": _INSTANCE},
    "version": {},
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names.update({list: "an array", dict: "an object"})
    return names.get(type(value), type(value).__name__)


MAX_NUMBER_DIGITS: Final = 20  # every argument fits in far fewer


def _number(kind: type[int] | type[float]) -> Any:
    def parse(literal: str) -> int | float:
        # Python refuses to convert integers of over 4300 digits with a bare
        # ValueError; no argument needs more than a few digits anyway.
        digits = sum(ch.isdigit() for ch in literal)
        if digits > MAX_NUMBER_DIGITS:
            raise ControlError(
                f"request holds a number of {digits} digits (at most {MAX_NUMBER_DIGITS})"
            )
        return kind(literal)

    return parse


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would keep the last of two equal keys: which did the client mean?
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ControlError(f"request is ambiguous: {key!r} is given twice")
        result[key] = value
    return result


def parse_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """Decode and check one request line; return the command and its arguments."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ControlError(f"request is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ControlError("empty request: send one JSON object per line")
    try:
        request = json.loads(
            text, parse_int=_number(int), parse_float=_number(float), object_pairs_hook=_object
        )
    except json.JSONDecodeError as exc:
        raise ControlError(
            f"request is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ControlError("request is not valid JSON: nested too deeply") from None
    if not isinstance(request, dict):
        raise ControlError(f"request must be a JSON object, not {_json_type(request)}")
    commands = ", ".join(COMMANDS)
    if "cmd" not in request:
        raise ControlError(f"request has no 'cmd' (one of: {commands})")
    cmd = request.pop("cmd")
    if not isinstance(cmd, str):
        raise ControlError(f"'cmd' must be a string (one of: {commands}), not {_json_type(cmd)}")
    spec = COMMANDS.get(cmd)
    if spec is None:
        raise ControlError(f"unknown command {cmd!r} (one of: {commands})")
    for key, value in request.items():
        arg = spec.get(key)
        if arg is None:
            allowed = ", ".join(repr(k) for k in spec) or "none"
            raise ControlError(f"{cmd}: unknown argument {key!r} (allowed: {allowed})")
        arg.check(cmd, key, value)
    return cmd, request


def error_response(exc: BaseException) -> dict[str, Any]:
    """The response for a refused request."""
    response: dict[str, Any] = {"ok": False, "error": str(exc), "kind": type(exc).__name__}
    if isinstance(exc, ConfigError):
        response.update(path=exc.path, rule=exc.rule)
    return response


def _encode(response: Mapping[str, Any]) -> bytes:
    return json.dumps(response, separators=(",", ":"), allow_nan=False).encode() + b"\n"


# ------------------------------------------------------------------- server


async def close_server(
    server: asyncio.AbstractServer, clients: dict[asyncio.Task[Any], asyncio.StreamWriter]
) -> None:
    """Stop accepting and end every client connection (``clients``: task -> writer,
    each task removing itself when it ends)."""
    server.close()
    while clients:
        # Abort and cancel until they are gone: before Python 3.12,
        # wait_for() swallows a cancellation that races with its inner
        # future finishing, so one cancel() is not always enough.
        for task, writer in list(clients.items()):
            writer.transport.abort()
            task.cancel()
        await asyncio.wait(list(clients), timeout=0.1)
    await server.wait_closed()


class ControlServer:
    """Serve :class:`ControlHandler` on a UNIX stream socket at ``path``."""

    def __init__(
        self,
        path: str,
        handler: ControlHandler,
        *,
        allowed_uids: tuple[int, ...] = (0, os.getuid()),
        read_timeout: float = READ_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.path = path
        self.handler = handler
        self.allowed_uids = frozenset(allowed_uids)
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.max_clients = max_clients
        self._server: asyncio.AbstractServer | None = None
        self._inode: tuple[int, int] | None = None
        self._clients: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._reload_lock: asyncio.Lock | None = None  # made in start(): Python 3.9 binds a loop

    async def start(self) -> None:
        """Bind the socket (mode 0600) and start serving."""
        self._reload_lock = asyncio.Lock()
        sock = self._bind()
        try:
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_LINE)
        except BaseException:
            sock.close()
            self._unlink()
            raise
        log.debug("control socket listening on %s", self.path)

    def _bind(self) -> socket.socket:
        self._remove_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # umask around bind so the file never exists with a wider mode,
            # chmod after it in case the umask was ignored (some filesystems).
            old_umask = os.umask(0o177)
            try:
                sock.bind(self.path)
            finally:
                os.umask(old_umask)
            os.chmod(self.path, 0o600)
            st = os.stat(self.path)
            self._inode = (st.st_dev, st.st_ino)
            sock.listen(16)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot listen on {self.path}: {exc.strerror}") from exc
        return sock

    def _remove_stale(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ControlError(f"cannot use {self.path}: {exc.strerror}") from exc
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlError(f"{self.path} exists and is not a socket: refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(self.path)
        except OSError:
            # Nobody accepts: a socket left behind by a runner that died.
            log.info("removing stale control socket %s", self.path)
            os.unlink(self.path)
            return
        finally:
            probe.close()
        raise ControlError(f"another runner is already listening on {self.path}")

    def _unlink(self) -> None:
        # Only our own file: a successor may already have bound the path.
        with contextlib.suppress(OSError):
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._inode:
                os.unlink(self.path)
        self._inode = None

    async def close(self) -> None:
        """Stop accepting, end every connection and remove the socket file."""
        server, self._server = self._server, None
        if server is None:
            return
        await close_server(server, self._clients)
        self._unlink()

    # ------------------------------------------------------------- a client

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients[task] = writer
        try:
            await self._conversation(reader, writer)
        except (ConnectionError, asyncio.TimeoutError) as exc:
            log.debug("control client gone: %s", exc)
        except asyncio.CancelledError:
            # Our own leaf task, cancelled by close(): end quietly (Python 3.11's
            # streams callback reports a cancelled client task as an error).
            pass
        finally:
            if task is not None:
                self._clients.pop(task, None)
            writer.close()

    async def _conversation(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        refusal = self._check_peer(writer)
        if refusal is None and len(self._clients) > self.max_clients:
            refusal = f"too many control clients (at most {self.max_clients})"
        if refusal is not None:
            await self._send(writer, error_response(ControlError(refusal)))
            return
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), self.read_timeout)
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip():
                    log.debug("control client left in the middle of a request")
                return
            except asyncio.LimitOverrunError:
                message = f"request line longer than {MAX_LINE} bytes"
                await self._send(writer, error_response(ControlError(message)))
                return
            except asyncio.TimeoutError:
                message = f"no complete request line within {self.read_timeout:g} s"
                await self._send(writer, error_response(ControlError(message)))
                return
            await self._send(writer, await self.answer(line))

    def _check_peer(self, writer: asyncio.StreamWriter) -> str | None:
        sock = writer.get_extra_info("socket")
        try:
            pid, uid, gid = _UCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
        except (OSError, AttributeError, struct.error) as exc:
            log.warning("control client refused: no peer credentials (%s)", exc)
            return "peer credentials unavailable: refused"
        if uid in self.allowed_uids:
            return None
        log.warning("control client refused: pid %d uid %d gid %d not allowed", pid, uid, gid)
        return f"uid {uid} is not allowed to use the control socket (root only)"

    async def _send(self, writer: asyncio.StreamWriter, response: Mapping[str, Any]) -> None:
        try:
            data = _encode(response)
        except (TypeError, ValueError) as exc:
            log.error("control response is not JSON: %s", exc)
            data = _encode(
                error_response(ControlError(f"internal error: result is not JSON: {exc}"))
            )
        writer.write(data)
        await asyncio.wait_for(writer.drain(), self.write_timeout)

    async def answer(self, line: bytes) -> dict[str, Any]:
        """The response to one request line (never raises but for cancellation)."""
        try:
            cmd, args = parse_request(line)
            result = await self._dispatch(cmd, args)
        except VRRPError as exc:
            return error_response(exc)
        except Exception as exc:
            log.exception("control request %r failed", line[:200])
            response = error_response(exc)
            response["error"] = f"internal error: {type(exc).__name__}: {exc}"
            return response
        return {"ok": True, "result": result}

    async def _dispatch(self, cmd: str, args: dict[str, Any]) -> Any:
        if cmd == "reload":
            if self._reload_lock is None:
                self._reload_lock = asyncio.Lock()
            async with self._reload_lock:  # one reload at a time, in arrival order
                return await self.handler.reload()
        # The other commands are plain methods named like the command (COMMANDS).
        return getattr(self.handler, cmd)(**args)


# ------------------------------------------------------------------- client


def request(path: str, payload: Mapping[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
    """Send one request and return the response object (``ok`` true or false).

    Raises :class:`NoRunnerError` when nobody listens on ``path`` and
    :class:`ControlError` when the exchange itself fails (timeout, connection
    closed, a response that is not a JSON object).
    """
    try:
        message = _encode(payload)
    except (TypeError, ValueError) as exc:
        raise ControlError(f"request cannot be sent as JSON: {exc}") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise NoRunnerError(f"no runner is listening on {path}") from None
        except PermissionError:
            raise ControlError(
                f"permission denied on {path} (the control socket is root-only)"
            ) from None
        except OSError as exc:
            raise ControlError(f"cannot connect to {path}: {exc.strerror or exc}") from None
        data = b""
        try:
            # A refusal (peer not allowed, too many clients) may be sent and the
            # connection closed before we finished writing: read it all the same.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(message)
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ControlError(
                        f"the runner on {path} closed the connection without an answer"
                    )
                data += chunk
        except socket.timeout:
            raise ControlError(
                f"no answer from the runner on {path} within {timeout:g} s"
            ) from None
        except OSError as exc:
            raise ControlError(f"connection to {path} failed: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        response = json.loads(data)
    except ValueError:
        raise ControlError(f"the runner on {path} sent a malformed response") from None
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        raise ControlError(f"the runner on {path} sent a malformed response")
    return response


def call(path: str, cmd: str, *, timeout: float = 10.0, **args: Any) -> Any:
    """Run one command and return its result; a refusal raises its error.

    A refused reload raises :class:`ConfigError` with the runner's ``path`` and
    ``rule``; every other refusal raises :class:`ControlError`.
    """
    response = request(path, {"cmd": cmd, **args}, timeout=timeout)
    if response["ok"]:
        return response.get("result")
    if response.get("kind") == "ConfigError":
        raise ConfigError(str(response.get("path", "")), str(response.get("rule", "")))
    raise ControlError(str(response.get("error", "request refused")))
