"""A sync group's own notify hooks: run once per group state change, not per member.

keepalived's semantics (vrrp_notify.c, send_group_notifies): a group is
MASTER, BACKUP or FAULT when all its members are, STOP when the daemon stops
them; its programs get ``GROUP <name> <STATE> 0`` (a group has no priority).

The runner is built without root: no link watcher (every member starts with
link, address and socket faults), a fake loop for its timers, and a fake
HostIo (support.fakehost) for the kernel; the hook runner records what it is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from support.fakehost import FakeHost
from support.fakeloop import FakeLoop
from vrrp.config import load_config
from vrrp.fsm import FaultCleared, FaultRaised, PriorityChanged, State, Timer
from vrrp.hooks import HookRunner, group_state_word
from vrrp.runner import Runner


class RecordingHooks(HookRunner):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[str, ...], dict[str, str]]] = []

    def submit(
        self,
        instance: str,
        argv: Sequence[str],
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> bool:
        self.calls.append((instance, (*argv, *args), dict(env or {})))
        return True

    def group_calls(self) -> list[tuple[str, ...]]:
        return [argv for _lane, argv, env in self.calls if env.get("VRRP_TYPE") == "GROUP"]


def member(name: str, vrid: int, interface: str) -> dict[str, Any]:
    return {
        "name": name,
        "interface": interface,
        "vrid": vrid,
        "priority": 150,
        "advert_interval": 1,
        "virtual_addresses": [f"192.0.2.{vrid}/24"],
        "notify": {"master": ["/bin/inst-master"], "backup": ["/bin/inst-backup"]},
    }


CONFIG = {
    "instances": [member("outside", 10, "eth0"), member("inside", 20, "eth1")],
    "sync_groups": [
        {
            "name": "edge",
            "members": ["outside", "inside"],
            "notify": {
                "master": ["/bin/grp", "m"],
                "backup": ["/bin/grp", "b"],
                "fault": ["/bin/grp", "f"],
                "stop": ["/bin/grp", "s"],
            },
        }
    ],
}


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        runner = Runner(
            config_path=str(tmp_path / "config.json"),
            state_dir=str(tmp_path / "run"),
            lib_dir=str(tmp_path / "lib"),
            io=FakeHost(),
            loop=FakeLoop(),  # type: ignore[arg-type]
        )
        runner.notifier.hooks = RecordingHooks()
        yield runner
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def run_until_master(runner: Runner) -> None:
    fake: FakeLoop = runner.loop  # type: ignore[assignment]
    for _round in range(20):
        if all(i.router.state is State.MASTER for i in runner.instances.values()):
            return
        deadlines = [when for i in runner.instances.values() for when in i.router.timers.values()]
        fake.run(until=min(deadlines) + 0.001)
    raise AssertionError({n: i.router.state for n, i in runner.instances.items()})


def test_group_hooks_run_once_per_group_state_change(runner: Runner) -> None:
    hooks: RecordingHooks = runner.notifier.hooks  # type: ignore[assignment]
    runner.fleet.apply(load_config(CONFIG), previous=None)
    # No link watcher: both start as on a missing interface (link, address
    # and socket faults), the group is in FAULT.
    assert hooks.group_calls() == [("/bin/grp", "f", "GROUP", "edge", "FAULT", "0")]

    for inst in runner.instances.values():
        for reason in ("link", "address", "socket"):
            runner.feed(inst, FaultCleared(reason))
    assert {i.router.state for i in runner.instances.values()} == {State.BACKUP}
    run_until_master(runner)
    # A member's own link fault pulls the other into FAULT: one group FAULT.
    runner.feed(runner.instances["outside"], FaultRaised("link"))
    assert {i.router.state for i in runner.instances.values()} == {State.FAULT}
    runner.feed(runner.instances["outside"], FaultCleared("link"))
    assert {i.router.state for i in runner.instances.values()} == {State.BACKUP}
    # The runner's graceful stop.
    runner._execute_tagged(runner.groups["edge"].stop(runner.loop.time()))

    assert hooks.group_calls() == [
        ("/bin/grp", "f", "GROUP", "edge", "FAULT", "0"),
        ("/bin/grp", "b", "GROUP", "edge", "BACKUP", "0"),
        ("/bin/grp", "m", "GROUP", "edge", "MASTER", "0"),
        ("/bin/grp", "f", "GROUP", "edge", "FAULT", "0"),
        ("/bin/grp", "b", "GROUP", "edge", "BACKUP", "0"),
        ("/bin/grp", "s", "GROUP", "edge", "STOP", "0"),
    ]
    lanes = {lane for lane, _argv, env in hooks.calls if env.get("VRRP_TYPE") == "GROUP"}
    assert len(lanes) == 1 and lanes.isdisjoint(runner.instances)  # its own lane
    # The members' own hooks still run per member.
    masters = [argv for _l, argv, _e in hooks.calls if argv[0] == "/bin/inst-master"]
    assert sorted(a[2] for a in masters) == ["inside", "outside"]


def test_group_without_hooks_and_kept_across_reload(runner: Runner) -> None:
    hooks: RecordingHooks = runner.notifier.hooks  # type: ignore[assignment]
    config = load_config(CONFIG)
    runner.fleet.apply(config, previous=None)
    for inst in runner.instances.values():
        for reason in ("link", "address", "socket"):
            runner.feed(inst, FaultCleared(reason))
    before = len(hooks.group_calls())
    # A reload that changes nothing: no group hook runs again.
    runner.fleet.apply(load_config(CONFIG), previous=config)
    assert len(hooks.group_calls()) == before
    quiet = {**CONFIG, "sync_groups": [{"name": "edge", "members": ["outside", "inside"]}]}
    runner.fleet.apply(load_config(quiet), previous=config)
    run_until_master(runner)
    assert len(hooks.group_calls()) == before
    assert Timer.ADVER in runner.instances["outside"].router.timers


@pytest.mark.parametrize(
    ("members", "word"),
    [
        ([("MASTER", True), ("MASTER", True)], "MASTER"),
        ([("BACKUP", True)], "BACKUP"),
        ([("FAULT", True), ("FAULT", True)], "FAULT"),
        ([("INIT", False), ("INIT", False)], "STOP"),
        ([("MASTER", True), ("BACKUP", True)], None),  # on the way: no hook
        ([("INIT", True), ("INIT", True)], None),  # restarting after a fault
        ([("INIT", False), ("INIT", True)], None),
    ],
)
def test_group_state_word(members: list[tuple[str, bool]], word: str | None) -> None:
    assert group_state_word(members) == word


def test_a_group_takeover_adds_every_members_vips_before_any_hook(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for one instance (test_instance_actions.py): the records, and so the
    members' notify hooks, come after the group's VIPs, announcements and adverts."""
    hooks: RecordingHooks = runner.notifier.hooks  # type: ignore[assignment]
    order: list[str] = []
    host: FakeHost = runner.io  # type: ignore[assignment]
    add = host.add_addresses

    def recorded_add(instance: Any, vips: Any = None, **kw: Any) -> None:
        order.append(f"add {instance.name}")
        add(instance, vips, **kw)

    submit = hooks.submit

    def recorded_submit(instance: str, argv: Sequence[str], **kwargs: Any) -> bool:
        order.append(f"hook {argv[0]}")
        return submit(instance, argv, **kwargs)

    monkeypatch.setattr(host, "add_addresses", recorded_add)
    monkeypatch.setattr(hooks, "submit", recorded_submit)
    runner.fleet.apply(load_config(CONFIG), previous=None)
    for inst in runner.instances.values():
        for reason in ("link", "address", "socket"):
            runner.feed(inst, FaultCleared(reason))
    order.clear()
    run_until_master(runner)
    adds = [i for i, what in enumerate(order) if what.startswith("add ")]
    hooks_run = [i for i, what in enumerate(order) if what.startswith("hook ")]
    assert sorted(order[i] for i in adds) == ["add inside", "add outside"]
    assert hooks_run and max(adds) < min(hooks_run), order


