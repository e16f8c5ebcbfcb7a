"""The faults the chaos driver draws from: each breaks something, then heals it.

A fault is a generator over the world and the run's seeded RNG: it acts, then
yields a :class:`Step` naming what it did; the driver lets that settle and
checks the invariants before it asks for the next step (usually the heal).
Every random choice comes from ``rng``, so a seed replays the same run (the
"Master of X" a fault picks is the one the invariants promise).
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from lab.links import (
    block_vrrp,
    create_link,
    dad_off,
    delete_link,
    make_link_local_tentative,
    unblock_vrrp,
)

from .scenario import GROUP, ROUTERS, SPEC, SPECS, TRACKED, World, base_priority, inside, v4


@dataclass(frozen=True)
class Step:
    """What a fault just did; ``split_brain_ok`` while VRRP is cut one way."""

    what: str
    split_brain_ok: bool = False


Fault = Callable[[World, random.Random], Iterator[Step]]


def _master_or_any(world: World, rng: random.Random, instance: str) -> str:
    return world.master_of(instance) or rng.choice(ROUTERS)


def _restart(world: World, router: str) -> Step:
    world.start(router)
    return Step(f"{router} runner restarted")


def kill9(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    world.kill(router, signal.SIGKILL)
    yield Step(f"kill -9 {router}'s runner")
    yield _restart(world, router)


def sigterm(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    status = world.kill(router, signal.SIGTERM)
    yield Step(f"SIGTERM {router}'s runner (exit status {status})")
    if status != 0:
        raise AssertionError(f"{router}'s runner exited {status} on SIGTERM")
    yield _restart(world, router)


def link_down(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    world.lab.set_link(world.routers[router], up=False)
    yield Step(f"{router} eth0 down")
    world.lab.set_link(world.routers[router], up=True)
    yield Step(f"{router} eth0 up")


def fast_flaps(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    for _round in range(20):
        world.lab.set_link(world.routers[router], up=False)
        world.lab.set_link(world.routers[router], up=True)
    yield Step(f"20 flaps of {router} eth0")


def bridge_port_down(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    world.lab.set_port(world.routers[router], up=False)
    yield Step(f"{router}'s bridge port down (carrier loss)")
    world.lab.set_port(world.routers[router], up=True)
    yield Step(f"{router}'s bridge port up")


def block_112(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    direction = rng.choice(("ingress", "egress"))
    block_vrrp(world.lab, world.routers[router], direction=direction)
    yield Step(f"VRRP dropped on {router} eth0 {direction}", split_brain_ok=True)
    unblock_vrrp(world.lab, world.routers[router])
    yield Step(f"VRRP healed on {router}")


def demote(world: World, rng: random.Random) -> Iterator[Step]:
    instance = rng.choice([s.name for s in SPECS])
    router = _master_or_any(world, rng, instance)
    priority = rng.choice((0, 1, 50))
    world.runners[router].result("demote", instance=instance, priority=priority)
    yield Step(f"demote {instance} on {router} to {priority}")
    world.runners[router].result("restore", instance=instance)
    yield Step(f"restore {instance} on {router}")


def demote_all(world: World, rng: random.Random) -> Iterator[Step]:
    priority = rng.choice((0, 1))
    for router in ROUTERS:
        for spec in SPECS:
            world.runners[router].result("demote", instance=spec.name, priority=priority)
    yield Step(f"every instance on every router demoted to {priority}")
    for router in ROUTERS:
        for spec in SPECS:
            world.runners[router].result("restore", instance=spec.name)
    yield Step("every demotion restored")


def _reload(world: World, router: str, what: str) -> Step:
    response = world.reload(router)
    if not response.get("ok"):
        raise AssertionError(f"reload on {router} refused: {response}")
    return Step(f"{what}: reload on {router} changed {response['result'].get('changed')}")


def _reset_priorities(world: World, router: str) -> Step:
    for spec in SPECS:
        world.priority[router, spec.name] = base_priority(spec, router)
        world.overrides.pop((router, spec.name), None)
    return _reload(world, router, "original config")


def reload_priorities(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    for spec in SPECS:
        world.priority[router, spec.name] = rng.randint(1, 254)
    yield _reload(world, router, "new priorities")
    yield _reset_priorities(world, router)


def reload_master_instance(world: World, rng: random.Random) -> Iterator[Step]:
    instance = rng.choice([s.name for s in SPECS])
    router = _master_or_any(world, rng, instance)
    world.priority[router, instance] = rng.randint(201, 254)
    world.overrides[router, instance] = {"description": f"chaos {rng.randint(0, 9999)}"}
    yield _reload(world, router, f"MASTER's {instance} changed")
    yield _reset_priorities(world, router)


def reload_group_member(world: World, rng: random.Random) -> Iterator[Step]:
    router, member = rng.choice(ROUTERS), rng.choice(GROUP)
    world.priority[router, member] = rng.choice((1, 120, 175, 254))
    yield _reload(world, router, f"sync group member {member} changed")
    yield _reset_priorities(world, router)


def renumber(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    ns = world.routers[router]
    old, new = f"{v4(router)}/24", f"192.0.2.{20 + ROUTERS.index(router)}/24"
    world.lab.run(ns, ["ip", "addr", "add", new, "dev", "eth0"], check=True)
    world.lab.run(ns, ["ip", "addr", "del", old, "dev", "eth0"], check=True)
    # the unicast peers still list the old address: v4u may split, by configuration
    yield Step(f"{router} eth0 renumbered {old} -> {new}", split_brain_ok=True)
    world.lab.run(ns, ["ip", "addr", "add", old, "dev", "eth0"], check=True)
    world.lab.run(ns, ["ip", "addr", "del", new, "dev", "eth0"], check=True)
    yield Step(f"{router} eth0 numbered back")


def track_script(world: World, rng: random.Random) -> Iterator[Step]:
    router = _master_or_any(world, rng, TRACKED)
    world.flags[router].unlink()
    yield Step(f"{TRACKED}'s tracked script fails on {router}")
    world.flags[router].touch()
    yield Step(f"{TRACKED}'s tracked script healthy again on {router}")


def vip_deleted(world: World, rng: random.Random) -> Iterator[Step]:
    spec = SPEC[rng.choice([s.name for s in SPECS])]
    router = _master_or_any(world, rng, spec.name)
    vip = spec.vips[-1]
    world.lab.run(world.routers[router], ["ip", "addr", "del", vip, "dev", spec.vip_device])
    yield Step(f"{vip} of {spec.name} deleted by hand on {router} ({spec.vip_device})")


def _recreate(world: World, router: str, ifname: str) -> None:
    r = world.routers[router]
    if ifname == "eth0":
        # same MAC, so the kernel gives it the same link-local address again
        create_link(world.lab, r, ifname="eth0", port=r.bridge_port, bridge="br0",
                    mac=r.mac, addresses=[f"{v4(router)}/24", f"{r.v6}/64"])  # fmt: skip
        world.lab.run(r, ["sysctl", "-q", "-w", "net.ipv6.conf.eth0.keep_addr_on_down=1"])
    else:
        create_link(world.lab, r, ifname="eth1", port=world.ports_in[router], bridge="br1",
                    mac=None, addresses=[f"{inside(router)}/24"])  # fmt: skip


def iface_recreated(world: World, rng: random.Random) -> Iterator[Step]:
    router, ifname = rng.choice(ROUTERS), rng.choice(("eth0", "eth1"))
    delete_link(world.lab, world.routers[router], ifname)
    what = "with the VMAC on it" if ifname == "eth0" else "no VMAC"
    yield Step(f"{router} {ifname} deleted ({what})")
    _recreate(world, router, ifname)
    yield Step(f"{router} {ifname} re-created")


def vmac_deleted(world: World, rng: random.Random) -> Iterator[Step]:
    (spec,) = [s for s in SPECS if s.vmac]
    router = _master_or_any(world, rng, spec.name)
    world.lab.run(world.routers[router], ["ip", "link", "del", spec.vip_device])
    yield Step(f"{router}'s VMAC {spec.vip_device} deleted by hand")


def late_interface(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    world.kill(router, signal.SIGTERM)
    delete_link(world.lab, world.routers[router], "eth1")
    world.start(router)
    yield Step(f"{router}'s runner started without eth1")
    _recreate(world, router, "eth1")
    yield Step(f"{router} eth1 appeared late")


def tentative_link_local(world: World, rng: random.Random) -> Iterator[Step]:
    router = rng.choice(ROUTERS)
    world.kill(router, signal.SIGTERM)
    make_link_local_tentative(world.lab, world.routers[router])
    world.start(router)
    yield Step(f"{router}'s runner started with its IPv6 link-local tentative")
    time.sleep(1.0)  # the address has left the tentative state by now or soon
    dad_off(world.lab, world.routers[router])
    yield Step(f"{router}'s link-local address valid")


FAULTS: Final[dict[str, Fault]] = {
    "kill9": kill9,
    "sigterm": sigterm,
    "link_down": link_down,
    "fast_flaps": fast_flaps,
    "bridge_port_down": bridge_port_down,
    "block_112": block_112,
    "demote": demote,
    "demote_all": demote_all,
    "reload_priorities": reload_priorities,
    "reload_master_instance": reload_master_instance,
    "reload_group_member": reload_group_member,
    "renumber": renumber,
    "track_script": track_script,
    "vip_deleted": vip_deleted,
    "iface_recreated": iface_recreated,
    "vmac_deleted": vmac_deleted,
    "late_interface": late_interface,
    "tentative_link_local": tentative_link_local,
}


def reset(world: World) -> None:
    """Undo whatever a fault left behind and restart every runner from its base config.

    After a fault that broke an invariant, so the next fault starts clean and
    its findings are its own.
    """
    for router in ROUTERS:
        if router not in world.down:
            world.kill(router, signal.SIGTERM)
    for router in ROUTERS:
        r = world.routers[router]
        links = {link["ifname"] for link in world.lab.ip_json(r, "link", "show")}
        for ifname in ("eth0", "eth1"):
            if ifname not in links:
                _recreate(world, router, ifname)
        unblock_vrrp(world.lab, r)
        dad_off(world.lab, r)
        world.lab.set_link(r, up=True)
        world.lab.set_port(r, up=True)
        world.lab.run(r, ["ip", "addr", "replace", f"{v4(router)}/24", "dev", "eth0"])
        world.flags[router].touch()
        for spec in SPECS:
            world.priority[router, spec.name] = base_priority(spec, router)
            world.overrides.pop((router, spec.name), None)
    for router in ROUTERS:
        world.start(router)
