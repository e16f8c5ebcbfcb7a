"""Prometheus metrics: the listen address, the collector, the HTTP endpoint.

The collector is read over a real Runner on a fake kernel (the fixtures of
test_runner_apply) and over a hand-made state; the endpoint is served on a
loopback port by the test's own event loop, and hostile clients are plain
asyncio streams.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

# Debian 11's packages (make py39) have no python3-prometheus-client.
pytest.importorskip("prometheus_client")
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_runner_apply import config, instance, masters

from support.fakehost import FakeHost
from vrrp import metrics
from vrrp.errors import ConfigError
from vrrp.metrics import MetricsServer, follow
from vrrp.runner import Runner

ENGINE = str(Path(__file__).resolve().parents[5] / "plugins" / "module_utils")


# --------------------------------------------------------------- collector


def scrape(source: Any) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted labels: value}} of one exposition."""
    body = generate_latest(metrics.registry(source)).decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def labels_of(samples: dict[tuple[tuple[str, str], ...], float], name: str) -> dict[str, str]:
    (labels,) = [dict(k) for k in samples if dict(k).get("name") == name]
    return labels


def test_the_collector_reads_the_runner_and_keeps_labels_across_a_reload(
    runner: Runner,
    kernel: FakeHost,
    loop: asyncio.AbstractEventLoop,
) -> None:
    track = [{"interface": "eth0", "weight": -10}]
    cfg = config(
        instance("a"), instance("b", interface="eth1", vrid=7, priority=150, track_interfaces=track)
    )
    masters(runner, loop, cfg)
    before = scrape(runner.api)
    b_eth0 = tuple(
        sorted(
            {
                **labels_of(before["vrrp_priority"], "b"),
                "kind": "interface",
                "tracker": "eth0",
            }.items()
        )
    )
    assert (before["vrrp_tracker_status"][b_eth0], before["vrrp_tracker_weight"][b_eth0]) == (
        1,
        -10,
    )
    assert labels_of(before["vrrp_priority"], "b") == {
        "name": "b",
        "vrid": "7",
        "interface": "eth1",
        "family": "ipv4",
    }
    assert (
        before["vrrp_instance_state"][
            (
                ("family", "ipv4"),
                ("interface", "eth1"),
                ("name", "b"),
                ("state", "MASTER"),
                ("vrid", "7"),
            )
        ]
        == 1
    )
    assert sum(before["vrrp_instance_state"].values()) == 2  # one state per instance
    state, stats = runner.api.state(), runner.api.stats()
    for name in ("a", "b"):
        labels = tuple(sorted(labels_of(before["vrrp_priority"], name).items()))
        assert (
            before["vrrp_effective_priority"][labels]
            == state["instances"][name]["effective_priority"]
        )
        assert (
            before["vrrp_became_master_total"][labels]
            == stats["instances"][name]["became_master"]
            == 1
        )
        assert before["vrrp_adverts_sent_total"][labels] >= 1
        from_to = (*labels[:2], ("from", "BACKUP"), *labels[2:], ("to", "MASTER"))
        assert before["vrrp_transitions_total"][tuple(sorted(from_to))] == 1
    assert before["vrrp_runner_info"] == {(("version", state["version"]),): 1}
    assert before["vrrp_reloads_total"] == {(("result", "ok"),): 0, (("result", "refused"),): 0}
    # A reload that changes b in place: the same series, values moved on.
    runner.fleet.apply(
        config(
            instance("a"),
            instance("b", interface="eth1", vrid=7, priority=160, track_interfaces=track),
        ),
        previous=runner.config,
    )
    after = scrape(runner.api)
    assert {k: set(v) for k, v in after.items() if k != "vrrp_runner_drops_total"} == {
        k: set(v) for k, v in before.items() if k != "vrrp_runner_drops_total"
    }
    assert (
        after["vrrp_priority"][tuple(sorted(labels_of(after["vrrp_priority"], "b").items()))] == 160
    )


DETAILS = {
    "v6": {
        "family": 6,
        "trackers": [
            {"kind": "interface", "name": "up1", "weight": -10, "value": 0},
            {"kind": "file", "name": "/run/w", "weight": 2, "value": 3},
        ],
    },
    "down": {"family": 4, "trackers": []},
}


