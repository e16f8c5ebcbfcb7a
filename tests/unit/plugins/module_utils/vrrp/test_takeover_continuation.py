"""While a new Master waits for its IPv6 VIPs to be local, nothing is reordered or lost.

A takeover adds the VIPs at once and keeps the rest of its action list (the
NA, the first advert, ArmTimer, the Transition record) in a continuation that
runs when the waiter says the VIPs are local (instance.carry_out). Any other
thing the instance is given meanwhile (an advert from a better Master, a
fault, a shutdown and close, a reload, its own timers) runs that continuation
first, at once. A seeded property over those interleavings: the actions
carried out are exactly the core's, batch after batch, each batch with its
Transitions last; none twice, none lost; a late "local" callback does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_instance_actions import FakeIo, make

from support.fakeloop import FakeLoop
from vrrp.fsm import (
    Action,
    AddAddresses,
    AdvertReceived,
    FaultCleared,
    FaultRaised,
    Shutdown,
    Startup,
    State,
    Timer,
    Transition,
)
from vrrp.instance import Instance, carry_out, records_last
from vrrp.packet import Advertisement


class DeferringIo(FakeIo):
    """Every add without the wait leaves VIPs to wait for: ``when_local`` calls
    back after the next of ``delays`` (the fake loop's time)."""

    def __init__(self, loop: FakeLoop, delays: list[float]) -> None:
        super().__init__()
        self.loop = loop
        self.delays = delays
        self.unready = 0  # adds whose callback did not come yet
        self.waits = 0

    def add_addresses(self, instance: Instance, vips: object = None, *, wait: bool = True) -> None:
        super().add_addresses(instance, vips, wait=wait)
        if not wait:
            self.unready += 1

    def when_local(self, instance: Instance, callback: Callable[[], None]) -> bool:
        self.waits += 1
        delay = self.delays[self.waits % len(self.delays)]

        def local() -> None:
            self.unready -= 1
            callback()

        self.loop.call_later(delay, local)
        return True


BETTER = AdvertReceived(
    Advertisement(
        version=3, vrid=51, priority=250, interval_cs=100, addresses=(ip_address("192.0.2.100"),)
    ),
    ip_address("192.0.2.20"),
)
STEPS = ["better", "fault", "clear", "reload", "tick", "down", "stop"]


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.sampled_from(STEPS), st.floats(0.0, 0.2)), min_size=1, max_size=16),
    delays=st.lists(st.floats(0.0005, 0.1), min_size=1, max_size=4),
)
def test_a_pending_takeover_is_never_reordered_lost_or_doubled(
    steps: list[tuple[str, float]], delays: list[float]
) -> None:
    loop = FakeLoop()
    io = DeferringIo(loop, delays)
    inst = make(io, loop, advert_interval=0.1)  # type: ignore[arg-type]
    expected: list[Action] = []  # what the core asked, batch after batch, records last
    done: list[Action] = []
    handle, execute = inst.router.handle, inst._execute

    def recorded_handle(event: Any, now: float) -> list[Action]:
        actions = handle(event, now)
        expected.extend(records_last(actions, lambda action: action))
        return actions

    def recorded_execute(action: Action, **kw: Any) -> None:
        done.append(action)
        execute(action, **kw)

    inst.router.handle = recorded_handle  # type: ignore[method-assign]
    inst._execute = recorded_execute  # type: ignore[method-assign]
    inst.feed(inst, Startup())
    closed = False
    pending_seen = False
    for step, dt in steps:
        if step == "better":
            inst.feed(inst, BETTER)
        elif step == "fault":
            inst.feed(inst, FaultRaised("link"))
        elif step == "clear":
            inst.feed(inst, FaultCleared("link"))
        elif step == "reload":
            inst.reconfigure(inst.cfg, group=None)
            # A reload settles first: the core's every action so far is done.
            assert done == expected
        elif step == "down" and Timer.MASTER_DOWN in inst.router.timers:
            # No Master heard: a takeover, and the time stops right there.
            loop.run(until=inst.router.timers[Timer.MASTER_DOWN])
            assert inst.router.state is State.MASTER
            assert inst._continuation is not None  # its NA waits for its VIPs
        elif step == "stop":
            inst.feed(inst, Shutdown())
            inst.close()
            closed = True
            break
        loop.run(until=loop.time() + (0.0 if step == "down" else dt))
        # Whatever ran so far is a prefix of what the core asked, in its order.
        assert done == expected[: len(done)]
        if inst._continuation is None:
            assert done == expected
        else:
            pending_seen = True
    loop.run(until=loop.time() + 1.0)  # every callback, late or not
    if not closed:
        inst.close()
    assert done == expected
    assert inst._continuation is None
    event("a continuation was pending" if pending_seen else "none pending")


def test_an_instance_with_a_pending_record_keeps_its_records_in_order() -> None:
    """carry_out's own contract, beside any core: an instance that still has a
    record held back (its VIPs local, a group member's not yet) and is given
    only a record in a later batch that also waits, carries out the older
    record first, whichever wait ends first; closed, it runs nothing more."""
    loop = FakeLoop()
    io = DeferringIo(loop, [0.0])
    slow, fast, x = (make(io, loop, name=n) for n in ("slow", "fast", "x"))
    local_at = {"slow": 0.05, "fast": 0.01}

    def when_local(instance: Instance, callback: Callable[[], None]) -> bool:
        if instance is x:
            return False
        loop.call_later(local_at[instance.name], callback)
        return True

    io.when_local = when_local  # type: ignore[method-assign]
    records: list[str] = []
    x._record = lambda transition: records.append(transition.cause)  # type: ignore[method-assign]
    first = Transition(State.BACKUP, State.MASTER, "first", 0.0)
    second = Transition(State.MASTER, State.BACKUP, "second", 0.0)
    carry_out([(slow, AddAddresses()), (x, AddAddresses()), (slow, first), (x, first)])
    carry_out([(fast, AddAddresses()), (x, second)])
    loop.run(until=1.0)
    assert records == ["first", "second"]
    assert x._continuation is None
