"""Drift: where a host differs from what its runner says it should be (pure).

The runner's ``state`` (what it runs and in which state), the configuration
directory as loaded (what is declared) and a snapshot of the host's links
and addresses go in; drift items (``kind`` and ``message``) come out, per
instance and for the host. ``vrrp_state`` reads the three and returns this
verdict; nothing here reads the kernel or the disk.

Kinds:

- ``vip_missing``: a MASTER without one of its virtual addresses, exactly as
  declared (address and prefix length) on the interface it lives on (the
  VMAC interface for a VMAC instance); present elsewhere, with another
  length or with DAD failed is still missing, and the message says so.
- ``vmac_missing``: a MASTER whose VMAC interface is absent, down, or has
  another MAC than RFC 9568 §7.3's 00-00-5E-00-01/02-{VRID}.
- ``vip_held``: a BACKUP, FAULT or INIT instance whose virtual address is on
  some interface of the host (any prefix length) while no MASTER instance of
  this host holds it; an address owner (priority 255) is exempt, the address
  is its own, and so is a BACKUP that resigned and still holds them for a
  moment (``releasing``, fsm.RESIGN_HOLD).
- ``config_not_running``: the configuration directory and the runner differ
  (a fragment on disk the runner does not run, runs differently, or no longer
  has): a reload failed or is pending.
- ``config_unreadable``: the configuration directory cannot be loaded.
- ``demoted``: a runtime demotion is in force (``vrrp_maintenance``, or the
  fail-safe after an unreadable runtime record).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Union

from .config_types import Config
from .linux.addresses import vmac_address

IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]

VIP_MISSING: Final = "vip_missing"
VMAC_MISSING: Final = "vmac_missing"
VIP_HELD: Final = "vip_held"
CONFIG_NOT_RUNNING: Final = "config_not_running"
CONFIG_UNREADABLE: Final = "config_unreadable"
DEMOTED: Final = "demoted"
KINDS: Final = (
    VIP_MISSING,
    VMAC_MISSING,
    VIP_HELD,
    CONFIG_NOT_RUNNING,
    CONFIG_UNREADABLE,
    DEMOTED,
)
NOT_HOLDING: Final = ("BACKUP", "FAULT", "INIT")


@dataclass(frozen=True)
class HostAddress:
    """One address of the host: on which interface, with its prefix length."""

    ifname: str
    interface: IPInterface
    dadfailed: bool = False


@dataclass(frozen=True)
class HostLink:
    """One link of the host."""

    name: str
    mac: str
    up: bool


@dataclass(frozen=True)
class HostView:
    """The host's links and addresses at one moment."""

    addresses: tuple[HostAddress, ...] = ()
    links: Mapping[str, HostLink] = field(default_factory=dict)

    def holding(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[HostAddress]:
        return [a for a in self.addresses if a.interface.ip == ip]


def _item(kind: str, message: str) -> dict[str, str]:
    return {"kind": kind, "message": message}


def _vip_missing(
    name: str, where: str, vip: IPInterface, host: HostView, *, owner: bool
) -> dict[str, str] | None:
    found = host.holding(vip.ip)
    # An owner's virtual address is its own (RFC 9568 §6.1): the length is the host's.
    exact = [a for a in found if a.ifname == where and (owner or a.interface == vip)]
    if exact and not all(a.dadfailed for a in exact):
        return None
    if exact:
        why = f"{vip} is on {where} but its duplicate address detection failed"
    elif found:
        seen = ", ".join(f"{a.interface} on {a.ifname}" for a in found)
        why = f"{vip} is not on {where} as declared (the host has {seen})"
    else:
        why = f"{vip} is not on {where} (nor on any other interface)"
    return _item(VIP_MISSING, f"instance {name} is MASTER but {why}")


def _vmac_missing(name: str, inst: Mapping[str, Any], host: HostView) -> dict[str, str] | None:
    vmac = inst.get("vmac_interface")
    if not vmac:
        return None
    family = 6 if any(":" in str(v) for v in inst.get("virtual_addresses") or ()) else 4
    want = vmac_address(int(inst["vrid"]), version=family)
    link = host.links.get(vmac)
    if link is None:
        why = f"its VMAC interface {vmac} does not exist"
    elif link.mac.lower() != want:
        why = f"its VMAC interface {vmac} has MAC {link.mac}, not {want}"
    elif not link.up:
        why = f"its VMAC interface {vmac} is down"
    else:
        return None
    return _item(VMAC_MISSING, f"instance {name} is MASTER but {why}")


def _vips(inst: Mapping[str, Any]) -> list[IPInterface]:
    return [ipaddress.ip_interface(v) for v in inst.get("virtual_addresses") or ()]


def kernel_drift(
    instances: Mapping[str, Mapping[str, Any]], host: HostView
) -> dict[str, list[dict[str, str]]]:
    """Per instance, its VIPs and VMAC against the host's links and addresses."""
    held_by_master = {
        vip.ip
        for inst in instances.values()
        if inst.get("state") == "MASTER"
        for vip in _vips(inst)
    }
    out: dict[str, list[dict[str, str]]] = {}
    for name, inst in instances.items():
        items: list[dict[str, str]] = []
        state = inst.get("state")
        if state == "MASTER":
            where = inst.get("vmac_interface") or inst["interface"]
            elsewhere = inst.get("vip_interfaces") or {}
            items.extend(
                item
                for vip in _vips(inst)
                if (
                    item := _vip_missing(
                        name,
                        elsewhere.get(str(vip.ip), where),
                        vip,
                        host,
                        owner=inst.get("priority") == 255,
                    )
                )
            )
            vmac = _vmac_missing(name, inst, host)
            if vmac is not None:
                items.append(vmac)
        elif state in NOT_HOLDING and inst.get("priority") != 255 and not inst.get("releasing"):
            for vip in _vips(inst):
                if vip.ip in held_by_master:
                    continue
                for addr in host.holding(vip.ip):
                    items.append(
                        _item(
                            VIP_HELD,
                            f"instance {name} is {state} but the host holds its virtual address"
                            f" {vip.ip} ({addr.interface} on {addr.ifname})",
                        )
                    )
        out[name] = items
    return out


def config_drift(
    instances: Mapping[str, Mapping[str, Any]], declared: Config
) -> tuple[dict[str, list[dict[str, str]]], list[dict[str, str]]]:
    """The configuration directory against what the runner runs.

    Per running instance, and for the host (declared instances that do not run).
    """
    on_disk = {cfg.name: cfg for cfg in declared.instances}
    groups = {m: g.name for g in declared.sync_groups for m in g.members}
    per: dict[str, list[dict[str, str]]] = {}
    pending = "a reload failed or is pending"
    for name, inst in instances.items():
        items: list[dict[str, str]] = []
        cfg = on_disk.get(name)
        if cfg is None:
            items.append(
                _item(
                    CONFIG_NOT_RUNNING,
                    f"instance {name} runs but has no fragment in the configuration"
                    f" directory ({pending})",
                )
            )
        elif inst.get("config_digest") not in (None, cfg.digest()):
            items.append(
                _item(
                    CONFIG_NOT_RUNNING,
                    f"instance {name}: its fragment on disk differs from what the runner"
                    f" runs ({pending})",
                )
            )
        elif inst.get("group") != groups.get(name):
            items.append(
                _item(
                    CONFIG_NOT_RUNNING,
                    f"instance {name} runs in sync group {inst.get('group')}, the"
                    f" configuration directory puts it in {groups.get(name)} ({pending})",
                )
            )
        per[name] = items
    host = [
        _item(
            CONFIG_NOT_RUNNING,
            f"instance {name} is in the configuration directory but the runner does not"
            f" run it ({pending})",
        )
        for name in sorted(set(on_disk) - set(instances))
    ]
    return per, host


def demotion_drift(
    instances: Mapping[str, Mapping[str, Any]], fail_safe: str | None
) -> dict[str, list[dict[str, str]]]:
    """Per instance, a runtime demotion in force."""
    out: dict[str, list[dict[str, str]]] = {}
    for name, inst in instances.items():
        demoted = inst.get("demoted")
        if demoted is None:
            out[name] = []
            continue
        why = f" (fail-safe: {fail_safe})" if fail_safe else " (vrrp_maintenance)"
        out[name] = [
            _item(
                DEMOTED,
                f"instance {name} is demoted at run time to priority {demoted}{why};"
                f" configured {inst.get('priority')}",
            )
        ]
    return out


def verdict(
    state: Mapping[str, Any],
    *,
    declared: Config | None,
    config_error: str | None = None,
    host: HostView | None = None,
) -> tuple[dict[str, list[dict[str, str]]], list[dict[str, str]]]:
    """Per running instance its drift, and the host's own (not tied to a running instance).

    ``declared`` None: the directory was not read (absent); ``config_error``: it
    could not be; ``host`` None: the kernel was not read. Those kinds are then
    not judged.
    """
    instances: Mapping[str, Mapping[str, Any]] = state.get("instances") or {}
    parts: list[Mapping[str, list[dict[str, str]]]] = []
    host_items: list[dict[str, str]] = []
    if host is not None:
        parts.append(kernel_drift(instances, host))
    if config_error is not None:
        host_items.append(_item(CONFIG_UNREADABLE, config_error))
    elif declared is not None:
        per, host_items = config_drift(instances, declared)
        parts.append(per)
    parts.append(demotion_drift(instances, state.get("runtime_fail_safe")))
    return merge(instances, *parts), host_items


def merge(
    names: Iterable[str], *parts: Mapping[str, list[dict[str, str]]]
) -> dict[str, list[dict[str, str]]]:
    """Per instance, the items of every part, in the order of ``parts``."""
    return {name: [item for part in parts for item in part.get(name, [])] for name in names}
