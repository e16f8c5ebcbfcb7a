"""The two address families of a VMAC pair test: routers, a host and the VIPs.

``r1``/``r2`` are the routers, ``host`` a third namespace that talks to the VIP.
The VMAC is RFC 9568 §7.3's (00-00-5E-00-01-{VRID} for IPv4, -02- for IPv6),
on the runner's default interface name for it (``vrrp.N`` / ``vrrp6.N``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VmacFamily:
    key: str  # "v4" / "v6": the lab.add_router keyword
    r1: str
    r2: str
    host: str
    vips: tuple[str, ...]
    vmac: str
    vmac_ifname: str

    @property
    def name(self) -> str:
        return "ipv4" if self.key == "v4" else "ipv6"


def vmac_families(vrid: int, v4_vip: str) -> tuple[VmacFamily, VmacFamily]:
    """IPv4 (VIP ``v4_vip``) and IPv6 (``fe80::VRID`` first, ``2001:db8::VRID``)."""
    v4 = VmacFamily(
        "v4", "192.0.2.11/24", "192.0.2.12/24", "192.0.2.99/24", (v4_vip,),
        f"00:00:5e:00:01:{vrid:02x}", f"vrrp.{vrid}",
    )  # fmt: skip
    v6 = VmacFamily(
        "v6", "2001:db8::11/64", "2001:db8::12/64", "2001:db8::99/64",
        (f"fe80::{vrid}/64", f"2001:db8::{vrid}/64"),
        f"00:00:5e:00:02:{vrid:02x}", f"vrrp6.{vrid}",
    )  # fmt: skip
    return v4, v6
