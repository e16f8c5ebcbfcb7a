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
  - With O(wait_for=converged), polls until every selected instance has converged (MASTER, or
    BACKUP hearing a MASTER it will not take over from); RV(converged), RV(waiting) and
    RV(report) say the same of every call. A MASTER counts only once it has been MASTER for
    its Master_Down_Interval (3 times its advert interval plus its skew time); by then a peer
    above it has been heard (a peer that will preempt it is itself not converged). Its age
    in the state (C(state_age)) is computed on the host.
  - With O(fleet), judges a group of hosts instead of reading a runner (nothing is contacted), for
    exactly one MASTER per instance across them, counting the master a BACKUP hears (RV(fleet)).
  - Reports drift, where the host differs from what its runner says it should be, as
    C(drift_count) and C(drift) in RV(ansible_facts.vrrp) and C(drift) per instance. A MASTER
    without one of its virtual addresses (exactly as declared, on the interface it lives on) or its
    VMAC, a BACKUP, FAULT or INIT instance whose virtual address the host holds, a fragment
    in O(config_dir) that the runner does not run as it is (a failed or pending reload), a
    runtime demotion in force. The verdict is the engine's (C(vrrp.drift)). The host's
    addresses are read through netlink with pyroute2; without it they are not judged, with
    a warning.
  - A host where no runner listens fails with a clear message; a C(Permission denied) on the
    socket says to run with C(become).
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
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
options:
  config_dir:
    description:
      - The runner's configuration directory, compared with what the runner runs for drift;
        not compared when it does not exist.
    type: path
    default: /etc/failover-vrrp
  wait_for:
    description:
      - Wait until every instance of O(instances) is in this state; V(converged) waits until each
        is MASTER (for its Master_Down_Interval, see RV(converged)) or a BACKUP that will not
        take over from the MASTER it hears.
    type: str
    choices: [MASTER, BACKUP, FAULT, INIT, converged]
  fleet:
    description:
      - The state of a group of hosts to judge, instead of this host's runner. Either a mapping
        of host name to its C(vrrp) facts, or the C(results) of a looped M(failover.vrrp.vrrp_state)
        task (each item a host name, delegated to it).
      - The result is RV(fleet); no runner is contacted and no facts are returned.
      - O(instances) selects the instances judged (all those any host runs when unset).
    type: raw
  instances:
    description:
      - The instances O(wait_for) waits for; all of the runner's when unset. The facts always
        hold every instance.
    type: list
    elements: str
  timeout:
    description:
      - Seconds to wait for O(wait_for) before failing.
      - A MASTER that is new during the wait counts once it has been MASTER for its
        Master_Down_Interval (about 3.6 times its advert interval), so the bound must exceed
        that; 30 s covers advert intervals up to 8 s, 60 s up to 16 s.
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
              last transition), C(state_age) (seconds in the current state, computed on
              the host from its own clock and C(since)), C(vrid), C(version), C(interface),
              C(virtual_addresses), C(advert_interval), C(master_advert_interval),
              C(link_probe), C(faults),
              C(demoted) (the maintenance priority, null when not demoted), C(group) (the sync
              group), C(vmac_interface) (where a VMAC instance's addresses live, null without
              VMAC), C(vip_interfaces) (the virtual addresses declared on another
              interface, address to interface), C(config_digest) (a digest of the
              definition the runner runs), C(releasing) (a BACKUP that resigned and still
              holds its addresses until its successor announced them, for 0.2 s at most),
              C(history) (the last transitions, oldest first, each with C(from),
              C(to), C(cause) and C(time)) and C(drift) (a list of C(kind) and C(message), of kinds
              C(vip_missing), C(vmac_missing), C(vip_held), C(config_not_running),
              C(demoted); empty when the instance is as it should be).
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
              state_age: 42.5
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
              vmac_interface: null
              vip_interfaces: {}
              config_digest: 3f1c2a9b0d4e5f61
              releasing: false
              history:
                - {from: BACKUP, to: MASTER, cause: master_down timer, time: 1735689600.0}
              drift: []
        drift:
          description:
            - The host's drift not tied to a running instance, each a C(kind) and a
              C(message), C(config_not_running) (a fragment in O(config_dir) the runner
              does not run), C(config_unreadable) (O(config_dir) cannot be loaded).
          type: list
          elements: dict
          returned: always
          sample:
            - kind: config_not_running
              message: >-
                instance db is in the configuration directory but the runner does not run
                it (a reload failed or is pending)
        drift_count:
          description: How many drift items, of every instance and of the host (0 when none).
          type: int
          returned: always
          sample: 1