def fake_state() -> tuple[dict[str, Any], dict[str, Any]]:
    state = {
        "version": "9.9.9",
        "uptime": 12.5,
        "instances": {
            "v6": {
                "state": "BACKUP",
                "priority": 100,
                "effective_priority": 90,
                "master": "fe80::2",
                "master_priority": 200,
                "since": 1_700_000_000.5,
                "vrid": 9,
                "interface": "br0",
                "faults": [],
            },
            "down": {
                "state": "FAULT",
                "priority": 255,
                "effective_priority": 255,
                "master": None,
                "master_priority": 0,
                "since": 1_700_000_001.0,
                "vrid": 1,
                "interface": "eth9",
                "faults": ["link", "track:script:chk"],
            },
        },
    }
    stats = {
        "runner": {"reloads": 3, "reloads_refused": 1, "drop.unknown_vrid": 4, "core_errors": 0},
        "hooks": {},
        "instances": {
            "v6": {
                "adverts_received": 40,
                "priority_zero_received": 2,
                "drop.ttl": 5,
                "drop.brand_new": 1,
                "transition.INIT.BACKUP": 1,
                "transition.BACKUP.MASTER": 2,
                "transition.MASTER.BACKUP": 2,
                "transition.MASTER.FAULT": 1,
                "address_mismatch": 3,
                "io_error.AddAddresses": 6,
                "announcements": 4,
                "announce_watch.heard": 2,
                "announce_watch.own": 7,
            },
            "down": {},
        },
    }
    return state, stats


class FakeSource:
    def __init__(self) -> None:
        self.state_result, self.stats_result = fake_state()

    def state(self) -> dict[str, Any]:
        return self.state_result

    def stats(self) -> dict[str, Any]:
        return self.stats_result

    def details(self) -> dict[str, Any]:
        return DETAILS


V6 = (("family", "ipv6"), ("interface", "br0"), ("name", "v6"), ("vrid", "9"))


def with_(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((*V6, *extra)))


def test_the_collector_over_a_made_up_state() -> None:
    got = scrape(FakeSource())
    assert got["vrrp_instance_state"][with_(("state", "BACKUP"))] == 1
    assert got["vrrp_instance_state"][with_(("state", "MASTER"))] == 0
    assert got["vrrp_master_info"] == {
        with_(("master_address", "fe80::2")): 1,
        tuple(
            sorted(
                {
                    "name": "down",
                    "vrid": "1",
                    "interface": "eth9",
                    "family": "ipv4",
                    "master_address": "",
                }.items()
            )
        ): 1,
    }
    assert got["vrrp_master_priority"][V6] == 200
    assert (got["vrrp_priority"][V6], got["vrrp_effective_priority"][V6]) == (100, 90)
    assert got["vrrp_last_transition_timestamp_seconds"][V6] == 1_700_000_000.5
    assert got["vrrp_adverts_received_total"][V6] == 40
    assert got["vrrp_adverts_sent_total"][V6] == 0
    assert got["vrrp_priority_zero_received_total"][V6] == 2
    assert got["vrrp_released_master_total"][V6] == 3
    assert got["vrrp_transitions_total"][with_(("from", "MASTER"), ("to", "FAULT"))] == 1
    assert got["vrrp_adverts_dropped_total"][with_(("reason", "ttl"))] == 5
    assert with_(("reason", "auth")) not in got["vrrp_adverts_dropped_total"]  # at its first
    assert got["vrrp_adverts_dropped_total"][with_(("reason", "brand_new"))] == 1
    assert got["vrrp_anomalies_total"][with_(("kind", "address_mismatch"))] == 3
    assert got["vrrp_io_errors_total"][with_(("action", "AddAddresses"))] == 6
    assert got["vrrp_announcements_total"][V6] == 4
    heard = got["vrrp_successor_announcements_total"]
    assert heard == {with_(("kind", "heard")): 2, with_(("kind", "own")): 7}  # from a kind's first
    assert got["vrrp_tracker_status"][with_(("kind", "interface"), ("tracker", "up1"))] == 0
    assert got["vrrp_tracker_weight"][with_(("kind", "interface"), ("tracker", "up1"))] == -10
    assert got["vrrp_tracker_status"][with_(("kind", "file"), ("tracker", "/run/w"))] == 3
    faults = {dict(k)["reason"] for k in got["vrrp_fault"]}
    assert faults == {"link", "track:script:chk"}
    assert got["vrrp_reloads_total"] == {(("result", "ok"),): 3, (("result", "refused"),): 1}
    assert got["vrrp_runner_drops_total"] == {(("reason", "unknown_vrid"),): 4}
    assert got["vrrp_runner_uptime_seconds"] == {(): 12.5}
    assert got["vrrp_instances"] == {(): 2}


