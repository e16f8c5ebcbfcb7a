"""Instance.execute(): carrying out the core's actions never loses one of them.

The kernel may refuse anything at any time (an interface gone, EMFILE from
netlink, a bug that raises ValueError). Each action of a list is attempted
whatever happened to the one before; ArmTimer always happens, so a Master
keeps its advert rhythm; failures are counted (``io_error.<Action>``) and
logged; virtual addresses the kernel refused are tried again at the advert
rhythm, so the core (Master) and the kernel (no VIP) do not stay apart.

Announcements (GARP / unsolicited NA) are each independent: one failure
neither cancels the rest of a burst, the delayed burst nor the refresh.

A fake loop runs the timers: the assertions are on counts, not on times.
"""

from __future__ import annotations

import logging
from ipaddress import ip_address
from typing import Any

import pytest

from support.fakeloop import FakeLoop
from vrrp.config import load_config
from vrrp.errors import NetlinkError
from vrrp.fsm import (
    Action,
    AddAddresses,
    Announce,
    ArmTimer,
    RemoveAddresses,
    SendAdvert,
    Shutdown,
    Startup,
    State,
    Timer,
    Transition,
)
from vrrp.instance import Instance
from vrrp.packet import Advertisement

ACTIONS = (
    "send_advert",
    "add_addresses",
    "remove_addresses",
    "announce",
    "announce_source",
    "transition",
)


