"""Properties of whole VRRP LANs (hypothesis over priorities, starts, loss, partitions).

The bound after a heal. From the heal time H on (no loss, no partition, nobody
starts, restarts or changes priority), let R be a router of the top effective
priority p* and D = max one-way delay (latency + jitter):

- R's Master_Down_Timer is re-armed only by an advert of priority ≥ p*. If no
  router of priority p* is Master, no such advert is sent after H, so some
  top router becomes Master by H + Master_Down_Interval(p*) (RFC 9568 §6.4.2)
  and sends its advert at once.
- A lower Master hears it within D and steps down (§6.4.3); a lower Master that
  a timer made Master just before that advert arrived sends its own advert,
  the top Master answers at once, and it steps down: 3 × D in all.
- Two top Masters (equal priority) hear each other within D and the lower
  primary address steps down (§6.4.3).
- Backups then hear the top Master every Advertisement_Interval, less than
  their Master_Down_Interval, and never take over again.

So from H + Master_Down_Interval(p*) + 3 × D on there is exactly one Master,
of priority p*, and no transition at all. When the top router is already
Master at H (a healed partition with a Master on each side) the second Master
steps down on the first advert it hears: by H + Advertisement_Interval + 2 × D.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from support.simlan import SimLAN
from vrrp.fsm import RouterParams, State, VirtualRouter, master_down_interval
from vrrp.group import SyncGroup

LATENCY = 0.001
JITTER = 0.0005
DELAY = LATENCY + JITTER
EPS = 1e-9
VRID = 42

# A fraction of the profile's examples per property keeps the default run short.
_PROFILE = settings().max_examples  # the loaded profile's
QUICK = settings(max_examples=max(10, _PROFILE // 4))
MEDIUM = settings(max_examples=max(10, _PROFILE // 2))


def address(family: int, index: int) -> IPv4Address | IPv6Address:
    if family == 4:
        return IPv4Address(f"192.0.2.{10 + index}")
    return IPv6Address(f"2001:db8::{10 + index:x}")


def vip(family: int, vrid: int = VRID) -> IPv4Address | IPv6Address:
    return ip_address(f"198.51.100.{vrid}") if family == 4 else ip_address(f"2001:db8:1::{vrid}")


def params(
    *,
    priority: int,
    addr: IPv4Address | IPv6Address,
    version: int,
    interval_cs: int,
    vrid: int = VRID,
    preempt: bool = True,
) -> RouterParams:
    return RouterParams(
        vrid=vrid,
        version=version,
        priority=priority,
        advert_interval_cs=interval_cs,
        primary_address=addr,
        virtual_addresses=(vip(addr.version, vrid),),
        preempt=preempt,
    )


@dataclass(frozen=True)
class Net:
    """One VRID's LAN: routers r0…rN-1, router i at address index ``slots[i]``."""

    version: int
    family: int
    interval_cs: int
    priorities: tuple[int, ...]
    slots: tuple[int, ...]
    codec: bool

    @property
    def interval(self) -> float:
        return self.interval_cs / 100

    def mdi(self, priority: int) -> float:
        return master_down_interval(
            version=self.version, priority=priority, master_adver_interval_cs=self.interval_cs
        )

    def build(self, *, seed: int = 0, preempt: bool = True) -> SimLAN:
        lan = SimLAN(latency=LATENCY, jitter=JITTER, seed=seed, codec=self.codec)
        for i, priority in enumerate(self.priorities):
            lan.add(
                f"r{i}",
                VirtualRouter(
                    params(
                        priority=priority,
                        addr=address(self.family, self.slots[i]),
                        version=self.version,
                        interval_cs=self.interval_cs,
                        preempt=preempt,
                    )
                ),
            )
        return lan


ANY_PRIORITY = st.integers(1, 254)