def test_every_sample_of_an_instance_carries_its_identity() -> None:
    for name, samples in scrape(FakeSource()).items():
        for labels in samples:
            keys = dict(labels)
            if name.startswith(("vrrp_runner", "vrrp_reloads", "vrrp_instances", "vrrp_core")):
                assert "name" not in keys
            else:
                assert {"name", "vrid", "interface", "family"} <= set(keys), name


# ------------------------------------------------------------------ server


async def exchange(port: int, data: bytes, *, host: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """Send ``data``, read to the end: (status line + headers, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _sep, body = answer.partition(b"\r\n\r\n")
    return head, body


def serve(test: Any, **options: Any) -> None:
    """Run ``await test(server, port)`` with a server on a loopback port of a fresh loop."""

    async def main() -> None:
        server = MetricsServer(FakeSource(), listen="127.0.0.1:0", **options)
        await server.start()
        try:
            await test(server, server.sockname[1])
        finally:
            await server.close()

    asyncio.run(main())


GET = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"


def test_get_metrics_answers_the_exposition() -> None:
    async def test(server: MetricsServer, port: int) -> None:
        head, body = await exchange(port, GET)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert f"Content-Type: {CONTENT_TYPE_LATEST}".encode() in head
        assert f"Content-Length: {len(body)}".encode() in head
        assert body == generate_latest(metrics.registry(server.source))  # the slices joined
        assert b'vrrp_priority{family="ipv6",interface="br0",name="v6",vrid="9"} 100.0' in body
        head, body = await exchange(port, b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and body == b""
        assert server.counts["scrapes"] == 2

    serve(test)


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", b"404"),
        (b"GET /metrics/ HTTP/1.1\r\n\r\n", b"404"),
        (b"GET /other HTTP/1.1\r\n\r\n", b"404"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"DELETE /metrics HTTP/1.1\r\n\r\n", b"405"),
        (b"GET /metrics\r\n\r\n", b"400"),
        (b"\x00\xff garbage\r\n\r\n", b"400"),
        (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", b"431"),
    ],
)
def test_anything_but_get_metrics_is_refused(request_: bytes, status: bytes) -> None:
    async def test(server: MetricsServer, port: int) -> None:
        head, _body = await exchange(port, request_)
        assert head.split(b" ")[1] == status
        if status == b"405":
            assert b"Allow: GET, HEAD" in head
        assert server.counts["scrapes"] == 0

    serve(test)


def test_a_silent_client_is_cut_off_and_others_are_served_meanwhile() -> None:
    async def test(server: MetricsServer, port: int) -> None:
        clock = asyncio.get_running_loop()
        silent = [await asyncio.open_connection("127.0.0.1", port) for _round in range(3)]
        slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
        slow_writer.write(b"GET /metrics HTTP/1.1\r\n")  # and never the end of the head
        started = clock.time()
        for _round in range(5):  # served while the others hang
            head, _body = await exchange(port, GET)
            assert head.startswith(b"HTTP/1.1 200")
        assert clock.time() - started < server.read_timeout
        for reader, _writer in [*silent, (slow_reader, slow_writer)]:
            answer = await asyncio.wait_for(reader.read(), 30)  # closed by the server
            assert answer.startswith(b"HTTP/1.1 408")
        for _reader, writer in [*silent, (slow_reader, slow_writer)]:
            writer.close()
        assert not server._clients

    serve(test, read_timeout=1.0)


def test_too_many_clients_are_turned_away_at_once() -> None:
    async def test(server: MetricsServer, port: int) -> None:
        held = [await asyncio.open_connection("127.0.0.1", port) for _round in range(2)]
        await asyncio.sleep(0.1)  # accepted
        head, _body = await exchange(port, GET)
        assert head.startswith(b"HTTP/1.1 503")
        for _reader, writer in held:
            writer.close()
        for _round in range(200):  # their tasks end; then a scrape is served again
            if not server._clients:
                break
            await asyncio.sleep(0.05)
        head, _body = await exchange(port, GET)
        assert head.startswith(b"HTTP/1.1 200")

    serve(test, max_clients=2, read_timeout=30.0)


def test_a_failing_collection_is_a_500_and_the_server_goes_on() -> None:
    async def test(server: MetricsServer, port: int) -> None:
        good = server.source
        server.source = None  # type: ignore[assignment]  # state() raises AttributeError
        head, _body = await exchange(port, GET)
        assert head.startswith(b"HTTP/1.1 500")
        server.source = good
        head, _body = await exchange(port, GET)
        assert head.startswith(b"HTTP/1.1 200")

    serve(test)


def test_ipv6_loopback_and_follow_rebinds() -> None:
    async def main() -> None:
        one = await follow(None, FakeSource(), "[::1]:0")
        assert one is not None and one.sockname[0] == "::1"
        head, _body = await exchange(one.sockname[1], GET, host="::1")
        assert head.startswith(b"HTTP/1.1 200")
        assert await follow(one, FakeSource(), "[::1]:0") is one  # unchanged: kept
        # An address that cannot be bound: the running one goes on serving.
        kept = await follow(one, FakeSource(), "192.0.2.1:9650")
        assert kept is one and one._server is not None
        two = await follow(one, FakeSource(), "127.0.0.1:0")
        assert two is not None and two is not one and one._server is None
        assert await follow(two, FakeSource(), None) is None and two._server is None

    asyncio.run(main())


# ------------------------------------------------------------------ memory


def run_engine(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": ENGINE},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


RUNNER_METRICS = """
import asyncio, sys
from vrrp.runner import Runner
from vrrp.config import Config

async def main():
    r = Runner(config_path="/nonexistent", state_dir="/nonexistent", lib_dir="/nonexistent",
               metrics_listen={flag!r})
    r.config = Config(metrics_listen={key!r})
    await r._follow_metrics()
    print("prometheus_client" in sys.modules, r._metrics is not None)
    if r._metrics is not None:
        await r._metrics.close()

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("flag", "key", "expected"),
    [
        (None, None, "False False"),
        ("127.0.0.1:0", None, "True True"),
        (None, "127.0.0.1:0", "True True"),
    ],
)
def test_prometheus_client_is_imported_only_when_metrics_are_on(
    flag: str | None, key: str | None, expected: str
) -> None:
    assert run_engine(RUNNER_METRICS.format(flag=flag, key=key)) == expected


