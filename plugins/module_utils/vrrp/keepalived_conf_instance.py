"""One keepalived ``vrrp_instance`` block into one runner instance.

keepalived's defaults are written out (version, priority, advert interval,
preempt, accept, GARP and the VRRPv3 checksum form), so the converted router
speaks what the old one spoke whatever our schema's defaults are.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Final

from . import keepalived_conf_held as held
from .keepalived_conf_tree import Node
from .keepalived_conf_values import (
    GARP_KEYWORDS,
    KEEPALIVED_ADVERT_INT,
    KEEPALIVED_OWNER_PRIORITY,
    KEEPALIVED_PRIORITY,
    NO_SCHEMA_KEY,
    Context,
    argv,
    garp_setting,
    integer,
    number,
    walk,
)
from .schema import CONFIG_SCHEMA

_NOTIFY: Final = {
    "notify_master": "master",
    "notify_backup": "backup",
    "notify_fault": "fault",
    "notify_stop": "stop",
}
_ORDER: Final = tuple(CONFIG_SCHEMA["$defs"]["instance"]["properties"])


def _address(ctx: Context, node: Node) -> str | None:
    text = node.args[0] if len(node.args) == 1 else None
    try:
        return str(ipaddress.ip_address(text or ""))
    except ValueError:
        ctx.note(node, f"{' '.join(node.args)!r} is not one IP address; not converted")
        return None


def _ip(item: str | dict[str, Any]) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(item if isinstance(item, str) else item["address"])


def _virtual_addresses(ctx: Context, node: Node, out: dict[str, Any]) -> None:
    out.setdefault("virtual_addresses", [])
    for entry in walk(ctx, node, True):
        # Options are read once the interface is known (_complete).
        out.setdefault("_vips", []).append((entry, node.keyword))


def _vip_items(ctx: Context, out: dict[str, Any]) -> None:
    addresses: list[str | dict[str, Any]] = out["virtual_addresses"]
    for entry, parent in out.pop("_vips", []):
        item = held.address_item(ctx, entry, parent, interface=out.get("interface"))
        if item is None:
            continue
        vip = _ip(item)
        if addresses and _ip(addresses[0]).version != vip.version:
            ctx.note(
                entry,
                f"{entry.keyword}: an address of the other family; not converted "
                "(virtual_ipaddress_excluded takes both)",
                parent,
            )
            continue
        if any(_ip(a).ip == vip.ip for a in addresses):
            continue  # keepalived keeps one of a repeated address
        addresses.append(item)


def _unicast_peers(ctx: Context, node: Node, out: dict[str, Any]) -> None:
    peers: list[str] = out.setdefault("unicast_peers", [])
    for entry in walk(ctx, node, True):
        try:
            peer = str(ipaddress.ip_address(entry.keyword))
        except ValueError:
            ctx.note(entry, f"{entry.keyword!r} is not an IP address", node.keyword)
            continue
        if entry.args:
            ctx.note(
                entry, f"{peer}: options {' '.join(entry.args)!r}: {NO_SCHEMA_KEY}", node.keyword
            )
        if peer not in peers:
            peers.append(peer)


def _weighted(ctx: Context, entry: Node, parent: str) -> tuple[bool, int | None]:
    """``NAME [weight W]``: (readable, weight or None for the default)."""
    if not entry.args:
        return True, None
    if len(entry.args) == 2 and entry.args[0] == "weight":
        text = entry.args[1]
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isdigit() and -253 <= int(text) <= 253:
            return True, int(text)
    ctx.note(entry, f"{entry.text!r}: only 'weight -253..253' is converted", parent)
    return False, None


def _track_interfaces(ctx: Context, node: Node, out: dict[str, Any]) -> None:
    for entry in walk(ctx, node, True):
        ok, weight = _weighted(ctx, entry, node.keyword)
        if ok:
            item: dict[str, Any] = {"interface": entry.keyword}
            if weight is not None:
                item["weight"] = weight
            out.setdefault("track_interfaces", []).append(item)


def _track_named(ctx: Context, node: Node, out: dict[str, Any]) -> None:
    script = node.keyword == "track_script"
    known = ctx.scripts if script else ctx.track_files
    for entry in walk(ctx, node, True):
        ok, weight = _weighted(ctx, entry, node.keyword)
        if not ok:
            continue
        found = known.get(entry.keyword)
        if found is None:
            kind = "vrrp_script" if script else "vrrp_track_file"
            ctx.note(entry, f"no usable {kind} {entry.keyword!r}; not converted", node.keyword)
            continue
        item = dict(found)
        if weight is not None:
            item["weight"] = weight
        out.setdefault("track_scripts" if script else "track_files", []).append(item)


def _authentication(ctx: Context, node: Node, out: dict[str, Any]) -> None:
    kind = password = None
    for entry in walk(ctx, node, True):
        if entry.keyword == "auth_type" and entry.args:
            kind = entry.args[0]
        elif entry.keyword == "auth_pass" and entry.args:
            password = entry.args[0]
        else:
            ctx.ignore(entry)
    if kind != "PASS" or not password:
        ctx.note(node, f"auth_type {kind or '(none)'}: only PASS with auth_pass is converted")
        return
    # keepalived sends the first 8 characters (RFC 3768 §5.3.6.1's field size).
    out["authentication"] = {"type": "pass", "password": password[:8]}


def _simple(ctx: Context, node: Node, out: dict[str, Any]) -> bool:
    """The one-value keywords; False if ``node`` is none of them."""
    key = node.keyword
    readers: dict[str, tuple[str, Callable[[], Any]]] = {
        "interface": ("interface", lambda: node.args[0] if len(node.args) == 1 else None),
        "virtual_router_id": ("vrid", lambda: integer(ctx, node, 1, 255)),
        "priority": ("priority", lambda: integer(ctx, node, 1, 255)),
        "advert_int": ("advert_interval", lambda: number(ctx, node, 0, 255)),
        "version": ("version", lambda: integer(ctx, node, 2, 3)),
        "preempt_delay": ("preempt_delay", lambda: number(ctx, node, 0, 1000)),
        # One source address in keepalived (vrrp->saddr), the last line wins;
        # unicast or multicast source once the peers are known (_source).
        "unicast_src_ip": ("_source", lambda: _address(ctx, node)),
        "mcast_src_ip": ("_source", lambda: _address(ctx, node)),
        "unicast_ttl": ("unicast_ttl", lambda: integer(ctx, node, 1, 255)),
    }
    if key not in readers:
        return False
    target, read = readers[key]
    value = read()
    if value is None and key == "interface":
        ctx.note(node, "one interface name is expected; not converted")
    if value is not None:
        out[target] = value
    return True


def _flag(ctx: Context, node: Node, out: dict[str, Any], hints: dict[str, Any]) -> bool:
    key = node.keyword
    if key in ("nopreempt", "preempt"):
        out["preempt"] = key == "preempt"
    elif key in ("accept", "no_accept"):
        out["accept"] = key == "accept"
    elif key == "use_vmac":
        out["vmac"] = True
        if node.args:
            out["vmac_interface"] = node.args[0]
    elif key == "state":
        hints["state"] = node
    else:
        return False
    return True


def _excluded(ctx: Context, node: Node, out: dict[str, Any]) -> None:
    del ctx  # read once the interface is known (_held)
    out.setdefault("_excluded", []).append(node)


_BLOCKS: Final[dict[str, Callable[[Context, Node, dict[str, Any]], None]]] = {
    "virtual_ipaddress": _virtual_addresses,
    "virtual_ipaddress_excluded": _excluded,
    "virtual_routes": held.convert_routes,
    "virtual_rules": held.convert_rules,
    "unicast_peer": _unicast_peers,
    "track_interface": _track_interfaces,
    "track_script": _track_named,
    "track_file": _track_named,
    "authentication": _authentication,
}


def convert_instance(ctx: Context, node: Node) -> dict[str, Any] | None:
    """The runner instance of a ``vrrp_instance`` node (None: not convertible)."""
    name = node.args[0] if len(node.args) == 1 else None
    if name is None:
        ctx.note(node, "one instance name is expected; not converted")
        return None
    out: dict[str, Any] = {"name": name}
    hints: dict[str, Any] = {}
    garp: dict[str, float] = dict(ctx.garp)
    for entry in walk(ctx, node, True):
        key = entry.keyword
        if _simple(ctx, entry, out) or _flag(ctx, entry, out, hints):
            continue
        if key in GARP_KEYWORDS:
            garp_setting(ctx, entry, key, garp)
        elif key in _BLOCKS:
            _BLOCKS[key](ctx, entry, out)
        elif key in _NOTIFY:
            command = argv(ctx, entry)
            if command is not None:
                out.setdefault("notify", {})[_NOTIFY[key]] = command
        else:
            ctx.ignore(entry)
    return _complete(ctx, node, out, hints, garp)


def _advert_interval(seconds: float, version: int) -> float:
    """The interval keepalived really uses (vrrp.c vrrp_complete_instance).

    keepalived rounds half up to whole seconds (v2, at most 255) or to
    centiseconds (v3, at most 40.95) and logs that it did.
    """
    unit, limit = (1_000_000, 256) if version == 2 else (10_000, 4096)  # µs, units
    micros = round(seconds * 1_000_000)  # keepalived's timer is in µs
    if micros == 0:
        return KEEPALIVED_ADVERT_INT  # advert_int 0 means the default
    if micros >= limit * unit:
        units = limit - 1
    else:
        units = min(limit - 1, max(1, (micros + unit // 2) // unit))
    centis = units * unit // 10_000
    return centis // 100 if centis % 100 == 0 else centis / 100


def _held(ctx: Context, out: dict[str, Any]) -> None:
    """The VIPs with their options, then excluded addresses, routes, rules."""
    _vip_items(ctx, out)
    for node in out.pop("_excluded", []):
        held.convert_addresses(ctx, node, out, key="virtual_addresses_excluded")


def _source(out: dict[str, Any]) -> None:
    """keepalived's unicast_src_ip / mcast_src_ip as ours: the advert source either way.

    With unicast peers it is unicast_source; without, multicast_source (on
    the interface, as keepalived wants it), but for a global IPv6 address:
    multicast adverts leave from a link-local one (RFC 9568 §5.1.2.1), so
    that one stays unicast_source, a source the runner takes as it is.
    """
    source = out.pop("_source", None)
    if source is None:
        return
    address = ipaddress.ip_address(source)
    multicast = not out.get("unicast_peers") and (address.version == 4 or address.is_link_local)
    out["multicast_source" if multicast else "unicast_source"] = source


def _unicast(out: dict[str, Any]) -> None:
    _source(out)
    if "unicast_source" in out and out.get("unicast_peers"):
        # One peer list shared by every host of a pair names this host too:
        # a router does not advertise to itself, so that peer is left out.
        out["unicast_peers"] = [p for p in out["unicast_peers"] if p != out["unicast_source"]]
    if not out.get("unicast_peers"):
        out.pop("unicast_peers", None)
        out.pop("unicast_ttl", None)  # no effect without peers: multicast TTL is 255


def _complete(
    ctx: Context, node: Node, out: dict[str, Any], hints: dict[str, Any], garp: dict[str, float]
) -> dict[str, Any] | None:
    if out.get("_vips"):
        _held(ctx, out)
    for required in ("interface", "vrid", "virtual_addresses"):
        if not out.get(required):
            ctx.note(node, f"{out['name']}: no {required} (keepalived needs it too); not converted")
            return None
    family = _ip(out["virtual_addresses"][0]).version
    held.finish(ctx, out, family=family)
    version = out.get("version", 3 if family == 6 else ctx.version)
    if family == 6 and ctx.strict:
        version = 3  # vrrp.c: "cannot use IPv6 with VRRP version 2; setting version 3"
    state: Node | None = hints.get("state")
    master = state is not None and state.args[:1] == ["MASTER"]
    # vrrp.c vrrp_complete_instance: no priority and state MASTER means owner.
    priority = out.get("priority", KEEPALIVED_OWNER_PRIORITY if master else KEEPALIVED_PRIORITY)
    if state is not None and master != (priority == KEEPALIVED_OWNER_PRIORITY):
        ctx.note(
            state,
            f"{' '.join(state.args)}: an initial state; the runner starts as RFC 9568 §6.4.1 "
            "says (MASTER only as the address owner, priority 255); not converted",
        )
    out.update(version=version, priority=priority)
    out["advert_interval"] = _advert_interval(
        out.get("advert_interval", KEEPALIVED_ADVERT_INT), version
    )
    out.setdefault("preempt", True)
    # keepalived (built with firewall support) defaults accept on unless vrrp_strict.
    out.setdefault("accept", priority == KEEPALIVED_OWNER_PRIORITY or not ctx.strict)
    if ctx.strict and version == 2 and priority != KEEPALIVED_OWNER_PRIORITY:
        out["accept"] = False  # vrrp.c: accept mode for VRRPv2 breaks RFC 3768 - resetting
    interval6 = garp.pop("interval6")
    if family == 6:
        garp["interval"] = interval6
    out["garp"] = garp
    if version == 3 and family == 4:
        out["checksum_form"] = "pseudo_header"  # keepalived's form (see vrrp.packet)
    if version == 3 and "authentication" in out:
        ctx.note(node, f"{out['name']}: keepalived ignores authentication with version 3")
        del out["authentication"]
    _unicast(out)
    return {key: out[key] for key in _ORDER if key in out}
