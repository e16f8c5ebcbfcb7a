"""A sync group's takeover while some members wait for their IPv6 VIPs to be local.

The runner carries a group's actions out as one batch (Runner._execute_tagged):
the members' VIPs, announcements and adverts first, every record after, the
group's hook last. A member whose new VIPs are not local yet waits with the
rest of its steps in a continuation (instance.carry_out); a member whose VIPs
are local has only its records there. A seeded property over events given to
either member meanwhile (a tracker's priority, a fault and its clearing, a
better Master's advert, a resignation, the timers): for each member, the
actions carried out are exactly the core's, batch after batch, each batch with
its records last, none twice, none lost; a member that waits never announces
before its VIPs are local unless it is itself given something (it then goes
on at once, as a single instance does); the group's hook never runs before
the records of its batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_runner_group_notify import CONFIG, RecordingHooks

from support.fakehost import FakeHost
from support.fakeloop import FakeLoop
from vrrp.config import load_config
from vrrp.fsm import (
    Action,
    AdvertReceived,
    FaultCleared,
    FaultRaised,
    PriorityChanged,
    Resign,
    State,
)
from vrrp.instance import records_last
from vrrp.packet import Advertisement
from vrrp.runner import Runner

NAMES = ("outside", "inside")
EVENTS = ["pri", "fault", "clear", "better", "resign", "tick", "down"]


def better(vrid: int) -> AdvertReceived:
    return AdvertReceived(
        Advertisement(
            version=3,
            vrid=vrid,
            priority=250,
            interval_cs=100,
            addresses=(ip_address(f"192.0.2.{vrid}"),),
        ),
        ip_address("192.0.2.200"),
    )


def event_for(what: str, inst: Any) -> Any:
    router = inst.router
    if what == "pri":
        return PriorityChanged(140 if router.effective_priority == 150 else 150)
    if what == "fault":
        return FaultRaised("link")
    if what == "clear":
        return FaultCleared("link")
    if what == "better":
        return better(inst.cfg.vrid)
    return Resign(active=not router.resigning)


@settings(max_examples=200, deadline=None)
@given(
    waits=st.tuples(
        st.one_of(st.none(), st.floats(0.001, 0.1)), st.one_of(st.none(), st.floats(0.001, 0.1))
    ),
    steps=st.lists(
        st.tuples(st.sampled_from(EVENTS), st.sampled_from(NAMES), st.floats(0.0, 0.05)),
        max_size=14,
    ),
)
def test_a_group_continuation_keeps_each_members_order(
    tmp_path_factory: pytest.TempPathFactory,
    waits: tuple[float | None, float | None],
    steps: list[tuple[str, str, float]],
) -> None:
    # An event loop of its own per example (no function-scoped fixture:
    # hypothesis on Python 3.9's Debian lacks the health check's name).
    real = asyncio.new_event_loop()
    asyncio.set_event_loop(real)
    try:
        _keeps_each_members_order(tmp_path_factory, waits, steps)
    finally:
        asyncio.set_event_loop(None)
        real.close()


def _keeps_each_members_order(
    tmp_path_factory: pytest.TempPathFactory,
    waits: tuple[float | None, float | None],
    steps: list[tuple[str, str, float]],
) -> None:
    tmp: Path = tmp_path_factory.mktemp("run")
    fake = FakeLoop()
    host = FakeHost()
    runner = Runner(
        config_path=str(tmp / "config.json"),
        state_dir=str(tmp / "run"),
        lib_dir=str(tmp / "lib"),
        io=host,
        loop=fake,  # type: ignore[arg-type]
    )
    hooks = RecordingHooks()
    runner.notifier.hooks = hooks
    runner.fleet.apply(load_config(CONFIG), previous=None)
    for inst in runner.instances.values():
        for reason in ("link", "address", "socket"):
            runner.feed(inst, FaultCleared(reason))
    insts = runner.instances
    assert {i.router.state for i in insts.values()} == {State.BACKUP}

    wait_of = dict(zip(NAMES, waits))
    local = {name: True for name in NAMES}  # whether the member's last adds are local
    expected: dict[str, list[Action]] = {name: [] for name in NAMES}
    done: dict[str, list[Action]] = {name: [] for name in NAMES}
    early: list[str] = []  # announcements before the VIPs were local, not excused
    given_while_waiting: set[str] = set()
    pending: set[str] = set()

    def when_local(instance: Any, callback: Any) -> bool:
        delay = wait_of[instance.name]
        if delay is None:
            return False
        local[instance.name] = False

        def now_local() -> None:
            local[instance.name] = True
            callback()

        fake.call_later(delay, now_local)
        return True

    host.when_local = when_local  # type: ignore[method-assign]
    execute_tagged = runner._execute_tagged

    def recorded_tagged(tagged: Sequence[tuple[str, Any]]) -> None:
        for member, action in records_last(tagged, lambda item: item[1]):
            expected[member].append(action)
        execute_tagged(tagged)

    runner._execute_tagged = recorded_tagged  # type: ignore[method-assign]
    runner.fleet._execute_tagged = recorded_tagged
    for name, inst in insts.items():
        execute = inst._execute

        def recorded(action: Action, *, _name: str = name, _do: Any = execute, **kw: Any) -> None:
            done[_name].append(action)
            _do(action, **kw)

        inst._execute = recorded  # type: ignore[method-assign]
        handle = inst.router.handle

        def recorded_handle(event: Any, now: float, *, _name: str = name, _do: Any = handle) -> Any:
            if not local[_name]:  # given something (by the group too) while it waits
                given_while_waiting.add(_name)
            return _do(event, now)

        inst.router.handle = recorded_handle  # type: ignore[method-assign]
    announce = host.announce

    def recorded_announce(instance: Any) -> None:
        if not (local[instance.name] or instance.name in given_while_waiting):
            early.append(instance.name)
        announce(instance)

    host.announce = recorded_announce  # type: ignore[method-assign]

    for what, name, dt in [("down", "outside", 0.0), *steps]:  # a takeover first
        inst = insts[name]
        if what == "down":
            deadlines = [w for i in insts.values() for w in i.router.timers.values()]
            fake.run(until=min(deadlines, default=fake.time()) + 0.001)
        elif what != "tick":
            runner.feed(inst, event_for(what, inst))
        fake.run(until=fake.time() + dt)
        for member in NAMES:
            assert done[member] == expected[member][: len(done[member])], member
            if insts[member]._continuation is not None:
                pending.add(member)
    fake.run(until=fake.time() + 1.0)
    for member in NAMES:
        assert done[member] == expected[member], member
        assert insts[member]._continuation is None
    assert not early, early
    event(f"pending: {sorted(pending)}; given while waiting: {sorted(given_while_waiting)}")
