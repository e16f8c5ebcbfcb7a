"""Our runner on real kernels: reload keeps unchanged instances, refuses bad configs.

r1 and r2 each run two instances: ``keep`` (VRID 51) and ``change`` (VRID 52),
r1 with the higher priorities, so r1 is Master of both. A reload that changes
``change`` on r1 re-creates it (priority-0 advert, r2 takes it for a moment,
the new one preempts back) while ``keep`` goes on as if nothing happened: a
capture on the bridge shows its adverts without a gap, without a priority-0
advert, and its history gains no entry.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from lab import Lab
from lab.capture import Capture
from lab.runner import (
    RunnerProc,
    adverts_of,
    check_our_adverts,
    largest_gap,
    moves,
    runner_config,
    stats_of,
    vrrp_instance,
    wait_state,
)

KEEP_VIP, CHANGE_VIP = "192.0.2.100", "192.0.2.101"
KEEP_VRID, CHANGE_VRID = 51, 52
INTERVAL = 0.1
R1, R2 = "192.0.2.11", "192.0.2.12"


def config(keep_priority: int, change_priority: int, **change_extra: Any) -> dict[str, Any]:
    return runner_config(
        vrrp_instance("keep", vrid=KEEP_VRID, priority=keep_priority, vips=[f"{KEEP_VIP}/24"]),
        vrrp_instance(
            "change",
            vrid=CHANGE_VRID,
            priority=change_priority,
            vips=[f"{CHANGE_VIP}/24"],
            **change_extra,
        ),
    )


def start_pair(lab: Lab) -> tuple[RunnerProc, RunnerProc]:
    r1 = lab.add_router("r1", v4=f"{R1}/24")
    r2 = lab.add_router("r2", v4=f"{R2}/24")
    a = RunnerProc(lab, r1, config(200, 200)).start()
    b = RunnerProc(lab, r2, config(100, 100)).start()
    for name in ("keep", "change"):
        wait_state(a, name, "MASTER", timeout=5)
        wait_state(b, name, "BACKUP", timeout=5)
    lab.wait_for(
        lambda: lab.has_address(r1, KEEP_VIP) and lab.has_address(r1, CHANGE_VIP),
        timeout=2,
        what="both VIPs on r1",
    )
    return a, b


def sighup(lab: Lab, proc: RunnerProc) -> None:
    assert proc.proc is not None
    lab.kill(proc.proc, signal.SIGHUP)


def effective(proc: RunnerProc, name: str) -> int:
    return int(proc.result("state")["instances"][name]["effective_priority"])


def check_keep_untouched(
    packets: list[dict[str, Any]], *, history_before: list[Any], a: RunnerProc, since: float
) -> None:
    """r1's ``keep`` kept its state, its history and its advert rhythm."""
    keep = adverts_of(packets, src=R1, vrid=KEEP_VRID)
    assert keep and min(p["time"] for p in keep) < since < max(p["time"] for p in keep)
    assert largest_gap(keep) < 1.5 * INTERVAL, largest_gap(keep)
    assert {p["priority"] for p in keep} == {200}  # never a priority-0 advert
    assert adverts_of(packets, src=R2, vrid=KEEP_VRID) == []  # r2 never spoke for it
    assert a.result("history")["keep"] == history_before
    assert a.state_of("keep") == "MASTER"


@pytest.mark.parametrize("how", ["control socket", "SIGHUP"])
def test_reload_recreates_the_changed_instance_and_keeps_the_other(lab: Lab, how: str) -> None:
    a, b = start_pair(lab)
    history_before = a.result("history")["keep"]
    stats_before = stats_of(a, "keep")
    cap = Capture(lab).start()
    time.sleep(0.5)
    a.write_config(config(200, 180))
    reloaded = time.time()
    if how == "control socket":
        response = a.request("reload")
        assert response["ok"] is True, response
        report = response["result"]
        assert report["changed"] == ["change"]
        assert report["kept"] == ["keep"]
        assert report["added"] == report["removed"] == []
    else:
        sighup(lab, a)
    lab.wait_for(lambda: effective(a, "change") == 180, timeout=3, what="change at 180")
    wait_state(a, "change", "MASTER", timeout=3)
    wait_state(b, "change", "BACKUP", timeout=3)
    lab.wait_for(lambda: lab.has_address(a.router, CHANGE_VIP), timeout=2, what="VIP back on r1")
    time.sleep(0.5)
    cap.stop()
    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good

    check_keep_untouched(packets, history_before=history_before, a=a, since=reloaded)
    stats_after = stats_of(a, "keep")
    for key in ("became_master", "became_backup", "priority_zero_sent"):
        assert stats_after.get(key, 0) == stats_before.get(key, 0), key
    assert a.result("stats")["runner"].get("reloads") == 1
    assert moves(b, "keep") == [("INIT", "BACKUP")]

    # ``change`` was re-created: a priority-0 advert from the old one, a fresh
    # history for the new one, and adverts at its new priority.
    change = adverts_of(packets, src=R1, vrid=CHANGE_VRID)
    zero = [p for p in change if p["priority"] == 0]
    assert len(zero) == 1 and zero[0]["time"] >= reloaded
    assert {p["priority"] for p in change if p["time"] < zero[0]["time"]} == {200}
    after = [p for p in change if p["time"] > zero[0]["time"]]
    assert after and {p["priority"] for p in after} == {180}
    assert moves(a, "change") == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
    # r2 held the changed VRID while r1's new instance listened, then gave it back
    assert moves(b, "change")[-2:] == [("BACKUP", "MASTER"), ("MASTER", "BACKUP")]
    r2_change = adverts_of(packets, src=R2, vrid=CHANGE_VRID)
    # ... and stepped back with one priority-0 advert as it left.
    (r2_zero,) = [p for p in r2_change if p["priority"] == 0]
    assert r2_zero["time"] > after[0]["time"]
    serving = [p for p in r2_change if p is not r2_zero]
    assert serving and all(zero[0]["time"] < p["time"] < after[0]["time"] for p in serving)


