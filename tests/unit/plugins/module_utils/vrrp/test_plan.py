"""The election planner's predictions against independent simulated runs (seeded, many)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from support.planrun import Run
from vrrp.plan import HostInput, make_plan

HOSTS = ("r1", "r2", "r3")
VRIDS = ((10, "eth0"), (11, "eth0"), (10, "eth1"))
PRIORITIES = (50, 100, 100, 150, 200, 254, 255)
TRACKERS = (
    ("track_interfaces", {"interface": "eth2", "weight": -60}),
    ("track_interfaces", {"interface": "eth2", "weight": -10}),
    ("track_interfaces", {"interface": "eth3", "weight": 0}),
    ("track_interfaces", {"interface": "eth3", "weight": 30}),
    ("track_scripts", {"name": "chk", "argv": ["/bin/true"], "weight": -50}),
    ("track_scripts", {"name": "chk", "argv": ["/bin/true"], "weight": 0}),
    ("track_files", {"path": "/run/f", "weight": -100}),
    ("track_files", {"path": "/run/f", "weight": 0}),
)


@st.composite
def fleets(draw: st.DrawFn) -> dict[str, Any]:
    """Hosts with instances of shared VRIDs, priorities with ties and owners,
    preempt on/off, delays, trackers, sync groups, known or unknown addresses,
    and sometimes a live MASTER."""
    hosts = HOSTS[: draw(st.integers(2, 3))]
    routers = VRIDS[: draw(st.integers(1, 3))]
    shape = {
        r: {
            "version": draw(st.sampled_from((2, 3))),
            "advert_interval": draw(st.sampled_from((1, 1, 2))),
            "family": draw(st.sampled_from((4, 4, 6))),
        }
        for r in routers
    }
    fleet: dict[str, Any] = {}
    for index, host in enumerate(hosts):
        instances = []
        for vrid, iface in routers:
            if len(hosts) > 2 and draw(st.integers(0, 5)) == 0:
                continue  # not every host runs every VRID
            s = shape[(vrid, iface)]
            vip = [f"192.0.2.{vrid + 90}/24"] if s["family"] == 4 else [f"fe80::1:{vrid}/64"]
            inst: dict[str, Any] = {
                "name": f"vr{vrid}{iface}",
                "interface": iface,
                "vrid": vrid,
                "priority": draw(st.sampled_from(PRIORITIES)),
                "version": s["version"] if s["family"] == 4 else 3,
                "advert_interval": s["advert_interval"],
                "virtual_addresses": vip,
                "preempt": draw(st.booleans()),
                "preempt_delay": draw(st.sampled_from((0, 0, 2))),
            }
            for kind, tracker in draw(st.lists(st.sampled_from(TRACKERS), max_size=2)):
                same = [
                    t
                    for t in inst.get(kind, [])
                    if t == tracker
                    or t.get("interface", t.get("name", t.get("path")))
                    == tracker.get("interface", tracker.get("name", tracker.get("path")))
                ]
                if not same:
                    inst.setdefault(kind, []).append(tracker)
            instances.append(inst)
        if not instances:
            continue
        groups = []
        if len(instances) > 1 and draw(st.booleans()):
            groups = [{"name": "g", "members": [i["name"] for i in instances]}]
        fleet[host] = {
            "instances": instances,
            "sync_groups": groups,
            "address": f"192.0.2.{index + 1}" if draw(st.booleans()) else None,
        }
    live = draw(st.sampled_from((None, *fleet)))
    return {"hosts": fleet, "live": live}


def host_inputs(fleet: dict[str, Any]) -> list[HostInput]:
    out = []
    for host, spec in fleet["hosts"].items():
        addresses = {}
        if spec["address"]:
            v6 = f"fe80::{int(spec['address'].rsplit('.', 1)[1]):x}"
            addresses = {i: {4: spec["address"], 6: v6} for i in ("eth0", "eth1")}
        live = None
        if fleet["live"] is not None:
            state = "MASTER" if host == fleet["live"] else "BACKUP"
            live = {i["name"]: {"state": state} for i in spec["instances"]}
        groups = spec.get("sync_groups", [])
        out.append(HostInput(host, spec["instances"], groups, addresses, live))
    return out


def independent(fleet: dict[str, Any], *, seed_value: int, failure: dict[str, Any] | None) -> Run:
    run = Run(fleet["hosts"], seed=seed_value)
    first = [h for h in fleet["hosts"] if h == fleet["live"]]
    if first:
        run.start(first)
        run.run()
    run.start([h for h in fleet["hosts"] if h not in first])
    run.run()
    if failure is not None:
        run.fail(failure["kind"], failure["host"], failure["object"])
        run.run()
    return run


def check(row: dict[str, Any], masters: list[str], what: str) -> None:
    decided = row["decided_by"]
    if decided == "unstable":
        return  # lockstep flapping on the plan's exact clock; jitter picks a winner here
    if decided == "undecided":
        # The plan claims only that unknown addresses decide; this run's stand-ins
        # are a third order (with sync groups of three hosts it can even end with
        # no MASTER: found by the slow run), so there is nothing more to check.
        return
    if decided == "several":
        assert len(masters) > 1, (what, row, masters)
    elif decided == "none":
        assert masters == [], (what, row, masters)
    else:
        master = row.get("predicted_master", row.get("master"))
        assert masters == [master], (what, row, masters)


def _vr(name: str, vrid: int, priority: int) -> dict[str, Any]:
    return {
        "name": name,
        "interface": "eth0",
        "vrid": vrid,
        "priority": priority,
        "version": 2,
        "advert_interval": 1,
        "virtual_addresses": [f"192.0.2.{vrid + 90}/24"],
        "preempt": False,
    }


# Found by this test: r2's sync group loses the address tie of VRID 10, and
# pulls VRID 11 (where r2 has the higher priority) down with it; so VRID 11's
# MASTER depends on the unknown addresses too.
GROUP_TIE: dict[str, Any] = {
    "hosts": {
        "r1": {"instances": [_vr("a", 10, 50), _vr("b", 11, 50)], "address": None},
        "r2": {
            "instances": [_vr("a", 10, 50), _vr("b", 11, 100)],
            "sync_groups": [{"name": "g", "members": ["a", "b"]}],
            "address": None,
        },
    },
    "live": None,
}


def predictions_match_a_simulated_run(fleet: dict[str, Any], seed_value: int) -> None:
    plan = make_plan(host_inputs(fleet))
    assert not [f for f in plan["findings"] if f["kind"] == "invalid_config"]
    run = independent(fleet, seed_value=seed_value, failure=None)
    for vr in plan["vrids"]:
        key = (vr["interface"], vr["family"], vr["vrid"])
        check(vr, run.masters(key), "baseline")
        if vr["decided_by"] in ("undecided", "several", "unstable"):
            continue  # the what-ifs follow the stand-in addresses' winner
        for row in vr["what_if"]:
            after = independent(fleet, seed_value=seed_value, failure=row)
            check(row, after.masters(key), row["failure"])


@seed(9568)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), seed_value=st.integers(0, 2**16))
@example(fleet=GROUP_TIE, seed_value=0)
def test_prediction_is_what_a_simulated_run_elects(fleet: dict[str, Any], seed_value: int) -> None:
    predictions_match_a_simulated_run(fleet, seed_value)
