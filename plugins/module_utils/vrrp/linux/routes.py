"""Virtual routes and rules, in the current network namespace.

What a MASTER installs beyond its addresses (keepalived's virtual_routes and
virtual_rules). As for addresses, every change is idempotent: adding what is
there (EEXIST) or removing what is gone (ESRCH, ENOENT, ENODEV) is "no
change". A refusal is a :class:`NetlinkError` that names the route or rule
and the kernel's reason ("Network is unreachable" for a gateway outside every
connected network). Routes carry protocol ``static`` (RTPROT_STATIC), as
``ip route add`` gives them.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Any, Final, Union

from ..errors import NetlinkError
from . import netlink
from .addresses import ifname_to_index

Network = Union[IPv4Network, IPv6Network]

RTPROT_STATIC: Final = 4
RT_TABLE_COMPAT: Final = 252  # rtm_table for a table above 255 (RTA_TABLE holds it)
RT_SCOPE_UNIVERSE: Final = 0
RT_SCOPE_LINK: Final = 253
RT_SCOPE_NOWHERE: Final = 255  # in a delete request: any scope (as ip-route(8) does)
ROUTE_TYPES: Final = {"unicast": 1, "blackhole": 6, "unreachable": 7, "prohibit": 8}
FR_ACT_TO_TBL: Final = 1
_GONE: Final = (errno.ESRCH, errno.ENOENT, errno.ENODEV, errno.EADDRNOTAVAIL)


@dataclass(frozen=True)
class Route:
    """One route as the kernel takes it; ``dev`` by name, ``scope`` None: the kernel's rule."""

    to: Network
    table: int
    type: str = "unicast"
    via: str | None = None
    dev: str | None = None
    src: str | None = None
    metric: int | None = None
    scope: int | None = None

    def __str__(self) -> str:
        words = [self.type if self.type != "unicast" else "", str(self.to)]
        for key in ("via", "dev", "src", "metric"):
            value = getattr(self, key)
            if value is not None:
                words += [key, str(value)]
        words += ["table", str(self.table)]
        return " ".join(w for w in words if w)


@dataclass(frozen=True)
class Rule:
    """One policy routing rule (``from_`` for ``from``); the action: look up ``table``."""

    family: int
    table: int
    from_: Network | None = None
    to: Network | None = None
    priority: int | None = None
    fwmark: int | None = None
    fwmask: int | None = None

    def __str__(self) -> str:
        words = [f"from {self.from_ or 'all'}"]
        words += [f"to {self.to}"] if self.to is not None else []
        words += [f"fwmark {self.fwmark:#x}"] if self.fwmark is not None else []
        words += [f"priority {self.priority}"] if self.priority is not None else []
        return " ".join([*words, f"lookup {self.table}"])


def _family(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


def _route_msg(route: Route, *, delete: bool) -> Any:
    msg = netlink.new_route_msg()
    msg["family"] = _family(route.to.version)
    msg["dst_len"] = route.to.prefixlen
    msg["table"] = route.table if route.table < 256 else RT_TABLE_COMPAT
    msg["proto"] = RTPROT_STATIC
    msg["type"] = ROUTE_TYPES[route.type]
    if delete:
        msg["scope"] = RT_SCOPE_NOWHERE
    elif route.scope is not None:
        msg["scope"] = route.scope
    else:
        # ip-route(8): link for a unicast route without a gateway, else universe.
        direct = route.type == "unicast" and route.via is None
        msg["scope"] = RT_SCOPE_LINK if direct else RT_SCOPE_UNIVERSE
    attrs: list[tuple[str, Any]] = [("RTA_TABLE", route.table)]
    if route.to.prefixlen:
        attrs.append(("RTA_DST", str(route.to.network_address)))
    if route.via is not None:
        attrs.append(("RTA_GATEWAY", route.via))
    if route.dev is not None:
        attrs.append(("RTA_OIF", ifname_to_index(route.dev)))
    if route.src is not None:
        attrs.append(("RTA_PREFSRC", route.src))
    if route.metric is not None:
        attrs.append(("RTA_PRIORITY", route.metric))
    msg["attrs"] = attrs
    return msg


def _add(msg: Any, msg_type: int, what: str) -> bool:
    """Send a create-exclusive request; False when an equal item was there already."""
    with netlink.Rtnl() as rtnl:
        code = rtnl.request(msg, msg_type=msg_type, flags=netlink.NLM_F_CREATE | netlink.NLM_F_EXCL)
    if code == errno.EEXIST:
        return False
    if code:
        raise NetlinkError(f"{what}: the kernel refused it: {os.strerror(code)}")
    return True


def _remove(msg: Any, msg_type: int, what: str) -> bool:
    """Send a delete request; False when the item was not there."""
    with netlink.Rtnl() as rtnl:
        code = rtnl.request(msg, msg_type=msg_type)
    if code in _GONE:
        return False
    if code:
        raise NetlinkError(f"remove {what}: {os.strerror(code)}")
    return True


def add_route(route: Route) -> bool:
    """Install ``route``; False when it was there already."""
    return _add(_route_msg(route, delete=False), netlink.RTM_NEWROUTE, f"virtual route {route}")


def remove_route(route: Route) -> bool:
    """Remove ``route``; False when it was not there (or its interface is gone)."""
    try:
        msg = _route_msg(route, delete=True)
    except NetlinkError:
        return False  # its interface is gone, and the kernel removed the route with it
    return _remove(msg, netlink.RTM_DELROUTE, f"virtual route {route}")


def _rule_msg(rule: Rule) -> Any:
    msg = netlink.new_rule_msg()
    msg["family"] = _family(rule.family)
    msg["table"] = rule.table if rule.table < 256 else 0
    msg["action"] = FR_ACT_TO_TBL
    attrs: list[tuple[str, Any]] = [("FRA_TABLE", rule.table)]
    if rule.from_ is not None:
        msg["src_len"] = rule.from_.prefixlen
        attrs.append(("FRA_SRC", str(rule.from_.network_address)))
    if rule.to is not None:
        msg["dst_len"] = rule.to.prefixlen
        attrs.append(("FRA_DST", str(rule.to.network_address)))
    if rule.priority is not None:
        attrs.append(("FRA_PRIORITY", rule.priority))
    if rule.fwmark is not None:
        attrs.append(("FRA_FWMARK", rule.fwmark))
    if rule.fwmask is not None:
        attrs.append(("FRA_FWMASK", rule.fwmask))
    msg["attrs"] = attrs
    return msg


def add_rule(rule: Rule) -> bool:
    """Install ``rule``; False when an equal rule was there already."""
    return _add(_rule_msg(rule), netlink.RTM_NEWRULE, f"virtual rule {rule}")


def remove_rule(rule: Rule) -> bool:
    """Remove ``rule``; False when it was not there."""
    return _remove(_rule_msg(rule), netlink.RTM_DELRULE, f"virtual rule {rule}")
