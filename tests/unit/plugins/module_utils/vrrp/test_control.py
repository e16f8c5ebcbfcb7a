"""The control socket server and client, on real UNIX sockets in a tmp dir.

The server runs on its own event loop in a thread; the tests talk to it with
plain blocking sockets, byte for byte, as a hostile or clumsy client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vrrp.control import (
    COMMANDS,
    MAX_LINE,
    READ_TIMEOUT,
    ControlServer,
    NoRunnerError,
    call,
    parse_request,
    request,
)
from vrrp.errors import ConfigError, ControlError

NOBODY = 65534


class FakeHandler:
    """A stand-in runner that records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.reload_error: Exception | None = None
        self.reload_delay = 0.0
        self.reloading = 0
        self.max_reloading = 0
        self.state_result: Any = {"version": "0.1.0", "pid": 1, "uptime": 5.0, "instances": {}}

    def state(self) -> Any:
        self.calls.append(("state",))
        return self.state_result

    def stats(self) -> dict[str, Any]:
        self.calls.append(("stats",))
        return {"runner": {"reloads": 1}, "instances": {"web": {"adverts_sent": 3}}}

    def history(self, instance: str | None = None, limit: int = 20) -> dict[str, Any]:
        self.calls.append(("history", instance, limit))
        if instance not in (None, "web"):
            raise ControlError(f"no instance named {instance!r}")
        return {"web": [{"from": "INIT", "to": "BACKUP", "cause": "startup", "time": 1.0}]}

    async def reload(self) -> dict[str, Any]:
        self.calls.append(("reload",))
        self.reloading += 1
        self.max_reloading = max(self.max_reloading, self.reloading)
        try:
            await asyncio.sleep(self.reload_delay)
            if self.reload_error is not None:
                raise self.reload_error
        finally:
            self.reloading -= 1
        return {"added": [], "changed": ["web"], "removed": [], "unchanged": []}

    def demote(self, instance: str | None = None, priority: int = 1) -> dict[str, Any]:
        self.calls.append(("demote", instance, priority))
        return {"demoted": {instance or "web": priority}}

    def restore(self, instance: str | None = None) -> dict[str, Any]:
        self.calls.append(("restore", instance))
        return {"restored": [instance or "web"]}

    def version(self) -> dict[str, Any]:
        self.calls.append(("version",))
        return {"version": "0.1.0", "pid": 1}