@st.composite
def nets(
    draw: st.DrawFn,
    *,
    min_size: int = 2,
    max_size: int = 5,
    priorities: st.SearchStrategy[int] = ANY_PRIORITY,
) -> Net:
    version = draw(st.sampled_from([2, 3]))
    family = 4 if version == 2 else draw(st.sampled_from([4, 6]))
    interval_cs = 100 if version == 2 else draw(st.sampled_from([20, 50, 100, 150]))
    size = draw(st.integers(min_size, max_size))
    prios = tuple(draw(st.lists(priorities, min_size=size, max_size=size)))
    slots = tuple(draw(st.permutations(range(size))))
    return Net(version, family, interval_cs, prios, slots, draw(st.booleans()))


def times(draw: Callable[[st.SearchStrategy[int]], int], low: float, high: float) -> float:
    """A time drawn on a 1 ms grid (shrinks well, no float noise)."""
    return draw(st.integers(round(low * 1000), round(high * 1000))) / 1000


def masters_at(lan: SimLAN, vrid: int, at: float) -> frozenset[tuple[str, str]]:
    current: frozenset[tuple[str, str]] = frozenset()
    for when, masters in lan.master_timeline(vrid):
        if when > at:
            break
        current = masters
    return current


def assert_single_master_from(lan: SimLAN, *, vrid: int, deadline: float) -> tuple[str, str]:
    masters = masters_at(lan, vrid, deadline)
    late = lan.transitions(vrid=vrid, since=deadline + EPS)
    assert len(masters) == 1, f"Masters at {deadline:.4f}: {sorted(masters)}"
    assert late == [], f"transitions after {deadline:.4f}: {late}"
    (master,) = masters
    return master


def assert_no_takeover_under_a_live_master(
    lan: SimLAN, net: Net, *, since: float, priority_of: dict[str, int]
) -> None:
    """No Backup became Master while a Master of priority ≥ its own sent adverts.

    From ``since`` on the wire is lossless; a Master over the takeover's whole
    Master_Down_Interval sent at least three adverts that reset the Backup's
    timer (RFC 9568 §6.4.2), so such a takeover is a bug.
    """
    history = lan.transitions(vrid=VRID)
    for record in history:
        if record.old is not State.BACKUP or record.new is not State.MASTER:
            continue
        window = net.mdi(priority_of[record.node])
        if record.at - window < since:
            continue
        for other, priority in priority_of.items():
            if other == record.node or priority < priority_of[record.node]:
                continue
            assert not lan.master_throughout(other, other, record.at - window, record.at), (
                f"{record.node} took over at {record.at:.4f} under Master {other}"
            )


# --------------------------------------------------------------------- chaos, then heal


@st.composite
def chaos(draw: st.DrawFn) -> tuple[Net, SimLAN, float]:
    """A LAN through random starts, loss, partitions, crashes and priority changes."""
    net = draw(nets())
    interval = net.interval
    heal_at = 12 * interval
    lan = net.build(seed=draw(st.integers(0, 2**16)))
    names = [f"r{i}" for i in range(len(net.priorities))]
    for name in names:
        lan.start(name, at=times(draw, 0, 3 * interval))
    lan.set_loss(draw(st.sampled_from([0.0, 0.1, 0.3, 0.7])))
    for _unused in range(draw(st.integers(0, 3))):
        src, dst = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        if src != dst:
            lan.set_loss(draw(st.floats(0, 1)), src=src, dst=dst, at=times(draw, 0, heal_at))
    for _unused in range(draw(st.integers(0, 3))):
        side = draw(st.sets(st.sampled_from(names), min_size=1))
        lan.partition([side], at=times(draw, 0, heal_at))
    for name in draw(st.sets(st.sampled_from(names), max_size=2)):
        crash = times(draw, 0, heal_at - interval)
        lan.crash(name, at=crash)
        lan.restart(name, at=times(draw, crash, heal_at))
    # A running Master_Down_Timer keeps the interval it was armed with (the RFC
    # re-arms it only on an advert; so does keepalived): a priority change must
    # come one Master_Down_Interval before the heal for the bound to use it.
    for _unused in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(names))
        change = times(draw, 0, heal_at - net.mdi(1))
        lan.set_priority(name, draw(st.integers(1, 254)), at=change)
    lan.heal(at=heal_at)
    return net, lan, heal_at


