"""What a MASTER holds beyond its advertised addresses: typed, checked, built.

Address options (``dev``, ``label``, ``scope``, ``broadcast``), addresses held
but not advertised (``virtual_addresses_excluded``), virtual routes and
virtual rules (:mod:`vrrp.schema_routes` is their schema). Here are the
checks the schema cannot express: prefixes without host bits, one family per
route or rule, and a family this instance holds addresses of; labels that
start with their interface's name and are IPv4 only; a broadcast address for
IPv4 only. What only the kernel can judge (a gateway outside every connected
network, an interface that does not exist) is the runner's to report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Network,
    ip_address,
    ip_interface,
    ip_network,
)
from typing import Any, Union

from .config_types import Address, VirtualAddress
from .errors import ConfigError
from .schema import json_path, show
from .schema_routes import TABLE_NAMES

Path = tuple[object, ...]
Network = Union[IPv4Network, IPv6Network]


@dataclass(frozen=True)
class HeldAddress:
    """An address a MASTER holds, with the options it is added with (None: the default)."""

    address: VirtualAddress
    dev: str | None = None
    label: str | None = None
    scope: str | None = None
    broadcast: IPv4Address | None = None

    @property
    def has_options(self) -> bool:
        return (self.dev, self.label, self.scope, self.broadcast) != (None, None, None, None)

    def to_item(self) -> object:
        """``"ADDR/PREFIX"``, or the object form when it has options."""
        if not self.has_options:
            return str(self.address)
        out: dict[str, Any] = {"address": str(self.address)}
        for key in ("dev", "label", "scope", "broadcast"):
            value = getattr(self, key)
            if value is not None:
                out[key] = str(value)
        return out


@dataclass(frozen=True)
class VirtualRoute:
    """A route a MASTER installs; ``table`` as written (a number or a name)."""

    to: Network
    via: Address | None = None
    dev: str | None = None
    src: Address | None = None
    metric: int | None = None
    table: int | str | None = None
    scope: str | None = None
    type: str = "unicast"

    @property
    def family(self) -> int:
        return self.to.version

    @property
    def table_id(self) -> int:
        return table_number(self.table)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"to": str(self.to)}
        for key in ("via", "dev", "src", "metric", "table", "scope"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value if isinstance(value, int) else str(value)
        if self.type != "unicast":
            out["type"] = self.type
        return out

    def __str__(self) -> str:
        words = [self.type if self.type != "unicast" else "", str(self.to)]
        for key in ("via", "dev", "src", "metric", "table", "scope"):
            value = getattr(self, key)
            if value is not None:
                words += [key, str(value)]
        return " ".join(w for w in words if w)


@dataclass(frozen=True)
class VirtualRule:
    """A policy routing rule a MASTER installs (``from_`` for ``from``)."""

    family: int
    table: int | str
    from_: Network | None = None
    to: Network | None = None
    priority: int | None = None
    fwmark: int | None = None
    fwmask: int | None = None

    @property
    def table_id(self) -> int:
        return table_number(self.table)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.from_ is not None:
            out["from"] = str(self.from_)
        if self.to is not None:
            out["to"] = str(self.to)
        out["table"] = self.table
        for key in ("priority", "fwmark", "fwmask"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def __str__(self) -> str:
        words = [f"from {self.from_ or 'all'}"]
        words += [f"to {self.to}"] if self.to is not None else []
        words += [f"fwmark {self.fwmark:#x}"] if self.fwmark is not None else []
        words += [f"priority {self.priority}"] if self.priority is not None else []
        return " ".join([*words, f"table {self.table}"])


def table_number(table: int | str | None) -> int:
    """The kernel's number of a table (None: main)."""
    if table is None:
        return TABLE_NAMES["main"]
    return table if isinstance(table, int) else TABLE_NAMES[table]


# --- building (input already valid against the schema) -------------------------


def _fail(at: Path, rule: str) -> ConfigError:
    return ConfigError(json_path(at), rule)


def _ip(text: str, at: Path) -> Address:
    try:
        return ip_address(text)
    except ValueError:
        raise _fail(at, f"not a valid IPv4 or IPv6 address: {show(text)}") from None


def _network(text: str, at: Path) -> Network:
    try:
        return ip_network(text)
    except ValueError:
        pass
    try:
        iface = ip_interface(text)
    except ValueError:
        raise _fail(at, f"not a valid ADDR or ADDR/PREFIX: {show(text)}") from None
    raise _fail(at, f"{show(text)} has host bits set; the network is {iface.network}")


def held_address(item: str | Mapping[str, Any], at: Path) -> tuple[str, HeldAddress]:
    """``(ADDR/PREFIX text, options)`` of one item.

    The address itself is checked by the caller (it knows the family rules).
    """
    if isinstance(item, str):
        return item, HeldAddress(address=ip_interface_or_none(item, at))
    text = str(item["address"])
    address = ip_interface_or_none(text, (*at, "address"))
    dev = item.get("dev")
    label = item.get("label")
    if label is not None and address.version == 6:
        raise _fail((*at, "label"), "labels are for IPv4 addresses only")
    broadcast = None
    if "broadcast" in item:
        found = _ip(item["broadcast"], (*at, "broadcast"))
        if address.version == 6 or not isinstance(found, IPv4Address):
            raise _fail((*at, "broadcast"), "a broadcast address is for IPv4 only")
        broadcast = found
    held = HeldAddress(
        address=address, dev=dev, label=label, scope=item.get("scope"), broadcast=broadcast
    )
    return text, held


