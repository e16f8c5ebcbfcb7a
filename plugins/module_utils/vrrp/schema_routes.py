"""The schema's part for what a MASTER holds beyond its advertised addresses.

Merged into :data:`vrrp.schema.CONFIG_SCHEMA` (its ``$defs`` and the
instance's properties): address options (``dev``, ``label``, ``scope``,
``broadcast``), addresses held but not advertised (keepalived's
``virtual_ipaddress_excluded``), virtual routes and virtual rules (keepalived's
``virtual_routes`` / ``virtual_rules``). All of them are installed when the
instance becomes MASTER and removed when it leaves MASTER.
What a schema cannot say (families, host bits, labels) is checked in
:mod:`vrrp.config_routes`.
"""

from __future__ import annotations

from typing import Any, Final

_END: Final = "$(?!\\n)"
U32_MAX: Final = 4294967295
# The names of the tables every Linux host has (linux/rtnetlink.h).
TABLE_NAMES: Final = {"default": 253, "main": 254, "local": 255}
SCOPES: Final = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
ROUTE_TYPES: Final = ("unicast", "blackhole", "unreachable", "prohibit")


def _u32(what: str, *, minimum: int = 0) -> dict[str, Any]:
    return {"description": what, "type": "integer", "minimum": minimum, "maximum": U32_MAX}


_SCOPE: Final[dict[str, Any]] = {
    "description": "The scope, as 'ip' names it.",
    "enum": list(SCOPES),
}

_TABLE: Final[dict[str, Any]] = {
    "description": (
        "A routing table: a number from 1 to 4294967295, or main, local, default "
        "(another name of /etc/iproute2/rt_tables: write its number)."
    ),
    "if": {"type": "integer"},
    "then": {
        "minimum": 1,
        "maximum": U32_MAX,
        "x-rule": "a table number is from 1 to 4294967295",
    },
    "else": {
        "enum": list(TABLE_NAMES),
        "x-rule": (
            "unknown table name; a table is a number from 1 to 4294967295 or one of "
            "main, local, default"
        ),
    },
}

_PREFIX_OR: Final = "^([0-9A-Fa-f:.]{2,45}(/[0-9]{1,3})?|{word})" + _END

DEFS: Final[dict[str, Any]] = {
    "virtual_address": {
        "description": "A virtual address with options, as keepalived's virtual_ipaddress takes.",
        "type": "object",
        "additionalProperties": False,
        "required": ["address"],
        "x-rule": (
            "a virtual address is ADDR[/PREFIX] or an object with 'address' and the "
            "options dev, label, scope, broadcast"
        ),
        "properties": {
            "address": {"$ref": "#/$defs/address_prefix"},
            "dev": {"$ref": "#/$defs/interface"},
            "label": {
                "description": "IPv4 only: the label, starting with the interface's name.",
                "type": "string",
                "pattern": "^[^\\s/\\x00-\\x1f\\x7f]{1,15}" + _END,
                "x-rule": "a label has 1 to 15 characters, none of them '/' or white space",
            },
            "scope": _SCOPE,
            "broadcast": {"$ref": "#/$defs/address"},
        },
    },
    "virtual_address_item": {
        "if": {"type": "string"},
        "then": {"$ref": "#/$defs/address_prefix"},
        "else": {"$ref": "#/$defs/virtual_address"},
    },
    "route": {
        "description": "A route installed while MASTER (keepalived's virtual_routes).",
        "type": "object",
        "additionalProperties": False,
        "required": ["to"],
        "properties": {
            "to": {
                "description": "The destination: NET/PREFIX, an address, or 'default'.",
                "type": "string",
                "pattern": _PREFIX_OR.replace("{word}", "default"),
                "x-rule": "a route goes to ADDR/PREFIX, ADDR or 'default'",
            },
            "via": {"$ref": "#/$defs/address"},
            "dev": {"$ref": "#/$defs/interface"},
            "src": {"$ref": "#/$defs/address"},
            "metric": _u32("The route's metric (preference)."),
            "table": _TABLE,
            "scope": _SCOPE,
            "type": {
                "description": "unicast (the default), or a route that drops.",
                "enum": list(ROUTE_TYPES),
                "default": "unicast",
            },
        },
    },
    "rule": {
        "description": "A policy routing rule installed while MASTER (keepalived's virtual_rules).",
        "type": "object",
        "additionalProperties": False,
        "required": ["table"],
        "properties": {
            "from": {
                "description": "Source prefix (ADDR/PREFIX, ADDR or 'all').",
                "type": "string",
                "pattern": _PREFIX_OR.replace("{word}", "all"),
                "x-rule": "a rule matches from ADDR/PREFIX, ADDR or 'all'",
            },
            "to": {
                "description": "Destination prefix (ADDR/PREFIX or ADDR).",
                "type": "string",
                "pattern": _PREFIX_OR.replace("{word}", "all"),
                "x-rule": "a rule matches to ADDR/PREFIX, ADDR or 'all'",
            },
            "table": _TABLE,
            "priority": _u32("The rule's priority (its place in the rule list)."),
            "fwmark": _u32("Match packets with this firewall mark."),
            "fwmask": _u32("The mask of fwmark (with fwmark only)."),
        },
    },
}

INSTANCE_PROPERTIES: Final[dict[str, Any]] = {
    "virtual_addresses_excluded": {
        "description": (
            "Addresses the MASTER holds but does not advertise (keepalived's "
            "virtual_ipaddress_excluded); either family."
        ),
        "type": "array",
        "uniqueItems": True,
        "items": {"$ref": "#/$defs/virtual_address_item"},
        "default": [],
    },
    "virtual_routes": {
        "description": "Routes installed on becoming MASTER, removed on leaving it.",
        "type": "array",
        "uniqueItems": True,
        "items": {"$ref": "#/$defs/route"},
        "default": [],
    },
    "virtual_rules": {
        "description": "Policy routing rules installed on becoming MASTER, removed on leaving it.",
        "type": "array",
        "uniqueItems": True,
        "items": {"$ref": "#/$defs/rule"},
        "default": [],
    },
}
