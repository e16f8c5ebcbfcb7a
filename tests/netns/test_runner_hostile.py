"""Our runner on real kernels: malformed and hostile VRRP from a third namespace.

r1 (priority 200, Master) and r2 (priority 100, Backup) run our runner; r3 is
a stranger that sends crafted packets with ``lab.inject`` (built independently
of the engine's codec). Each broken advert claims priority 254, so a runner
that let one through would see r1 step down: every one must be counted under
its drop reason in ``stats`` and change nothing, and the runner must keep its
advert rhythm and still fail over afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from lab import Lab, Router
from lab.capture import Capture
from lab.inject import VRRP_V4_GROUP, inject, vrrp2_advert, vrrp3_advert
from lab.runner import (
    RunnerProc,
    adverts_of,
    check_our_adverts,
    largest_gap,
    master_down_interval,
    moves,
    runner_config,
    stats_of,
    vrrp_instance,
    wait_state,
)

VIP = "192.0.2.100"
VRID = 51
INTERVAL = 0.1
R1, R2, R3 = "192.0.2.11", "192.0.2.12", "192.0.2.13"
COUNT = 5
# drop reasons of the state machine's receive checks (after a good decode)
STATE_MACHINE_DROPS = {"drop.version", "drop.peer"}


def good_v3(**overrides: Any) -> bytes:
    """A well-formed v3 advert from r3 for VRID 51 at priority 254 (pseudo-header sum)."""
    fields: dict[str, Any] = {
        "vrid": VRID,
        "priority": 254,
        "advert_interval_cs": 10,
        "addresses": [VIP],
        "src": R3,
        "dst": VRRP_V4_GROUP,
    }
    fields.update(overrides)
    return vrrp3_advert(**fields)


def send(
    lab: Lab,
    r3: Router,
    payload: bytes,
    *,
    dst: str = VRRP_V4_GROUP,
    ttl: int = 255,
    count: int = COUNT,
    interval: float = 0.01,
) -> None:
    proc = inject(lab, r3, payload, dst=dst, ttl=ttl, count=count, interval=interval)
    assert proc.wait(timeout=30) == 0, lab.log_of(proc)


def wrong_checksum(payload: bytes) -> bytes:
    checksum = int.from_bytes(payload[6:8], "big")
    return payload[:6] + ((checksum + 0x1111) & 0xFFFF).to_bytes(2, "big") + payload[8:]


# name: (payload, ttl, where the drop is counted, reason, what tshark must see)
CASES: dict[str, tuple[Callable[[], bytes], int, str, str, dict[str, Any]]] = {
    "wrong TTL": (good_v3, 64, "instance", "drop.ttl", {"ttl": 64, "checksum_status": "good"}),
    "bad checksum": (
        lambda: wrong_checksum(good_v3()),
        255,
        "instance",
        "drop.checksum",
        {"checksum_status": "bad", "checksum_status_message_only": "bad"},
    ),
    "wrong VRID": (
        lambda: good_v3(vrid=99),
        255,
        "runner",
        "drop.unknown_vrid",
        {"vrid": 99, "checksum_status": "good"},
    ),
    "v2 to a v3 instance": (
        lambda: vrrp2_advert(vrid=VRID, priority=254, advert_interval_s=1, addresses=[VIP]),
        255,
        "instance",
        "drop.version",
        {"version": 2, "checksum_status": "good"},
    ),
    "truncated": (
        lambda: good_v3()[:10],
        255,
        "instance",
        "drop.length",
        {"version": 3},
    ),
}


def start_pair(lab: Lab, **extra: Any) -> tuple[RunnerProc, RunnerProc, Router]:
    r1 = lab.add_router("r1", v4=f"{R1}/24")
    r2 = lab.add_router("r2", v4=f"{R2}/24")
    r3 = lab.add_router("r3", v4=f"{R3}/24")
    peers = extra.pop("peers", None)
    a_extra = {**extra, **({"unicast_peers": [R2]} if peers else {})}
    b_extra = {**extra, **({"unicast_peers": [R1]} if peers else {})}
    a = RunnerProc(
        lab, r1, runner_config(vrrp_instance("vi", vrid=VRID, priority=200, vips=[VIP], **a_extra))
    ).start()
    b = RunnerProc(
        lab, r2, runner_config(vrrp_instance("vi", vrid=VRID, priority=100, vips=[VIP], **b_extra))
    ).start()
    wait_state(a, "vi", "MASTER", timeout=5)
    wait_state(b, "vi", "BACKUP", timeout=5)
    lab.wait_for(lambda: lab.has_address(r1, VIP), timeout=2, what="VIP on r1")
    lab.wait_for(
        lambda: b.result("state")["instances"]["vi"]["master"] == R1, timeout=2, what="r2 hears r1"
    )
    return a, b, r3


def counted(proc: RunnerProc, where: str, reason: str) -> int:
    stats = proc.result("stats")
    scope = stats["runner"] if where == "runner" else stats["instances"]["vi"]
    return int(scope.get(reason, 0))


def assert_untouched(
    lab: Lab, a: RunnerProc, b: RunnerProc, history: dict[str, Any], packets: list[Any]
) -> None:
    """States, VIP, histories and r1's advert rhythm as before the attack."""
    assert a.state_of("vi") == "MASTER" and b.state_of("vi") == "BACKUP"
    assert lab.has_address(a.router, VIP) and not lab.has_address(b.router, VIP)
    assert {"a": a.result("history"), "b": b.result("history")} == history
    state = b.result("state")["instances"]["vi"]
    assert (state["master"], state["master_priority"]) == (R1, 200)
    ours = adverts_of(packets, src=R1, vrid=VRID)
    attack = [p["time"] for p in packets if p["src"] == R3]
    # r1's adverts span the whole attack
    assert ours and ours[0]["time"] < min(attack) and ours[-1]["time"] > max(attack)
    # no gap r2 (priority 100) would have taken for a dead Master
    assert largest_gap(ours) < master_down_interval(100, INTERVAL), largest_gap(ours)
    assert {p["priority"] for p in ours} == {200}
    assert adverts_of(packets, src=R2, vrid=VRID) == []


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_advert_is_counted_under_its_reason_and_changes_nothing(
    lab: Lab, case: str
) -> None:
    make, ttl, where, reason, seen = CASES[case]
    a, b, r3 = start_pair(lab)
    history = {"a": a.result("history"), "b": b.result("history")}
    before = {p: counted(p, where, reason) for p in (a, b)}
    received_before = stats_of(a, "vi").get("adverts_received", 0)
    cap = Capture(lab).start()
    time.sleep(0.2)  # r1's rhythm on the wire before the attack
    send(lab, r3, make(), ttl=ttl)
    for proc in (a, b):
        lab.wait_for(
            lambda proc=proc: counted(proc, where, reason) - before[proc] == COUNT,
            timeout=2,
            what=f"{COUNT} × {reason} in {proc.router.name}",
        )
    time.sleep(0.5)
    cap.stop()
    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good

    # On the wire: r3's packets went out with exactly the flaw under test.
    injected = [p for p in packets if p["src"] == R3]
    assert len(injected) == COUNT
    for packet in injected:
        for key, value in seen.items():
            assert packet[key] == value, (key, packet)
    for proc in (a, b):
        assert counted(proc, where, reason) - before[proc] == COUNT  # not more
    # r1, the Master, hears no legitimate advert. A packet that fails a check
    # of the codec never counts as received; one that decodes (a v2 advert)
    # counts and is then dropped by the state machine's check.
    decoded = COUNT if reason in STATE_MACHINE_DROPS else 0
    assert stats_of(a, "vi").get("adverts_received", 0) - received_before == decoded
    assert_untouched(lab, a, b, history, packets)