@pytest.mark.parametrize(
    "bad_vrid",
    [
        300,  # the schema: a VRID is 1..255
        KEEP_VRID,  # a cross-check the schema cannot express: one VRID twice on one link
    ],
    ids=["schema", "vrid-clash"],
)
def test_bad_config_reload_is_refused_and_the_old_one_keeps_running(
    lab: Lab, bad_vrid: int
) -> None:
    path = "instances[1].vrid"
    a, b = start_pair(lab)
    history_before = a.result("history")
    cap = Capture(lab).start()
    time.sleep(0.3)
    good = config(200, 200)
    bad = config(200, 200)
    bad["instances"][1]["vrid"] = bad_vrid
    a.write_config(bad)
    refused_at = time.time()
    response = a.request("reload")
    assert response["ok"] is False, response
    # a ConfigError, here its subclass that also names the file
    assert response["kind"] in ("ConfigError", "ConfigFileError")
    assert str(a.config_path) in response["error"]
    assert response["path"] == path
    assert response["rule"] and path in response["error"]
    # SIGHUP with the same bad file: refused as well, logged, still running
    sighup(lab, a)
    lab.wait_for(
        lambda: a.result("stats")["runner"].get("reloads_refused") == 2,
        timeout=3,
        what="the SIGHUP reload refused too",
    )
    assert "reload refused" in a.log()
    time.sleep(0.5)
    # Nothing moved: states, VIPs, histories
    assert {n: i["state"] for n, i in a.result("state")["instances"].items()} == {
        "keep": "MASTER",
        "change": "MASTER",
    }
    assert lab.has_address(a.router, KEEP_VIP) and lab.has_address(a.router, CHANGE_VIP)
    assert a.result("history") == history_before
    assert "reloads" not in a.result("stats")["runner"]

    # The good file back: a reload changes nothing and keeps both.
    a.write_config(good)
    response = a.request("reload")
    assert response["ok"] is True, response
    assert response["result"]["kept"] == ["keep", "change"]
    assert response["result"]["changed"] == []
    time.sleep(0.3)
    cap.stop()
    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good
    for vrid in (KEEP_VRID, CHANGE_VRID):
        ours = adverts_of(packets, src=R1, vrid=vrid)
        assert min(p["time"] for p in ours) < refused_at
        assert largest_gap(ours) < 1.5 * INTERVAL, (vrid, largest_gap(ours))
        assert {p["priority"] for p in ours} == {200}
        assert adverts_of(packets, src=R2, vrid=vrid) == []
    assert a.result("history") == history_before
    assert [moves(b, n) for n in ("keep", "change")] == [[("INIT", "BACKUP")]] * 2


def test_reload_on_the_backup_moves_nothing_on_the_wire(lab: Lab) -> None:
    a, b = start_pair(lab)
    keep_history = b.result("history")["keep"]
    cap = Capture(lab).start()
    time.sleep(0.3)
    # r2's ``change`` goes from 100 to 150: still below r1, so re-creating it
    # must not disturb anybody: no advert from r2, no move of r1.
    b.write_config(config(100, 150))
    reloaded = time.time()
    response = b.request("reload")
    assert response["ok"] is True, response
    assert (response["result"]["changed"], response["result"]["kept"]) == (["change"], ["keep"])
    lab.wait_for(lambda: effective(b, "change") == 150, timeout=2, what="change at 150")
    wait_state(b, "change", "BACKUP", timeout=2)
    time.sleep(0.6)  # past a Master_Down_Interval of the new instance
    cap.stop()
    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good

    assert adverts_of(packets, src=R2, vrid=KEEP_VRID) == []
    assert adverts_of(packets, src=R2, vrid=CHANGE_VRID) == []
    for vrid in (KEEP_VRID, CHANGE_VRID):
        ours = adverts_of(packets, src=R1, vrid=vrid)
        assert min(p["time"] for p in ours) < reloaded < max(p["time"] for p in ours)
        assert largest_gap(ours) < 1.5 * INTERVAL
        assert {p["priority"] for p in ours} == {200}
    assert b.result("history")["keep"] == keep_history
    assert moves(b, "change") == [("INIT", "BACKUP")]
    state = b.result("state")["instances"]["change"]
    # the new instance learned the Master from its adverts
    assert (state["master"], state["master_priority"]) == (R1, 200)
    assert [moves(a, n) for n in ("keep", "change")] == [
        [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
    ] * 2
