"""The JSON Schema of the runner's configuration: the one truth about it.

``CONFIG_SCHEMA`` is a JSON Schema (draft 2020-12) document written as a
JSON-compatible Python dict. It lives in a ``.py`` file on purpose: AnsiballZ
ships only Python files from ``module_utils`` to the managed host, so a
``.json`` file beside it would never arrive there. ``python -m vrrp.schema``
prints it as JSON for editors, docs and other tools.

The modules, the role and the runner all validate against this document and
never restate its rules by hand; :mod:`vrrp.config` adds only the checks a
schema cannot express (address families, cross references, VRID clashes).
Single objects are checked against their ``$defs`` entry with
:func:`validate_instance` and :func:`validate_sync_group`.

Portability: the document uses only keywords that mean the same in draft 7
and draft 2020-12 (no ``prefixItems``, no ``dependent*``, no
``unevaluated*``, nothing beside a ``$ref``) and has no ``$id`` (jsonschema
3.2 resolves ``#/$defs/...`` against a ``urn:`` id with ``urljoin``, which
cannot, and fails), so the older jsonschema releases of LTS distributions
(3.2 has draft 7 only; Debian 11's is tested by ``tests/py39``) validate it
the same way. ``x-rule`` is our annotation: the plain-words rule reported
when the subschema that carries it fails.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from . import _deps, schema_routes
from .errors import ConfigError

if TYPE_CHECKING:
    import jsonschema.exceptions

# jsonschema applies "pattern" with re.search, where "$" also matches before a
# final newline ("^web$" accepts "web\n"); ECMA-262, which JSON Schema means,
# has no such rule. "$(?!\n)" is the end of the string in both dialects.
_END: Final = "$(?!\\n)"
_NO_NUL: Final[dict[str, Any]] = {
    "pattern": "^[^\\x00]*" + _END,
    "x-rule": "must not contain a NUL character",
}

_NAME_RULE: Final = (
    "a name starts with a letter or digit and has at most 64 characters "
    "from A-Z, a-z, 0-9, '_', '.', '-'"
)


def _argv(what: str) -> dict[str, Any]:
    return {
        "description": f"{what}: an argv list, run without a shell.",
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "minLength": 1, "allOf": [_NO_NUL]},
    }


def _seconds(what: str, *, minimum: float, maximum: float, default: float) -> dict[str, Any]:
    return {
        "description": f"{what}, in seconds.",
        "type": "number",
        "minimum": minimum,
        "maximum": maximum,
        "default": default,
    }


def _count(what: str, *, minimum: int, maximum: int, default: int) -> dict[str, Any]:
    return {
        "description": what,
        "type": "integer",
        "minimum": minimum,
        "maximum": maximum,
        "default": default,
    }


_WEIGHT: Final[dict[str, Any]] = {
    "description": (
        "Added to the priority while the tracked object is up (positive) or "
        "down (negative); 0 puts the instance in FAULT while it is down."
    ),
    "type": "integer",
    "minimum": -253,
    "maximum": 253,
    "default": 0,
}

_DESCRIPTION: Final[dict[str, Any]] = {
    "type": "string",
    "maxLength": 256,
    "default": "",
    "allOf": [
        {
            "pattern": "^[^\\x00-\\x08\\x0b-\\x1f\\x7f]*" + _END,
            "x-rule": "a description has no control characters other than tab and newline",
        }
    ],
}

CONFIG_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "failover.vrrp runner configuration",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "instances": {
            "description": "The virtual routers (VRRP instances) of this host.",
            "type": "array",
            "items": {"$ref": "#/$defs/instance"},
            "default": [],
        },
        "sync_groups": {
            "description": "Groups of instances that change state together.",
            "type": "array",
            "items": {"$ref": "#/$defs/sync_group"},
            "default": [],
        },
        "metrics_listen": {
            "description": (
                "Serve Prometheus metrics on http://ADDR:PORT/metrics: IPv4:PORT or "
                "[IPv6]:PORT, e.g. 127.0.0.1:9650. Absent: no metrics endpoint."
            ),
            "type": "string",
            # "$(?!\\n)": the end of the string for jsonschema's re.search too.
            "pattern": "^(\\[[0-9A-Fa-f:.]{2,45}\\]|[0-9.]{7,15}):[0-9]{1,5}$(?!\\n)",
            "x-rule": "a listen address is IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:9650",
        },
        "startup_delay": _seconds(
            "Wait this long after the runner starts before the virtual routers start "
            "(keepalived's vrrp_startup_delay): nothing is sent or taken meanwhile, so a "
            "host whose network is still settling does not win an election early; read "
            "at start only",
            minimum=0,
            maximum=3600,
            default=0,
        ),
    },
    "$defs": {
        "name": {
            "description": "An identifier; also used as a file name.",
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}" + _END,
            "x-rule": _NAME_RULE,
        },
        "interface": {
            "description": "A Linux network interface name.",
            "type": "string",
            "pattern": "^(?!\\.\\.?$)[^\\s/:\\x00-\\x1f\\x7f]{1,15}" + _END,
            "x-rule": (
                "an interface name has 1 to 15 characters, none of them '/', ':', "
                "white space or a control character, and is not '.' or '..'"
            ),
        },
        "address": {
            "description": "An IPv4 or IPv6 address without prefix length.",
            "type": "string",
            "pattern": "^[0-9A-Fa-f:.]{2,45}" + _END,
            "x-rule": "an IPv4 or IPv6 address without prefix length is expected",
        },
        "address_prefix": {
            "description": (
                "ADDR/PREFIX as for 'ip addr'; a bare address means /32 (IPv4) or /128 (IPv6)."
            ),
            "type": "string",
            "pattern": "^[0-9A-Fa-f:.]{2,45}(/[0-9]{1,3})?" + _END,
            "x-rule": "an address is written ADDR or ADDR/PREFIX, e.g. 192.0.2.10/24",
        },
        "notify": {
            "description": "Programs run on state changes, each with a timeout.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "master": _argv("Run on entering MASTER"),
                "backup": _argv("Run on entering BACKUP"),
                "fault": _argv("Run on entering FAULT"),
                "stop": _argv("Run when the instance stops"),
                "timeout": _seconds(
                    "Time a notify program may run before it is killed",
                    minimum=0.01,
                    maximum=3600,
                    default=10,
                ),
            },
        },
        "garp": {
            "description": (
                "Gratuitous ARP / unsolicited neighbour advertisements after becoming "
                "MASTER (keepalived's garp_master_* settings)."
            ),
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "delay": _seconds(
                    "Delay of the second burst after becoming MASTER (0: none)",
                    minimum=0,
                    maximum=3600,
                    default=5,
                ),
                "repeat": _count(
                    "Messages per burst after becoming MASTER", minimum=1, maximum=100, default=5
                ),
                "refresh": _seconds(
                    "Period of refresh bursts while MASTER (0: no refresh)",
                    minimum=0,
                    maximum=86400,
                    default=0,
                ),
                "refresh_repeat": _count(
                    "Messages per refresh burst", minimum=1, maximum=100, default=1
                ),
                "interval": _seconds(
                    "Gap between the messages of one burst", minimum=0, maximum=1, default=0
                ),
            },
        },
        "track_interface": {
            "type": "object",
            "additionalProperties": False,
            "required": ["interface"],
            "properties": {"interface": {"$ref": "#/$defs/interface"}, "weight": _WEIGHT},
        },
        "track_file": {
            "type": "object",
            "additionalProperties": False,
            "required": ["path"],
            "properties": {
                "path": {
                    "description": "Absolute path of a file holding a number; 0 or absent is down.",
                    "type": "string",
                    "pattern": "^/[^\\x00-\\x1f\\x7f]*" + _END,
                    "maxLength": 4096,
                    "x-rule": (
                        "a tracked file is named by an absolute path without control characters"
                    ),
                },
                "weight": _WEIGHT,
            },
        },
        "track_script": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "argv"],
            "properties": {
                "name": {"$ref": "#/$defs/name"},
                "argv": _argv("The check; exit status 0 means up"),
                "interval": _seconds(
                    "Time between two runs", minimum=0.01, maximum=86400, default=1
                ),
                "timeout": {
                    "description": "Time a run may take, in seconds (default: the interval).",
                    "type": "number",
                    "minimum": 0.01,
                    "maximum": 86400,
                },
                "rise": _count("Successes in a row to be up", minimum=1, maximum=255, default=1),
                "fall": _count("Failures in a row to be down", minimum=1, maximum=255, default=1),
                "weight": _WEIGHT,
            },
        },
        "authentication": {
            "description": "VRRPv2 simple text password (RFC 3768 §5.3.6.1).",
            "type": "object",
            "writeOnly": True,
            "additionalProperties": False,
            "required": ["password"],
            "properties": {
                "type": {"enum": ["pass"], "default": "pass"},
                "password": {
                    "description": "1 to 8 printable ASCII characters (8 bytes on the wire).",
                    "type": "string",
                    "pattern": "^[ -~]{1,8}" + _END,
                    "writeOnly": True,
                    "x-rule": "a password has 1 to 8 printable ASCII characters",
                },
            },
        },
        "instance": {
            "description": "One virtual router.",
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "interface", "vrid", "virtual_addresses"],
            "properties": {
                "name": {"$ref": "#/$defs/name"},
                "description": _DESCRIPTION,
                "interface": {"$ref": "#/$defs/interface"},
                "vrid": {
                    "description": "Virtual Router ID.",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 255,
                },
                "priority": {
                    "description": "1-254; 255 means this router owns the addresses.",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 255,
                    "default": 100,
                },
                "version": {"description": "VRRP version.", "enum": [2, 3], "default": 3},
                "advert_interval": {
                    "description": (
                        "Seconds between adverts: v3 0.01 to 40.95 in 0.01 steps, "
                        "v2 whole seconds 1 to 255."
                    ),
                    "type": "number",
                    "minimum": 0.01,
                    "maximum": 255,
                    "default": 1,
                },
                "virtual_addresses": {
                    "description": "The virtual addresses, all of one family; IPv6 starts "
                    "with the link-local one (RFC 9568 §5.2.9). Each is ADDR[/PREFIX] or "
                    "an object with 'address' and options (dev, label, scope, broadcast).",
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"$ref": "#/$defs/virtual_address_item"},
                },
                **schema_routes.INSTANCE_PROPERTIES,
                "preempt": {"type": "boolean", "default": True},
                "preempt_delay": _seconds(
                    "Wait before preempting a lower priority master",
                    minimum=0,
                    maximum=1000,
                    default=0,
                ),
                "accept": {
                    "description": (
                        "Accept mode (RFC 9568 §6.1, §6.4.3): a Master that does not own the "
                        "addresses (priority below 255) accepts packets sent to the virtual "
                        "addresses. Off, the runner drops them with nftables (table inet "
                        "failover_vrrp; the host needs nft) while it is Master, but for "
                        "neighbour discovery; ARP is not IP and is answered. On by default, "
                        "as keepalived (off under its vrrp_strict)."
                    ),
                    "type": "boolean",
                    "default": True,
                },
                "unicast_source": {"$ref": "#/$defs/address"},
                # keepalived's mcast_src_ip: one the interface holds (IPv6: link-local,
                # RFC 9568 §5.1.2.1); not held is FAULT (address).
                "multicast_source": {"$ref": "#/$defs/address"},
                "unicast_peers": {
                    "description": "Send adverts to these peers instead of the multicast group.",
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"$ref": "#/$defs/address"},
                    "default": [],
                },
                "unicast_ttl": {
                    "description": (
                        "With unicast_peers only: the TTL / hop limit unicast adverts are "
                        "sent with (keepalived's unicast_ttl). Below 255 (peers a routed "
                        "path away), this instance's unicast adverts are accepted with any "
                        "TTL; 255 keeps the RFC 9568 §7.1 check. Multicast: always 255."
                    ),
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 255,
                    "default": 255,
                },
                "vmac": {
                    "description": "Use the virtual MAC on a macvlan interface.",
                    "type": "boolean",
                    "default": False,
                },
                "vmac_interface": {"$ref": "#/$defs/interface"},
                "track_interfaces": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/track_interface"},
                    "default": [],
                },
                "track_files": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/track_file"},
                    "default": [],
                },
                "track_scripts": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/track_script"},
                    "default": [],
                },
                "garp": {"$ref": "#/$defs/garp"},
                "notify": {"$ref": "#/$defs/notify"},
                "authentication": {"$ref": "#/$defs/authentication"},
                "checksum_form": {
                    "description": (
                        "VRRPv3 over IPv4 only: 'pseudo_header' (the default, what "
                        "keepalived and FRR send) or 'rfc9568' (VRRP message only)."
                    ),
                    "enum": ["rfc9568", "pseudo_header"],
                    "default": "pseudo_header",
                },
            },
            "allOf": [
                {
                    "if": {"properties": {"version": {"const": 2}}, "required": ["version"]},
                    "then": {
                        "properties": {
                            "advert_interval": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 255,
                                "x-rule": (
                                    "VRRP version 2 advertises in whole seconds from 1 to "
                                    "255 (RFC 3768 §5.3.7)"
                                ),
                            },
                            "checksum_form": {
                                "not": {},
                                "x-rule": "checksum_form applies to VRRP version 3 over IPv4 only",
                            },
                        },
                    },
                    "else": {
                        "properties": {
                            "advert_interval": {
                                "maximum": 40.95,
                                "x-rule": (
                                    "VRRP version 3 advertises every 0.01 to 40.95 seconds "
                                    "(RFC 9568 §5.2.7)"
                                ),
                            },
                            "authentication": {
                                "not": {},
                                "x-rule": (
                                    "authentication exists in VRRP version 2 only "
                                    "(RFC 9568 §9 removed it); set version: 2 or drop it"
                                ),
                            },
                        },
                    },
                },
                {
                    "if": {
                        "required": ["unicast_peers"],
                        "properties": {"unicast_peers": {"minItems": 1}},
                    },
                    "then": {
                        "properties": {
                            "multicast_source": {
                                "not": {},
                                "x-rule": (
                                    "multicast_source applies to multicast adverts; with "
                                    "unicast_peers, set unicast_source"
                                ),
                            }
                        }
                    },
                },
                {
                    "if": {"required": ["multicast_source"]},
                    "then": {
                        "properties": {
                            "unicast_source": {
                                "not": {},
                                "x-rule": (
                                    "unicast_source and multicast_source both name the advert "
                                    "source; set one of them"
                                ),
                            }
                        }
                    },
                },
                {
                    "if": {"required": ["vmac_interface"]},
                    "then": {
                        "required": ["vmac"],
                        "properties": {
                            "vmac": {
                                "const": True,
                                "x-rule": "vmac_interface is only used with vmac: true",
                            }
                        },
                        "x-rule": "vmac_interface is only used with vmac: true",
                    },
                },
            ],
        },
        **schema_routes.DEFS,
        "sync_group": {
            "description": "Instances that move between states together.",
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "members"],
            "properties": {
                "name": {"$ref": "#/$defs/name"},
                "description": _DESCRIPTION,
                "members": {
                    "description": "Names of the member instances.",
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"$ref": "#/$defs/name"},
                },
                "notify": {"$ref": "#/$defs/notify"},
            },
        },
    },
}


def property_defaults(definition: str) -> dict[str, Any]:
    """The ``default`` of each property of ``$defs[definition]`` that has one.

    The typed config fills its defaults from here, so they are written once.
    """
    properties: dict[str, Any] = CONFIG_SCHEMA["$defs"][definition]["properties"]
    defaults: dict[str, Any] = {}
    for key, subschema in properties.items():
        if "$ref" in subschema:
            continue
        if "default" in subschema:
            defaults[key] = subschema["default"]
    return defaults


# --- checking a document against the schema ------------------------------

_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JSON_TYPES: Final = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def json_path(parts: Iterable[object]) -> str:
    """``("instances", 1, "vrid")`` -> ``instances[1].vrid``, as a user reads it."""
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{show(part)}]"
    return out


def _sorted_set(value: object) -> object:
    # A YAML !!set in hash order would read differently in each process (the
    # runner and its checker child): sorted, the message is always the same.
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(type(value).__name__)


def show(value: object, *, limit: int = 60) -> str:
    """A short JSON-like rendering of a user's value for an error message."""
    try:
        text = json.dumps(
            value, ensure_ascii=False, sort_keys=True, allow_nan=True, default=_sorted_set
        )
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type(value: object) -> str:
    """The JSON type name of a Python value, as a user would say it."""
    if isinstance(value, bool):
        return "a boolean"
    names = (
        (dict, "an object"),
        (list, "a list"),
        (str, "a string"),
        (int, "an integer"),
        (float, "a number"),
        (type(None), "null"),
    )
    for cls, name in names:
        if isinstance(value, cls):
            return name
    return f"a {type(value).__name__}"