def test_a_group_takeover_waiting_for_its_ipv6_vips_keeps_the_order(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The members' new VIPs are local only a moment after the adds (an IPv6
    VIP's DAD work): each member announces after its own are local, and the
    records, the members' and the group's hooks, come after; the loop is not
    blocked meanwhile (instance.carry_out keeps the rest in a continuation)."""
    hooks: RecordingHooks = runner.notifier.hooks  # type: ignore[assignment]
    fake: FakeLoop = runner.loop  # type: ignore[assignment]
    order: list[str] = []
    host: FakeHost = runner.io  # type: ignore[assignment]
    add, announce = host.add_addresses, host.announce

    def recorded_add(instance: Any, vips: Any = None, *, wait: bool = True) -> None:
        order.append(f"add {instance.name}")
        add(instance, vips, wait=wait)

    def when_local(instance: Any, callback: Any) -> bool:
        def local() -> None:
            order.append(f"local {instance.name}")
            callback()

        fake.call_later(0.01 if instance.name == "outside" else 0.03, local)
        return True

    def recorded_announce(instance: Any) -> None:
        order.append(f"announce {instance.name}")
        announce(instance)

    submit = hooks.submit

    def recorded_submit(instance: str, argv: Sequence[str], **kwargs: Any) -> bool:
        order.append(f"hook {argv[0]}")
        return submit(instance, argv, **kwargs)

    monkeypatch.setattr(host, "add_addresses", recorded_add)
    monkeypatch.setattr(host, "when_local", when_local)
    monkeypatch.setattr(host, "announce", recorded_announce)
    monkeypatch.setattr(hooks, "submit", recorded_submit)
    runner.fleet.apply(load_config(CONFIG), previous=None)
    for inst in runner.instances.values():
        for reason in ("link", "address", "socket"):
            runner.feed(inst, FaultCleared(reason))
    order.clear()
    run_until_master(runner)
    assert sorted(order) == ["add inside", "add outside"]  # the rest waits
    fake.run(until=fake.time() + 0.1)
    for name in ("inside", "outside"):
        assert order.index(f"local {name}") < order.index(f"announce {name}"), order
    hooks_run = [i for i, what in enumerate(order) if what.startswith("hook ")]
    assert hooks_run and max(order.index(f"announce {n}") for n in ("inside", "outside")) < min(
        hooks_run
    ), order
    assert [what for what in order if what.startswith("hook /bin/grp")] == ["hook /bin/grp"]


def test_a_resigning_group_listens_for_each_members_successor(runner: Runner) -> None:
    """A sync group's actions go through the runner's group path, not
    Instance.execute: each member listens for its successor's GARP / NA while
    its core awaits it too, and stops when the announcement ends its hold."""
    from ipaddress import ip_address

    from vrrp.fsm import AdvertReceived, Resign, SuccessorAnnounced
    from vrrp.packet import Advertisement

    host: FakeHost = runner.io  # type: ignore[assignment]
    runner.fleet.apply(load_config(CONFIG), previous=None)
    for inst in runner.instances.values():
        for reason in ("link", "address", "socket"):
            runner.feed(inst, FaultCleared(reason))
    run_until_master(runner)
    assert not host.watching
    for inst in runner.instances.values():
        runner.feed(inst, Resign(active=True))
    assert all(i.router.awaits_successor for i in runner.instances.values())
    assert host.watching == set(runner.instances)
    for inst in runner.instances.values():
        vip = inst.router.params.virtual_addresses[0]
        heard = Advertisement(
            version=3, vrid=inst.router.params.vrid, priority=100, interval_cs=100, addresses=(vip,)
        )
        runner.feed(inst, AdvertReceived(heard, ip_address("192.0.2.200")))
        runner.feed(inst, SuccessorAnnounced((vip,)))
    assert {i.router.state for i in runner.instances.values()} == {State.BACKUP}
    assert not any(i.router.awaits_successor for i in runner.instances.values())
    assert not host.watching


def test_a_member_without_vips_to_wait_for_sends_its_whole_burst(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dual-stack group: one member's new VIPs wait to be local (IPv6), the
    other's are local at once (IPv4). Only the records of the second wait with
    the first's announcements; its own GARP burst goes on, every round of it."""
    fake: FakeLoop = runner.loop  # type: ignore[assignment]
    host: FakeHost = runner.io  # type: ignore[assignment]

    def when_local(instance: Any, callback: Any) -> bool:
        if instance.name == "outside":
            return False  # nothing to wait for
        fake.call_later(0.03, callback)
        return True

    monkeypatch.setattr(host, "when_local", when_local)
    runner.fleet.apply(load_config(CONFIG), previous=None)
    for inst in runner.instances.values():
        for reason in ("link", "address", "socket"):
            runner.feed(inst, FaultCleared(reason))
    run_until_master(runner)
    fake.run(until=fake.time() + 0.1)  # the wait is over; the second burst is 5 s away
    repeat = runner.instances["outside"].cfg.garp.repeat
    rounds = {
        name: sum(
            1 for _dev, vip in host.announced if vip == inst.cfg.virtual_addresses[0].ip.compressed
        )
        for name, inst in runner.instances.items()
    }
    assert rounds == {"outside": repeat, "inside": repeat}


def test_an_event_for_a_member_with_nothing_to_wait_for_leaves_the_others_waiting(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dual-stack group's takeover: while one member's IPv6 VIPs wait to be
    local, the other member (its VIPs local, only its record held back) is
    given an event (a tracker moved its priority). Its own record is carried
    out first, as anything it is given next comes after; the waiting member
    still announces only once its VIPs are local, and the group's hook still
    comes after every member's record."""
    hooks: RecordingHooks = runner.notifier.hooks  # type: ignore[assignment]
    fake: FakeLoop = runner.loop  # type: ignore[assignment]
    host: FakeHost = runner.io  # type: ignore[assignment]
    order: list[str] = []
    announce, submit = host.announce, hooks.submit

    def when_local(instance: Any, callback: Any) -> bool:
        if instance.name == "outside":
            return False

        def local() -> None:
            order.append("local inside")
            callback()

        fake.call_later(0.05, local)
        return True

    def recorded_announce(instance: Any) -> None:
        order.append(f"announce {instance.name}")
        announce(instance)

    def recorded_submit(instance: str, argv: Sequence[str], **kwargs: Any) -> bool:
        order.append(f"hook {argv[0]} {instance}")
        return submit(instance, argv, **kwargs)

    monkeypatch.setattr(host, "when_local", when_local)
    monkeypatch.setattr(host, "announce", recorded_announce)
    monkeypatch.setattr(hooks, "submit", recorded_submit)
    runner.fleet.apply(load_config(CONFIG), previous=None)
    for inst in runner.instances.values():
        for reason in ("link", "address", "socket"):
            runner.feed(inst, FaultCleared(reason))
    order.clear()
    run_until_master(runner)
    fake.run(until=fake.time() + 0.01)
    outside = runner.instances["outside"]
    runner.feed(outside, PriorityChanged(140))  # within the wait
    assert "announce inside" not in order, order
    assert "hook /bin/inst-master outside" in order  # its record came first
    assert outside.history[-1].new == "MASTER"
    fake.run(until=fake.time() + 0.1)
    assert order.index("local inside") < order.index("announce inside"), order
    group_hook = next(i for i, what in enumerate(order) if what.startswith("hook /bin/grp "))
    assert group_hook > order.index("hook /bin/inst-master inside"), order
    assert order.count("announce inside") == runner.instances["inside"].cfg.garp.repeat