@given(st.integers(min_value=1, max_value=5))
def test_a_body_made_in_slices_is_the_body_made_at_once(batch: int) -> None:
    async def main() -> None:
        server = MetricsServer(FakeSource(), listen="127.0.0.1:0")
        server.batch = batch
        assert await server.body() == generate_latest(metrics.registry(server.source))

    asyncio.run(main())


def test_the_loop_runs_between_the_slices_of_a_body() -> None:
    source = FakeSource()
    template = source.state_result["instances"]["v6"]
    source.state_result["instances"] = {
        f"i{n}": dict(template, vrid=n % 255 + 1) for n in range(300)
    }

    async def main() -> None:
        server = MetricsServer(source, listen="127.0.0.1:0")
        turns = 0

        async def other() -> None:
            nonlocal turns
            while True:
                await asyncio.sleep(0)
                turns += 1

        task = asyncio.ensure_future(other())
        await asyncio.sleep(0)
        body = await server.body()
        task.cancel()
        families = body.count(b"# TYPE ")
        assert turns >= 300 // server.batch + families  # one turn per slice at least

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_reload_starts_moves_and_stops_the_endpoint(
    runner: Runner,
    kernel: FakeHost,
    loop: asyncio.AbstractEventLoop,
) -> None:
    path = Path(runner.config_path)
    base = {"instances": [instance("a")]}

    def reload(top: dict[str, Any]) -> None:
        path.write_text(json.dumps({**base, **top}))
        loop.run_until_complete(runner.reload())

    def get(port: int) -> bytes:
        head, _body = loop.run_until_complete(exchange(port, GET))
        return head.split(b"\r\n")[0]

    reload({})
    assert runner._metrics is None
    first = free_port()
    reload({"metrics_listen": f"127.0.0.1:{first}"})
    assert get(first) == b"HTTP/1.1 200 OK"
    second = free_port()
    reload({"metrics_listen": f"127.0.0.1:{second}"})
    assert get(second) == b"HTTP/1.1 200 OK"
    with pytest.raises(OSError):
        get(first)
    path.write_text(json.dumps({**base, "metrics_listen": "nowhere:1"}))
    with pytest.raises(ConfigError):  # refused: the endpoint stays where it was
        loop.run_until_complete(runner.reload())
    assert get(second) == b"HTTP/1.1 200 OK"
    reload({})
    assert runner._metrics is None
    with pytest.raises(OSError):
        get(second)


def test_without_prometheus_client_the_runner_runs_on_and_says_why() -> None:
    out = run_engine(
        """
import asyncio, logging, sys
sys.modules["prometheus_client"] = None  # not installed
logging.basicConfig(level=logging.ERROR, stream=sys.stdout, format="%(message)s")
from vrrp.metrics import follow
print(asyncio.run(follow(None, None, "127.0.0.1:9650")))
"""
    )
    assert "metrics: the Python library 'prometheus_client' is required" in out
    assert out.endswith("None")