def _first_duplicate(items: list[Any]) -> int | None:
    for index, item in enumerate(items):
        for earlier in items[:index]:
            if earlier == item and isinstance(earlier, bool) == isinstance(item, bool):
                return index
    return None  # pragma: no cover - jsonschema's equality is at least as strict


def _rule(error: jsonschema.exceptions.ValidationError) -> tuple[list[object], str]:
    """Turn one jsonschema error into (JSON path parts, plain-words rule)."""
    path: list[object] = list(error.absolute_path)
    keyword = error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    x_rule = schema.get("x-rule")
    if keyword == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        unknown = next(key for key in value if key not in allowed)
        close = difflib.get_close_matches(str(unknown), allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(allowed)
        return [*path, unknown], f"unknown key {str(unknown)!r}; {hint}"
    if keyword == "required":
        missing = next(key for key in expected if key not in value)
        return path, x_rule or f"the required key {missing!r} is missing"
    if keyword == "uniqueItems":
        index = _first_duplicate(value)
        if index is not None:
            return [*path, index], f"{show(value[index])} is listed twice"
    if schema.get("writeOnly"):
        # A secret (the VRRPv2 password) never appears in a message or a log.
        return path, x_rule or f"invalid value ({keyword})"
    if x_rule:
        return path, x_rule if keyword == "not" else f"{x_rule}; got {show(value)}"
    return path, _keyword_rule(str(keyword), expected, value) or error.message


def _keyword_rule(keyword: str, expected: Any, value: Any) -> str | None:
    got = show(value)
    size = len(value) if isinstance(value, (list, str)) else 0
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_JSON_TYPES.get(t, t) for t in types)
        return f"expected {wanted}, got {json_type(value)} {got}"
    if keyword == "enum":
        return "must be one of " + ", ".join(show(v) for v in expected) + f"; got {got}"
    templates = {
        "minimum": "must be at least {expected}, got {got}",
        "maximum": "must be at most {expected}, got {got}",
        "exclusiveMinimum": "must be greater than {expected}, got {got}",
        "const": "must be {shown}, got {got}",
        "minItems": "needs at least {expected} item(s), got {size}",
        "minLength": "must have at least {expected} character(s), got {got}",
        "maxLength": "must have at most {expected} characters, got {size}",
        "pattern": "must match the pattern {expected}, got {got}",
        "not": "is not allowed here",
    }
    template = templates.get(keyword)
    if template is None:  # pragma: no cover - a keyword the schema does not use
        return None
    return template.format(expected=expected, shown=show(expected), got=got, size=size)


