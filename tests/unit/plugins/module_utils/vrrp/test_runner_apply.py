"""The runner's reload over a fake kernel: in place, groups, all or nothing.

The kernel the runner asks (addresses, VRRP sockets, GARP senders, link
probes) is a fake HostIo (support.fakehost) that records what was asked; the
link state comes from a fake watcher; the event loop and the timers are
real. No root, no namespaces.
"""

from __future__ import annotations

import asyncio
from ipaddress import ip_address
from typing import Any

import pytest

from support.fakehost import FakeHost
from vrrp import instance as instance_module
from vrrp import runner as runner_module
from vrrp.config import Config, load_config
from vrrp.errors import ConfigError, VRRPError
from vrrp.fsm import AdvertReceived, FaultRaised, Resign, Timer
from vrrp.runner import Runner


def instance(name: str, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "name": name,
        "interface": "eth0",
        "vrid": 50 + ord(name[0]) % 50,
        "priority": 200,
        "advert_interval": 0.05,
        "virtual_addresses": [f"192.0.2.{ord(name[0]) % 200}/24"],
    }
    obj.update(fields)
    return obj


def config(*instances: dict[str, Any], groups: dict[str, list[str]] | None = None) -> Config:
    sync_groups = [{"name": g, "members": m} for g, m in (groups or {}).items()]
    return load_config({"instances": list(instances), "sync_groups": sync_groups})


def run_until(loop: asyncio.AbstractEventLoop, predicate: Any, *, timeout: float = 10.0) -> None:
    """Run the loop until ``predicate()`` (polled; a generous bound, not a timing)."""
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        loop.run_until_complete(asyncio.sleep(0.02))


def states(runner: Runner) -> dict[str, str]:
    return {name: inst.router.state.value for name, inst in runner.instances.items()}


def histories(runner: Runner) -> dict[str, list[Any]]:
    return {name: list(inst.history) for name, inst in runner.instances.items()}


def masters(runner: Runner, loop: asyncio.AbstractEventLoop, cfg: Config) -> None:
    runner.fleet.apply(cfg, previous=None)
    run_until(loop, lambda: set(states(runner).values()) == {"MASTER"})


