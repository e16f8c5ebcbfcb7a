"""A keepalived.conf tree into the runner's configuration.

Every keyword is either converted or named in a note (``FILE:LINE: KEYWORD:
why``); nothing is dropped silently. The result is checked with
:func:`vrrp.config.load_config`: an instance or sync group the loader
refuses is left out and named, so the output is always valid.
"""

from __future__ import annotations

import re
from typing import Any, Final

from .config import load_config, load_instance, load_sync_group
from .errors import ConfigError
from .keepalived_conf_instance import convert_instance
from .keepalived_conf_tree import Node
from .keepalived_conf_values import (
    GARP_KEYWORDS,
    Context,
    argv,
    garp_setting,
    integer,
    number,
    signed_weight,
    walk,
)

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_GROUP_NOTIFY: Final = {
    "notify_master": "master",
    "notify_backup": "backup",
    "notify_fault": "fault",
    "notify_stop": "stop",
}


def _global_defs(ctx: Context, node: Node) -> None:
    for entry in walk(ctx, node, True):
        key = entry.keyword
        if key == "vrrp_version":
            version = integer(ctx, entry, 2, 3)
            if version is not None:
                ctx.version = version
            continue
        if key.startswith("vrrp_") and key[5:] in GARP_KEYWORDS:
            garp_setting(ctx, entry, key[5:], ctx.garp)
            continue
        if key == "vrrp_strict":
            # Its effect on what runs: accept off by default (and for VRRPv2),
            # IPv6 on version 3 (keepalived_conf_instance); the rest are
            # checks a configuration keepalived ran has passed.
            ctx.strict = True
            continue
        if key == "vrrp_startup_delay":
            delay = number(ctx, entry, 0, 3600)
            if delay is not None:
                ctx.startup_delay = delay
            continue
        ctx.ignore(entry)


def _name(ctx: Context, node: Node) -> str | None:
    if len(node.args) != 1:
        ctx.note(node, "one name is expected; not converted")
        return None
    if not _NAME.match(node.args[0]):
        ctx.note(
            node,
            f"{node.args[0]!r}: a runner name has 1 to 64 characters from A-Z, a-z, 0-9, "
            "'_', '.', '-' and starts with a letter or digit; not converted (rename it)",
        )
        return None
    return node.args[0]


def _vrrp_script(ctx: Context, node: Node) -> None:
    name = _name(ctx, node)
    item: dict[str, Any] = {"name": name, "interval": 1, "rise": 1, "fall": 1, "weight": 0}
    for entry in walk(ctx, node, True):
        key = entry.keyword
        value: Any = None
        if key == "script":
            value = argv(ctx, entry)
            key = "argv"
        elif key in ("interval", "timeout"):
            value = number(ctx, entry, 0.01, 86400)
        elif key in ("rise", "fall"):
            value = integer(ctx, entry, 1, 255)
        elif key == "weight":
            value = signed_weight(ctx, entry)
        else:
            ctx.ignore(entry)
        if value is not None:
            item[key] = value
    # keepalived: timeout 0 (unset) means the interval (vrrp_scheduler.c).
    item.setdefault("timeout", item["interval"])
    if name is not None and "argv" in item:
        ctx.scripts[name] = item
    elif name is not None:
        ctx.note(node, f"{name}: no usable script line; not converted")


def _vrrp_track_file(ctx: Context, node: Node) -> None:
    name = node.args[0] if len(node.args) == 1 else None
    item: dict[str, Any] = {}
    for entry in walk(ctx, node, True):
        if entry.keyword == "file" and len(entry.args) == 1 and entry.args[0].startswith("/"):
            item["path"] = entry.args[0]
        elif entry.keyword == "weight":
            weight = signed_weight(ctx, entry)
            if weight is not None:
                item["weight"] = weight
        else:
            ctx.ignore(entry)
    if name is None or "path" not in item:
        ctx.note(node, "a name and an absolute 'file' path are needed; not converted")
        return
    ctx.track_files[name] = item


def _members(
    ctx: Context, member: Node, instances: dict[str, Node], owner: dict[str, str], out: list[str]
) -> None:
    for word in [member.keyword, *member.args]:
        if word not in instances:
            ctx.note(member, f"{word!r} is not a converted instance; left out", "group")
        elif word in owner:
            why = f"{word!r} is already in sync group {owner[word]!r}; left out"
            ctx.note(member, why, "group")
        elif word not in out:
            out.append(word)


def _sync_group(
    ctx: Context, node: Node, instances: dict[str, Node], owner: dict[str, str]
) -> dict[str, Any] | None:
    name = _name(ctx, node)
    members: list[str] = []
    notify: dict[str, list[str]] = {}
    for entry in walk(ctx, node, True):
        if entry.keyword == "group":
            for member in walk(ctx, entry, True):
                _members(ctx, member, instances, owner, members)
        elif entry.keyword in _GROUP_NOTIFY:
            command = argv(ctx, entry)
            if command is not None:
                notify[_GROUP_NOTIFY[entry.keyword]] = command
        else:
            ctx.ignore(entry)
    if name is None:
        return None
    if not members:
        ctx.note(node, f"{name}: no member left; not converted")
        return None
    owner.update(dict.fromkeys(members, name))
    group: dict[str, Any] = {"name": name, "members": members}
    if notify:
        group["notify"] = notify
    return group