@functools.cache
def _validator(definition: str | None) -> Any:
    """A compiled validator for the whole config or for one ``$defs`` entry."""
    _deps.require_jsonschema()
    js = _deps.jsonschema
    # Draft 7 is the fallback for old distribution packages (see the docstring).
    cls = getattr(js, "Draft202012Validator", None) or js.Draft7Validator
    schema = CONFIG_SCHEMA
    if definition is not None:
        schema = {"$defs": CONFIG_SCHEMA["$defs"], "allOf": [{"$ref": f"#/$defs/{definition}"}]}
    return cls(schema)


def _non_finite(value: object, path: tuple[object, ...]) -> tuple[object, ...] | None:
    # NaN passes every minimum and maximum of JSON Schema; YAML (.nan) and
    # Python's json module (NaN) both produce it.
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        children: Iterable[tuple[object, object]] = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return None
    for key, child in children:
        found = _non_finite(child, (*path, key))
        if found is not None:
            return found
    return None


def check(
    document: object, *, definition: str | None = None, prefix: tuple[object, ...] = ()
) -> None:
    """Validate ``document`` against the schema (or one ``$defs`` entry).

    Raises :class:`ConfigError` for the most relevant violation, its path
    prefixed with ``prefix``; :class:`MissingLibraryError` without jsonschema.
    """
    validator = _validator(definition)
    try:
        bad = _non_finite(document, prefix)
        if bad is not None:
            raise ConfigError(json_path(bad), "must be a finite number, got NaN or infinity")
        error = _deps.jsonschema.exceptions.best_match(validator.iter_errors(document))
    except RecursionError:
        raise ConfigError(json_path(prefix), "nested too deeply (or refers to itself)") from None
    if error is not None:
        path, rule = _rule(error)
        raise ConfigError(json_path((*prefix, *path)), rule)


def validate_instance(obj: object) -> None:
    """Check one instance against ``$defs/instance``; paths start inside it."""
    check(obj, definition="instance")


def validate_sync_group(obj: object) -> None:
    """Check one sync group against ``$defs/sync_group``; paths start inside it."""
    check(obj, definition="sync_group")


def main(argv: list[str] | None = None) -> int:
    """Print the schema as JSON (``python -m vrrp.schema``)."""
    del argv
    json.dump(CONFIG_SCHEMA, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