def ip_interface_or_none(text: str, at: Path) -> VirtualAddress:
    try:
        return ip_interface(text)
    except ValueError:
        raise _fail(at, f"not a valid ADDR or ADDR/PREFIX: {show(text)}") from None


def check_labels(items: Sequence[Any], at: Path, *, ifname: str) -> None:
    """A label starts with the name of the interface its address goes on (ip-address(8))."""
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and "label" in item:
            where = item.get("dev") or ifname
            if not str(item["label"]).startswith(where):
                raise _fail(
                    (*at, index, "label"),
                    f"a label starts with the name of its interface {show(where)}, "
                    f"got {show(item['label'])}",
                )


def excluded_addresses(
    items: Sequence[Any], at: Path, *, vips: Sequence[VirtualAddress]
) -> tuple[HeldAddress, ...]:
    """The held, not advertised addresses (either family, none a VIP or twice)."""
    out: list[HeldAddress] = []
    seen = {vip.ip: "virtual_addresses" for vip in vips}
    for index, item in enumerate(items):
        here = (*at, index)
        text, held = held_address(item, here)
        ip = held.address.ip
        if ip.is_multicast or ip.is_unspecified or ip.is_loopback:
            raise _fail(here, f"must be a unicast address, got {show(text)}")
        if ip in seen:
            raise _fail(here, f"{show(text)} is already in {seen[ip]}")
        seen[ip] = f"virtual_addresses_excluded[{index}]"
        out.append(held)
    return tuple(out)


def _same_family(values: Mapping[str, Address | Network | None], at: Path, what: str) -> int | None:
    family: int | None = None
    first = ""
    for key, value in values.items():
        if value is None:
            continue
        if family is None:
            family, first = value.version, f"{key} {value}"
        elif value.version != family:
            raise _fail(
                (*at, key),
                f"{what} mixes families: {key} {value} is IPv{value.version}, "
                f"{first} is IPv{family}",
            )
    return family


def _held_family(family: int, families: set[int], at: Path, what: str) -> None:
    if family not in families:
        raise _fail(
            at,
            f"an IPv{family} {what} for an instance that holds no IPv{family} address "
            "(its virtual addresses and virtual_addresses_excluded)",
        )


def virtual_routes(
    items: Sequence[Mapping[str, Any]], at: Path, *, families: set[int], default_family: int
) -> tuple[VirtualRoute, ...]:
    out: list[VirtualRoute] = []
    for index, item in enumerate(items):
        here = (*at, index)
        via = _ip(item["via"], (*here, "via")) if "via" in item else None
        src = _ip(item["src"], (*here, "src")) if "src" in item else None
        to_text = item["to"]
        to = None if to_text == "default" else _network(to_text, (*here, "to"))
        family = _same_family({"to": to, "via": via, "src": src}, here, "a route") or default_family
        if to is None:
            to = ip_network("0.0.0.0/0" if family == 4 else "::/0")
        _held_family(family, families, (*here, "to"), "route")
        kind = item.get("type", "unicast")
        if kind != "unicast" and ("via" in item or "dev" in item):
            raise _fail(here, f"a {kind} route has no via or dev: it delivers nowhere")
        route = VirtualRoute(
            to=to,
            via=via,
            dev=item.get("dev"),
            src=src,
            metric=item.get("metric"),
            table=item.get("table"),
            scope=item.get("scope"),
            type=kind,
        )
        if route in out:
            raise _fail(here, f"the route {route} repeats virtual_routes[{out.index(route)}]")
        out.append(route)
    return tuple(out)


def virtual_rules(
    items: Sequence[Mapping[str, Any]], at: Path, *, families: set[int], default_family: int
) -> tuple[VirtualRule, ...]:
    out: list[VirtualRule] = []
    for index, item in enumerate(items):
        here = (*at, index)
        ends: dict[str, Network | None] = {}
        for key in ("from", "to"):
            text = item.get(key)
            ends[key] = None if text in (None, "all") else _network(text, (*here, key))
        family = _same_family(ends, here, "a rule") or default_family
        _held_family(family, families, here, "rule")
        if "fwmask" in item and "fwmark" not in item:
            raise _fail((*here, "fwmask"), "fwmask goes with fwmark: set fwmark too")
        rule = VirtualRule(
            family=family,
            table=item["table"],
            from_=ends["from"],
            to=ends["to"],
            priority=item.get("priority"),
            fwmark=item.get("fwmark"),
            fwmask=item.get("fwmask"),
        )
        if rule in out:
            raise _fail(here, f"the rule {rule} repeats virtual_rules[{out.index(rule)}]")
        out.append(rule)
    return tuple(out)
