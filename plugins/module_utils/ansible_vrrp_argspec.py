"""Argument specs derived from the one JSON Schema (:data:`vrrp.schema.CONFIG_SCHEMA`).

One option per schema key, its type, element type, choices (from ``enum``),
nested options and ``required`` flags; ``no_log`` where the schema marks a
string ``writeOnly`` (the VRRPv2 password). No defaults: the schema fills them,
so a key a user leaves out is left out. The spec is looser than the schema on
purpose: the schema (through :func:`vrrp.config.load_instance`) judges every
value, never a restatement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ansible_collections.failover.vrrp.plugins.module_utils.vrrp import control
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.schema import CONFIG_SCHEMA

DEFAULT_CONFIG_DIR: Final = "/etc/failover-vrrp"
DEFAULT_SOCKET: Final = control.DEFAULT_SOCKET

_TYPES: Final = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_ENUM_TYPES: Final = {bool: "bool", int: "int", str: "str", float: "float"}


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    name = str(ref).rsplit("/", 1)[-1]
    return _resolve(CONFIG_SCHEMA["$defs"][name])


def _element(items: Mapping[str, Any], spec: dict[str, Any]) -> None:
    node = _resolve(items)
    if node.get("type") == "object":
        spec["elements"] = "dict"
        spec["options"] = _options(node)
    else:
        # No single type (an address or an object with options): the schema checks it.
        spec["elements"] = _TYPES.get(node.get("type", ""), "raw")


def _option(node: Mapping[str, Any], *, required: bool) -> dict[str, Any]:
    node = _resolve(node)
    spec: dict[str, Any] = {}
    if "enum" in node:
        choices = list(node["enum"])
        spec["type"] = _ENUM_TYPES[type(choices[0])]
        spec["choices"] = choices
    elif node.get("type") == "object":
        spec["type"] = "dict"
        spec["options"] = _options(node)
    elif node.get("type") == "array":
        spec["type"] = "list"
        _element(node["items"], spec)
    elif "type" not in node:
        spec["type"] = "raw"  # a number or a name (a routing table): the schema checks it
    else:
        spec["type"] = _TYPES[node["type"]]
        if node.get("writeOnly") and node["type"] == "string":
            spec["no_log"] = True
    if required:
        spec["required"] = True
    return spec


def _options(node: Mapping[str, Any], *, top: bool = False) -> dict[str, Any]:
    required = set(node.get("required", ()))
    return {
        # Top level: only the name is always required (state=absent needs no more).
        key: _option(sub, required=key in required and (not top or key == "name"))
        for key, sub in node["properties"].items()
    }


def schema_spec(definition: str) -> dict[str, Any]:
    """The argument spec for the keys of ``$defs[definition]`` (instance, sync_group)."""
    return _options(CONFIG_SCHEMA["$defs"][definition], top=True)


def required_when_present(definition: str) -> list[tuple[str, str, list[str]]]:
    """``required_if`` for ``state=present``: the schema's required keys but the name."""
    keys = [k for k in CONFIG_SCHEMA["$defs"][definition]["required"] if k != "name"]
    return [("state", "present", keys)]


def fragment_spec(definition: str) -> dict[str, Any]:
    """The whole argument spec of ``vrrp_instance`` / ``vrrp_sync_group``."""
    spec = schema_spec(definition)
    spec.update(
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        config_dir={"type": "path", "default": DEFAULT_CONFIG_DIR},
        control_socket={"type": "path", "default": DEFAULT_SOCKET},
        reload={"type": "bool", "default": True},
    )
    return spec


def schema_object(params: Mapping[str, Any], definition: str) -> dict[str, Any]:
    """The schema keys of a module's parameters, unset (None) values left out."""
    keys = CONFIG_SCHEMA["$defs"][definition]["properties"]
    return {key: without_none(params[key]) for key in keys if params.get(key) is not None}


def without_none(value: Any) -> Any:
    # Ansible fills every unset sub-option with None; the schema wants it absent.
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value
