"""The Ansible face of the engine: argument specs, the error bridge, runner queries.

Only this file, :mod:`ansible_vrrp_fragments` and the modules import
``ansible``; the engine package ``vrrp`` never does.

- Argument specs are *derived* from the one JSON Schema
  (:data:`vrrp.schema.CONFIG_SCHEMA`): one option per schema key, its type,
  element type, choices (from ``enum``), nested options and ``required``
  flags; ``no_log`` where the schema marks a string ``writeOnly`` (the VRRPv2
  password). No defaults: the schema fills them, so a key a user leaves out is
  left out. The spec is looser than the schema on purpose: the schema (through
  :func:`vrrp.config.load_instance`) judges every value, never a restatement.
- :func:`fail_from_error` turns the engine's one error tree into
  ``fail_json``: ``missing_required_lib`` for a missing library, ``path`` and
  ``rule`` (and ``file``) for a :class:`~vrrp.errors.ConfigError`.
- :func:`probe_links` reports the link probes for ``vrrp_link_probe``.
- :func:`gather_facts` and :func:`wait_for_instances` read the runner over its
  control socket for ``vrrp_state``; :func:`maintain` demotes and restores for
  ``vrrp_maintenance``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from ipaddress import ip_address
from typing import Any, Final, NoReturn

from ansible.module_utils.basic import (  # type: ignore[import-untyped]
    AnsibleModule,
    missing_required_lib,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp import control
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp._deps import (
    MissingLibraryError,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import (
    ConfigError,
    ControlError,
    VRRPError,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import (
    addresses,
    link,
    netlink,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.schema import CONFIG_SCHEMA

DEFAULT_CONFIG_DIR: Final = "/etc/failover-vrrp"
DEFAULT_SOCKET: Final = control.DEFAULT_SOCKET
STATES: Final = ("MASTER", "BACKUP", "FAULT", "INIT")
POLL_INTERVAL: Final = 0.2

_TYPES: Final = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_ENUM_TYPES: Final = {bool: "bool", int: "int", str: "str", float: "float"}

# --- argument specs from the schema --------------------------------------------


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
        spec["elements"] = _TYPES[node["type"]]


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


# --- the error bridge ---------------------------------------------------------------


def fail_from_error(module: AnsibleModule, exc: VRRPError, **extra: Any) -> NoReturn:
    """``fail_json`` for an engine error; the one place modules turn errors into results."""
    if isinstance(exc, MissingLibraryError):
        module.fail_json(
            msg=missing_required_lib(exc.library), exception=exc.import_traceback, **extra
        )
    if isinstance(exc, WaitTimeoutError):
        extra.setdefault("ansible_facts", {"vrrp": exc.facts})
    if isinstance(exc, ConfigError):
        file = getattr(exc, "file", None)
        if file is not None:
            extra["file"] = file
        module.fail_json(msg=_with_hint(str(exc)), path=exc.path, rule=exc.rule, **extra)
    module.fail_json(msg=_with_hint(str(exc)), **extra)
    raise SystemExit(1)  # pragma: no cover - fail_json exits; for the type checker


BECOME_HINT: Final = (
    "; the runner's socket and files are root's: run the task as root "
    "(become: true in a play, -b / --become ad hoc)"
)


def _with_hint(message: str) -> str:
    # A login without root meets EACCES on the control socket or the config
    # directory; the one fix is become, so the error says it. As root, a
    # "Permission denied" is something else (the runner, with fewer
    # capabilities, could not read a file): no hint.
    if os.geteuid() != 0 and "permission denied" in message.lower():
        return message + BECOME_HINT
    return message


# --- reading the runner ------------------------------------------------------------


class SelectionError(VRRPError):
    """The module named an instance the runner does not run."""


def gather_facts(socket_path: str, *, history: int = 0, timeout: float = 10.0) -> dict[str, Any]:
    """``ansible_facts.vrrp``: the runner's state, each instance with its last transitions."""
    facts: dict[str, Any] = control.call(socket_path, "state", timeout=timeout)
    if not isinstance(facts, dict) or not isinstance(facts.get("instances"), dict):
        raise ControlError(f"the runner on {socket_path} sent a state without instances")
    transitions: Mapping[str, Any] = {}
    if history > 0 and facts["instances"]:
        transitions = control.call(socket_path, "history", limit=history, timeout=timeout)
    for name, instance in facts["instances"].items():
        instance["history"] = list(transitions.get(name, ()))
    return facts


def select(facts: Mapping[str, Any], names: Iterable[str] | None) -> list[str]:
    """The instances named (all when ``names`` is None), checked against the runner's."""
    known = sorted(facts["instances"])
    if names is None:
        return known
    wanted = list(dict.fromkeys(names))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise SelectionError(
            f"the runner has no instance named {', '.join(map(repr, unknown))} "
            f"(it runs: {', '.join(known) or 'none'})"
        )
    return wanted


Verdict = Callable[[str, Mapping[str, Any]], "str | None"]


def wait_for_instances(
    socket_path: str,
    names: list[str] | None,
    verdict: Verdict,
    *,
    timeout: float,
    what: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any], list[str], float]:
    """Poll the runner until ``verdict`` is None (satisfied) for every selected instance.

    ``verdict(name, instance)`` says why an instance is not there yet. Returns
    the last state, the instances waited for and the time taken; raises
    :class:`WaitTimeoutError` (with the last state) when ``timeout`` runs out.
    """
    start = clock()
    while True:
        facts = control.call(socket_path, "state")
        selected = select(facts, names)
        if not selected:
            raise SelectionError(f"the runner on {socket_path} runs no instances to wait for")
        pending = {name: verdict(name, facts["instances"][name]) for name in selected}
        waiting = {name: why for name, why in pending.items() if why is not None}
        elapsed = clock() - start
        if not waiting:
            return facts, selected, elapsed
        if elapsed >= timeout:
            detail = "; ".join(f"{name} {why}" for name, why in sorted(waiting.items()))
            raise WaitTimeoutError(
                f"timed out after {timeout:g} s waiting for {what}: {detail}", facts=facts
            )
        sleep(min(POLL_INTERVAL, max(0.0, timeout - elapsed)))


