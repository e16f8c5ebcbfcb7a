#!/usr/bin/python
# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402 - the documentation comes first in an Ansible module

DOCUMENTATION = r"""
module: vrrp_plan
short_description: Predict and explain VRRP elections before anything is applied
version_added: 0.1.0
description:
  - An action plugin that runs on the controller and contacts no host. It reads each host's
    declared instances and sync groups (the M(failover.vrrp.vrrp_config) items the
    failover.vrrp.vrrp role takes) from host variables, and runs the collection's own VRRP
    state machines (the very code the hosts run) on a simulated segment to predict the
    MASTER of every virtual router, explain why, and say where each single failure leads.
  - Instances with the same interface name, address family and VRID on different hosts are
    taken to be one virtual router (one segment per interface name).
  - Each host's primary address per interface comes from its gathered facts when present
    (C(ansible_facts) of M(ansible.builtin.setup)); without it, a tie on priority is
    reported as undecided (the higher primary address wins it).
  - The live state of M(failover.vrrp.vrrp_state) (C(ansible_facts.vrrp)), when gathered,
    gives the current MASTER; with it the plan starts from that MASTER (preempt off keeps it)
    and says whether applying the declared configuration would move Mastership.
  - Findings name what is wrong across peers (different addresses, intervals, versions,
    authentication or checksum forms, asymmetric unicast peers, a VRID used for two address
    sets, two owners, no possible MASTER, a tracker weight too small to move Mastership, a
    failure that ends in a tie, a MASTER that preempt off keeps). The task fails on the
    findings selected by O(fail_on).
  - Never reports C(changed).
author:
  - failover.vrrp developers (@failover)
extends_documentation_fragment:
  - failover.vrrp.attributes
  - failover.vrrp.attributes.platform
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  hosts:
    description:
      - The inventory hosts to plan together; the play's hosts when unset.
    type: list
    elements: str
  instances_var:
    description:
      - The host variable that holds each host's instances.
    type: str
    default: vrrp_instances
  sync_groups_var:
    description:
      - The host variable that holds each host's sync groups.
    type: str
    default: vrrp_sync_groups
  live:
    description:
      - Use the live C(vrrp) facts of M(failover.vrrp.vrrp_state) when they were gathered.
    type: bool
    default: true
  fail_on:
    description:
      - Fail the task when a finding has one of these severities (C(error), C(warning)) or
        kinds (for example C(tracker_never_changes_winner)); V([]) never fails.
    type: list
    elements: str
    default: [error]
notes:
  - The action runs once per host unless C(run_once) is set; use C(run_once) (the plan
    covers every host given in O(hosts)).
seealso:
  - module: failover.vrrp.vrrp_state
  - module: failover.vrrp.vrrp_config
"""

EXAMPLES = r"""
- name: Plan the election before touching any host
  failover.vrrp.vrrp_plan:
  run_once: true
  register: vrrp_plan

- name: Show the predicted masters
  ansible.builtin.debug:
    var: vrrp_plan.summary
  run_once: true

- name: Plan two hosts, failing on warnings too
  failover.vrrp.vrrp_plan:
    hosts: [r1, r2]
    fail_on: [error, warning]
  run_once: true
"""

RETURN = r"""
vrids:
  description:
    - One item per virtual router, sorted by interface, family and VRID.
    - C(members) lists each host's instance with C(host), C(instance), C(priority),
      C(effective_priority) (every tracked object up), C(owner), C(preempt),
      C(preempt_delay), C(address) (the primary address known, or null), C(sync_group) and
      C(live_state).
    - C(predicted_master) is null when no host can be MASTER, when several would be, or
      when a tie is only decided by unknown addresses; C(masters) lists the hosts MASTER in
      the simulation.
    - C(decided_by) is one of C(owner), C(priority), C(address), C(undecided),
      C(current_master), C(preempt_off), C(sync_group), C(none), C(several), C(unstable) (the
      election does not settle, sync groups that pull against each other); C(reason) says
      it in words.
    - C(current_master) (the one live MASTER, null when none or several), C(current_masters)
      and C(would_transition) are there when live facts were gathered.
    - C(what_if) lists each single failure (C(kind) C(interface), C(script) or C(file) for
      a tracked object on C(host), C(host_down), C(host_demoted)) with the C(master) it
      leads to, C(decided_by), C(reason) and C(changes_master).
  returned: always
  type: list
  elements: dict
  sample:
    - vrid: 51
      interface: eth0
      family: 4
      members:
        - {host: r1, instance: web, priority: 150, effective_priority: 150, owner: false,
           preempt: true, preempt_delay: 0, address: 192.0.2.1, sync_group: null,
           live_state: null}
        - {host: r2, instance: web, priority: 100, effective_priority: 100, owner: false,
           preempt: true, preempt_delay: 0, address: 192.0.2.2, sync_group: null,
           live_state: null}
      predicted_master: r1
      masters: [r1]
      decided_by: priority
      reason: "r1 has the higher priority 150 (next: 100)"
      settled: true
      what_if:
        - {failure: r1 down, kind: host_down, host: r1, object: null, master: r2,
           masters: [r2], decided_by: priority, changes_master: true,
           reason: "r2 has the higher priority 100 (the only member up)"}
findings:
  description:
    - What is wrong across peers, errors first. Each has C(severity) (C(error) or
      C(warning)), C(kind), C(vrid), C(interface), C(family), C(hosts) and C(message).
    - Kinds are C(vip_mismatch), C(vrid_collision), C(interval_mismatch),
      C(version_mismatch), C(auth_mismatch), C(checksum_form_mismatch),
      C(unicast_asymmetric), C(two_owners), C(no_master_possible), C(several_masters),
      C(tracker_never_changes_winner), C(tracker_tie), C(preempt_off_keeps_master),
      C(unstable_election) and
      C(invalid_config) (a host's declaration the runner would refuse).
  returned: always
  type: list
  elements: dict
  sample:
    - severity: warning
      kind: tracker_never_changes_winner
      vrid: 51
      interface: eth0
      family: 4
      hosts: [r1]
      message: >-
        VRID 51 on eth0 (IPv4): tracked interface eth1 down on r1 (weight -20) leaves r1
        MASTER: r1 has the higher priority 130 (next: 100)
summary:
  description: One line per virtual router, the predicted MASTER and why (and, with live
    facts, the MASTER now and whether it would move).
  returned: always
  type: list
  elements: str
  sample: ["VRID 51 on eth0 (IPv4): r1 (r1 has the higher priority 150 (next: 100))"]
hosts:
  description: The hosts planned.
  returned: always
  type: list
  elements: str
  sample: [r1, r2]
"""

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_plan import (
    ARGUMENT_SPEC,
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="failover.vrrp.vrrp_plan runs on the controller (its action plugin)")


if __name__ == "__main__":
    main()
