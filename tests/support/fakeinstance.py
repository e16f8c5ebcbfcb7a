"""An instance as KernelIo sees it (name, configuration, where its VIPs go), without a runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import Any

from vrrp.config import load_instance


@dataclass
class Inst:
    name: str
    cfg: Any
    address_ifname: str = "eth0"
    ip_version: int = 4
    virtual_interfaces: tuple[IPv4Interface, ...] = field(default_factory=tuple)

    def held_vip(self, vip: Any, *, retired: bool = False) -> Any:
        return self.cfg.held_vip(vip)

    def vip_ifname(self, vip: Any) -> Any:
        held = self.cfg.held_vip(vip)
        return None if held is None or held.dev in (None, "eth0") else held.dev


def fake_instance(name: str, vrid: int, *vips: Any, **fields: Any) -> Any:
    """An ``eth0`` instance with these VIPs (and any other configuration ``fields``)."""
    cfg = load_instance(
        {"name": name, "interface": "eth0", "vrid": vrid, "virtual_addresses": list(vips), **fields}
    )
    return Inst(name=name, cfg=cfg, virtual_interfaces=tuple(cfg.virtual_addresses))
