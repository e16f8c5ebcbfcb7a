#!/usr/bin/python
# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402 - the documentation comes first in an Ansible module

DOCUMENTATION = r"""
module: vrrp_maintenance
short_description: Demote a host's VRRP instances for maintenance, and restore them
version_added: 0.1.0
description:
  - Rolling maintenance through the failover.vrrp runner's control socket.
  - O(state=demoted) sets a runtime priority for the selected instances. Priority 0 (the
    default) resigns, make-before-break; the master keeps serving while it advertises
    priority 0, hands over as soon as a peer takes over, and then stays BACKUP at priority 1.
  - With O(wait=true), returns only when this host is BACKUP and a peer (not one of this
    host's addresses) is heard as MASTER for every selected instance, and this host has let
    go of its addresses.
  - O(state=restored) puts the configured priority back; the instance preempts again if its
    configuration says so.
  - The runner persists demotions across restarts; C(ansible_facts.vrrp) reports them per
    instance as C(demoted).
  - Idempotent; an instance already demoted at O(priority) (or not demoted, for
    O(state=restored)) is left alone.
author:
  - failover.vrrp developers (@failover)
requirements:
  - pyroute2 (on the managed host, for O(wait=true) with O(state=demoted))
extends_documentation_fragment:
  - failover.vrrp.attributes
  - failover.vrrp.attributes.platform
  - failover.vrrp.runner
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  state:
    description:
      - V(demoted) lowers the runtime priority, V(restored) removes the demotion.
    type: str
    choices: [demoted, restored]
    required: true
  instances:
    description:
      - The instances to demote or restore; all of the runner's when unset.
    type: list
    elements: str
  priority:
    description:
      - The runtime priority while demoted, 1 to 254, or 0 to resign (see above).
    type: int
    default: 0
  wait:
    description:
      - With O(state=demoted), wait until a peer is master of every selected instance.
        Ignored with O(state=restored); wait with M(failover.vrrp.vrrp_state) instead.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait before failing.
    type: float
    default: 60
seealso:
  - module: failover.vrrp.vrrp_state
"""

EXAMPLES = r"""
- name: Hand every instance of this host over to its peer
  failover.vrrp.vrrp_maintenance:
    state: demoted

- name: Run web at a lower priority without waiting
  failover.vrrp.vrrp_maintenance:
    state: demoted
    instances: [web]
    priority: 50
    wait: false

- name: Back to the configured priorities
  failover.vrrp.vrrp_maintenance:
    state: restored
"""

RETURN = r"""
instances:
  description: The instances selected.
  returned: success
  type: list
  elements: str
  sample: [web, db]
elapsed:
  description: Seconds spent waiting for the peer to take over.
  returned: when it waited
  type: float
  sample: 3.1
converged:
  description:
    - Every selected instance is MASTER, or BACKUP hearing a MASTER it will not preempt, as
      M(failover.vrrp.vrrp_state) judges it (RV(failover.vrrp.vrrp_state#module:converged)).
  returned: success, unless in check mode
  type: bool
  sample: true
waiting:
  description: What each instance that has not converged waits for.
  returned: success, unless in check mode
  type: list
  elements: str
  sample: []
report:
  description: One line per selected instance, converged or not.
  returned: success, unless in check mode
  type: list
  elements: str
  sample: ["web is BACKUP of MASTER 192.0.2.12 (priority 100), which it will not preempt"]
ansible_facts:
  description:
    - The runner's state afterwards, as M(failover.vrrp.vrrp_state) returns it (with each
      instance's C(demoted) priority).
  returned: success
  type: dict
  contains:
    vrrp:
      description: The runner's state.
      type: dict
      returned: success
"""

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_errors import (
    fail_from_error,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_maintenance import (
    maintain,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_runner import (
    DEFAULT_SOCKET,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_verdicts import (
    converge_report,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "control_socket": {"type": "path", "default": DEFAULT_SOCKET},
            "state": {"type": "str", "choices": ["demoted", "restored"], "required": True},
            "instances": {"type": "list", "elements": "str"},
            "priority": {"type": "int", "default": 0},
            "wait": {"type": "bool", "default": True},
            "timeout": {"type": "float", "default": 60.0},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = maintain(
            params["control_socket"],
            state=params["state"],
            names=params["instances"],
            priority=params["priority"],
            wait=params["wait"],
            timeout=params["timeout"],
            check_mode=module.check_mode,
        )
    except VRRPError as exc:
        fail_from_error(module, exc)
    if not module._diff:
        del result["diff"]
    if not module.check_mode:
        result.update(converge_report(result["ansible_facts"]["vrrp"], result["instances"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
