"""A VMAC the runner cannot set up as configured holds its instance in FAULT.

The kernel is the fake of support.fakehost: a VMAC set-up can fail after the
macvlan was made (a sysctl refused: a read-only ``/proc/sys/net``), or be
refused (an interface of that name that is not the VMAC). Either way the
instance cannot serve its virtual addresses: FAULT with a ``vmac:`` reason
naming the error, in the state, the metrics and the log, whatever link events
follow; the other instances run on; once the cause is gone (the runner tries
again on a timer, at link events and at a reload) it elects normally.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest
from test_runner_apply import config, instance, run_until, states

from support.fakehost import FakeHost
from vrrp import faults, vmacs
from vrrp.linux.watch import LinkChanged
from vrrp.runner import Runner

SYSCTL_ERROR = "sysctl /proc/sys/net/ipv4/conf/vrrp.60/arp_ignore=1: Read-only file system"


@pytest.fixture(autouse=True)
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry backoff of the runner (1 s doubling to 30 s), shrunk for the test."""
    monkeypatch.setattr(vmacs, "RETRY_FIRST", 0.05)
    monkeypatch.setattr(vmacs, "RETRY_MAX", 0.4)


class EventWatcher:
    def __init__(self, kernel: FakeHost) -> None:
        self.events: list[Any] = []
        self.kernel = kernel

    def link(self, ifname: str) -> LinkChanged | None:
        index = self.kernel.interfaces.get(ifname)
        if index is None:
            return None
        return LinkChanged(ifname, index, ifname not in self.kernel.vmac_down, True)

    def read(self) -> list[Any]:
        out, self.events = self.events, []
        return out


def link_event(runner: Runner, kernel: FakeHost, ifname: str) -> None:
    """The netlink event of ``ifname`` (made, up, changed), as the watcher reads it."""
    watcher = runner.watcher
    assert isinstance(watcher, EventWatcher)
    watcher.events.append(LinkChanged(ifname, kernel.interfaces.get(ifname, 0), True, True))
    runner.fleet.on_netlink()


def vmac_reasons(runner: Runner, name: str) -> list[str]:
    return [r for r in runner.instances[name].router.faults if r.startswith("vmac:")]


def test_a_refused_sysctl_holds_the_vmac_instance_in_fault_until_it_is_written(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop, caplog: Any
) -> None:
    kernel.vmac_error = SYSCTL_ERROR
    with caplog.at_level(logging.WARNING, logger="failover-vrrp"):
        two = _two(runner)
    vm = two.instances["vm"]
    # The macvlan was made (its link event follows) but is not usable: the
    # instance must not get past FAULT, however many link events come.
    for _event in range(3):
        link_event(two, kernel, "vrrp.60")
        link_event(two, kernel, "eth0")
    run_until(loop, lambda: states(two)["plain"] == "MASTER")
    loop.run_until_complete(asyncio.sleep(0.3))  # a few advert intervals
    assert states(two) == {"vm": "FAULT", "plain": "MASTER"}
    assert vmac_reasons(two, "vm") == [faults.vmac(SYSCTL_ERROR)]
    assert "MASTER" not in {h.new for h in vm.history}
    assert not {(dev, vip) for dev, vip in kernel.vips if dev == "vrrp.60"}
    state = vm.state_dict(now=loop.time(), demoted=None)
    assert faults.vmac(SYSCTL_ERROR) in state["faults"], state
    assert SYSCTL_ERROR in caplog.text
    # The same error again is the same reason: no new transition, no log flood.
    moved = len(vm.history)
    tries = kernel.vmac_tries
    run_until(loop, lambda: kernel.vmac_tries >= tries + 2)  # the timer tries again
    assert len(vm.history) == moved and states(two)["vm"] == "FAULT"
    assert caplog.text.count(SYSCTL_ERROR) == 1

    kernel.vmac_error = None  # /proc/sys/net writable again
    run_until(loop, lambda: states(two)["vm"] == "MASTER", timeout=20)
    assert not vm.router.faults
    assert any(dev == "vrrp.60" for dev, _vip in kernel.vips)
    assert states(two)["plain"] == "MASTER"


def _two(runner: Runner) -> Runner:
    assert isinstance(runner.io, FakeHost)
    runner.watcher = EventWatcher(runner.io)  # type: ignore[assignment]
    runner.fleet.apply(
        config(
            instance("vm", vrid=60, vmac=True),
            instance("plain", interface="eth1", vrid=61, virtual_addresses=["198.51.100.9/24"]),
        ),
        previous=None,
    )
    return runner