class FakeIo:
    """Records every call; ``fail[name]`` is a list of exceptions raised by the next calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        self.fail: dict[str, list[BaseException]] = {name: [] for name in ACTIONS}
        self.held = False  # the VIPs, as the kernel sees them
        self.watching = False  # listening for a successor's GARP / NA

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.fail[name]:
            raise self.fail[name].pop(0)

    def send_advert(self, instance: Instance, advert: Advertisement) -> None:
        self._call("send_advert")

    def add_addresses(self, instance: Instance, vips: object = None, *, wait: bool = True) -> None:
        self._call("add_addresses")
        self.held = True

    def when_local(self, instance: Instance, callback: object) -> bool:
        return False

    def wait_local(self, instance: Instance) -> None:
        pass

    def remove_addresses(self, instance: Instance, vips: object = None) -> None:
        self._call("remove_addresses")
        self.held = False

    def announce(self, instance: Instance) -> None:
        self._call("announce")

    def announce_source(self, instance: Instance) -> None:
        self._call("announce_source")

    def watch_announcements(self, instance: Instance, *, on: bool) -> None:
        self.watching = on

    def transition(self, instance: Instance, transition: Transition) -> None:
        self._call("transition")


def make(io: FakeIo, loop: FakeLoop, **fields: Any) -> Instance:
    obj = {
        "name": "web",
        "interface": "eth0",
        "vrid": 51,
        "priority": 200,
        "advert_interval": 1,
        "virtual_addresses": ["192.0.2.100/24"],
    }
    obj.update(fields)
    cfg = load_config({"instances": [obj]}).instances[0]

    def feed(inst: Instance, event: Any) -> None:
        inst.execute(inst.router.handle(event, loop.time()))

    return Instance(
        cfg=cfg,
        primary=ip_address("192.0.2.11"),
        loop=loop,  # type: ignore[arg-type]
        io=io,
        feed=feed,
    )


def master_down(inst: Instance, loop: FakeLoop) -> None:
    """Run the loop until the Master_Down_Timer has fired (no Master heard)."""
    assert inst.router.state is State.BACKUP
    loop.run(until=inst.router.timers[Timer.MASTER_DOWN] + 0.001)


def become_master(inst: Instance, loop: FakeLoop) -> None:
    inst.feed(inst, Startup())
    master_down(inst, loop)
    assert inst.router.state is State.MASTER


# -- announcements: each one independent ------------------------------------------

GARP = {"repeat": 3, "interval": 0.01, "delay": 2, "refresh": 10, "refresh_repeat": 2}


@pytest.mark.parametrize("failing", [0, 1, 2, 3, 4, 6, 7, 8, 9])
def test_one_failed_announce_cancels_nothing_after_it(failing: int) -> None:
    """Call ``failing`` (0-based) raises: bursts, delayed burst and refreshes all go on.

    Calls 0-2: the first burst; 3-5 the delayed burst; 6-7, 8-9: refreshes.
    """
    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop, garp=GARP)
    original = io.announce

    def announce(instance: Instance) -> None:
        original(instance)
        if io.calls["announce"] - 1 == failing:
            raise NetlinkError("announce on eth0: ENETDOWN")

    io.announce = announce  # type: ignore[method-assign]
    become_master(inst, loop)
    loop.run(until=25.5)  # two refreshes (at 12 s and 22 s)
    assert io.calls["announce"] == 3 + 3 + 2 + 2
    assert inst.stats["io_error.Announce"] == 1
    assert inst.stats["announcements"] == 3 + 3 + 2 + 2 - 1
    assert inst.router.state is State.MASTER


@pytest.mark.parametrize("error", [OSError(24, "EMFILE"), ValueError("bug"), RuntimeError("x")])
def test_announce_error_in_refresh_never_escapes_to_the_loop(error: Exception) -> None:
    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop, garp={"repeat": 1, "delay": 0, "refresh": 5, "refresh_repeat": 1})
    become_master(inst, loop)
    io.fail["announce"] = [error, error]
    loop.run(until=loop.time() + 20.5)  # refreshes at +5, +10, +15, +20: two fail
    assert io.calls["announce"] == 1 + 4
    assert inst.stats["io_error.Announce"] == 2
    assert inst.stats["announcements"] == 1 + 2


def test_announcements_stop_when_mastership_ends() -> None:
    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop, garp=GARP)
    io.fail["announce"] = [NetlinkError("boom")]
    become_master(inst, loop)
    assert io.calls["announce"] == 1  # the first of the burst (it failed)
    inst.execute([RemoveAddresses()])
    loop.run(until=60)
    assert io.calls["announce"] == 1  # the rest was cancelled with the addresses


# -- execute: every action attempted, whatever the one before did ----------------

ERRORS = [OSError(24, "Too many open files"), ValueError("bad"), NetlinkError("refused")]
KINDS = ["send_advert", "add_addresses", "announce", "transition"]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("kind", KINDS)
def test_becoming_master_survives_any_failing_action(
    kind: str, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop, garp={"repeat": 1, "delay": 0})
    inst.feed(inst, Startup())
    io.fail[kind] = [error]
    with caplog.at_level(logging.WARNING, logger="failover-vrrp"):
        master_down(inst, loop)
    assert inst.router.state is State.MASTER
    # Every action attempted: the transition, the addresses, the announce, the advert.
    assert io.calls["transition"] == 2  # INIT -> BACKUP, BACKUP -> MASTER
    assert io.calls["add_addresses"] >= 1
    assert io.calls["announce"] >= 1
    assert io.calls["send_advert"] == 1
    assert Timer.ADVER in inst._timers  # the advert rhythm goes on
    action = {
        "send_advert": "SendAdvert",
        "add_addresses": "AddAddresses",
        "announce": "Announce",
        "transition": "Transition",
    }[kind]
    assert inst.stats[f"io_error.{action}"] == 1
    assert any(str(error) in r.getMessage() or r.exc_info for r in caplog.records)
    # And the Master keeps advertising: 5 intervals, 5 more adverts.
    loop.run(until=loop.time() + 5.5)
    assert io.calls["send_advert"] == 6
    assert io.held  # the kernel holds the VIPs in the end


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_every_action_of_a_list_is_attempted(error: Exception) -> None:
    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop)
    become_master(inst, loop)
    for name in ACTIONS:
        io.fail[name] = [error]
    advert = inst.router.advertisement()
    actions: list[Action] = [
        AddAddresses(),
        Announce(refresh=True),
        SendAdvert(advert),
        ArmTimer(Timer.ADVER, loop.time() + 1),
    ]
    inst.execute(actions)
    assert io.calls["add_addresses"] == 2 and io.calls["send_advert"] == 2
    assert Timer.ADVER in inst._timers


@pytest.mark.parametrize("failures", [1, 2, 5])
def test_refused_addresses_are_taken_at_the_advert_rhythm(failures: int) -> None:
    """AddAddresses refused: tried again every Advertisement_Interval until it
    works; then announced, so the link learns the addresses it now can reach."""
    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop, garp={"repeat": 1, "delay": 0})
    inst.feed(inst, Startup())
    io.fail["add_addresses"] = [OSError(24, "EMFILE")] * failures
    master_down(inst, loop)
    assert not io.held
    announced = io.calls["announce"]
    loop.run(until=loop.time() + failures + 0.5)
    assert io.held
    assert io.calls["add_addresses"] == failures + 1
    assert inst.stats["io_error.AddAddresses"] == failures
    assert io.calls["announce"] == announced + 1
    loop.run(until=loop.time() + 10)
    assert io.calls["add_addresses"] == failures + 1  # no more retries once held


def test_refused_removal_is_tried_again_while_not_master() -> None:
    """A Backup must not keep the VIPs (RFC 9568 §6.4.2 "MUST NOT" answer for them)."""
    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop)
    become_master(inst, loop)
    assert io.held
    io.fail["remove_addresses"] = [OSError(105, "ENOBUFS")] * 2
    inst.feed(inst, Shutdown())
    assert inst.router.state is State.INIT
    assert io.held
    loop.run(until=loop.time() + 5)
    assert not io.held
    assert inst.stats["io_error.RemoveAddresses"] == 2


def test_pending_add_is_dropped_when_mastership_ends() -> None:
    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop)
    inst.feed(inst, Startup())
    io.fail["add_addresses"] = [OSError(24, "EMFILE")]
    master_down(inst, loop)
    inst.feed(inst, Shutdown())
    loop.run(until=loop.time() + 10)
    assert io.calls["add_addresses"] == 1
    assert not io.held


# -- the takeover's order: the VIP, its announcement and the advert first ----------


class OrderIo(FakeIo):
    """Records the order of the calls, and what the instance had recorded at each."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def _call(self, name: str) -> None:
        self.order.append(name)
        super()._call(name)

    def transition(self, instance: Instance, transition: Transition) -> None:
        self.order.append(f"transition {transition.old.value}->{transition.new.value}")
        super()._call("transition")


