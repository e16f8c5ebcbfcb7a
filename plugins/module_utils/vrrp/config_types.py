"""The typed configuration: frozen dataclasses, normalized, defaults filled in.

Built by :mod:`vrrp.config` (import them from there) from a mapping that the
schema and the cross-checks accepted. Two :class:`InstanceConfig` objects
compare equal exactly when they define the same virtual router: the runner's
reload keeps the state of every instance whose definition is equal, and
``description`` is left out of the comparison because it changes nothing on
the wire. ``to_dict()`` gives the canonical JSON-able form (schema key order,
defaults filled in) that loads back to an equal object; the modules diff it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from .config_routes import HeldAddress, VirtualRoute, VirtualRule

Address = Union[IPv4Address, IPv6Address]
VirtualAddress = Union[IPv4Interface, IPv6Interface]


def canonical_seconds(seconds: float) -> float | int:
    """Seconds in their canonical JSON form: 1 rather than 1.0."""
    return int(seconds) if float(seconds).is_integer() else seconds


def plain(value: object) -> object:
    """A dataclass field value in JSON-able form for ``to_dict``."""
    if isinstance(value, tuple):
        return [plain(item) for item in value]
    if isinstance(value, float):
        return canonical_seconds(value)
    if isinstance(value, (IPv4Address, IPv6Address, IPv4Interface, IPv6Interface)):
        return str(value)
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if to_dict is not None else value


class _Plain:
    """``to_dict()`` for the small dataclasses whose fields are schema keys."""

    def to_dict(self) -> dict[str, Any]:
        names: Iterable[str] = self.__dataclass_fields__  # type: ignore[attr-defined]
        values = {name: getattr(self, name) for name in names}
        return {name: plain(value) for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class TrackInterface(_Plain):
    interface: str
    weight: int


@dataclass(frozen=True)
class TrackFile(_Plain):
    path: str
    weight: int


@dataclass(frozen=True)
class TrackScript(_Plain):
    """A check program; ``interval`` and ``timeout`` in seconds."""

    name: str
    argv: tuple[str, ...]
    interval: float
    timeout: float
    rise: int
    fall: int
    weight: int


@dataclass(frozen=True)
class Garp(_Plain):
    """Gratuitous ARP / unsolicited NA schedule; times in seconds, 0 = off."""

    delay: float
    repeat: int
    refresh: float
    refresh_repeat: int
    interval: float


@dataclass(frozen=True)
class Notify(_Plain):
    """Programs (argv, no shell) run on state changes; ``timeout`` in seconds."""

    master: tuple[str, ...] | None
    backup: tuple[str, ...] | None
    fault: tuple[str, ...] | None
    stop: tuple[str, ...] | None
    timeout: float


@dataclass(frozen=True)
class Authentication(_Plain):
    """VRRPv2 simple text password (RFC 3768 §5.3.6.1); never in a repr."""

    type: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class InstanceConfig:
    """One virtual router, normalized; defaults filled in.

    ``advert_interval_cs`` is in centiseconds (the v3 wire unit; v2 seconds
    times 100), ``preempt_delay`` in seconds. ``family`` is 4 or 6.
    ``checksum_form`` is set for VRRPv3 over IPv4 only, ``vmac_interface``
    when ``vmac`` is on (default ``vrrp.VRID``, ``vrrp6.VRID`` for IPv6).
    """

    name: str
    interface: str
    vrid: int
    priority: int
    version: int
    advert_interval_cs: int
    virtual_addresses: tuple[VirtualAddress, ...]
    family: int
    preempt: bool
    preempt_delay: float
    accept: bool
    unicast_source: Address | None
    unicast_peers: tuple[Address, ...]
    vmac: bool
    vmac_interface: str | None
    track_interfaces: tuple[TrackInterface, ...]
    track_files: tuple[TrackFile, ...]
    track_scripts: tuple[TrackScript, ...]
    garp: Garp
    notify: Notify
    authentication: Authentication | None
    checksum_form: str | None
    unicast_ttl: int = 255  # TTL / hop limit of unicast adverts (keepalived's unicast_ttl)
    multicast_source: Address | None = None  # keepalived's mcast_src_ip: held by the interface
    # Held while MASTER beyond the bare VIPs (vrrp.config_routes): the options
    # of the VIPs that have any, addresses not advertised, routes and rules.
    vip_options: tuple[HeldAddress, ...] = ()
    virtual_addresses_excluded: tuple[HeldAddress, ...] = ()
    virtual_routes: tuple[VirtualRoute, ...] = ()
    virtual_rules: tuple[VirtualRule, ...] = ()
    description: str = field(default="", compare=False)

    @property
    def advert_interval(self) -> float:
        """The advert interval in seconds."""
        return self.advert_interval_cs / 100

    @property
    def owner(self) -> bool:
        """Priority 255: this router owns the virtual addresses (RFC 9568 §6.1)."""
        return self.priority == 255

    @property
    def drops_for_vips(self) -> bool:
        """As Master, packets to the VIPs are dropped (RFC 9568 §6.4.3): accept off, no owner."""
        return not self.accept and not self.owner

    def held_vip(self, vip: VirtualAddress) -> HeldAddress | None:
        """The options ``vip`` is added with (None: none, on the instance's interface)."""
        for held in self.vip_options:
            if held.address.ip == vip.ip:
                return held
        return None

    def _vip_items(self) -> list[object]:
        out: list[object] = []
        for vip in self.virtual_addresses:
            held = self.held_vip(vip)
            out.append(str(vip) if held is None else held.to_item())
        return out

    def digest(self) -> str:
        """A short digest of the definition, as the runner reports it (``config_digest``).

        The canonical form without the description, which a reload does not
        apply (it changes nothing the router does): ``vrrp_state`` compares it
        with the fragment on disk (vrrp.drift).
        """
        canonical = self.to_dict()
        canonical.pop("description", None)
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-able form, defaults filled in, in schema key order.

        Loading it again gives an equal instance.
        """
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "interface": self.interface,
            "vrid": self.vrid,
            "priority": self.priority,
            "version": self.version,
            "advert_interval": canonical_seconds(self.advert_interval_cs / 100),
            "virtual_addresses": self._vip_items(),
            "virtual_addresses_excluded": [h.to_item() for h in self.virtual_addresses_excluded]
            or None,
            "virtual_routes": [r.to_dict() for r in self.virtual_routes] or None,
            "virtual_rules": [r.to_dict() for r in self.virtual_rules] or None,
            "preempt": self.preempt,
            "preempt_delay": canonical_seconds(self.preempt_delay),
            "accept": self.accept,
            "unicast_source": plain(self.unicast_source),
            "multicast_source": plain(self.multicast_source),
            "unicast_peers": plain(self.unicast_peers),
            "unicast_ttl": self.unicast_ttl if self.unicast_peers else None,
            "vmac": self.vmac,
            "vmac_interface": self.vmac_interface,
            "track_interfaces": plain(self.track_interfaces),
            "track_files": plain(self.track_files),
            "track_scripts": plain(self.track_scripts),
            "garp": self.garp.to_dict(),
            "notify": self.notify.to_dict(),
            "authentication": plain(self.authentication),
            "checksum_form": self.checksum_form,
        }
        return {key: value for key, value in out.items() if value is not None}


@dataclass(frozen=True)
class SyncGroupConfig:
    """Instances that move between states together."""

    name: str
    members: tuple[str, ...]
    notify: Notify
    description: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-able form, defaults filled in."""
        return {
            "name": self.name,
            "description": self.description,
            "members": list(self.members),
            "notify": self.notify.to_dict(),
        }


@dataclass(frozen=True)
class Config:
    """A whole, consistent configuration."""

    instances: tuple[InstanceConfig, ...] = ()
    sync_groups: tuple[SyncGroupConfig, ...] = ()
    metrics_listen: str | None = None  # "ADDR:PORT" of the Prometheus endpoint, or off
    startup_delay: float = 0.0  # seconds before the virtual routers start (read at start)

    def instance(self, name: str) -> InstanceConfig:
        """The instance called ``name`` (``KeyError`` if there is none)."""
        for instance in self.instances:
            if instance.name == name:
                return instance
        raise KeyError(name)

    def sync_group_of(self, name: str) -> SyncGroupConfig | None:
        """The sync group instance ``name`` belongs to, if any."""
        for group in self.sync_groups:
            if name in group.members:
                return group
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "instances": [instance.to_dict() for instance in self.instances],
            "sync_groups": [group.to_dict() for group in self.sync_groups],
            **({} if self.metrics_listen is None else {"metrics_listen": self.metrics_listen}),
            **({"startup_delay": plain(self.startup_delay)} if self.startup_delay else {}),
        }