def test_a_changed_error_replaces_the_reason_without_leaving_fault(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    kernel.vmac_error = SYSCTL_ERROR
    two = _two(runner)
    vm = two.instances["vm"]
    link_event(two, kernel, "vrrp.60")
    assert states(two)["vm"] == "FAULT"
    moved = len(vm.history)
    other = SYSCTL_ERROR.replace("Read-only file system", "Permission denied")
    kernel.vmac_error = other
    link_event(two, kernel, "vrrp.60")
    assert vmac_reasons(two, "vm") == [faults.vmac(other)]
    assert len(vm.history) == moved and states(two)["vm"] == "FAULT"


def test_a_foreign_interface_of_the_vmac_name_is_refused_and_never_deleted(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    kernel.interfaces["vrrp.60"] = 40  # someone's dummy, not a macvlan of ours
    two = _two(runner)
    link_event(two, kernel, "vrrp.60")
    run_until(loop, lambda: states(two)["plain"] == "MASTER")
    loop.run_until_complete(asyncio.sleep(0.3))
    assert states(two)["vm"] == "FAULT"
    (reason,) = vmac_reasons(two, "vm")
    assert "vrrp.60 exists but is not the VMAC" in reason and "refusing" in reason
    # Removing the instance must not delete what is not ours.
    two.fleet.apply(
        config(instance("plain", interface="eth1", vrid=61, virtual_addresses=["198.51.100.9/24"])),
        previous=two.config,
    )
    assert kernel.interfaces.get("vrrp.60") == 40


def test_the_foreign_interface_gone_the_vmac_is_made_and_elects(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    kernel.interfaces["vrrp.60"] = 40
    two = _two(runner)
    assert states(two)["vm"] == "FAULT"
    del kernel.interfaces["vrrp.60"]  # its owner deleted it: a link event says so
    link_event(two, kernel, "vrrp.60")
    run_until(loop, lambda: states(two)["vm"] == "MASTER")
    assert "vrrp.60" in kernel.vmacs and not two.instances["vm"].router.faults


def test_a_reload_tries_the_vmac_again_at_once(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    kernel.vmac_error = SYSCTL_ERROR
    two = _two(runner)
    assert states(two)["vm"] == "FAULT"
    kernel.vmac_error = None
    tries = kernel.vmac_tries
    two.fleet.apply(two.config, previous=two.config)
    assert kernel.vmac_tries == tries + 1
    assert not two.instances["vm"].router.faults


def test_the_vmac_fault_is_a_metric_like_the_others(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    pytest.importorskip("prometheus_client")
    from test_metrics import scrape

    kernel.vmac_error = SYSCTL_ERROR
    two = _two(runner)
    samples = scrape(two.api)
    faulted = {dict(k).get("reason") for k in samples.get("vrrp_fault", {})}
    assert faults.vmac(SYSCTL_ERROR) in faulted, faulted


def test_a_masters_vmac_set_down_by_another_program_is_put_back_at_once(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop, caplog: Any
) -> None:
    """Like a VIP removed from a Master: put back, its VIPs too, announced, counted,
    logged; the same Master, no transition."""
    two = _two(runner)
    vm = two.instances["vm"]
    run_until(loop, lambda: states(two)["vm"] == "MASTER")
    moved, tries = len(vm.history), kernel.vmac_tries
    kernel.vmac_down.add("vrrp.60")
    kernel.vips = {(dev, vip) for dev, vip in kernel.vips if dev != "vrrp.60"}  # IPv6 loses them
    kernel.announced.clear()
    with caplog.at_level(logging.WARNING, logger="failover-vrrp"):
        link_event(two, kernel, "vrrp.60")
    assert kernel.vmac_tries == tries + 1 and usable(kernel, "vrrp.60")
    assert any(dev == "vrrp.60" for dev, _vip in kernel.vips)
    assert any(dev == "vrrp.60" for dev, _vip in kernel.announced)
    assert len(vm.history) == moved and states(two)["vm"] == "MASTER"
    assert vm.stats["vmac_restored"] == 1
    assert "VMAC vrrp.60 was set down by another program while MASTER: put back" in caplog.text
    # Its events seen again (nothing changed): nothing more is done.
    link_event(two, kernel, "vrrp.60")
    assert kernel.vmac_tries == tries + 1 and vm.stats["vmac_restored"] == 1


def test_a_vmac_set_down_that_cannot_be_put_back_faults_until_a_retry_works(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    two = _two(runner)
    vm = two.instances["vm"]
    run_until(loop, lambda: states(two)["vm"] == "MASTER")
    kernel.vmac_error = SYSCTL_ERROR
    kernel.vmac_down.add("vrrp.60")
    link_event(two, kernel, "vrrp.60")
    assert states(two)["vm"] == "FAULT"
    assert vmac_reasons(two, "vm") == [faults.vmac(SYSCTL_ERROR)]
    assert vm.stats["vmac_restored"] == 0 and vm.stats["vmac_errors"] == 1
    assert not any(dev == "vrrp.60" for dev, _vip in kernel.vips)  # left with Master
    kernel.vmac_error = None
    run_until(loop, lambda: states(two)["vm"] == "MASTER", timeout=20)
    assert usable(kernel, "vrrp.60") and not vm.router.faults


def test_the_runners_own_down_and_up_of_a_vmac_is_no_disturbance(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    """Judged on the link as it is after the batch: a down event read with the
    link up again (the runner's own remove_vmac_addresses) puts nothing back."""
    two = _two(runner)
    vm = two.instances["vm"]
    run_until(loop, lambda: states(two)["vm"] == "MASTER")
    tries = kernel.vmac_tries
    watcher = two.watcher
    assert isinstance(watcher, EventWatcher)
    index = kernel.interfaces["vrrp.60"]
    watcher.events += [
        LinkChanged("vrrp.60", index, False, False),
        LinkChanged("vrrp.60", index, True, True),
    ]
    two.fleet.on_netlink()
    assert kernel.vmac_tries == tries and vm.stats["vmac_restored"] == 0


def usable(kernel: FakeHost, name: str) -> bool:
    """The VMAC is ours and its last set-up on its current ifindex succeeded."""
    index = kernel.interfaces.get(name)
    ready = name in kernel.vmacs and kernel.vmac_ready.get(name) == index
    return index is not None and ready and name not in kernel.vmac_down


@pytest.mark.parametrize("seed", range(8))
def test_random_vmac_trouble_never_lets_the_instance_out_of_fault_unusable(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop, seed: int
) -> None:
    """Errors coming and going, the VMAC deleted, set down or replaced by a
    foreign interface (each with its link event), reloads, time passing: whenever the
    instance is BACKUP or MASTER its VMAC is usable; once every cause is gone
    it leaves FAULT and wins (priority 200, alone)."""
    rng = random.Random(seed)
    two = _two(runner)
    vm = two.instances["vm"]
    foreign = 900
    for _step in range(30):
        ops = ["error", "error", "delete", "foreign", "down", "link", "reload", "wait", "wait"]
        op = rng.choice(ops)
        if op == "error":
            kernel.vmac_error = rng.choice([None, SYSCTL_ERROR, SYSCTL_ERROR.upper()])
        elif op in ("delete", "foreign"):
            kernel.vmacs.discard("vrrp.60")
            kernel.interfaces.pop("vrrp.60", None)
            if op == "foreign":
                foreign += 1
                kernel.interfaces["vrrp.60"] = foreign
            link_event(two, kernel, "vrrp.60")
        elif op == "down":
            if "vrrp.60" in kernel.vmacs:  # another program's ip link set down
                kernel.vmac_down.add("vrrp.60")
            link_event(two, kernel, "vrrp.60")
        elif op == "link":
            link_event(two, kernel, rng.choice(["eth0", "vrrp.60"]))
        elif op == "reload":
            two.fleet.apply(two.config, previous=two.config)
        else:
            loop.run_until_complete(asyncio.sleep(rng.uniform(0.02, 0.15)))
        state = vm.router.state.value
        assert state in ("INIT", "FAULT") or usable(kernel, "vrrp.60"), (seed, _step, op)
        assert (state == "FAULT") == bool(vm.router.faults), (state, vm.router.faults)
        assert len(vmac_reasons(two, "vm")) <= 1, vm.router.faults
        assert states(two)["plain"] in ("BACKUP", "MASTER")  # untouched
    kernel.vmac_error = None
    if "vrrp.60" not in kernel.vmacs:
        kernel.interfaces.pop("vrrp.60", None)
        link_event(two, kernel, "vrrp.60")
    run_until(loop, lambda: states(two)["vm"] == "MASTER", timeout=20)
    assert not vm.router.faults and usable(kernel, "vrrp.60")


def test_an_os_error_while_setting_up_is_a_fault_too_never_an_escape(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop, monkeypatch: Any
) -> None:
    def no_socket(instance: Any, **_: Any) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(kernel, "create_vmac", no_socket)
    two = _two(runner)
    link_event(two, kernel, "eth0")
    assert vmac_reasons(two, "vm") == [faults.vmac("[Errno 24] Too many open files")]
    run_until(loop, lambda: states(two) == {"vm": "FAULT", "plain": "MASTER"})
