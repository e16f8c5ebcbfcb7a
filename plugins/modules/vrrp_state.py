#!/usr/bin/python
# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402 - the documentation comes first in an Ansible module

DOCUMENTATION = r"""
module: vrrp_state
short_description: Gather the failover.vrrp runner's live VRRP state as facts
version_added: 0.1.0
description:
  - Reads the runner over its control socket and returns C(ansible_facts.vrrp) with the runner's
    version, PID and uptime, and per instance its state, priorities, the master heard, since
    when, its faults, its maintenance demotion and its last transitions.
  - Works as an ad hoc fact gatherer, C(ansible all -m failover.vrrp.vrrp_state).
  - With O(wait_for), polls until every selected instance is in that state, for convergence
    in playbooks; fails after O(timeout) seconds naming the instances that are not.
  - A host where no runner listens fails with a clear message.
author:
  - failover.vrrp developers (@failover)
extends_documentation_fragment:
  - failover.vrrp.attributes
  - failover.vrrp.attributes.platform
  - failover.vrrp.runner
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  wait_for:
    description:
      - Wait until every instance of O(instances) is in this state.
    type: str
    choices: [MASTER, BACKUP, FAULT, INIT]
  instances:
    description:
      - The instances O(wait_for) waits for; all of the runner's when unset. The facts always
        hold every instance.
    type: list
    elements: str
  timeout:
    description:
      - Seconds to wait for O(wait_for) before failing.
    type: float
    default: 30
  history:
    description:
      - How many of each instance's last transitions to return (0 for none).
    type: int
    default: 5
seealso:
  - module: failover.vrrp.vrrp_maintenance
"""

EXAMPLES = r"""
- name: Gather VRRP facts
  failover.vrrp.vrrp_state:

- name: Show who is master of web
  ansible.builtin.debug:
    msg: "{{ ansible_facts.vrrp.instances.web.master }}"

- name: Wait until this host is master of web
  failover.vrrp.vrrp_state:
    wait_for: MASTER
    instances: [web]
    timeout: 10
"""

RETURN = r"""
ansible_facts:
  description: The facts.
  returned: always
  type: complex
  contains:
    vrrp:
      description: The runner's state.
      returned: always
      type: complex
      contains:
        version:
          description: The runner's version.
          type: str
          returned: always
          sample: 0.1.0
        pid:
          description: The runner's process ID.
          type: int
          returned: always
          sample: 4242
        uptime:
          description: Seconds since the runner started.
          type: float
          returned: always
          sample: 3600.5
        runtime_fail_safe:
          description:
            - Why every instance runs demoted (priority 0) since the runner found its
              runtime state record unreadable, until an operator restores them
              (M(failover.vrrp.vrrp_maintenance) with C(state=restored));
              null normally.
          type: str
          returned: always
          sample: null
        instances:
          description:
            - Per instance name, C(state) (INIT, BACKUP, MASTER or FAULT), C(priority) (as
              configured), C(effective_priority) (after tracking and demotion), C(master) and
              C(master_priority) (the master heard, null when none), C(preempt) and
              C(preempt_delay) (as configured; whether a BACKUP hearing a lower priority
              master takes over, and after how many seconds), C(since) (Unix time of the
              last transition), C(vrid), C(version), C(interface), C(virtual_addresses),
              C(advert_interval), C(master_advert_interval), C(link_probe), C(faults),
              C(demoted) (the maintenance priority, null when not demoted), C(group) (the sync
              group) and C(history) (the last transitions, oldest first, each with C(from),
              C(to), C(cause) and C(time)).
          type: dict
          returned: always
          sample:
            web:
              state: MASTER
              priority: 150
              effective_priority: 150
              master: 192.0.2.2
              master_priority: 150
              preempt: true
              preempt_delay: 0.0
              since: 1735689600.0
              vrid: 51
              version: 3
              interface: eth0
              virtual_addresses: [192.0.2.10/24]
              advert_interval: 1.0
              master_advert_interval: 1.0
              link_probe: ethtool
              faults: []
              demoted: null
              group: null
              history:
                - {from: BACKUP, to: MASTER, cause: master_down timer, time: 1735689600.0}
elapsed:
  description: Seconds spent waiting for O(wait_for).
  returned: when O(wait_for) is set
  type: float
  sample: 3.2
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp import (
    DEFAULT_SOCKET,
    STATES,
    describe,
    fail_from_error,
    gather_facts,
    wait_for_instances,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "control_socket": {"type": "path", "default": DEFAULT_SOCKET},
            "wait_for": {"type": "str", "choices": list(STATES)},
            "instances": {"type": "list", "elements": "str"},
            "timeout": {"type": "float", "default": 30.0},
            "history": {"type": "int", "default": 5},
        },
        supports_check_mode=True,
    )
    params = module.params
    socket_path = params["control_socket"]
    result: dict[str, Any] = {"changed": False}
    try:
        wanted = params["wait_for"]
        if wanted is not None:
            _last, _names, result["elapsed"] = wait_for_instances(
                socket_path,
                params["instances"],
                lambda _name, inst: None if inst.get("state") == wanted else describe(inst),
                timeout=params["timeout"],
                what=wanted,
            )
        facts = gather_facts(socket_path, history=max(0, params["history"]))
    except VRRPError as exc:
        fail_from_error(module, exc)
    module.exit_json(ansible_facts={"vrrp": facts}, **result)


if __name__ == "__main__":
    main()