@given(chaos())
@MEDIUM
def test_one_top_priority_master_within_master_down_interval_of_the_heal(
    scenario: tuple[Net, SimLAN, float],
) -> None:
    net, lan, heal_at = scenario
    lan.run_until(heal_at)
    priority_of = {name: lan.router(name).effective_priority for name in lan.nodes}
    top = max(priority_of.values())
    deadline = heal_at + net.mdi(top) + 3 * DELAY
    lan.run_until(deadline + 10 * net.interval)

    node, _unused = assert_single_master_from(lan, vrid=VRID, deadline=deadline)
    assert priority_of[node] == top
    assert_no_takeover_under_a_live_master(lan, net, since=heal_at, priority_of=priority_of)
    assert lan.stats.codec_errors == {}


@given(net=nets(), data=st.data())
@MEDIUM
def test_no_backup_takes_over_from_a_live_master_on_a_lossless_lan(
    net: Net, data: st.DataObject
) -> None:
    lan = net.build()
    names = list(lan.nodes)
    for name in names:
        lan.start(name, at=times(data.draw, 0, 5 * net.interval))
    for name in data.draw(st.sets(st.sampled_from(names), max_size=2)):
        crash = times(data.draw, 0, 20 * net.interval)
        lan.crash(name, at=crash)
        lan.restart(name, at=times(data.draw, crash, 25 * net.interval))
    lan.run_until(40 * net.interval)
    priority_of = dict(zip(names, net.priorities))
    assert_no_takeover_under_a_live_master(lan, net, since=0.0, priority_of=priority_of)
    # With ties and start orders at random, only the priority of the Master is sure.
    deadline = 25 * net.interval + net.mdi(max(net.priorities)) + 3 * DELAY
    node, _unused = assert_single_master_from(lan, vrid=VRID, deadline=deadline)
    assert priority_of[node] == max(net.priorities)


@given(net=nets(min_size=2, max_size=4, priorities=st.integers(1, 253)), data=st.data())
@QUICK
def test_the_bound_is_reached_by_a_top_router_starting_at_the_heal(
    net: Net, data: st.DataObject
) -> None:
    """The worst case of the bound: the top router is a fresh Backup at the heal."""
    lan = net.build()
    for name in lan.nodes:
        lan.start(name, at=times(data.draw, 0, net.interval))
    settled = net.interval + net.mdi(1) + 3 * DELAY
    lan.run_until(settled)
    (old_master,) = lan.masters(VRID)
    top = max(net.priorities) + 1
    lan.add(
        "top",
        VirtualRouter(
            params(
                priority=top,
                addr=address(net.family, len(net.priorities)),
                version=net.version,
                interval_cs=net.interval_cs,
            )
        ),
    )
    heal_at = settled + times(data.draw, 0, net.interval)
    lan.start("top", at=heal_at)
    takeover = heal_at + net.mdi(top)
    lan.run_until(takeover - EPS)
    assert lan.masters(VRID) == [old_master]  # the bound is not loose
    deadline = takeover + 3 * DELAY
    lan.run_until(deadline + 10 * net.interval)
    assert assert_single_master_from(lan, vrid=VRID, deadline=deadline) == ("top", "top")


# ------------------------------------------------------------------------ ties by address


@given(nets(priorities=st.just(100)))
@QUICK
def test_equal_priorities_started_together_elect_the_highest_address(net: Net) -> None:
    lan = net.build()
    for name in lan.nodes:
        lan.start(name, at=0.0)
    deadline = net.mdi(100) + 3 * DELAY
    lan.run_until(deadline + 10 * net.interval)
    node, _unused = assert_single_master_from(lan, vrid=VRID, deadline=deadline)
    best = max(lan.nodes, key=lambda name: int(lan.router(name).params.primary_address))
    assert node == best


