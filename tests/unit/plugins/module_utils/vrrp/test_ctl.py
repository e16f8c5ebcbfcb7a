"""vrrp.ctl end to end: the CLI as a process against a real control socket."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vrrp.control import ControlServer
from vrrp.ctl import EXIT_NO_RUNNER, EXIT_REFUSED, EXIT_USAGE, age, format_result, main, table
from vrrp.errors import ConfigError, ControlError

ENGINE = str(Path(__file__).resolve().parents[5] / "plugins" / "module_utils")
NOW = 1_700_000_000.0

STATE = {
    "version": "0.1.0",
    "pid": 4242,
    "uptime": 3725.0,
    "instances": {
        "web": {
            "state": "MASTER",
            "priority": 150,
            "effective_priority": 150,
            "master": "192.0.2.1",
            "master_priority": 150,
            "advert_interval": 1.0,
            "since": NOW - 65,
            "vrid": 51,
            "interface": "eth0",
            "virtual_addresses": ["192.0.2.100/24", "192.0.2.101/24"],
            "link_probe": "netlink",
            "faults": [],
            "demoted": None,
        },
        "db": {
            "state": "FAULT",
            "priority": 100,
            "effective_priority": 50,
            "master": None,
            "master_priority": None,
            "advert_interval": 0.1,
            "since": NOW - 7,
            "vrid": 52,
            "interface": "eth1",
            "virtual_addresses": ["2001:db8::52/64"],
            "link_probe": "ethtool",
            "faults": ["link"],
            "demoted": 50,
        },
    },
}


class Handler:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.reload_error: Exception | None = None

    def state(self) -> dict[str, Any]:
        return STATE

    def stats(self) -> dict[str, Any]:
        return {
            "runner": {"reloads": 2, "core_errors": 0},
            "instances": {"web": {"adverts_sent": 1200, "drop.ttl": 3}, "db": {}},
        }

    def history(self, instance: str | None = None, limit: int = 20) -> dict[str, Any]:
        self.calls.append(("history", instance, limit))
        web = [
            {"from": "INIT", "to": "BACKUP", "cause": "startup", "time": NOW - 100},
            {"from": "BACKUP", "to": "MASTER", "cause": "master_down", "time": NOW - 65},
        ]
        db = [{"from": "BACKUP", "to": "FAULT", "cause": "link eth1 down", "time": NOW - 7}]
        everything = {"web": web, "db": db}
        if instance is not None:
            if instance not in everything:
                raise ControlError(f"no instance named {instance!r}")
            return {instance: everything[instance][-limit:]}
        return {k: v[-limit:] for k, v in everything.items()}

    async def reload(self) -> dict[str, Any]:
        if self.reload_error is not None:
            raise self.reload_error
        return {"added": ["dns"], "changed": [], "removed": ["old"], "unchanged": ["web"]}

    def demote(self, instance: str | None = None, priority: int = 1) -> dict[str, Any]:
        self.calls.append(("demote", instance, priority))
        return {"demoted": {name: priority for name in ([instance] if instance else ["db", "web"])}}

    def restore(self, instance: str | None = None) -> dict[str, Any]:
        self.calls.append(("restore", instance))
        return {"restored": [] if instance == "web" else ["db"]}

    def version(self) -> dict[str, Any]:
        return {"version": "0.1.0", "pid": 4242}


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def sock(tmp_path: Path, handler: Handler) -> Iterator[str]:
    path = str(tmp_path / "control.sock")
    loop = asyncio.new_event_loop()
    server = ControlServer(path, handler)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    yield path
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": ENGINE}
    return subprocess.run(
        [sys.executable, "-m", "vrrp.ctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def run_main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------- as a real process


def test_state_table_end_to_end(sock: str) -> None:
    done = ctl("--socket", sock, "state")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("runner 0.1.0, pid 4242, up 1h02m")
    assert lines[1].split()[:7] == [
        "INSTANCE",
        "VRID",
        "INTERFACE",
        "STATE",
        "PRIO/EFF",
        "MASTER",
        "(PRIO)",
    ]
    db, web = lines[2], lines[3]
    assert db.split()[:6] == ["db", "52", "eth1", "FAULT", "100/50", "-"]
    assert "demoted to 50; faults: link" in db
    assert web.split()[:7] == ["web", "51", "eth0", "MASTER", "150/150", "192.0.2.1", "(150)"]
    assert "192.0.2.100/24 192.0.2.101/24" in web
    assert "netlink" in web
    # Columns line up: every row's STATE starts where the header's does.
    col = lines[1].index("STATE")
    assert db[col:].startswith("FAULT")
    assert web[col:].startswith("MASTER")


def test_state_json_is_the_raw_result(sock: str) -> None:
    done = ctl("--socket", sock, "state", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == STATE


def test_history_and_arguments_end_to_end(sock: str, handler: Handler) -> None:
    done = ctl("--socket", sock, "history", "--instance", "web", "--limit", "1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["TIME", "INSTANCE", "FROM", "TO", "CAUSE"]
    assert len(lines) == 2
    assert lines[1].split()[2:] == ["web", "BACKUP", "MASTER", "master_down"]
    assert handler.calls == [("history", "web", 1)]


def test_demote_and_restore_end_to_end(sock: str, handler: Handler) -> None:
    done = ctl("--socket", sock, "demote", "--instance", "web", "--priority", "20")
    assert (done.returncode, done.stdout) == (0, "web: demoted to priority 20\n")
    done = ctl("--socket", sock, "demote", "--json")
    assert json.loads(done.stdout) == {"demoted": {"db": 1, "web": 1}}
    done = ctl("--socket", sock, "restore")
    assert done.stdout == "db: restored\n"
    assert handler.calls == [("demote", "web", 20), ("demote", None, 1), ("restore", None)]


def test_refused_request_exits_1_with_the_reason(sock: str) -> None:
    done = ctl("--socket", sock, "demote", "--priority", "255")
    assert done.returncode == EXIT_REFUSED
    assert done.stdout == ""
    assert "demote refused: demote: 'priority' must be from 0 to 254, not 255" in done.stderr
    done = ctl("--socket", sock, "history", "--instance", "nope")
    assert done.returncode == EXIT_REFUSED
    assert "no instance named 'nope'" in done.stderr


def test_no_runner_exits_2(tmp_path: Path) -> None:
    path = str(tmp_path / "control.sock")
    done = ctl("--socket", path, "state")
    assert done.returncode == EXIT_NO_RUNNER
    assert done.stderr.strip() == f"vrrp.ctl: no runner is listening on {path}"


def test_usage_error_exits_64(tmp_path: Path) -> None:
    done = ctl("--socket", str(tmp_path / "s"), "history", "--limit", "many")
    assert done.returncode == EXIT_USAGE
    assert "invalid int value" in done.stderr
    assert ctl("frobnicate").returncode == EXIT_USAGE
    assert ctl().returncode == EXIT_USAGE


# ---------------------------------------------------------- in the process


def test_stats_reload_version_in_process(sock: str, handler: Handler) -> None:
    code, out, _unused = run_main("--socket", sock, "stats")
    assert code == 0
    assert out.splitlines() == [
        "instances:",
        "  db:",
        "    (none)",
        "  web:",
        "    adverts_sent  1200",
        "    drop.ttl      3",
        "runner:",
        "  core_errors  0",
        "  reloads      2",
    ]
    code, out, _unused = run_main("--socket", sock, "reload")
    assert (code, out) == (0, "reloaded; added: dns; removed: old; unchanged: web\n")
    code, out, _unused = run_main("--socket", sock, "version")
    assert (code, out) == (0, "failover-vrrp 0.1.0 (runner pid 4242)\n")
    code, out, _unused = run_main("--socket", sock, "restore", "--instance", "web")
    assert (code, out) == (0, "no instance was demoted\n")


def test_refused_reload_names_path_and_rule(sock: str, handler: Handler) -> None:
    handler.reload_error = ConfigError("instances[0].vrid", "must be at most 255")
    code, out, err = run_main("--socket", sock, "reload")
    assert (code, out) == (EXIT_REFUSED, "")
    assert err == "vrrp.ctl: reload refused: instances[0].vrid: must be at most 255\n"


def test_exchange_failure_exits_1(tmp_path: Path) -> None:
    import socket as socket_mod

    path = str(tmp_path / "mute.sock")
    listener = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    try:
        code, _unused, err = run_main("--socket", path, "--timeout", "0.2", "state")
    finally:
        listener.close()
    assert code == EXIT_REFUSED
    assert "no answer from the runner" in err


# ------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0s"),
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m00s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (86399, "23h59m"),
        (86400, "1d00h"),
        (90061, "1d01h"),
    ],
)
def test_age(seconds: float, text: str) -> None:
    assert age(seconds) == text


def test_table_pads_all_but_the_last_column() -> None:
    assert table(["A", "BB"], [["xxx", "y"], ["z", ""]]).splitlines() == ["A    BB", "xxx  y", "z"]


def test_formatting_of_odd_results() -> None:
    state = format_result(
        "state", {"version": "0.1.0", "pid": 1, "uptime": 1, "instances": {}}, now=NOW
    )
    assert state.endswith("no instances")
    assert format_result("history", {"web": []}, now=NOW) == "no transitions"
    assert format_result("demote", {"demoted": {}}, now=NOW) == "no instance to demote"
    assert format_result("reload", {"added": []}, now=NOW) == "reloaded: nothing changed"
    # A shape the formatter does not know falls back to JSON, never a traceback.
    assert json.loads(format_result("version", ["odd"], now=NOW)) == ["odd"]
    assert json.loads(format_result("demote", {"x": 1}, now=NOW)) == {"x": 1}
    assert format_result("future", {"a": [1, 2], "b": None}, now=NOW) == "a  1, 2\nb  -"


def test_history_is_merged_in_time_order() -> None:
    text = format_result(
        "history",
        {
            "b": [{"from": "INIT", "to": "BACKUP", "cause": "startup", "time": NOW - 5}],
            "a": [{"from": "BACKUP", "to": "MASTER", "cause": "", "time": NOW - 1}],
        },
        now=NOW,
    )
    rows = text.splitlines()[1:]
    assert [r.split()[2] for r in rows] == ["b", "a"]
    assert rows[1].split()[-2:] == ["MASTER", "-"]  # an empty cause shows as "-"


def test_state_age_uses_since(sock: str) -> None:
    code, out, _unused = run_main("--socket", sock, "state")
    assert code == 0
    # "since" is NOW - 65 in the fixture and the CLI measures from the real clock.
    expected = age(time.time() - (NOW - 65))
    assert expected in out
