"""``vrrp_config``: the argument spec (from the schema) and the run of each resource state.

The change set itself (read, desired, validate, write, reload, roll back) is
:mod:`ansible_vrrp_changeset`; this file turns module parameters into it and
the outcome into a result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Final

from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_argspec import (
    DEFAULT_CONFIG_DIR,
    schema_spec,
    without_none,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_changeset import (
    KINDS,
    STATES,
    ChangeSet,
    Current,
    Objects,
    as_config,
    desired,
    given_objects,
    locked,
    read_objects,
    shown,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_fragments import (
    FragmentStore,
    hide_secrets,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_runner import (
    DEFAULT_SOCKET,
    gather_facts,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp import control

NEEDS_CONFIG: Final = ("merged", "replaced", "overridden", "rendered")


def config_spec() -> dict[str, Any]:
    """The whole argument spec of ``vrrp_config``; the items' keys are the schema's."""
    return {
        "config": {
            "type": "dict",
            "options": {
                "instances": {
                    "type": "list",
                    "elements": "dict",
                    "options": schema_spec("instance"),
                },
                "sync_groups": {
                    "type": "list",
                    "elements": "dict",
                    "options": schema_spec("sync_group"),
                },
            },
        },
        "state": {"type": "str", "choices": list(STATES), "default": "merged"},
        "config_dir": {"type": "path", "default": DEFAULT_CONFIG_DIR},
        "control_socket": {"type": "path", "default": DEFAULT_SOCKET},
        "reload": {"type": "bool", "default": True},
    }


REQUIRED_IF: Final = [("state", state, ["config"]) for state in NEEDS_CONFIG]


def _empty() -> Current:
    return Current(files={k: {} for k, _s, _w in KINDS}, objects={k: {} for k, _s, _w in KINDS})


def run_config(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    """The result of ``vrrp_config`` for ``params``; raises the engine's errors."""
    state = params["state"]
    config = without_none(params["config"])
    given = given_objects(config)
    config_dir = params["config_dir"]
    if state == "rendered":
        return _rendered(config_dir, given)
    if state == "gathered":
        return _gathered(config_dir, params["control_socket"])
    # deleted without objects: everything goes; with objects: only those named.
    everything = state == "deleted" and not any(given.values())
    guard = contextlib.nullcontext() if check_mode else locked(config_dir)
    with guard:
        current = read_objects(config_dir)
        wanted: dict[str, Objects] = {}
        for key, _subdir, _word in KINDS:
            if state == "deleted" and not everything and not given[key]:
                wanted[key] = dict(current.objects[key])
            else:
                wanted[key] = desired(state, current.objects[key], given[key], key)
        changes = ChangeSet.between(config_dir, current, wanted)
        changes.apply(
            check_mode=check_mode, reload=params["reload"], control_socket=params["control_socket"]
        )
    result: dict[str, Any] = {
        "changed": changes.changed,
        "before": as_config(current.objects),
        "after": as_config(wanted),
        "commands": changes.commands(),
        "reloaded": changes.reloaded,
        "warnings": changes.warnings,
    }
    if diff:
        result["diff"] = changes.diff()
    return result


def _rendered(config_dir: str, given: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    # Offline: the files come from the task's objects alone, checked as one set.
    wanted = {key: desired("rendered", {}, given[key], key) for key, _s, _w in KINDS}
    changes = ChangeSet.between(config_dir, _empty(), wanted)
    changes.validate()
    return {
        "changed": False,
        "rendered": {
            change.store.path(change.name): shown(change.text) for change in changes.changes
        },
        "after": as_config(wanted),
    }


def _gathered(config_dir: str, socket: str) -> dict[str, Any]:
    current = read_objects(config_dir)
    result: dict[str, Any] = {"changed": False, "gathered": as_config(current.objects)}
    in_files = set(current.objects["instances"])
    try:
        facts = gather_facts(socket)
    except control.NoRunnerError:
        result["running"] = None
        result["warnings"] = [f"no runner is listening on {socket}: only the files are gathered"]
        return result
    running = {name: inst.get("state") for name, inst in sorted(facts["instances"].items())}
    result["running"] = running
    # A file the runner does not run (written without a reload, or refused)
    # and an instance it runs without a file (removed without a reload).
    result["not_running"] = sorted(in_files - set(running))
    result["not_in_files"] = sorted(set(running) - in_files)
    return result


def run_object(
    params: Mapping[str, Any],
    *,
    key: str,
    wanted: dict[str, Any] | None,
    check_mode: bool,
    diff: bool,
) -> dict[str, Any]:
    """``vrrp_instance`` / ``vrrp_sync_group``: one object replaced (or removed, ``wanted``
    None) through the same change set as ``vrrp_config``; the result those modules return.
    """
    name, config_dir = params["name"], params["config_dir"]
    subdir, word = next((sub, w) for k, sub, w in KINDS if k == key)
    guard = contextlib.nullcontext() if check_mode else locked(config_dir)
    with guard:
        current = read_objects(config_dir)
        objects = dict(current.objects[key])
        if wanted is None:
            objects.pop(name, None)
        else:
            objects[name] = wanted
        changes = ChangeSet.between(
            config_dir,
            current,
            {k: objects if k == key else current.objects[k] for k, _s, _w in KINDS},
        )
        changes.apply(
            check_mode=check_mode, reload=params["reload"], control_socket=params["control_socket"]
        )
    path = FragmentStore(config_dir, subdir).path(name)
    result: dict[str, Any] = {
        "changed": changes.changed,
        word: hide_secrets(wanted) if wanted is not None else {},
        # Not "path": AnsibleModule would add the file's owner, mode, "state: file"...
        "file": path,
        "reloaded": changes.reloaded,
        "warnings": changes.warnings,
    }
    if diff:
        if changes.changes:
            result["diff"] = changes.diff()[0]
        else:
            text = shown(current.files[key][name].text if name in current.files[key] else None)
            result["diff"] = {
                "before": text,
                "after": text,
                "before_header": path,
                "after_header": path,
            }
    return result
