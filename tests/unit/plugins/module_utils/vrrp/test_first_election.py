"""The first election of a new VRID: the claim order and the staging.

The claim order is checked against the engine itself on the simulated LAN:
with preempt on, the Master that the state machines settle on is
:func:`first_master`'s; with preempt off, starting that host first and the
others at any later time keeps it Master, whereas starting it last loses.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.simlan import SimLAN
from vrrp.first_election import Claim, family_of, first_master, plan, stage, still_starting
from vrrp.fsm import RouterParams, State, VirtualRouter

VRID = 7
QUICK = settings(max_examples=max(10, settings().max_examples // 4))


def _address(family: int, index: int) -> IPv4Address | IPv6Address:
    return (
        IPv4Address(f"192.0.2.{10 + index}") if family == 4 else IPv6Address(f"fe80::{index + 1:x}")
    )


def _router(claim: Claim, *, family: int, interval_cs: int, preempt: bool) -> VirtualRouter:
    if claim.address is None:
        raise ValueError("a simulated router needs its address")
    vip = ip_address("198.51.100.7" if family == 4 else "2001:db8:1::7")
    return VirtualRouter(
        RouterParams(
            vrid=VRID,
            version=3,
            priority=claim.priority,
            advert_interval_cs=interval_cs,
            primary_address=claim.address,
            virtual_addresses=(vip,),
            preempt=preempt,
        )
    )


@st.composite
def claim_sets(draw: st.DrawFn) -> tuple[int, list[Claim]]:
    family = draw(st.sampled_from([4, 6]))
    count = draw(st.integers(2, 4))
    slots = draw(st.permutations(range(count)))
    priorities = draw(
        st.lists(st.sampled_from([1, 50, 100, 150, 200, 254, 255]), min_size=count, max_size=count)
    )
    claims = [
        Claim(host=f"h{i}", name=f"i{i}", priority=p, preempt=False, address=_address(family, s))
        for i, (p, s) in enumerate(zip(priorities, slots))
    ]
    return family, claims


@given(case=claim_sets(), interval_cs=st.sampled_from([10, 100]), starts=st.lists(
    st.integers(0, 500), min_size=4, max_size=4))  # fmt: skip
@QUICK
def test_first_master_is_the_master_the_engine_settles_on(
    case: tuple[int, list[Claim]], interval_cs: int, starts: list[int]
) -> None:
    """Preempt on: the engine converges on first_master's claim.

    Any start order when the best priority is unique; a simultaneous start when
    it ties (a Backup never preempts an equal priority: only two Masters at once
    compare addresses, RFC 9568 §6.4.3).
    """
    family, claims = case
    best = max(c.priority for c in claims)
    if sum(c.priority == best for c in claims) > 1:
        starts = [0] * len(starts)
    lan = SimLAN(latency=0.001)
    for claim, start in zip(claims, starts):
        lan.add(claim.host, _router(claim, family=family, interval_cs=interval_cs, preempt=True))
        lan.start(claim.host, at=start / 1000)
    lan.run_until(30 * interval_cs / 100 + 1)
    winner = first_master(claims, family)
    assert winner is not None
    assert [node for node, _unused in lan.masters(VRID)] == [winner.host]


@given(
    case=claim_sets(),
    interval_cs=st.sampled_from([10, 100]),
    delays=st.lists(st.integers(0, 3000), min_size=3, max_size=3),
)
@QUICK
def test_staged_preempt_off_keeps_the_first_master(
    case: tuple[int, list[Claim]], interval_cs: int, delays: list[int]
) -> None:
    """Preempt off: the winner alone until it is Master, then the others at any time."""
    family, claims = case
    winner = first_master(claims, family)
    assert winner is not None
    lan = SimLAN(latency=0.001)
    for claim in claims:
        lan.add(claim.host, _router(claim, family=family, interval_cs=interval_cs, preempt=False))
    lan.start(winner.host, at=0.0)
    lan.run_until(4 * interval_cs / 100 + 0.01)
    assert [node for node, _unused in lan.masters(VRID)] == [winner.host]
    became = lan.now
    others = [c for c in claims if c is not winner]
    for claim, delay in zip(others, delays):
        lan.start(claim.host, at=became + delay / 1000)
    lan.run_until(became + 3 + 10 * interval_cs / 100)
    assert lan.master_throughout(winner.host, winner.host, became, lan.now)


def test_unstaged_preempt_off_lets_the_first_to_start_win() -> None:
    """Why staging is needed: the better claim starting last stays Backup."""
    low = Claim(host="low", name="x", priority=100, preempt=False, address=_address(4, 2))
    high = Claim(host="high", name="x", priority=150, preempt=False, address=_address(4, 1))
    lan = SimLAN(latency=0.001)
    for claim in (low, high):
        lan.add(claim.host, _router(claim, family=4, interval_cs=10, preempt=False))
    lan.start("low", at=0.0)
    lan.start("high", at=1.0)
    lan.run_until(5.0)
    assert first_master([low, high], 4) == high
    assert lan.masters(VRID) == [("low", "low")]
    assert lan.router("high").state is State.BACKUP


@pytest.mark.parametrize(
    ("priorities", "addresses", "expected"),
    [
        ((100, 100), (None, "192.0.2.2"), None),  # a tie that only the address decides
        ((150, 100), (None, None), "h0"),  # priority decides, addresses unknown
        ((255, 254), (None, None), "h0"),  # the owner first
        ((255, 255), ("192.0.2.1", "192.0.2.9"), "h1"),  # two owners: the higher address
        ((100, 100), ("192.0.2.9", "192.0.2.1"), "h0"),
        ((100, 100, 200), (None, None, None), "h2"),  # an undecided tie below the winner
    ],
)
def test_first_master_needs_an_address_only_for_a_tie(
    priorities: tuple[int, ...], addresses: tuple[str | None, ...], expected: str | None
) -> None:
    claims = [
        Claim(host=f"h{i}", name="x", priority=p, preempt=False,
              address=None if a is None else IPv4Address(a))
        for i, (p, a) in enumerate(zip(priorities, addresses))
    ]  # fmt: skip
    winner = first_master(claims, 4)
    assert (None if winner is None else winner.host) == expected


def _claims(*spec: tuple[str, str, int, bool]) -> list[Claim]:
    return [
        Claim(host=h, name=n, priority=p, preempt=pre, address=_address(4, i))
        for i, (h, n, p, pre) in enumerate(spec)
    ]


def test_stage_withholds_only_new_routers_from_the_lesser_claims() -> None:
    routers = {
        ("eth0", 4, 1): _claims(("r1", "a", 150, False), ("r2", "a", 100, False)),
        ("eth0", 4, 2): _claims(("r1", "b", 100, False), ("r2", "b", 150, False)),
        ("eth0", 4, 3): _claims(("r1", "c", 100, False), ("r2", "c", 150, False)),  # running
        ("eth0", 4, 4): _claims(("r1", "d", 100, False), ("r2", "d", 150, True)),  # preempts
        ("eth0", 4, 5): _claims(("r1", "e", 100, False)),  # one host
        ("eth0", 4, 6): _claims(("r1", "f", 100, False), ("r3", "f", 150, False)),  # r3 out
    }
    staging = stage(routers, running={("eth0", 4, 3)}, applying={"r1", "r2"})
    assert staging.withhold == {"r2": ["a"], "r1": ["b"]}
    assert staging.first == {"r1": ["a"], "r2": ["b"]}
    assert [s["vrid"] for s in staging.staged] == [1, 2]
    assert staging.undecided == []


def test_stage_withholds_a_sync_group_only_with_all_its_members() -> None:
    routers = {
        ("eth0", 4, 1): _claims(("r1", "a", 150, False), ("r2", "a", 100, False)),
        ("eth0", 4, 2): _claims(("r1", "b", 150, False), ("r2", "b", 100, False)),
        ("eth0", 4, 3): _claims(("r1", "c", 150, False), ("r2", "c", 100, False)),
        ("eth0", 4, 4): _claims(("r1", "d", 100, False), ("r2", "d", 100, False)),
    }
    groups = {"r2": {"whole": ["a", "b"], "mixed": ["c", "d"]}}
    staging = stage(routers, running=set(), applying={"r1", "r2"}, sync_groups=groups)
    assert staging.withhold_groups == {"r2": ["whole"]}
    assert staging.withhold["r2"] == ["a", "b"]  # c stays with its group's d


def test_family_of_reads_the_first_virtual_address() -> None:
    assert family_of("192.0.2.1/24") == 4
    assert family_of("2001:db8::1") == 6


def _declared(
    priority_r1: int, priority_r2: int, **extra: object
) -> dict[str, list[dict[str, object]]]:
    base = {"name": "web", "interface": "eth0", "vrid": 51, "preempt": False,
            "virtual_addresses": ["192.0.2.100/24"], **extra}  # fmt: skip
    return {"r1": [{**base, "priority": priority_r1}], "r2": [{**base, "priority": priority_r2}]}


def test_plan_breaks_a_tie_by_the_primary_address_from_the_facts() -> None:
    candidates = {"r1": {"eth0": ["192.0.2.11"]}, "r2": {"eth0": ["192.0.2.100", "192.0.2.12"]}}
    staging = plan(_declared(100, 100), running={}, applying={"r1", "r2"}, candidates=candidates)
    # r2's first address is the VIP (not a primary address): .12 beats .11.
    assert staging.first == {"r2": ["web"]} and staging.withhold == {"r1": ["web"]}
    unknown = plan(_declared(100, 100), running={}, applying={"r1", "r2"})
    assert unknown.undecided == [("eth0", 4, 51)] and not unknown.withhold


def test_plan_takes_a_configured_unicast_source_as_the_address() -> None:
    declared = _declared(100, 100)
    declared["r1"][0]["unicast_source"] = "192.0.2.99"
    declared["r2"][0]["unicast_source"] = "192.0.2.98"
    staging = plan(declared, running={}, applying={"r1", "r2"})
    assert staging.first == {"r1": ["web"]}


def test_plan_leaves_running_and_malformed_instances_alone() -> None:
    running = {"r2": [{"interface": "eth0", "vrid": 51, "virtual_addresses": ["192.0.2.100"]}]}
    assert not plan(_declared(150, 100), running=running, applying={"r1"}).staged
    assert not plan(_declared(150, 100), running=running, applying={"r1", "r2"}).staged
    broken = _declared(150, 100)
    del broken["r1"][0]["vrid"]
    assert not plan(broken, running={}, applying={"r1", "r2"}).staged
    # A default priority (the schema's 100) is a claim like any other.
    defaults = _declared(150, 100)
    del defaults["r2"][0]["priority"]
    assert plan(defaults, running={}, applying={"r1", "r2"}).withhold == {"r2": ["web"]}


def test_plan_stages_only_where_the_first_master_would_not_preempt() -> None:
    assert not plan(_declared(150, 100, preempt=True), running={}, applying={"r1", "r2"}).staged
    assert plan(_declared(255, 100), running={}, applying={"r1", "r2"}).first == {"r1": ["web"]}


@given(
    names=st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True),
    states=st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.tuples(
            st.sampled_from(["INIT", "BACKUP", "MASTER", "FAULT"]),
            st.sampled_from([None, "192.0.2.12"]),
            st.sampled_from([None, 0, 150]),
        ),
    ),
)
def test_still_starting_waits_for_master_fault_or_a_live_master(
    names: list[str], states: dict[str, tuple[str, str | None, int | None]]
) -> None:
    facts = {n: {"state": s, "master": m, "master_priority": p} for n, (s, m, p) in states.items()}
    done = {
        n
        for n, (s, m, p) in states.items()
        if s in ("MASTER", "FAULT") or (s == "BACKUP" and m is not None and p)
    }
    assert still_starting(facts, names) == [n for n in names if n not in done]