def test_in_place_changes_keep_the_master_and_its_addresses(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    masters(runner, loop, config(instance("a")))
    inst = runner.instances["a"]
    before = histories(runner)
    vip2 = "192.0.2.200/24"
    report = runner.fleet.apply(
        config(instance("a", priority=210, virtual_addresses=["192.0.2.97/24", vip2])),
        previous=runner.config,
    )
    assert (report["changed"], report["recreated"]) == (["a"], [])
    assert runner.instances["a"] is inst and histories(runner) == before
    assert inst.router.state.value == "MASTER" and inst.router.effective_priority == 210
    assert kernel.vips == {("eth0", "192.0.2.97/24"), ("eth0", vip2)}
    assert inst.stats["priority_zero_sent"] == 0
    report = runner.fleet.apply(
        config(instance("a", priority=210, virtual_addresses=["192.0.2.97/24"])),
        previous=runner.config,
    )
    assert kernel.vips == {("eth0", "192.0.2.97/24")}
    runner.fleet.apply(
        config(instance("a", priority=210, virtual_addresses=["192.0.2.97/25"])),
        previous=runner.config,
    )
    assert kernel.vips == {("eth0", "192.0.2.97/25")}  # a new prefix: put in again
    assert histories(runner) == before


def test_one_group_member_changed_keeps_the_whole_group_master(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    inside = {"interface": "eth1", "virtual_addresses": ["198.51.100.100/24"]}
    old = config(instance("out"), instance("in", **inside), groups={"g": ["out", "in"]})
    masters(runner, loop, old)
    before = histories(runner)
    new = config(
        instance("out"), instance("in", priority=190, **inside), groups={"g": ["out", "in"]}
    )
    report = runner.fleet.apply(new, previous=old)
    assert (report["changed"], report["kept"], report["recreated"]) == (["in"], ["out"], [])
    loop.run_until_complete(asyncio.sleep(0.3))  # several advert intervals
    assert states(runner) == {"out": "MASTER", "in": "MASTER"}
    assert histories(runner) == before
    assert all(i.stats["priority_zero_sent"] == 0 for i in runner.instances.values())
    assert runner.groups["g"].routers["in"] is runner.instances["in"].router


def test_a_member_leaving_its_group_shuts_down_alone(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    old = config(instance("a"), instance("b"), groups={"g": ["a", "b"]})
    masters(runner, loop, old)
    before = histories(runner)["a"]
    report = runner.fleet.apply(config(instance("a"), groups={"g": ["a"]}), previous=old)
    assert (report["removed"], report["changed"]) == (["b"], ["a"])
    loop.run_until_complete(asyncio.sleep(0.2))
    assert states(runner) == {"a": "MASTER"} and histories(runner)["a"] == before
    assert not runner.instances["a"].router.faults


def test_a_master_joining_a_master_group_moves_nothing(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    old = config(instance("a"), instance("b"), instance("c"), groups={"g": ["a", "b"]})
    masters(runner, loop, old)
    before = histories(runner)
    new = config(instance("a"), instance("b"), instance("c"), groups={"g": ["a", "b", "c"]})
    report = runner.fleet.apply(new, previous=old)
    assert (report["changed"], report["kept"]) == (["a", "b", "c"], [])
    assert sorted(runner.groups["g"].routers) == ["a", "b", "c"]
    assert runner.instances["c"].group == "g" and runner.instances["c"].router.in_sync_group
    loop.run_until_complete(asyncio.sleep(0.2))
    assert set(states(runner).values()) == {"MASTER"} and histories(runner) == before
    # and leaves again: on its own, still Master
    runner.fleet.apply(old, previous=new)
    assert runner.instances["c"].group is None and not runner.instances["c"].router.in_sync_group
    loop.run_until_complete(asyncio.sleep(0.2))
    assert set(states(runner).values()) == {"MASTER"} and histories(runner) == before


def test_a_member_removed_from_a_faulted_group_goes_without_starting_again(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    old = config(instance("a"), instance("b"), groups={"g": ["a", "b"]})
    masters(runner, loop, old)
    runner.feed(runner.instances["a"], FaultRaised("link"))
    assert states(runner) == {"a": "FAULT", "b": "FAULT"}
    b = runner.instances["b"]
    assert b.router.faults == {"group:g"}
    runner.fleet.apply(config(instance("a")), previous=old)
    assert [(h.old, h.new) for h in b.history][-2:] == [("MASTER", "FAULT"), ("FAULT", "INIT")]
    assert runner.instances["a"].router.faults == {"link"}  # its own fault stays


def snapshot(runner: Runner) -> dict[str, Any]:
    return {
        "config": runner.config,
        "states": states(runner),
        "histories": histories(runner),
        "cfgs": {name: inst.cfg for name, inst in runner.instances.items()},
        "groups": {g: sorted(grp.routers) for g, grp in runner.groups.items()},
    }


def test_a_kernel_failure_while_applying_puts_the_previous_config_back(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    old = config(instance("a"), instance("b"), groups={"g": ["a", "b"]})
    masters(runner, loop, old)
    before = snapshot(runner)
    kernel.fail_on = "eth1"  # the new instance's interface
    new = config(
        instance("a", priority=210),
        instance("b"),
        instance("c", interface="eth1", virtual_addresses=["198.51.100.100/24"]),
        groups={"g": ["a", "b", "c"]},
    )
    with pytest.raises(ConfigError) as refused:
        runner.fleet.apply(new, previous=old)
    assert refused.value.path == "instances[2]"
    assert "OSError" in refused.value.rule and "previous configuration" in refused.value.rule
    assert snapshot(runner) == before
    assert runner.instances["a"].router.effective_priority == 200
    assert runner.counters["reloads_rolled_back"] == 1
    loop.run_until_complete(asyncio.sleep(0.2))
    assert states(runner) == {"a": "MASTER", "b": "MASTER"}  # the runner runs on
    kernel.fail_on = None
    report = runner.fleet.apply(new, previous=old)  # and the same reload works once it can
    assert report["added"] == ["c"] and report["changed"] == ["a", "b"]


def test_a_bad_value_that_passed_validation_changes_nothing(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop, monkeypatch: Any
) -> None:
    old = config(instance("a"), instance("b"))
    masters(runner, loop, old)
    before = snapshot(runner)
    real = instance_module.router_params

    def router_params(cfg: Any, **kw: Any) -> Any:
        if cfg.name == "c":
            raise VRRPError("advert interval the state machine refuses")
        return real(cfg, **kw)

    monkeypatch.setattr(instance_module, "router_params", router_params)
    new = config(instance("a", vrid=98), instance("c"))  # a re-created, b removed, c added
    with pytest.raises(ConfigError) as refused:
        runner.fleet.apply(new, previous=old)
    assert refused.value.path == "instances[1]" and "refuses" in refused.value.rule
    assert snapshot(runner) == before
    assert all(i.stats["priority_zero_sent"] == 0 for i in runner.instances.values())


def test_reload_refuses_with_a_clear_message_and_counts_it(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop, monkeypatch: Any
) -> None:
    old = config(instance("a"))
    masters(runner, loop, old)

    async def load_isolated(path: Any) -> Config:
        return config(instance("a"), instance("c", interface="eth1"))

    monkeypatch.setattr(runner_module, "load_isolated", load_isolated)
    kernel.fail_on = "eth1"
    with pytest.raises(ConfigError, match="could not be applied"):
        loop.run_until_complete(runner.reload())
    assert runner.counters["reloads_refused"] == 1 and "reloads" not in runner.counters
    assert list(runner.instances) == ["a"] and runner.config == old


def test_a_classic_probe_down_faults_the_instances_on_it_until_up(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    kernel.probe_method = "mii"  # a driver that sends no carrier event
    masters(
        runner,
        loop,
        config(
            instance("a"), instance("b", interface="eth1", virtual_addresses=["198.51.100.9/24"])
        ),
    )
    a, b = runner.instances["a"], runner.instances["b"]
    assert a.link_probe == "mii"
    kernel.link["eth0"] = "down"
    for _round in range(3):  # one tick acts; the next ones see nothing new
        runner.fleet.probe_links()
    assert a.router.faults == {"probe:mii"} and states(runner) == {"a": "FAULT", "b": "MASTER"}
    assert [(h.old, h.new) for h in a.history][-1] == ("MASTER", "FAULT")
    # A probe that could not be tried (EPERM: "denied") says nothing about the
    # link: the fault stays until a probe reads the link up.
    kernel.link["eth0"] = "denied"
    runner.fleet.probe_links()
    assert a.router.faults == {"probe:mii"}
    kernel.link["eth0"] = "up"
    runner.fleet.probe_links()
    assert not a.router.faults and not b.router.faults
    run_until(loop, lambda: set(states(runner).values()) == {"MASTER"})


def test_a_reload_that_changes_routes_updates_a_master_only(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    masters(runner, loop, config(instance("a"), instance("b")))
    runner.fleet.feed(runner.instances["b"], FaultRaised("link"))  # b leaves MASTER
    route = {"to": "198.51.100.0/24", "via": "192.0.2.254"}
    before = {name: inst.cfg for name, inst in runner.instances.items()}
    report = runner.fleet.apply(
        config(instance("a", virtual_routes=[route]), instance("b", virtual_routes=[route])),
        previous=runner.config,
    )
    assert report["changed"] == ["a", "b"]
    assert kernel.held_updates == [("a", before["a"])]  # b is in FAULT: nothing is held
    again = runner.fleet.apply(
        config(instance("a", virtual_routes=[route]), instance("b", virtual_routes=[route])),
        previous=runner.config,
    )
    assert again["kept"] == ["a", "b"] and len(kernel.held_updates) == 1


def test_a_reload_during_the_resign_hold_withdraws_the_old_routes(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    # A resigned Master that heard its successor holds its VIPs and what it
    # holds beyond them (fsm.RESIGN_HOLD). A reload in place ends the hold:
    # the VIPs of the old definition go, and so must its routes, or a BACKUP
    # keeps them for good (the release timer is gone).
    route = {"to": "198.51.100.0/24", "via": "192.0.2.254"}
    masters(runner, loop, config(instance("a", virtual_routes=[route])))
    inst = runner.instances["a"]
    before = inst.cfg
    runner.fleet.feed(inst, Resign(active=True))
    successor = inst.router.advertisement(priority=100)
    runner.fleet.feed(inst, AdvertReceived(successor, ip_address("192.0.2.12")))
    assert inst.router.state.value == "BACKUP" and Timer.RELEASE in inst.router.timers
    runner.fleet.apply(
        config(instance("a", priority=210, virtual_routes=[route])), previous=runner.config
    )
    assert Timer.RELEASE not in inst.router.timers and kernel.vips == set()
    assert kernel.held_withdrawn == [("a", before)] and kernel.held_updates == []