def _refused(ctx: Context, node: Node, exc: ConfigError) -> None:
    name = node.args[0] if node.args else ""
    ctx.note(node, f"{name}: the runner refuses it ({exc}); not converted")


def _add_instance(
    ctx: Context,
    node: Node,
    instances: list[dict[str, Any]],
    nodes: dict[str, Node],
    vrids: dict[tuple[str, int, int], str],
) -> None:
    if _name(ctx, node) is None:
        return
    inst = convert_instance(ctx, node)
    if inst is None:
        return
    if inst["name"] in nodes:
        ctx.note(node, f"{inst['name']}: a second instance of this name; not converted")
        return
    try:
        typed = load_instance(inst)
    except ConfigError as exc:
        _refused(ctx, node, exc)
        return
    # A fast path for the loader's VRID rule (RFC 9568 §7.3), so that many
    # clashes cost one pass, not one whole-config check each; the loader
    # still judges the whole result in _consistent.
    lan = (typed.interface, typed.family, typed.vrid)
    vmac = ("vmac", 0, 0) if typed.vmac_interface is None else (typed.vmac_interface, 0, 0)
    if lan in vrids:
        ctx.note(
            node,
            f"{inst['name']}: VRID {typed.vrid} is already used on {typed.interface} "
            f"for IPv{typed.family} by instance {vrids[lan]!r}; not converted",
        )
        return
    if typed.vmac_interface is not None and vmac in vrids:
        ctx.note(
            node,
            f"{inst['name']}: the VMAC interface {typed.vmac_interface!r} is already used "
            f"by instance {vrids[vmac]!r}; not converted",
        )
        return
    vrids[lan] = vrids[vmac] = inst["name"]
    instances.append(inst)
    nodes[inst["name"]] = node


def convert(ctx: Context, top: list[Node]) -> dict[str, Any]:
    """The runner configuration of ``top``; notes go to ``ctx.notes``."""
    first = {
        "global_defs": _global_defs,
        "vrrp_script": _vrrp_script,
        "vrrp_track_file": _vrrp_track_file,
    }
    for keyword, handler in first.items():
        for node in top:
            if node.keyword == keyword:
                handler(ctx, node)
    instances: list[dict[str, Any]] = []
    nodes: dict[str, Node] = {}
    vrids: dict[tuple[str, int, int], str] = {}
    for node in top:
        if node.keyword == "vrrp_instance":
            _add_instance(ctx, node, instances, nodes, vrids)
        elif node.keyword not in (*first, "vrrp_instance", "vrrp_sync_group"):
            ctx.ignore(node)
    owner: dict[str, str] = {}
    groups = [_sync_group(ctx, n, nodes, owner) for n in top if n.keyword == "vrrp_sync_group"]
    sync_groups: list[dict[str, Any]] = []
    for group, node in zip(groups, [n for n in top if n.keyword == "vrrp_sync_group"]):
        if group is None:
            continue
        try:
            load_sync_group(group)
        except ConfigError as exc:
            _refused(ctx, node, exc)
            continue
        sync_groups.append(group)
    config = _consistent(ctx, instances, sync_groups, nodes, top)
    if ctx.startup_delay:
        config["startup_delay"] = ctx.startup_delay
    return config


def _consistent(
    ctx: Context,
    instances: list[dict[str, Any]],
    sync_groups: list[dict[str, Any]],
    nodes: dict[str, Node],
    top: list[Node],
) -> dict[str, Any]:
    """Leave out what the whole-config checks refuse until the rest is valid."""
    group_nodes = [n for n in top if n.keyword == "vrrp_sync_group"]
    while True:
        config = {"instances": instances, "sync_groups": sync_groups}
        try:
            load_config(config)
        except ConfigError as exc:
            found = re.match(r"^(instances|sync_groups)\[(\d+)\]", exc.path)
            if found is None:  # pragma: no cover - every cross check names an item
                raise
            items = instances if found.group(1) == "instances" else sync_groups
            bad = items.pop(int(found.group(2)))
            where = nodes.get(bad["name"]) if items is instances else None
            if where is None:
                where = next(n for n in group_nodes if n.args[:1] == [bad["name"]])
            _refused(ctx, where, exc)
            if items is instances:
                for group in sync_groups:
                    if bad["name"] in group["members"]:
                        group["members"].remove(bad["name"])
                for group in [g for g in sync_groups if not g["members"]]:
                    sync_groups.remove(group)
                    node = next(n for n in group_nodes if n.args[:1] == [group["name"]])
                    ctx.note(node, f"{group['name']}: no member left; not converted")
            continue
        return config