def test_a_takeover_adds_announces_and_advertises_before_it_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Backup that takes over moves the traffic first (VIP, GARP, first
    advert), then records the transition (history, counters, log line, the
    notifier: hooks, state, metrics), which the traffic does not wait for;
    leaving Master, the VIPs go first too. What is recorded, and in which order
    transitions are recorded, is unchanged."""
    loop, io = FakeLoop(), OrderIo()
    inst = make(io, loop, garp={"repeat": 1, "delay": 0})
    inst.feed(inst, Startup())
    io.order.clear()
    with caplog.at_level(logging.INFO, logger="failover-vrrp"):
        master_down(inst, loop)
    assert io.order == ["add_addresses", "announce", "send_advert", "transition BACKUP->MASTER"]
    entry = inst.history[-1]
    assert (entry.old, entry.new) == ("BACKUP", "MASTER")
    assert inst.stats["became_master"] == 1
    assert inst.stats["transition.BACKUP.MASTER"] == 1
    assert any("BACKUP -> MASTER" in r.getMessage() for r in caplog.records)
    io.order.clear()
    inst.execute(inst.router.handle(Shutdown(), loop.time()))
    assert io.order.index("remove_addresses") < io.order.index("transition MASTER->INIT")
    assert [h.new for h in inst.history] == ["BACKUP", "MASTER", "INIT"]


def test_transitions_of_one_list_are_recorded_in_their_order() -> None:
    loop, io = FakeLoop(), OrderIo()
    inst = make(io, loop)
    now = loop.time()
    inst.execute(
        [
            Transition(State.INIT, State.BACKUP, "first", now),
            AddAddresses(),
            Transition(State.BACKUP, State.MASTER, "second", now),
        ]
    )
    assert io.order == ["add_addresses", "transition INIT->BACKUP", "transition BACKUP->MASTER"]
    assert [h.cause for h in inst.history] == ["first", "second"]


# -- the successor's announcements (issue 13) --------------------------------------


def test_the_instance_listens_for_its_successor_only_while_the_core_awaits_it() -> None:
    """Opened at the resignation (our runner as successor announces BEFORE its
    advert), kept through the hold, closed when the successor's GARP ends it."""
    from vrrp.fsm import AdvertReceived, Resign, SuccessorAnnounced

    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop)
    become_master(inst, loop)
    assert not io.watching
    inst.feed(inst, Resign(active=True))
    assert io.watching
    vip = ip_address("192.0.2.100")
    heard = Advertisement(version=3, vrid=51, priority=100, interval_cs=100, addresses=(vip,))
    inst.feed(inst, AdvertReceived(heard, ip_address("192.0.2.12")))
    assert inst.router.state is State.BACKUP and io.held and io.watching
    inst.feed(inst, SuccessorAnnounced((vip,)))
    assert not io.held and not io.watching
    assert io.calls["remove_addresses"] == 1


