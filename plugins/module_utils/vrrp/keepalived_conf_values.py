"""Shared state and value readers of the keepalived.conf converter.

keepalived reports a keyword with a bad value and goes on without it (its
default stays); the readers here do the same and record a note, so the
converted configuration is what keepalived would run and the report says
what was left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

from .keepalived_conf_read import Note
from .keepalived_conf_tree import Node, script_line

# keepalived's defaults (keepalived/include/vrrp.h, core/global_data.c).
KEEPALIVED_VERSION: Final = 2
KEEPALIVED_PRIORITY: Final = 100
KEEPALIVED_OWNER_PRIORITY: Final = 255
KEEPALIVED_ADVERT_INT: Final = 1
KEEPALIVED_GARP: Final[dict[str, float]] = {
    "delay": 5,
    "repeat": 5,
    "refresh": 0,
    "refresh_repeat": 1,
    "interval": 0,
}
# global_defs keyword -> garp key (per instance: the same without "vrrp_").
GARP_KEYWORDS: Final = {
    "garp_master_delay": ("delay", 0, 3600, True),
    "garp_master_repeat": ("repeat", 1, 100, True),
    "garp_master_refresh": ("refresh", 0, 86400, True),
    "garp_master_refresh_repeat": ("refresh_repeat", 1, 100, True),
    "garp_interval": ("interval", 0, 1, False),
    "gna_interval": ("interval6", 0, 1, False),
}

NO_SCHEMA_KEY: Final = "our schema has no key for it yet; not converted"
# Why a keyword is not converted, where more can be said than "no equivalent".
REASONS: Final = {
    "dont_track_primary": "the runner always tracks the instance's interface; not converted",
    "vmac_xmit_base": "adverts from the base interface with a VMAC: " + NO_SCHEMA_KEY,
    "notify": "the generic notify script (state passed as arguments): " + NO_SCHEMA_KEY,
    "track_process": "process tracking: " + NO_SCHEMA_KEY,
    "track_bfd": "BFD tracking: " + NO_SCHEMA_KEY,
    "strict_mode": "keepalived's strict-mode checks are not carried over",
    "script_user": "the runner runs scripts as its own user; no per-script user",
    "enable_script_security": "no equivalent; see docs/sandbox.md for how hooks run",
}

# Keywords that are no part of VRRP: named when left out, but a conversion
# without them is complete (the exit status stays 0).
NOT_VRRP: Final = {
    "virtual_server": "LVS",
    "virtual_server_group": "LVS",
    "static_ipaddress": "static addresses",
    "static_routes": "static routes",
    "static_rules": "static rules",
    "router_id": "names this host in keepalived's logs and mails",
    "notification_email": "mail alerts",
    "notification_email_from": "mail alerts",
    "smtp_server": "mail alerts",
    "smtp_helo_name": "mail alerts",
    "smtp_connect_timeout": "mail alerts",
    "smtp_alert": "mail alerts",
    "smtp_alert_vrrp": "mail alerts",
    "smtp_alert_checker": "mail alerts",
    "lvs_sync_daemon": "LVS",
    "lvs_flush": "LVS",
    "lvs_timeouts": "LVS",
    "checker_log_all_failures": "LVS checkers",
}


@dataclass
class Context:
    """What the converter learnt so far and what it could not convert."""

    notes: list[Note] = field(default_factory=list)
    version: int = KEEPALIVED_VERSION
    strict: bool = False
    startup_delay: float | None = None  # global_defs vrrp_startup_delay
    garp: dict[str, float] = field(default_factory=lambda: {**KEEPALIVED_GARP, "interval6": 0})
    scripts: dict[str, dict[str, Any]] = field(default_factory=dict)
    track_files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def note(self, node: Node, why: str, keyword: str | None = None, *, vrrp: bool = True) -> None:
        shown = keyword or node.keyword or '""'  # an empty quoted word is a keyword too
        self.notes.append(Note(node.file, node.line, shown, why, vrrp))

    def ignore(self, node: Node, why: str = "") -> None:
        """Report a keyword (and its block) that has no equivalent."""
        if node.keyword in NOT_VRRP:
            self.note(node, why or f"{NOT_VRRP[node.keyword]}: not part of VRRP", vrrp=False)
            return
        default = "no equivalent in the runner's configuration; not converted"
        self.note(node, why or REASONS.get(node.keyword, default))


def _arg(ctx: Context, node: Node) -> str | None:
    if len(node.args) < 1:
        ctx.note(node, "a value is missing; keepalived ignores the line")
        return None
    if len(node.args) > 1:
        ctx.note(node, f"extra words {' '.join(node.args[1:])!r} are not converted")
    return node.args[0]


def integer(ctx: Context, node: Node, low: int, high: int) -> int | None:
    """The one integer argument of ``node`` in [low, high], else a note and None."""
    text = _arg(ctx, node)
    if text is None:
        return None
    if text.isdigit() and low <= int(text) <= high:
        return int(text)
    ctx.note(node, f"{text!r} is not an integer from {low} to {high}; keepalived ignores it")
    return None


def number(ctx: Context, node: Node, low: float, high: float) -> float | int | None:
    """The one decimal argument of ``node`` in [low, high], else a note and None."""
    text = _arg(ctx, node)
    if text is None:
        return None
    try:
        value = float(text) if len(text) < 32 else math.nan
    except ValueError:
        value = math.nan
    if math.isfinite(value) and low <= value <= high and text[:1].isdigit():
        return int(value) if value == int(value) else value
    ctx.note(node, f"{text!r} is not a number from {low} to {high}; keepalived ignores it")
    return None


def signed_weight(ctx: Context, node: Node) -> int | None:
    """A ``weight W`` line's W in -253..253 (keepalived's range), else a note and None."""
    text = node.args[0] if len(node.args) == 1 else ""
    digits = text[1:] if text[:1] in "+-" else text
    if digits.isdigit() and len(digits) < 4 and -253 <= int(text) <= 253:
        return int(text)
    ctx.note(node, f"{' '.join(node.args)!r}: only a weight from -253 to 253 is converted")
    return None


def garp_setting(ctx: Context, node: Node, key: str, into: dict[str, float]) -> None:
    """Read one garp_* keyword (``key`` is its name without ``vrrp_``) into ``into``."""
    target, low, high, whole = GARP_KEYWORDS[key]
    value = integer(ctx, node, int(low), int(high)) if whole else number(ctx, node, low, high)
    if value is not None:
        into[target] = value


def argv(ctx: Context, node: Node) -> list[str] | None:
    """The argv of a script line; notes a user/group it cannot carry over."""
    parsed = script_line(node)
    if parsed is None:
        ctx.note(node, "the command line cannot be read (quotes or escapes); not converted")
        return None
    command, user = parsed
    if user:
        ctx.note(
            node,
            f"runs as user/group {' '.join(user)!r} in keepalived; the runner has no "
            "per-script user, so the command is converted without it",
        )
    return command


def walk(ctx: Context, node: Node, want_block: bool) -> list[Node]:
    """The children of ``node``; notes a block that is missing or unexpected."""
    if node.children is None:
        if want_block:
            ctx.note(node, "a { block } is expected after it; not converted")
        return []
    if not want_block:
        ctx.note(node, "an unexpected { block } after it is not converted")
        return []
    return node.children
