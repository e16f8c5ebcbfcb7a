"""What is already on a segment: heard adverts as virtual routers, and collisions.

Sans-IO. :class:`Scan` takes the datagrams a listener heard (:class:`Heard`,
the VRRP message and its IP envelope) and decodes each with the engine's own
codec (:func:`vrrp.packet.decode`, which also names the checksum form);
a message the codec refuses is counted under its drop reason
(:class:`~vrrp.errors.PacketError` ``reason``), never raised. A scan reports
what it hears, so the TTL / hop limit is recorded rather than required to be
255 (RFC 9568 §7.1 makes a *router* drop such adverts; a survey wants to see
them).

:func:`collisions` checks the virtual routers declared for this host against
what was heard: RFC 9568 §7.3 lets one VRID name one virtual router per LAN
and address family, so a VRID heard on the instance's interface with other
virtual addresses or another VRRP version is a collision, unless the advert
came from one of this host's own addresses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from .config_types import InstanceConfig
from .errors import PacketError
from .packet import VRRP_TTL, Address, decode

#: Distinct virtual routers kept per scan; spoofed sources beyond are counted, not kept.
MAX_ROUTERS: Final = 4096
TOO_MANY_ROUTERS: Final = "too_many_routers"


@dataclass(frozen=True)
class Heard:
    """One datagram a listener received on ``interface``: the VRRP message and envelope."""

    interface: str
    payload: bytes
    src: str
    dst: str
    ttl: int


@dataclass(frozen=True)
class HeardRouter:
    """One virtual router as heard from one source; the last advert's fields."""

    interface: str
    family: int
    version: int
    vrid: int
    source: str
    priority: int
    advert_interval_cs: int
    addresses: tuple[Address, ...]
    checksum_form: str | None
    auth_type: int
    adverts: int
    ttls: tuple[int, ...]
    destinations: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON-able form ``vrrp_scan`` returns."""
        return {
            "interface": self.interface,
            "family": self.family,
            "version": self.version,
            "vrid": self.vrid,
            "source": self.source,
            "priority": self.priority,
            "advert_interval": self.advert_interval_cs / 100,
            "advert_interval_cs": self.advert_interval_cs,
            "addresses": [str(a) for a in self.addresses],
            "adverts": self.adverts,
            "checksum_form": self.checksum_form,
            "auth_type": self.auth_type,
            "ttls": list(self.ttls),
            "destinations": list(self.destinations),
        }


_Key = tuple[str, int, int, int, str]  # interface, family, version, VRID, source


@dataclass
class _Tally:
    last: HeardRouter
    adverts: int = 0
    ttls: set[int] = field(default_factory=set)
    destinations: set[str] = field(default_factory=set)


class Scan:
    """Heard datagrams in, virtual routers and drop counts out."""

    def __init__(self, *, max_routers: int = MAX_ROUTERS) -> None:
        self.drops: Counter[str] = Counter()
        self._max_routers = max_routers
        self._tallies: dict[_Key, _Tally] = {}

    def add(self, heard: Heard) -> None:
        """Decode one datagram and count it; a refused message counts as a drop."""
        try:
            # The TTL is recorded, not checked (see the module docstring).
            advert = decode(heard.payload, src=heard.src, dst=heard.dst, ttl=VRRP_TTL)
        except PacketError as exc:
            self.drops[exc.reason] += 1
            return
        family = advert.addresses[0].version
        key = (heard.interface, family, advert.version, advert.vrid, heard.src)
        router = HeardRouter(
            interface=heard.interface,
            family=family,
            version=advert.version,
            vrid=advert.vrid,
            source=heard.src,
            priority=advert.priority,
            advert_interval_cs=advert.interval_cs,
            addresses=advert.addresses,
            checksum_form=advert.checksum_form,
            auth_type=advert.auth_type,
            adverts=0,
            ttls=(),
            destinations=(),
        )
        tally = self._tallies.get(key)
        if tally is None:
            if len(self._tallies) >= self._max_routers:
                self.drops[TOO_MANY_ROUTERS] += 1
                return
            tally = self._tallies[key] = _Tally(router)
        tally.last = router
        tally.adverts += 1
        tally.ttls.add(heard.ttl)
        tally.destinations.add(heard.dst)

    def add_drops(self, drops: Mapping[str, int]) -> None:
        """Drops counted before the codec (the socket layer's IP header checks)."""
        self.drops.update(drops)

    def routers(self) -> list[HeardRouter]:
        """Every virtual router heard, by interface, family, VRID, version and source."""
        out = [
            replace(
                tally.last,
                adverts=tally.adverts,
                ttls=tuple(sorted(tally.ttls)),
                destinations=tuple(sorted(tally.destinations)),
            )
            for tally in self._tallies.values()
        ]
        return sorted(out, key=lambda r: (r.interface, r.family, r.vrid, r.version, r.source))


def collisions(
    routers: Iterable[HeardRouter],
    instances: Iterable[InstanceConfig],
    *,
    own_addresses: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Per declared instance and conflicting router heard: what differs, and a message.

    A router conflicts with an instance when it is heard on the instance's
    interface, in its family, with its VRID, from an address that is not this
    host's, and its VRRP version or its set of virtual addresses differs.
    """
    own = set(own_addresses)
    heard = [r for r in routers if r.source not in own]
    out: list[dict[str, Any]] = []
    for inst in instances:
        declared = sorted({va.ip for va in inst.virtual_addresses}, key=_order)
        for router in heard:
            if (router.interface, router.family, router.vrid) != (
                inst.interface,
                inst.family,
                inst.vrid,
            ):
                continue
            differs = []
            if router.version != inst.version:
                differs.append("version")
            if set(router.addresses) != set(declared):
                differs.append("addresses")
            if differs:
                out.append(_collision(inst, declared, router, differs))
    return out


def _order(address: Address) -> tuple[int, int]:
    return address.version, int(address)


def _collision(
    inst: InstanceConfig, declared: list[Address], router: HeardRouter, differs: list[str]
) -> dict[str, Any]:
    heard_addresses = ", ".join(str(a) for a in router.addresses)
    message = (
        f"instance {inst.name!r} (VRID {inst.vrid} on {inst.interface}, IPv{inst.family}, "
        f"VRRPv{inst.version}, {', '.join(str(a) for a in declared)}) collides with the "
        f"virtual router heard from {router.source}: VRRPv{router.version}, {heard_addresses}"
    )
    return {
        "instance": inst.name,
        "interface": inst.interface,
        "family": inst.family,
        "vrid": inst.vrid,
        "version": inst.version,
        "addresses": [str(a) for a in declared],
        "source": router.source,
        "heard_version": router.version,
        "heard_addresses": [str(a) for a in router.addresses],
        "differs": differs,
        "msg": message,
    }
