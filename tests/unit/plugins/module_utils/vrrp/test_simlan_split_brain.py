"""After a healed partition a client reaches the real Master within one interval.

During the partition each side's Master announced the virtual addresses, so a
client on the loser's side points at the loser. After the heal the winner must
announce again (gratuitous ARP / unsolicited NA) as soon as it learns of the
other Master, whichever of the two hears the other first:

- the winner hears the loser's advert first: it answers and re-announces;
- the loser hears the winner's advert first: it steps down and, as it leaves,
  sends one priority-0 advert; the winner re-announces on that advert.

A third Backup must not take over on the loser's priority-0 advert.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.simlan import SimLAN
from vrrp.fsm import RouterParams, State, Timer, VirtualRouter, master_down_interval
from vrrp.group import SyncGroup

LATENCY = 0.001
JITTER = 0.0005
DELAY = LATENCY + JITTER
VRID = 5
MEDIUM = settings(max_examples=max(10, settings().max_examples // 2))


def router(
    *, priority: int, index: int, version: int = 3, family: int = 4, interval_cs: int = 100
) -> VirtualRouter:
    primary: IPv4Address | IPv6Address = (
        IPv4Address(f"192.0.2.{10 + index}")
        if family == 4
        else IPv6Address(f"2001:db8::{10 + index:x}")
    )
    vip = ip_address("198.51.100.5" if family == 4 else "2001:db8:1::5")
    return VirtualRouter(
        RouterParams(
            vrid=VRID,
            version=version,
            priority=priority,
            advert_interval_cs=interval_cs,
            primary_address=primary,
            virtual_addresses=(vip,),
        )
    )


def split_pair(*, winner: int = 200, loser: int = 100) -> SimLAN:
    lan = SimLAN(latency=LATENCY, jitter=JITTER)
    lan.add("w", router(priority=winner, index=1))
    lan.add("l", router(priority=loser, index=2))
    lan.partition([["w"]], at=0.0)
    lan.start("w", at=0.0)
    lan.start("l", at=0.3)
    lan.run_until(8.0)
    assert len(lan.masters(VRID)) == 2
    return lan


@pytest.mark.parametrize("first", ["w", "l"])
def test_the_winner_reannounces_within_one_interval_of_the_heal(first: str) -> None:
    """``first``: whose advert goes out first after the heal."""
    lan = split_pair()
    lan.run_until(8.0)
    next_w = lan.router("w").timers[Timer.ADVER]
    next_l = lan.router("l").timers[Timer.ADVER]
    if first == "w":
        heal_at = lan.now if next_w < next_l else next_l + 0.01
    else:
        heal_at = lan.now if next_l < next_w else next_w + 0.01
    lan.heal(at=heal_at)
    assert lan.announcer(VRID, heal_at) == "l"  # the loser announced last

    deadline = heal_at + 1.0 + 3 * DELAY
    lan.run_until(deadline + 10)
    assert lan.masters(VRID) == [("w", "w")]
    assert lan.announcer(VRID, deadline) == "w"
    late = [r for r in lan.announcements if r.at > heal_at and r.node == "l"]
    assert late == []
    assert lan.transitions(since=deadline) == []


@given(
    priorities=st.tuples(st.integers(1, 254), st.integers(1, 254), st.integers(1, 254)),
    slots=st.permutations(range(3)),
    third_side=st.sampled_from([0, 1]),
    starts=st.lists(st.integers(0, 1000), min_size=3, max_size=3),
    heal_ms=st.integers(0, 2000),
    version=st.sampled_from([2, 3]),
    interval_cs=st.sampled_from([20, 100]),
)
@MEDIUM
def test_a_healed_split_brain_moves_clients_to_the_winner_and_no_backup_takes_over(  # noqa: PLR0917
    priorities: tuple[int, int, int],
    slots: list[int],
    third_side: int,
    starts: list[int],
    heal_ms: int,
    version: int,
    interval_cs: int,
) -> None:
    if version == 2:
        interval_cs = 100
    interval = interval_cs / 100
    lan = SimLAN(latency=LATENCY, jitter=JITTER)
    names = ["a", "b", "c"]
    for name, priority, slot in zip(names, priorities, slots):
        lan.add(
            name, router(priority=priority, index=slot, version=version, interval_cs=interval_cs)
        )
    sides = [["a"], ["b"]]
    sides[third_side].append("c")
    lan.partition(sides, at=0.0)
    for name, start in zip(names, starts):
        lan.start(name, at=start * interval / 1000)
    mdi = master_down_interval(version=version, priority=1, master_adver_interval_cs=interval_cs)
    heal_at = interval + mdi + 5 * interval + heal_ms * interval / 1000
    lan.heal(at=heal_at)
    lan.run_until(heal_at)
    masters = [node for node, _unused in lan.masters(VRID)]
    assert len(masters) == 2, masters

    def rank(name: str) -> tuple[int, int]:
        r = lan.router(name)
        return (r.effective_priority, int(r.params.primary_address))

    winner = max(masters, key=rank)
    deadline = heal_at + interval + 3 * DELAY
    lan.run_until(deadline + 10 * interval)
    assert lan.masters(VRID) == [(winner, winner)]
    assert lan.announcer(VRID, deadline) == winner
    assert [r for r in lan.announcements if r.at > deadline] == []
    # Nobody but the winner was Master after the heal (the third router, a
    # Backup on either side, never took over).
    late = [r.node for r in lan.transitions(since=heal_at) if r.new is State.MASTER]
    assert late == []


def group_host(name: str, *, slot: int, priority: int) -> SyncGroup:
    members = {
        member: VirtualRouter(
            RouterParams(
                vrid=vrid,
                version=3,
                priority=priority,
                advert_interval_cs=100,
                primary_address=ip_address(f"192.0.2.{slot}"),
                virtual_addresses=(ip_address(f"198.51.100.{vrid}"),),
            )
        )
        for member, vrid in (("a", 1), ("b", 2))
    }
    return SyncGroup(name, members)


@given(
    starts=st.lists(st.integers(0, 1000), min_size=2, max_size=2),
    shift_ms=st.integers(0, 999),
    heal_ms=st.integers(0, 2000),
)
@MEDIUM
def test_a_healed_split_brain_of_sync_groups_moves_clients_of_every_vrid(
    starts: list[int], shift_ms: int, heal_ms: int
) -> None:
    """The loser's group steps down as a whole when one member hears the
    winner; the members pulled down by the group must tell their rivals too."""
    lan = SimLAN(latency=LATENCY, jitter=JITTER)
    lan.add("w", group_host("w", slot=10, priority=200))
    lan.add("l", group_host("l", slot=20, priority=100))
    lan.partition([["w"]], at=0.0)
    lan.start("w", at=starts[0] / 1000)
    lan.start("l", at=starts[1] / 1000)
    # Shift the loser's VRID 2 adverts against its VRID 1 (a priority change
    # makes a Master advertise at once).
    lan.set_priority("l", 101, member="b", at=6.0 + shift_ms / 1000)
    heal_at = 8.0 + heal_ms / 1000
    lan.heal(at=heal_at)
    lan.run_until(heal_at)
    assert lan.masters(1) == [("l", "a"), ("w", "a")]
    assert lan.masters(2) == [("l", "b"), ("w", "b")]
    deadline = heal_at + 1.0 + 3 * DELAY
    lan.run_until(deadline + 10)
    for vrid, member in ((1, "a"), (2, "b")):
        assert lan.masters(vrid) == [("w", member)]
        assert lan.announcer(vrid, deadline) == "w", vrid