converged:
  description:
    - Every selected instance is MASTER, or BACKUP hearing a MASTER it will not preempt (a
      Backup preempts only a lower priority, RFC 9568 section 6.4.2; the address owner always).
    - A MASTER counts once it has been MASTER for its Master_Down_Interval (plus its preempt
      delay when preempt is on and it is not the owner), so that a snapshot taken during an
      election, before a higher peer was heard, is not taken for converged.
  returned: unless O(fleet) is set
  type: bool
  sample: true
waiting:
  description: What each instance that has not converged waits for.
  returned: unless O(fleet) is set
  type: list
  elements: str
  sample: ["web is BACKUP and hears no MASTER, waiting for one"]
report:
  description: One line per selected instance, converged or not.
  returned: unless O(fleet) is set
  type: list
  elements: str
  sample:
    - web is BACKUP of MASTER 192.0.2.11 (priority 150), which it will not preempt (preempt off)
fleet:
  description: The verdict on O(fleet).
  returned: when O(fleet) is set
  type: dict
  contains:
    one_master:
      description: Every instance has exactly one MASTER across the hosts.
      type: bool
    problems:
      description: One line per instance without exactly one MASTER, naming the hosts and states.
      type: list
      elements: str
    instances:
      description: Per instance, C(masters) (hosts), C(heard) (master addresses BACKUPs hear),
        C(one_master), C(detail) and C(states) (host to the instance's facts).
      type: dict
    silent:
      description: Hosts of O(fleet) that returned no state.
      type: list
      elements: str
    vrids:
      description: Per VRID (a string key), C(lines) (a table, one row per instance and host,
        then its flags or C(ok)) and C(flags) (peers that disagree on the advert interval, the
        VIP set or the version; a MASTER count other than one).
      type: dict
    flagged:
      description: Every flag of RV(fleet.vrids) as C(VRID N, flag).
      type: list
      elements: str
  sample:
    one_master: true
    problems: []
    silent: []
    flagged: []
    instances:
      web: {masters: [r1], heard: [], one_master: true, detail: "instance web: MASTER is r1"}
elapsed:
  description: Seconds spent waiting for O(wait_for).
  returned: when O(wait_for) is set
  type: float
  sample: 3.2
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_argspec import (
    DEFAULT_CONFIG_DIR,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_drift import add_drift
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_errors import (
    fail_from_error,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_runner import (
    DEFAULT_SOCKET,
    STATES,
    describe,
    gather_facts,
    wait_for_instances,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_verdicts import (
    converge_report,
    fleet_verdict,
    settled,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "control_socket": {"type": "path", "default": DEFAULT_SOCKET},
            "config_dir": {"type": "path", "default": DEFAULT_CONFIG_DIR},
            "wait_for": {"type": "str", "choices": [*STATES, "converged"]},
            "fleet": {"type": "raw"},
            "instances": {"type": "list", "elements": "str"},
            "timeout": {"type": "float", "default": 30.0},
            "history": {"type": "int", "default": 5},
        },
        supports_check_mode=True,
    )
    params = module.params
    socket_path = params["control_socket"]
    result: dict[str, Any] = {"changed": False}
    if params["fleet"] is not None:
        module.exit_json(changed=False, fleet=fleet_verdict(params["fleet"], params["instances"]))
    try:
        wanted = params["wait_for"]
        if wanted == "converged":
            _last, _names, result["elapsed"] = wait_for_instances(
                socket_path,
                params["instances"],
                settled,
                timeout=params["timeout"],
                what="converged instances",
            )
        elif wanted is not None:
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
    warnings: list[str] = []
    add_drift(facts, config_dir=params["config_dir"], warnings=warnings)
    for warning in warnings:
        module.warn(warning)
    result.update(converge_report(facts, params["instances"]))
    module.exit_json(ansible_facts={"vrrp": facts}, **result)


if __name__ == "__main__":
    main()