@given(net=nets(min_size=2, max_size=6), data=st.data())
@MEDIUM
def test_a_healed_partition_keeps_the_better_of_its_two_masters(
    net: Net, data: st.DataObject
) -> None:
    """Master on each side at the heal: the second steps down on the first advert."""
    lan = net.build()
    names = list(lan.nodes)
    cut = data.draw(st.integers(1, len(names) - 1))
    sides = [names[:cut], names[cut:]]
    lan.partition(sides, at=0.0)
    for name in names:
        lan.start(name, at=times(data.draw, 0, 2 * net.interval))
    heal_at = 2 * net.interval + net.mdi(1) + 5 * net.interval
    lan.heal(at=heal_at)
    lan.run_until(heal_at)

    side_masters = sorted(lan.masters(VRID))
    assert len(side_masters) == 2, side_masters
    # RFC 9568 §6.4.3: priority first, then the higher primary address.
    winner = max(
        (name for name, _unused in side_masters),
        key=lambda name: (
            lan.router(name).effective_priority,
            int(lan.router(name).params.primary_address),
        ),
    )
    deadline = heal_at + net.interval + 2 * DELAY
    lan.run_until(deadline + 10 * net.interval)
    node, _unused = assert_single_master_from(lan, vrid=VRID, deadline=deadline)
    assert node == winner


# ------------------------------------------------------------------ preempt off, owner


@given(net=nets(min_size=2, max_size=4), data=st.data())
@QUICK
def test_preempt_off_keeps_the_current_master(net: Net, data: st.DataObject) -> None:
    lan = net.build(preempt=False)
    first, *later = list(lan.nodes)
    lan.start(first, at=0.0)
    settled = net.mdi(1) + DELAY
    for name in later:
        lan.start(name, at=times(data.draw, settled, settled + 10 * net.interval))
    lan.run_until(settled)
    assert lan.masters(VRID) == [(first, first)]
    lan.run_until(settled + 20 * net.interval)
    assert lan.masters(VRID) == [(first, first)]
    assert [r.new for r in lan.transitions(since=settled)] == [State.BACKUP] * len(later)


@given(net=nets(min_size=1, max_size=4), data=st.data())
@QUICK
def test_the_address_owner_wins_at_once(net: Net, data: st.DataObject) -> None:
    lan = net.build()
    for name in list(lan.nodes):
        lan.start(name, at=times(data.draw, 0, net.interval))
    # The owner comes last: before it or beside an idle LAN, it is Master at once all the same.
    owner_slot = len(net.priorities)  # an address nobody else has
    lan.add(
        "owner",
        VirtualRouter(
            params(
                priority=255,
                addr=address(net.family, owner_slot),
                version=net.version,
                interval_cs=net.interval_cs,
            )
        ),
    )
    start = times(data.draw, net.interval, net.mdi(1) + 5 * net.interval)
    lan.start("owner", at=start)
    lan.run_until(start)
    before = set(lan.masters(VRID)) - {("owner", "owner")}
    deadline = start + DELAY
    lan.run_until(deadline + 10 * net.interval)

    # INIT -> MASTER at its start (RFC 9568 §6.4.1), and no move ever after.
    owner_moves = [(r.at, r.old, r.new) for r in lan.transitions(vrid=VRID) if r.node == "owner"]
    assert owner_moves == [(start, State.INIT, State.MASTER)]
    assert assert_single_master_from(lan, vrid=VRID, deadline=deadline) == ("owner", "owner")
    # A Master it found steps down on the owner's first advert.
    for node, _unused in before:
        (step_down,) = [r for r in lan.transitions(since=start) if r.node == node]
        assert step_down.new is State.BACKUP
        assert step_down.at <= start + DELAY
        assert step_down.cause.startswith("higher priority 255")


# ------------------------------------------------------------------------ sync groups


def two_hosts(*, prio1: tuple[int, int], prio2: tuple[int, int], version: int) -> SimLAN:
    """Hosts h1, h2 with one sync group each over VRIDs 1 (member a) and 2 (member b)."""
    lan = SimLAN(latency=LATENCY, jitter=JITTER)
    for host, prios, slot in (("h1", prio1, 1), ("h2", prio2, 2)):
        members = {
            member: VirtualRouter(
                params(
                    vrid=vrid,
                    priority=prio,
                    addr=address(4, slot),
                    version=version,
                    interval_cs=100,
                )
            )
            for member, vrid, prio in (("a", 1, prios[0]), ("b", 2, prios[1]))
        }
        lan.add(host, SyncGroup(host, members))
    return lan