class ServerThread:
    """A ControlServer on its own loop in a daemon thread."""

    def __init__(self, path: str, handler: Any, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = ControlServer(path, handler, **kwargs)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.run(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.server.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


class Client:
    """A blocking line client that can misbehave on purpose."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> dict[str, Any] | None:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _unused, self.buffer = self.buffer.partition(b"\n")
        response = json.loads(line)
        assert isinstance(response, dict)
        return response

    def ask(self, payload: Any) -> dict[str, Any]:
        self.send(json.dumps(payload).encode() + b"\n")
        response = self.line()
        assert response is not None, "server closed the connection"
        return response

    def closed(self) -> bool:
        return self.sock.recv(1) == b""

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def handler() -> FakeHandler:
    return FakeHandler()


@pytest.fixture
def sock_path(tmp_path: Any) -> str:
    return str(tmp_path / "control.sock")


@pytest.fixture
def served(sock_path: str, handler: FakeHandler) -> Iterator[ServerThread]:
    with ServerThread(sock_path, handler, read_timeout=2.0) as st:
        yield st


@pytest.fixture
def client(served: ServerThread, sock_path: str) -> Iterator[Client]:
    c = Client(sock_path)
    yield c
    c.close()


# ---------------------------------------------------------------- commands


@pytest.mark.parametrize(
    ("payload", "call_made", "result_key"),
    [
        ({"cmd": "state"}, ("state",), "instances"),
        ({"cmd": "stats"}, ("stats",), "runner"),
        ({"cmd": "history"}, ("history", None, 20), "web"),
        ({"cmd": "history", "instance": "web", "limit": 3}, ("history", "web", 3), "web"),
        ({"cmd": "history", "instance": None}, ("history", None, 20), "web"),
        ({"cmd": "reload"}, ("reload",), "changed"),
        ({"cmd": "demote"}, ("demote", None, 1), "demoted"),
        ({"cmd": "demote", "instance": "db", "priority": 254}, ("demote", "db", 254), "demoted"),
        ({"cmd": "restore", "instance": "web"}, ("restore", "web"), "restored"),
        ({"cmd": "restore"}, ("restore", None), "restored"),
        ({"cmd": "version"}, ("version",), "version"),
    ],
)
def test_every_command_reaches_the_handler(
    client: Client, handler: FakeHandler, payload: Any, call_made: Any, result_key: str
) -> None:
    response = client.ask(payload)
    assert response["ok"] is True, response
    assert result_key in response["result"]
    assert handler.calls == [call_made]


def test_table_lists_every_command() -> None:
    assert set(COMMANDS) == {"state", "stats", "history", "reload", "demote", "restore", "version"}


def test_several_requests_on_one_connection_even_in_one_write(client: Client) -> None:
    client.send(b'{"cmd":"version"}\n{"cmd":"state"}\n{"cmd":"nope"}\n{"cmd":"stats"}\n')
    answers = [client.line() for _unused in range(4)]
    assert [a and a["ok"] for a in answers] == [True, True, False, True]
    assert client.ask({"cmd": "version"})["result"]["version"] == "0.1.0"


def test_request_split_over_many_writes(client: Client) -> None:
    for byte in b'{"cmd": "version"}\n':
        client.send(bytes([byte]))
    response = client.line()
    assert response is not None
    assert response["ok"] is True


# ---------------------------------------------------------- malformed input


MALFORMED = [
    (b"{not json\n", "not valid JSON"),
    (b"\xff\xfe\n", "not UTF-8"),
    (b"\n", "empty request"),
    (b"   \r\n", "empty request"),
    (b"[1, 2]\n", "must be a JSON object, not an array"),
    (b'"state"\n', "must be a JSON object, not a string"),
    (b"42\n", "must be a JSON object, not a number"),
    (b"null\n", "must be a JSON object, not null"),
    (b"{}\n", "has no 'cmd'"),
    (b'{"cmd": 7}\n', "'cmd' must be a string"),
    (b'{"cmd": "shutdown"}\n', "unknown command 'shutdown'"),
    (b'{"cmd": "state", "instance": "web"}\n', "state: unknown argument 'instance'"),
    (b'{"cmd": "demote", "prio": 5}\n', "demote: unknown argument 'prio'"),
    (b'{"cmd": "history", "limit": "ten"}\n', "'limit' must be an integer, not a string"),
    (b'{"cmd": "history", "limit": true}\n', "'limit' must be an integer, not a boolean"),
    (b'{"cmd": "history", "limit": 2.5}\n', "'limit' must be an integer, not a number"),
    (b'{"cmd": "history", "limit": NaN}\n', "'limit' must be an integer"),
    (b'{"cmd": "history", "limit": 0}\n', "'limit' must be from 1 to 10000, not 0"),
    (b'{"cmd": "demote", "priority": 255}\n', "'priority' must be from 0 to 254, not 255"),
    (b'{"cmd": "demote", "priority": -1}\n', "'priority' must be from 0 to 254, not -1"),
    (b'{"cmd": "demote", "priority": [1]}\n', "'priority' must be an integer, not an array"),
    (b'{"cmd": "restore", "instance": 5}\n', "'instance' must be an instance name"),
    (b'{"cmd": "restore", "instance": ""}\n', "'instance' must be an instance name"),
    (b'{"cmd": "history", "instance": {}}\n', "not an object"),
    (b"[" * 60000 + b"\n", "nested too deeply"),
    # Python refuses to convert integers of more than 4300 digits (a ValueError,
    # not a JSONDecodeError): that was an "internal error" and a traceback.
    (b'{"cmd": "history", "limit": ' + b"9" * 5000 + b"}\n", "a number of 5000 digits"),
    (b'{"cmd": "demote", "priority": -' + b"1" * 30 + b"}\n", "a number of 30 digits"),
    (b'{"cmd": "demote", "priority": 1' + b"0" * 400 + b".5}\n", "a number of 402 digits"),
    # The last value used to win silently: which one did the operator mean?
    (b'{"cmd": "demote", "priority": 10, "priority": 200}\n', "'priority' is given twice"),
    (b'{"cmd": "state", "cmd": "reload"}\n', "'cmd' is given twice"),
]


@pytest.mark.parametrize(("line", "message"), MALFORMED)
def test_malformed_request_is_refused_and_the_connection_lives_on(
    client: Client, handler: FakeHandler, line: bytes, message: str
) -> None:
    client.send(line)
    response = client.line()
    assert response is not None
    assert response["ok"] is False
    assert response["kind"] == "ControlError"
    assert message in response["error"]
    assert handler.calls == []
    assert client.ask({"cmd": "version"})["ok"] is True


@pytest.mark.parametrize(("line", "message"), MALFORMED)
def test_parse_request_names_the_problem(line: bytes, message: str) -> None:
    with pytest.raises(ControlError, match=None) as info:
        parse_request(line)
    assert message in str(info.value)


def test_huge_number_is_refused_without_a_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="failover-vrrp.control"):
        client.send(b'{"cmd": "history", "limit": ' + b"7" * 5000 + b"}\n")
        response = client.line()
    assert response is not None
    assert response["ok"] is False
    assert "internal error" not in response["error"]
    assert not any(r.exc_info for r in caplog.records)
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


def test_oversize_line_is_refused_and_closed(served: ServerThread, sock_path: str) -> None:
    c = Client(sock_path)
    payload = b'{"cmd": "state", "x": "' + b"a" * (MAX_LINE + 10) + b'"}\n'
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        c.send(payload)
    response = c.line()
    assert response is not None
    assert f"longer than {MAX_LINE} bytes" in response["error"]
    assert c.closed()
    c.close()
    assert request(sock_path, {"cmd": "version"})["ok"] is True


def test_slow_client_times_out(sock_path: str, handler: FakeHandler) -> None:
    with ServerThread(sock_path, handler, read_timeout=0.3):
        c = Client(sock_path)
        c.send(b'{"cmd": "sta')  # and never the rest
        t0 = time.monotonic()
        response = c.line()
        assert response is not None
        assert "no complete request line within 0.3 s" in response["error"]
        assert 0.2 < time.monotonic() - t0 < 3
        assert c.closed()
        c.close()
        idle = Client(sock_path)  # an idle, half-open client is dropped the same way
        assert idle.line() is not None
        assert idle.closed()
        idle.close()
        assert request(sock_path, {"cmd": "version"})["ok"] is True


def test_client_leaving_mid_request_or_before_the_answer(
    served: ServerThread, sock_path: str, handler: FakeHandler
) -> None:
    c = Client(sock_path)
    c.send(b'{"cmd": "ver')
    c.close()
    c = Client(sock_path)
    c.send(b'{"cmd": "state"}\n')
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    reset = Client(sock_path)  # RST instead of FIN: linger 0
    reset.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    reset.send(b'{"cmd": "stats"}\n' * 1000)
    reset.close()
    assert request(sock_path, {"cmd": "version"})["ok"] is True


# ---------------------------------------------------------------- handler


def test_control_error_from_the_handler(client: Client) -> None:
    response = client.ask({"cmd": "history", "instance": "nope"})
    assert response == {"ok": False, "error": "no instance named 'nope'", "kind": "ControlError"}


def test_config_error_carries_path_and_rule(client: Client, handler: FakeHandler) -> None:
    handler.reload_error = ConfigError("instances[1].vrid", "VRID 51 is used twice on eth0")
    response = client.ask({"cmd": "reload"})
    assert response["ok"] is False
    assert response["kind"] == "ConfigError"
    assert response["path"] == "instances[1].vrid"
    assert response["rule"] == "VRID 51 is used twice on eth0"
    assert "instances[1].vrid" in response["error"]


def test_unexpected_exception_is_an_internal_error_and_logged(
    client: Client, handler: FakeHandler, caplog: pytest.LogCaptureFixture
) -> None:
    handler.reload_error = RuntimeError("disk on fire")
    with caplog.at_level(logging.ERROR, logger="failover-vrrp.control"):
        response = client.ask({"cmd": "reload"})
    assert response["ok"] is False
    assert response["kind"] == "RuntimeError"
    assert response["error"] == "internal error: RuntimeError: disk on fire"
    assert any(r.exc_info for r in caplog.records), "traceback logged"
    assert client.ask({"cmd": "version"})["ok"] is True


def test_result_that_is_not_json_is_an_internal_error(client: Client, handler: FakeHandler) -> None:
    handler.state_result = {"since": {1, 2}}
    response = client.ask({"cmd": "state"})
    assert response["ok"] is False
    assert "internal error: result is not JSON" in response["error"]
    handler.state_result = {"uptime": float("nan")}
    assert client.ask({"cmd": "state"})["ok"] is False
    assert client.ask({"cmd": "version"})["ok"] is True


def test_reloads_are_served_one_at_a_time(
    served: ServerThread, sock_path: str, handler: FakeHandler
) -> None:
    handler.reload_delay = 0.2
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(request(sock_path, {"cmd": "reload"})))
        for _unused in range(3)
    ]
    for t in threads:
        t.start()
    time.sleep(0.05)
    assert request(sock_path, {"cmd": "version"})["ok"] is True  # others are not blocked
    for t in threads:
        t.join(5)
    assert [r["ok"] for r in results] == [True, True, True]
    assert handler.max_reloading == 1


def test_too_many_clients(sock_path: str, handler: FakeHandler) -> None:
    with ServerThread(sock_path, handler, max_clients=1):
        first = Client(sock_path)
        assert first.ask({"cmd": "version"})["ok"] is True
        second = Client(sock_path)
        response = second.line()
        assert response is not None
        assert "too many control clients" in response["error"]
        second.close()
        first.close()


def test_the_65th_client_is_refused_by_default(sock_path: str, handler: FakeHandler) -> None:
    # Audit (issue 9): the defaults themselves, not only the mechanism.
    assert (MAX_LINE, READ_TIMEOUT) == (64 * 1024, 30.0)
    with ServerThread(sock_path, handler):
        clients = [Client(sock_path) for _round in range(64)]
        try:
            for c in clients:
                assert c.ask({"cmd": "version"})["ok"] is True
            extra = Client(sock_path)
            response = extra.line()
            assert response is not None
            assert response["error"] == "too many control clients (at most 64)"
            assert extra.closed()
            extra.close()
        finally:
            for c in clients:
                c.close()


# ------------------------------------------------------------- the socket


def test_socket_mode_is_0600_whatever_the_umask(sock_path: str, handler: FakeHandler) -> None:
    old = os.umask(0)
    try:
        with ServerThread(sock_path, handler):
            st = os.stat(sock_path)
            assert stat.S_ISSOCK(st.st_mode)
            assert stat.S_IMODE(st.st_mode) == 0o600
    finally:
        os.umask(old)
    assert not os.path.exists(sock_path), "close() removes the socket file"


def test_stale_socket_is_replaced(sock_path: str, handler: FakeHandler) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(sock_path)
    dead.close()  # the file stays, nobody listens: a runner that died
    with pytest.raises(NoRunnerError, match="no runner is listening"):
        request(sock_path, {"cmd": "version"})
    with ServerThread(sock_path, handler):
        assert request(sock_path, {"cmd": "version"})["ok"] is True


def test_refuses_to_start_beside_a_live_server(served: ServerThread, sock_path: str) -> None:
    second = ControlServer(sock_path, FakeHandler())
    with pytest.raises(ControlError, match="another runner is already listening"):
        asyncio.run(second.start())
    assert request(sock_path, {"cmd": "version"})["ok"] is True, "first server untouched"


def test_refuses_to_replace_a_file_that_is_not_a_socket(sock_path: str) -> None:
    with open(sock_path, "w") as fh:
        fh.write("precious")
    with pytest.raises(ControlError, match="exists and is not a socket"):
        asyncio.run(ControlServer(sock_path, FakeHandler()).start())
    with open(sock_path) as fh:
        assert fh.read() == "precious"


def test_cannot_listen_in_a_missing_directory(tmp_path: Any) -> None:
    with pytest.raises(ControlError, match="cannot listen on"):
        asyncio.run(ControlServer(str(tmp_path / "no" / "sock"), FakeHandler()).start())


def test_close_leaves_a_successors_socket_alone(sock_path: str, handler: FakeHandler) -> None:
    with ServerThread(sock_path, handler):
        os.unlink(sock_path)
        with open(sock_path, "w") as fh:
            fh.write("someone else's")
    assert os.path.exists(sock_path)


def test_close_ends_open_connections(sock_path: str, handler: FakeHandler) -> None:
    st = ServerThread(sock_path, handler)
    with st:
        c = Client(sock_path)
        assert c.ask({"cmd": "version"})["ok"] is True
    assert c.closed()
    c.close()
    asyncio.run(ControlServer(sock_path, handler).close())  # closing a never-started server


# ------------------------------------------------------- peer credentials


@pytest.fixture
def open_dir() -> Iterator[str]:
    """A directory uid 65534 can traverse (pytest's tmp dirs are 0700)."""
    path = tempfile.mkdtemp(prefix="vrrp-ctl-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def _as_nobody(path: str) -> str:
    """Connect as uid 65534 in a forked child; return what it saw."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest, no asyncio, just a socket
        outcome = "?"
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                outcome = json.dumps(request(path, {"cmd": "state"}, timeout=5))
            except ControlError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
        except BaseException as exc:
            outcome = f"child failed: {exc!r}"
        finally:
            os.write(write_fd, outcome.encode())
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    with os.fdopen(read_fd, "rb") as fh:
        return fh.read().decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
def test_peer_uid_is_checked(open_dir: str, handler: FakeHandler) -> None:
    path = os.path.join(open_dir, "control.sock")
    with ServerThread(path, handler):
        # The mode alone keeps others out...
        assert "permission denied" in _as_nobody(path)
        # ...and with the mode opened up, SO_PEERCRED still refuses them.
        os.chmod(path, 0o666)
        seen = json.loads(_as_nobody(path))
        assert seen["ok"] is False
        assert seen["error"] == "uid 65534 is not allowed to use the control socket (root only)"
        assert handler.calls == []
        assert request(path, {"cmd": "version"})["ok"] is True  # root is still served
    with ServerThread(path, handler, allowed_uids=(0, NOBODY)):
        os.chmod(path, 0o666)
        seen = json.loads(_as_nobody(path))
        assert seen["ok"] is True
        assert handler.calls == [("version",), ("state",)]


# ----------------------------------------------------------------- client


def test_call_returns_the_result_or_raises_the_error(served: ServerThread, sock_path: str) -> None:
    assert call(sock_path, "demote", instance="db", priority=9) == {"demoted": {"db": 9}}
    with pytest.raises(ControlError, match="unknown command 'bogus'"):
        call(sock_path, "bogus")
    handler = served.server.handler
    assert isinstance(handler, FakeHandler)
    handler.reload_error = ConfigError("instances[0].priority", "must be at most 255")
    with pytest.raises(ConfigError) as info:
        call(sock_path, "reload")
    assert (info.value.path, info.value.rule) == ("instances[0].priority", "must be at most 255")


def test_client_without_runner(tmp_path: Any) -> None:
    with pytest.raises(NoRunnerError, match=r"no runner is listening on .*/missing\.sock"):
        request(str(tmp_path / "missing.sock"), {"cmd": "state"})
    with pytest.raises(ControlError, match="cannot be sent as JSON"):
        request(str(tmp_path / "x"), {"cmd": "state", "n": float("nan")})
    with pytest.raises(ControlError, match="cannot connect"):
        request("\0" * 200, {"cmd": "state"})


@contextlib.contextmanager
def raw_server(path: str, reply: bytes | None) -> Iterator[None]:
    """A listener that answers one connection with ``reply`` (None: never)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _unused = listener.accept()
        conn.recv(65536)
        if reply is not None:
            conn.sendall(reply)
            conn.close()
        else:
            stop.wait(5)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(5)
        listener.close()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"", "closed the connection without an answer"),
        (b"garbage\n", "malformed response"),
        (b"[1]\n", "malformed response"),
        (b'{"ok": "yes"}\n', "malformed response"),
        (None, "no answer from the runner on .* within 0.2 s"),
    ],
)
def test_client_refuses_a_bad_server(sock_path: str, reply: bytes | None, message: str) -> None:
    with raw_server(sock_path, reply), pytest.raises(ControlError, match=message):
        request(sock_path, {"cmd": "state"}, timeout=0.2)


def test_the_unit_keeps_the_socket_directory_0700() -> None:
    # The socket is 0600 (above) in /run/failover-vrrp, which systemd makes 0700.
    unit = (
        Path(__file__).parents[5] / "roles" / "vrrp" / "templates" / "failover-vrrp.service.j2"
    ).read_text()
    assert "\nRuntimeDirectory=failover-vrrp\n" in unit
    assert "\nRuntimeDirectoryMode=0700\n" in unit
    assert "\nUMask=0077\n" in unit
