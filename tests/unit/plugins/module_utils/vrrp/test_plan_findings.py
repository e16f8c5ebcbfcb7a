"""The election planner's findings, one kind at a time, and its explanations."""

from __future__ import annotations

from typing import Any

import pytest

from vrrp.plan import HostInput, make_plan
from vrrp.plan_model import PlanInputError


def inst(priority: int = 100, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "web",
        "interface": "eth0",
        "vrid": 51,
        "priority": priority,
        "virtual_addresses": ["192.0.2.100/24"],
    }
    out.update(kw)
    return out


def host(name: str, *instances: dict[str, Any], address: str | None = "", **kw: Any) -> HostInput:
    if address == "":
        address = f"192.0.2.{name[-1]}"
    addresses = {"eth0": {4: address}} if address else {}
    return HostInput(name, list(instances), addresses=addresses, **kw)


def pair(a: dict[str, Any], b: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return make_plan([host("r1", a, **kw), host("r2", b, **kw)])


def kinds(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["kind"]: f for f in plan["findings"]}


def test_a_clean_pair_has_no_finding_and_names_the_higher_priority() -> None:
    plan = pair(inst(150), inst(100))
    assert plan["findings"] == []
    (vr,) = plan["vrids"]
    assert (vr["predicted_master"], vr["decided_by"]) == ("r1", "priority")
    assert "higher priority 150" in vr["reason"]
    assert {w["failure"]: w["master"] for w in vr["what_if"]} == {
        "r1 down": "r2",
        "r1 demoted (maintenance, priority 0)": "r2",
        "r2 down": "r1",
        "r2 demoted (maintenance, priority 0)": "r1",
    }


@pytest.mark.parametrize(
    ("b", "kind", "severity"),
    [
        (inst(version=2), "version_mismatch", "error"),
        (inst(virtual_addresses=["192.0.2.100/24", "192.0.2.101/24"]), "vip_mismatch", "error"),
        (inst(virtual_addresses=["192.0.2.200/24"]), "vrid_collision", "error"),
        (inst(advert_interval=2), "interval_mismatch", "warning"),
        (inst(checksum_form="rfc9568"), "checksum_form_mismatch", "error"),
    ],
)
def test_declarations_that_disagree(b: dict[str, Any], kind: str, severity: str) -> None:
    found = kinds(pair(inst(150), b))
    assert found[kind]["severity"] == severity
    assert found[kind]["hosts"] == ["r1", "r2"]
    assert found[kind]["vrid"] == 51
    assert "VRID 51 on eth0 (IPv4)" in found[kind]["message"]


def test_version_mismatch_is_seen_as_two_masters() -> None:
    plan = pair(inst(150), inst(100, version=2))
    (vr,) = plan["vrids"]
    assert vr["decided_by"] == "several"
    assert vr["masters"] == ["r1", "r2"]
    assert "several_masters" in kinds(plan)


def test_v2_interval_and_auth_mismatch_are_errors_and_the_password_is_not_shown() -> None:
    a = inst(150, version=2, authentication={"password": "s3cret"})
    found = kinds(pair(a, inst(100, version=2, advert_interval=2)))
    assert found["interval_mismatch"]["severity"] == "error"
    assert found["auth_mismatch"]["severity"] == "error"
    assert "s3cret" not in str(found)


def test_two_owners() -> None:
    plan = pair(inst(255), inst(255))
    assert kinds(plan)["two_owners"]["hosts"] == ["r1", "r2"]
    (vr,) = plan["vrids"]
    assert (vr["predicted_master"], vr["decided_by"]) == ("r2", "address")


def test_owner_reason() -> None:
    (vr,) = pair(inst(255), inst(100))["vrids"]
    assert (vr["predicted_master"], vr["decided_by"]) == ("r1", "owner")


def test_unicast_asymmetric() -> None:
    a = inst(150, unicast_peers=["192.0.2.2"])
    b = inst(100, unicast_peers=["192.0.2.9"])
    found = kinds(pair(a, b))
    assert "r2 does not list r1 (192.0.2.1)" in found["unicast_asymmetric"]["message"]
    found = kinds(pair(a, inst(100)))
    assert "r2 multicasts" in found["unicast_asymmetric"]["message"]
    assert "unicast_asymmetric" not in kinds(pair(a, inst(100, unicast_peers=["192.0.2.1"])))


def test_no_master_possible() -> None:
    # r1 groups web with db; r2 is the better web but has no db: r1's group
    # stays BACKUP for web, so db (on r1 alone) can never be MASTER.
    web = inst(100, name="web")
    db = inst(100, name="db", vrid=52, virtual_addresses=["192.0.2.52/24"])
    groups = [{"name": "g", "members": ["web", "db"]}]
    plan = make_plan([HostInput("r1", [web, db], groups), host("r2", inst(200))])
    found = kinds(plan)["no_master_possible"]
    assert (found["vrid"], found["hosts"]) == (52, ["r1"])
    vr52 = plan["vrids"][1]
    assert (vr52["predicted_master"], vr52["decided_by"]) == (None, "none")
    assert {w["failure"]: w["master"] for w in vr52["what_if"]}["r2 down"] == "r1"


def test_a_weight_0_tracker_down_leaves_no_master_for_a_lone_group() -> None:
    web = inst(150, name="web")
    dead = inst(
        100,
        name="dead",
        vrid=52,
        virtual_addresses=["192.0.2.52/24"],
        track_files=[{"path": "/run/f", "weight": 0}],
    )
    groups = [{"name": "g", "members": ["web", "dead"]}]
    plan = make_plan([HostInput("r1", [web, dead], groups)])
    assert plan["findings"] == []
    row = next(w for w in plan["vrids"][0]["what_if"] if w["kind"] == "file")
    assert (row["master"], row["decided_by"]) == (None, "none")


def test_tracker_never_changes_winner_and_tracker_tie() -> None:
    a = inst(150, track_interfaces=[{"interface": "eth1", "weight": -20}])
    found = kinds(pair(a, inst(100)))
    assert found["tracker_never_changes_winner"]["hosts"] == ["r1"]
    assert "weight -20" in found["tracker_never_changes_winner"]["message"]
    a = inst(150, track_interfaces=[{"interface": "eth1", "weight": -50}])
    found = kinds(pair(a, inst(100)))
    # A tie: a Backup preempts only a lower priority, so r1 stays.
    message = found["tracker_tie"]["message"]
    assert "tracked interface eth1 down on r1 leads to a tie" in message
    assert "the current master r1 stays" in message
    a = inst(150, track_interfaces=[{"interface": "eth1", "weight": -60}])
    plan = pair(a, inst(100))
    assert plan["findings"] == []
    row = next(w for w in plan["vrids"][0]["what_if"] if w["kind"] == "interface")
    assert (row["master"], row["changes_master"]) == ("r2", True)


def test_an_owner_never_moves_for_a_weight() -> None:
    a = inst(255, track_scripts=[{"name": "chk", "argv": ["/bin/true"], "weight": -100}])
    found = kinds(pair(a, inst(100)))
    assert "owns the addresses" in found["tracker_never_changes_winner"]["message"]


def test_tie_without_addresses_is_undecided() -> None:
    plan = make_plan([host("r1", inst(100), address=None), host("r2", inst(100), address=None)])
    (vr,) = plan["vrids"]
    assert (vr["predicted_master"], vr["decided_by"]) == (None, "undecided")
    assert "unknown without gathered facts" in vr["reason"]
    plan = make_plan([host("r1", inst(100)), host("r2", inst(100))])
    (vr,) = plan["vrids"]
    assert (vr["predicted_master"], vr["decided_by"]) == ("r2", "address")


def live(state: str) -> dict[str, dict[str, Any]]:
    return {"web": {"state": state}}


def test_preempt_off_keeps_the_current_master_and_says_so() -> None:
    plan = make_plan(
        [
            host("r1", inst(150, preempt=False), live=live("BACKUP")),
            host("r2", inst(100, preempt=False), live=live("MASTER")),
        ]
    )
    (vr,) = plan["vrids"]
    assert (vr["predicted_master"], vr["decided_by"]) == ("r2", "preempt_off")
    assert (vr["current_master"], vr["would_transition"]) == ("r2", False)
    assert kinds(plan)["preempt_off_keeps_master"]["severity"] == "warning"


def test_a_priority_change_would_transition() -> None:
    plan = make_plan(
        [
            host("r1", inst(150), live=live("MASTER")),
            host("r2", inst(200), live=live("BACKUP")),
        ]
    )
    (vr,) = plan["vrids"]
    assert (vr["predicted_master"], vr["current_master"], vr["would_transition"]) == (
        "r2",
        "r1",
        True,
    )


def test_an_invalid_host_is_a_finding_naming_the_path() -> None:
    plan = make_plan([host("r1", inst(150)), host("r2", inst(100, vrid=0))])
    found = kinds(plan)["invalid_config"]
    assert found["hosts"] == ["r2"]
    assert "vrid" in found["message"]


def test_a_host_listed_twice_is_refused() -> None:
    with pytest.raises(PlanInputError, match="listed twice"):
        make_plan([host("r1", inst()), host("r1", inst())])


def test_a_bad_address_is_refused_naming_the_host() -> None:
    with pytest.raises(PlanInputError, match="host r1: 'nope'"):
        make_plan([host("r1", inst(), address="nope")])


def test_without_what_ifs_the_predictions_stay() -> None:
    a = inst(150, track_interfaces=[{"interface": "eth1", "weight": -20}])
    full = make_plan([host("r1", a), host("r2", inst(100))])
    lean = make_plan([host("r1", a), host("r2", inst(100))], what_if=False)
    assert lean["vrids"][0]["what_if"] == []
    assert lean["findings"] == []
    keep = ("predicted_master", "decided_by", "reason", "members")
    assert {k: lean["vrids"][0][k] for k in keep} == {k: full["vrids"][0][k] for k in keep}


def test_two_live_masters_are_named() -> None:
    plan = make_plan(
        [
            host("r1", inst(150), live=live("MASTER")),
            host("r2", inst(100), live=live("MASTER")),
        ]
    )
    (vr,) = plan["vrids"]
    assert (vr["current_master"], vr["current_masters"]) == (None, ["r1", "r2"])
    assert (vr["predicted_master"], vr["would_transition"]) == ("r1", True)


def test_crossed_sync_groups_do_not_settle() -> None:
    """Found by the slow property test: each host's group is better for one VRID
    (r1 by priority on 11, r2 by address on 10): on an exact clock they flap in
    lockstep forever, and with real timing the winner is left to chance."""

    def pair_of(vr11: int) -> list[dict[str, Any]]:
        a = inst(50, name="a", vrid=10, version=2, advert_interval=2)
        b = inst(
            vr11,
            name="b",
            vrid=11,
            version=2,
            advert_interval=2,
            virtual_addresses=["192.0.2.101/24"],
        )
        return [a, b]

    groups = [{"name": "g", "members": ["a", "b"]}]
    plan = make_plan(
        [
            HostInput("r1", pair_of(200), groups, addresses={"eth0": {4: "192.0.2.1"}}),
            HostInput("r2", pair_of(50), groups, addresses={"eth0": {4: "192.0.2.2"}}),
        ],
        what_if=False,
    )
    assert [vr["decided_by"] for vr in plan["vrids"]] == ["unstable", "unstable"]
    found = kinds(plan)["unstable_election"]
    assert found["severity"] == "error"
    assert "sync groups r1:g, r2:g pull against each other" in found["message"]