def assert_hosts_never_split(lan: SimLAN) -> None:
    """At every instant a host is Master of all its VRIDs or of none."""
    state: dict[tuple[str, str], State] = {}
    history = lan.history
    for i, record in enumerate(history):
        state[(record.node, record.member)] = record.new
        if i + 1 < len(history) and history[i + 1].at == record.at:
            continue
        for host in lan.nodes:
            mastering = {state.get((host, m)) is State.MASTER for m in ("a", "b")}
            assert len(mastering) == 1, f"{host} split at {record.at}: {state}"


def host_of_masters(lan: SimLAN) -> set[str]:
    return {node for vrid in (1, 2) for node, _unused in lan.masters(vrid)}


@st.composite
def group_priorities(draw: st.DrawFn) -> tuple[tuple[int, int], tuple[int, int]]:
    """h1 better than h2 on both VRIDs (a consistent design)."""
    low = draw(st.tuples(st.integers(1, 200), st.integers(1, 200)))
    high = (draw(st.integers(low[0] + 1, 254)), draw(st.integers(low[1] + 1, 254)))
    return high, low


@given(prios=group_priorities(), version=st.sampled_from([2, 3]), data=st.data())
@QUICK
def test_a_member_fault_moves_the_whole_group(
    prios: tuple[tuple[int, int], tuple[int, int]], version: int, data: st.DataObject
) -> None:
    lan = two_hosts(prio1=prios[0], prio2=prios[1], version=version)
    lan.start("h1", at=times(data.draw, 0, 1))
    lan.start("h2", at=times(data.draw, 0, 1))
    mdi = master_down_interval(version=version, priority=1, master_adver_interval_cs=100)
    converged = 1 + 2 * mdi
    lan.run_until(converged)
    assert host_of_masters(lan) == {"h1"}
    assert lan.master_count(1) == lan.master_count(2) == 1

    member = data.draw(st.sampled_from(["a", "b"]))
    fault_at = converged + times(data.draw, 0, 1)
    lan.fault("h1", "link", member=member, at=fault_at)
    lan.run_until(fault_at)
    # Both members leave at the fault's instant, each with a priority-0 advert.
    h1 = {r.member: r.new for r in lan.transitions(since=fault_at) if r.node == "h1"}
    assert h1 == {"a": State.FAULT, "b": State.FAULT}
    # h2 hears the priority-0 adverts: it asks after its Skew_Time and takes both.
    lan.run_until(fault_at + 1 + 3 * DELAY)
    assert host_of_masters(lan) == {"h2"}

    clear_at = fault_at + times(data.draw, 1.01, 5)
    lan.clear_fault("h1", "link", member=member, at=clear_at)
    lan.run_until(clear_at + 2 * mdi + 3 * DELAY)
    assert host_of_masters(lan) == {"h1"}
    assert lan.master_count(1) == lan.master_count(2) == 1
    assert_hosts_never_split(lan)


@given(
    prio1=st.tuples(st.integers(1, 254), st.integers(1, 254)),
    prio2=st.tuples(st.integers(1, 254), st.integers(1, 254)),
    data=st.data(),
)
@QUICK
def test_a_group_is_master_only_as_a_whole(
    prio1: tuple[int, int], prio2: tuple[int, int], data: st.DataObject
) -> None:
    """Any priorities (even crossed ones), loss and a partition: never half Master."""
    lan = two_hosts(prio1=prio1, prio2=prio2, version=3)
    lan.set_loss(data.draw(st.sampled_from([0.0, 0.2, 0.5])))
    lan.start("h1", at=times(data.draw, 0, 2))
    lan.start("h2", at=times(data.draw, 0, 2))
    lan.partition([["h1"]], at=times(data.draw, 0, 10))
    lan.heal(at=times(data.draw, 10, 20))
    lan.run_until(40)
    assert_hosts_never_split(lan)