def test_stranger_priority_255_is_ignored_by_a_unicast_instance(lab: Lab) -> None:
    a, b, r3 = start_pair(lab, peers=True)
    history = {"a": a.result("history"), "b": b.result("history")}
    cap = Capture(lab).start()
    time.sleep(0.2)  # r1's rhythm on the wire before the attack
    # The owner's priority from a host that is not a configured peer, both
    # unicast to each runner (checksummed for that destination) and multicast.
    for target in (R1, R2):
        payload = good_v3(priority=255, dst=target)
        send(lab, r3, payload, dst=target)
    send(lab, r3, good_v3(priority=255))
    for proc in (a, b):
        # Counted where the stranger is stopped: by the state machine's
        # unicast-peer check, or by the socket's peer filter if one is set.
        lab.wait_for(
            lambda proc=proc: (
                counted(proc, "instance", "drop.peer")
                + counted(proc, "runner", "socket.eth0.v4.unknown_peer")
                == 2 * COUNT
            ),
            timeout=2,
            what=f"{2 * COUNT} strangers dropped in {proc.router.name}",
        )
    time.sleep(0.5)
    cap.stop()
    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good
    injected = [p for p in packets if p["src"] == R3]
    assert len(injected) == 3 * COUNT
    assert {p["priority"] for p in injected} == {255}
    assert all(p["checksum_status"] == "good" for p in injected)
    # the instances are unicast: r1 advertises to r2 only
    assert {p["dst"] for p in adverts_of(packets, src=R1, vrid=VRID)} == {R2}
    assert_untouched(lab, a, b, history, packets)


def test_flood_of_bad_packets_does_not_break_the_rhythm(lab: Lab) -> None:
    a, b, r3 = start_pair(lab)
    history = {"a": a.result("history"), "b": b.result("history")}
    cap = Capture(lab).start()
    time.sleep(0.2)  # r1's rhythm on the wire before the attack
    flood = 3000
    send(lab, r3, wrong_checksum(good_v3()), count=flood, interval=0.0002)
    lab.wait_for(
        lambda: counted(a, "instance", "drop.checksum") > 0, timeout=2, what="flood counted"
    )
    time.sleep(0.5)
    cap.stop()
    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good
    for proc in (a, b):
        dropped = counted(proc, "instance", "drop.checksum")
        # the kernel may drop some of a burst when the socket buffer is full
        assert 0 < dropped <= flood, dropped
    assert_untouched(lab, a, b, history, packets)
    # and the runners still do their job: r1 dies, r2 takes over
    a.kill()
    wait_state(b, "vi", "MASTER", timeout=2)
    lab.wait_for(lambda: lab.has_address(b.router, VIP), timeout=2, what="VIP on r2")
    assert moves(b, "vi")[-1] == ("BACKUP", "MASTER")