def test_a_listener_that_cannot_open_leaves_the_bound() -> None:
    from vrrp.fsm import Resign

    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop)

    def refuse(instance: Instance, *, on: bool) -> None:
        raise NetlinkError("announcement watch on eth0: EPERM")

    io.watch_announcements = refuse  # type: ignore[method-assign]
    become_master(inst, loop)
    inst.feed(inst, Resign(active=True))
    assert inst.stats["io_error.WatchAnnouncements"] == 1
    assert inst.router.state is State.MASTER


def test_a_reload_while_listening_listens_for_the_new_vips() -> None:
    from vrrp.config import load_config as load
    from vrrp.fsm import Reconfigure, Resign
    from vrrp.instance import router_params

    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop)
    become_master(inst, loop)
    inst.feed(inst, Resign(active=True))
    opened: list[tuple[str, ...]] = []
    original = io.watch_announcements

    def watch(instance: Instance, *, on: bool) -> None:
        original(instance, on=on)
        if on:
            opened.append(tuple(str(v.ip) for v in instance.virtual_interfaces))

    io.watch_announcements = watch  # type: ignore[method-assign]
    obj = {"name": "web", "interface": "eth0", "vrid": 51, "priority": 200,
           "advert_interval": 1, "virtual_addresses": ["192.0.2.101/24"]}  # fmt: skip
    cfg = load({"instances": [obj]}).instances[0]
    inst.reconfigure(cfg, group=None)
    params = router_params(cfg, primary=inst.router.params.primary_address)
    inst.feed(inst, Reconfigure(params))
    assert io.watching and opened == [("192.0.2.101",)]


# -- a unicast Backup introduces itself ---------------------------------------------


@pytest.mark.parametrize("peers", [[], ["192.0.2.12"]], ids=["multicast", "unicast"])
def test_entering_backup_with_unicast_peers_announces_our_source(peers: list[str]) -> None:
    """A unicast peer may be resolving our address (its adverts wait in its
    kernel, retried each second: longer than our Master_Down_Interval); our
    GARP / NA on entering Backup, at start and back from FAULT, ends that:
    three times within the first third of the interval, while Backup."""
    from vrrp.fsm import FaultCleared, FaultRaised
    from vrrp.instance import INTRODUCTIONS

    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop, unicast_peers=peers)
    mdi = inst.router.master_down_interval
    inst.feed(inst, Startup())
    assert io.calls["announce_source"] == len(peers)
    loop.run(until=loop.time() + INTRODUCTIONS[-1] * mdi + 0.001)
    assert io.calls["announce_source"] == 3 * len(peers)
    inst.feed(inst, FaultRaised("link"))
    inst.feed(inst, FaultCleared("link"))
    assert inst.router.state is State.BACKUP
    assert io.calls["announce_source"] == 4 * len(peers)
    inst.feed(inst, FaultRaised("link"))  # the rest is not sent while in FAULT
    loop.run(until=loop.time() + mdi)
    assert io.calls["announce_source"] == 4 * len(peers)
    inst.feed(inst, FaultCleared("link"))
    master_down(inst, loop)  # a Master announces its VIPs; it does not introduce itself
    loop.run(until=loop.time() + 2 * mdi)
    assert io.calls["announce_source"] == 7 * len(peers)
    inst.feed(inst, Shutdown())
    inst.close()


def test_an_introduction_that_fails_is_counted_and_the_transition_recorded() -> None:
    loop, io = FakeLoop(), FakeIo()
    inst = make(io, loop, unicast_peers=["192.0.2.12"])
    io.fail["announce_source"].append(NetlinkError("packet socket on eth0: ENETDOWN"))
    inst.feed(inst, Startup())
    assert inst.stats["io_error.AnnounceSource"] == 1
    assert inst.router.state is State.BACKUP and io.calls["transition"] == 1
    assert [(h.old, h.new) for h in inst.history] == [("INIT", "BACKUP")]