class WaitTimeoutError(VRRPError):
    """The instances did not get where they were awaited; ``facts`` is the last state."""

    def __init__(self, message: str, *, facts: dict[str, Any]) -> None:
        super().__init__(message)
        self.facts = facts


def describe(instance: Mapping[str, Any]) -> str:
    """``is BACKUP (master 192.0.2.2, priority 100)`` for a wait's message."""
    text = f"is {instance.get('state')}"
    master = instance.get("master")
    if master is not None:
        text += f" (master {master}, priority {instance.get('master_priority')})"
    else:
        text += " (no master heard)"
    return text


# --- link probes ---------------------------------------------------------------------

PROBE_METHODS: Final = (link.NETLINK, *link.METHODS)
_IFF_LOOPBACK: Final = 0x8


def _is_loopback(ifname: str) -> bool:
    try:
        with open(f"/sys/class/net/{ifname}/flags", encoding="ascii") as handle:
            return bool(int(handle.read().strip(), 16) & _IFF_LOOPBACK)
    except (OSError, ValueError):
        return ifname == "lo"


def host_interfaces() -> list[str]:
    """Every interface of this host but the loopback, sorted by name."""
    return sorted(name for _index, name in socket.if_nameindex() if not _is_loopback(name))


def probe_links(names: list[str] | None, required: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Per interface, which probes work and which the runner polls; the unmet requirements.

    Netlink events need pyroute2 (the runner's codec): without it netlink is
    reported unsupported, and requiring it raises ``MissingLibraryError``.
    """
    host = socket.gethostname()
    if names is None:
        names = host_interfaces()
    for name in names:
        try:
            socket.if_nametoindex(name)
        except OSError:
            raise SelectionError(f"interface {name!r} does not exist on host {host}") from None
    if link.NETLINK in required:
        netlink.require_pyroute2()
    reports: dict[str, Any] = {}
    problems: list[str] = []
    for name in dict.fromkeys(names):
        report: dict[str, Any] = link.probe_report(name).as_dict()
        methods: dict[str, Any] = report["methods"]
        if netlink.PYROUTE2_IMPORT_ERROR is not None:
            methods[link.NETLINK] = {
                "supported": False,
                "result": link.UNSUPPORTED,
                "detail": "the Python library pyroute2 is not installed",
            }
        reports[name] = {"methods": methods, "best": report["best"]}
        for method in required:
            if methods[method]["result"] == link.DENIED:
                problems.append(
                    f"host {host}, interface {name}: link probe {method!r} needs root "
                    f"(CAP_NET_ADMIN; the kernel answered {methods[method]['detail'].split(':')[0]}"
                    "): run the task with become: true"
                )
            elif not methods[method]["supported"]:
                detail = methods[method]["detail"]
                problems.append(
                    f"host {host}, interface {name}: link probe {method!r} is unsupported"
                    + (f" ({detail})" if detail else "")
                )
    return reports, problems


# --- maintenance ---------------------------------------------------------------------


def local_addresses() -> set[str]:
    """Every address of this host (needs pyroute2, as the runner does)."""
    with netlink.Rtnl() as rtnl:
        messages = rtnl.addresses()
    found = (addresses.address_from_message(msg) for msg in messages)
    return {str(addr.interface.ip) for addr in found if addr is not None}


def handed_over(local: set[str]) -> Verdict:
    """Satisfied when this host is BACKUP and a peer (not us) is heard as MASTER."""

    def verdict(_name: str, inst: Mapping[str, Any]) -> str | None:
        master = inst.get("master")
        if inst.get("state") != "BACKUP" or master is None:
            return describe(inst)
        if str(ip_address(str(master).split("%", 1)[0])) in local:
            return f"is BACKUP but the master heard ({master}) is this host"
        return None

    return verdict


def maintain(
    socket_path: str,
    *,
    state: str,
    names: list[str] | None,
    priority: int,
    wait: bool,
    timeout: float,
    check_mode: bool,
) -> dict[str, Any]:
    """Demote (``state=demoted``) or restore instances; the module's result.

    Idempotent: an instance already demoted at ``priority`` (or not demoted,
    for ``restored``) is left alone. With ``wait`` and ``demoted``, returns
    once every selected instance is BACKUP under a peer master.
    """
    control.COMMANDS["demote"]["priority"].check("demote", "priority", priority)
    facts = control.call(socket_path, "state")
    targets = select(facts, names)
    before = {name: facts["instances"][name].get("demoted") for name in targets}
    after = {name: priority if state == "demoted" else None for name in targets}
    todo = [name for name in targets if before[name] != after[name]]
    result: dict[str, Any] = {
        "changed": bool(todo),
        "instances": targets,
        "diff": {"before": before, "after": after},
    }
    if check_mode:
        result["ansible_facts"] = {"vrrp": facts}
        return result
    for name in todo:
        if state == "demoted":
            control.call(socket_path, "demote", instance=name, priority=priority)
        else:
            control.call(socket_path, "restore", instance=name)
    if wait and state == "demoted" and targets:
        _last, _names, result["elapsed"] = wait_for_instances(
            socket_path,
            targets,
            handed_over(local_addresses()),
            timeout=timeout,
            what="BACKUP under a peer master",
        )
    result["ansible_facts"] = {"vrrp": gather_facts(socket_path, history=5)}
    return result
