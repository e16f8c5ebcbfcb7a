"""keepalived's address options, excluded addresses, virtual routes and rules.

``virtual_ipaddress`` / ``virtual_ipaddress_excluded`` lines are
``ADDR[/LEN] [brd ADDR] [dev IF] [scope S] [label L] ...``; ``virtual_routes``
lines ``[src ADDR] [to] NET [via|gw ADDR] [dev IF] [scope S] [table T]
[metric N]``, or ``blackhole|unreachable|prohibit NET ...``;
``virtual_rules`` lines ``[from NET|all] [to NET|all] [priority N]
[fwmark M[/MASK]] table T`` (keepalived.conf(5)). What our schema takes is
converted; an address keeps going without an option we do not know (noted),
a route or a rule with one is left out whole (noted): without it, it would
send traffic elsewhere. Each converted item is checked with the runner's own
rules (:mod:`vrrp.config_routes`), so the output always loads.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from .config_routes import held_address, virtual_routes, virtual_rules
from .errors import ConfigError
from .keepalived_conf_tree import Node
from .keepalived_conf_values import Context, walk
from .schema import check
from .schema_routes import ROUTE_TYPES, SCOPES, TABLE_NAMES, U32_MAX

_ADDRESS_OPTIONS: Final = {"dev": "dev", "label": "label", "scope": "scope", "brd": "broadcast",
                           "broadcast": "broadcast"}  # fmt: skip
_ROUTE_OPTIONS: Final = {"src": "src", "to": "to", "via": "via", "gw": "via", "dev": "dev",
                         "scope": "scope", "table": "table", "metric": "metric"}  # fmt: skip
_RULE_OPTIONS: Final = {"from": "from", "to": "to", "table": "table", "lookup": "table",
                        "priority": "priority", "preference": "priority", "pref": "priority",
                        "fwmark": "fwmark"}  # fmt: skip
# keepalived: the instance does not go to FAULT when another program deletes
# the item. The runner never faults for that, so the line converts exactly.
_NO_TRACK: Final = "no_track"
_SCOPE_NUMBERS: Final = {str(number): name for name, number in SCOPES.items()}


def _scope(text: str) -> str | None:
    return text if text in SCOPES else _SCOPE_NUMBERS.get(text)


def _table(text: str) -> int | str | None:
    if text in TABLE_NAMES:
        return text
    if text.isdigit() and 1 <= int(text) <= U32_MAX:
        return int(text)
    return None


def _u32(text: str) -> int | None:
    try:
        value = int(text, 0)
    except ValueError:
        return None
    return value if 0 <= value <= U32_MAX else None


def _pairs(
    ctx: Context, entry: Node, parent: str, words: list[str], known: dict[str, str]
) -> dict[str, str] | None:
    """``KEY VALUE`` words into {schema key: value}; None (noted) on an unknown word."""
    out: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if word == _NO_TRACK:
            index += 1
            continue
        if word in known and index + 1 < len(words):
            out[known[word]] = words[index + 1]
            index += 2
            continue
        bare = word in ("default", "all") or word[:1].isdigit() or ":" in word
        if bare and "to" in known and "to" not in out:
            out["to"] = word  # the destination, written without 'to'
            index += 1
            continue
        ctx.note(entry, f"{entry.text!r}: {word!r} is not converted; left out", parent)
        return None
    return out


def convert_addresses(ctx: Context, node: Node, out: dict[str, Any], *, key: str) -> None:
    """``virtual_ipaddress_excluded`` into ``key`` (the VIP block has its own reader)."""
    items: list[Any] = out.setdefault(key, [])
    for entry in walk(ctx, node, True):
        item = address_item(ctx, entry, node.keyword, interface=out.get("interface"))
        if item is not None:
            items.append(item)


def address_item(
    ctx: Context, entry: Node, parent: str, *, interface: str | None
) -> str | dict[str, Any] | None:
    """One address line: ``ADDR/LEN`` or the object with its options."""
    try:
        address = str(ipaddress.ip_interface(entry.keyword))
    except ValueError:
        ctx.note(entry, f"{entry.keyword!r} is not ADDR or ADDR/PREFIX; not converted", parent)
        return None
    item: dict[str, Any] = {"address": entry.keyword}
    words, dropped = list(entry.args), []
    while words:
        word = words.pop(0)
        if word in _ADDRESS_OPTIONS and words:
            item[_ADDRESS_OPTIONS[word]] = words.pop(0)
        elif word != _NO_TRACK:
            dropped.append(word)
    if "scope" in item:
        scope = _scope(item["scope"])
        if scope is None:
            dropped += ["scope", item.pop("scope")]
        else:
            item["scope"] = scope
    if "dev" in item and item["dev"] == interface:
        del item["dev"]  # the instance's own interface: where it goes anyway
    try:
        check(item, definition="virtual_address")
        held_address(item, ())
    except ConfigError as exc:
        ctx.note(entry, f"{entry.text!r}: {exc.rule}; not converted", parent)
        return None
    if dropped:
        ctx.note(
            entry,
            f"{address}: {' '.join(dropped)!r}: our schema has no key for it; the address "
            "is converted without it",
            parent,
        )
    return item if len(item) > 1 else entry.keyword


def convert_routes(ctx: Context, node: Node, out: dict[str, Any]) -> None:
    for entry in walk(ctx, node, True):
        words = [entry.keyword, *entry.args]
        kind = words.pop(0) if words[0] in ROUTE_TYPES else "unicast"
        pairs = _pairs(ctx, entry, node.keyword, words, _ROUTE_OPTIONS)
        if pairs is None:
            continue
        route: dict[str, Any] = dict(pairs)
        if kind != "unicast":
            route["type"] = kind
        if not _numbers(ctx, entry, node.keyword, route, ("metric",)):
            continue
        out.setdefault("_routes", []).append((entry, node.keyword, route))


def convert_rules(ctx: Context, node: Node, out: dict[str, Any]) -> None:
    for entry in walk(ctx, node, True):
        pairs = _pairs(ctx, entry, node.keyword, [entry.keyword, *entry.args], _RULE_OPTIONS)
        if pairs is None:
            continue
        rule: dict[str, Any] = dict(pairs)
        mark, _slash, mask = str(rule.pop("fwmark", "")).partition("/")
        if mark:
            rule["fwmark"] = mark
        if mask:
            rule["fwmask"] = mask
        if not _numbers(ctx, entry, node.keyword, rule, ("priority", "fwmark", "fwmask")):
            continue
        out.setdefault("_rules", []).append((entry, node.keyword, rule))


def _numbers(
    ctx: Context, entry: Node, parent: str, item: dict[str, Any], keys: tuple[str, ...]
) -> bool:
    for key in keys:
        if key in item:
            value = _u32(item[key])
            if value is None:
                ctx.note(entry, f"{entry.text!r}: {key} {item[key]!r} is not a number", parent)
                return False
            item[key] = value
    if "table" in item:
        table = _table(item["table"])
        if table is None:
            ctx.note(
                entry,
                f"{entry.text!r}: table {item['table']!r}: a name of the host's rt_tables; "
                "write its number (main, local, default are known); not converted",
                parent,
            )
            return False
        item["table"] = table
    if "scope" in item:
        item["scope"] = _scope(item["scope"]) or item["scope"]  # else the schema names it
    return True


def finish(ctx: Context, out: dict[str, Any], *, family: int) -> None:
    """Keep the routes and rules the runner takes (one family, no host bits, ...)."""
    excluded = out.get("virtual_addresses_excluded", [])
    families = {family}
    for item in excluded:
        text = item if isinstance(item, str) else item["address"]
        families.add(ipaddress.ip_interface(text).version)
    for key, build in (("_routes", virtual_routes), ("_rules", virtual_rules)):
        kept = []
        for entry, parent, item in out.pop(key, []):
            try:
                check(item, definition=key[1:-1])
                build([item], (), families=families, default_family=family)
            except ConfigError as exc:
                ctx.note(entry, f"{entry.text!r}: {exc.rule}; not converted", parent)
                continue
            if item not in kept:
                kept.append(item)
        if kept:
            out[key.replace("_", "virtual_", 1)] = kept
    if not excluded:
        out.pop("virtual_addresses_excluded", None)
