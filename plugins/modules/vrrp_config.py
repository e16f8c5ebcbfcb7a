#!/usr/bin/python
# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402, E501 - the documentation comes first in an Ansible module

DOCUMENTATION = r"""
module: vrrp_config
short_description: Declare the failover.vrrp runner's instances and sync groups as one change set
version_added: 0.2.0
description:
  - A resource module for the whole configuration of the runner on a host, C(<config_dir>/instances.d)
    and C(<config_dir>/sync_groups.d). The objects are the keys of the collection's configuration
    schema, which judges every value.
  - The whole change set is validated once (the directory as it would be after the change, loaded the
    way the runner loads it), written file by file with atomic renames (should one write fail, the
    files already written are put back, so every file is as it was), and applied with one reload of the
    runner. If the runner refuses the new configuration, every file of the set is put back and the
    module fails with the runner's error; the runner keeps running the previous configuration.
  - A lock file C(<config_dir>/.lock) is held from the read of the directory to the reload, so two
    tasks on one host do not interleave.
  - If no runner listens on O(control_socket), the files are written, RV(reloaded) is V(false) and a
    warning says so; the runner reads the directory when it starts.
  - M(failover.vrrp.vrrp_instance) and M(failover.vrrp.vrrp_sync_group) declare one object each.
author:
  - failover.vrrp developers (@failover)
requirements:
  - jsonschema (on the managed host)
extends_documentation_fragment:
  - failover.vrrp.attributes
  - failover.vrrp.attributes.platform
  - failover.vrrp.runner
  - failover.vrrp.runner.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  state:
    description:
      - V(merged) merges each object given into the one of that name on the host (a mapping such as
        C(garp) key by key, a list or a value replaces what was there); objects not given stay.
      - V(replaced) replaces each object given as a whole (keys left out take the schema's
        defaults); objects not given stay.
      - V(overridden) makes the directory hold exactly the objects given; every other one is removed.
      - V(deleted) removes the objects named in O(config) (only C(name) is read); without O(config),
        or with both lists empty, every object is removed.
      - V(gathered) reads the objects from the host's files and which of them the runner runs
        (RV(gathered), RV(running)); nothing changes.
      - V(rendered) returns the files the objects would be written to (RV(rendered)), validated as
        one set, without reading or touching the host.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered]
    default: merged
  config:
    description:
      - The objects. Required for O(state=merged), O(state=replaced), O(state=overridden) and
        O(state=rendered).
    type: dict
    suboptions:
      instances:
        description:
        - The virtual routers (schema C($defs/instance)); only C(name) is required here, the schema requires
          C(interface), C(vrid) and C(virtual_addresses) of the object that results.
        - 'Defaults are the schema''s: named in the descriptions, filled in when the object is written.'
        type: list
        elements: dict
        suboptions:
          name:
            description: The instance's name; also its file name C(NAME.json). Up to 64 characters from
              C(A-Z a-z 0-9 _ . -), starting with a letter or digit.
            type: str
            required: true
          description:
            description: Free text for people (at most 256 characters); changes nothing on the wire.
            type: str
          interface:
            description: The Linux interface the virtual router runs on.
            type: str
          vrid:
            description: Virtual Router ID, 1 to 255; unique per interface and address family.
            type: int
          priority:
            description: 1 to 254 (default 100); 255 means this router owns the virtual addresses.
            type: int
          version:
            description: VRRP version (default 3, RFC 9568); version 2 (RFC 3768) carries IPv4 only.
            type: int
            choices:
            - 2
            - 3
          advert_interval:
            description: Seconds between advertisements (default 1). Version 3 takes 0.01 to 40.95 in 0.01
              steps; version 2 whole seconds from 1 to 255.
            type: float
          virtual_addresses:
            description:
              - The virtual addresses as C(ADDR) or C(ADDR/PREFIX), all of one family. IPv6 starts with
                the virtual router's link-local address (RFC 9568 section 5.2.9).
              - An item may also be a dictionary with C(address) and options, as keepalived's
                C(virtual_ipaddress) takes them; C(dev) another interface than the instance's,
                C(label) (IPv4, starting with that interface's name), C(scope) (V(global), V(site),
                V(link), V(host), V(nowhere)) and C(broadcast) (IPv4).
            type: list
            elements: raw
          virtual_addresses_excluded:
            description:
              - Addresses the MASTER holds but does not advertise (keepalived's
                C(virtual_ipaddress_excluded)), of either family; items as in O(config.instances[].virtual_addresses).
              - Added on becoming MASTER, removed on leaving it.
            type: list
            elements: raw
          virtual_routes:
            description:
              - Routes installed on becoming MASTER and removed on leaving it (FAULT, BACKUP, stop),
                as keepalived's C(virtual_routes). A route the kernel refuses is logged with the
                kernel's reason and tried again; the instance runs on.
            type: list
            elements: dict
            suboptions:
              to:
                description: The destination, C(NET/PREFIX), C(ADDR) or C(default).
                type: str
                required: true
              via:
                description: The gateway.
                type: str
              dev:
                description:
                  - The interface. A unicast route with neither O(config.instances[].virtual_routes[].via) nor this goes
                    out of the instance's interface.
                type: str
              src:
                description: The preferred source address (may be a virtual address).
                type: str
              metric:
                description: The metric, 0 to 4294967295.
                type: int
              table:
                description:
                  - The table, a number from 1 to 4294967295 or V(main) (the default), V(local),
                    V(default).
                type: raw
              scope:
                description: The scope (default V(link) without a gateway, else V(global)).
                type: str
                choices: [global, site, link, host, nowhere]
              type:
                description: V(unicast) (the default), or a route that drops.
                type: str
                choices: [unicast, blackhole, unreachable, prohibit]
          virtual_rules:
            description:
              - Policy routing rules installed on becoming MASTER and removed on leaving it, as
                keepalived's C(virtual_rules). A rule without O(config.instances[].virtual_rules[].from) and
                O(config.instances[].virtual_rules[].to) is of the instance's address family.
            type: list
            elements: dict
            suboptions:
              from:
                description: The source prefix, C(ADDR/PREFIX), C(ADDR) or C(all).
                type: str
              to:
                description: The destination prefix.
                type: str
              table:
                description: The table to look up, as O(config.instances[].virtual_routes[].table).
                type: raw
                required: true
              priority:
                description: The rule's priority, 0 to 4294967295.
                type: int
              fwmark:
                description: Match packets with this firewall mark.
                type: int
              fwmask:
                description: The mask of O(config.instances[].virtual_rules[].fwmark).
                type: int
          preempt:
            description: Take over from a lower priority master (default V(true)).
            type: bool
          preempt_delay:
            description: Seconds to wait before preempting a lower priority master (default 0).
            type: float
          accept:
            description: Accept mode (RFC 9568 sections 6.1 and 6.4.3), a non-owner MASTER accepts packets
              sent to the virtual addresses (default V(true), as keepalived); V(false) drops them with
              nftables (table C(inet failover_vrrp), the host needs C(nft)) but for neighbour discovery.
            type: bool
          unicast_source:
            description: The source address of unicast advertisements.
            type: str
          multicast_source:
            description: The source address of multicast advertisements (keepalived's C(mcast_src_ip)), one
              the interface holds (IPv6 link-local); not held, the instance is in FAULT. Not with unicast peers.
            type: str
          unicast_peers:
            description: Send advertisements to these peers instead of the multicast group.
            type: list
            elements: str
          unicast_ttl:
            description: With O(config.instances[].unicast_peers) only, the TTL (IPv4) or hop limit (IPv6)
              unicast advertisements are sent with, 1 to 255 (default 255), as keepalived's C(unicast_ttl).
              Below 255 this instance's unicast advertisements are accepted whatever TTL they arrive with;
              multicast advertisements always need 255.
            type: int
          vmac:
            description: Use the virtual MAC address on a macvlan interface (default V(false)).
            type: bool
          vmac_interface:
            description: The macvlan interface's name when O(config.instances[].vmac=true) (default C(vrrp.VRID),
              C(vrrp6.VRID) for IPv6).
            type: str
          track_interfaces:
            description: Interfaces whose state moves the priority, or the instance to FAULT.
            type: list
            elements: dict
            suboptions:
              interface:
                description: The tracked interface.
                type: str
                required: true
              weight:
                description: Added to the priority while the interface is up (positive) or down (negative);
                  0 (the default) puts the instance in FAULT while it is down. -253 to 253.
                type: int
          track_files:
            description: Files holding a number; 0 or a missing file is down.
            type: list
            elements: dict
            suboptions:
              path:
                description: The file's absolute path.
                type: str
                required: true
              weight:
                description: As for O(config.instances[].track_interfaces[].weight).
                type: int
          track_scripts:
            description: Check programs run periodically; exit status 0 is up.
            type: list
            elements: dict
            suboptions:
              name:
                description: The check's name.
                type: str
                required: true
              argv:
                description: The program and its arguments, run without a shell.
                type: list
                elements: str
                required: true
              interval:
                description: Seconds between two runs (default 1).
                type: float
              timeout:
                description: Seconds a run may take (default the interval).
                type: float
              rise:
                description: Successes in a row to be up (default 1).
                type: int
              fall:
                description: Failures in a row to be down (default 1).
                type: int
              weight:
                description: As for O(config.instances[].track_interfaces[].weight).
                type: int
          garp:
            description: Gratuitous ARP and unsolicited neighbour advertisements after becoming MASTER.
            type: dict
            suboptions:
              delay:
                description: Seconds until the second burst (default 5, 0 for none).
                type: float
              repeat:
                description: Messages per burst (default 5).
                type: int
              refresh:
                description: Seconds between refresh bursts while MASTER (default 0, no refresh).
                type: float
              refresh_repeat:
                description: Messages per refresh burst (default 1).
                type: int
              interval:
                description: Seconds between the messages of one burst (default 0).
                type: float
          authentication:
            description: VRRP version 2 simple text password (RFC 3768 section 5.3.6.1). The file is then
              written with mode 0600 and the password is hidden in results and diffs.
            type: dict
            suboptions:
              type:
                description: The authentication type (default V(pass)).
                type: str
                choices:
                - pass
              password:
                description: 1 to 8 printable ASCII characters.
                type: str
                required: true
          checksum_form:
            description: VRRP version 3 over IPv4 only. V(pseudo_header) (the default, what keepalived and
              FRR send) or V(rfc9568) (the VRRP message only).
            type: str
            choices:
            - rfc9568
            - pseudo_header
          notify:
            description: Programs run on state changes, each an argv list run without a shell, killed after
              O(config.instances[].notify.timeout) seconds.
            type: dict
            suboptions:
              master:
                description: Run on entering MASTER.
                type: list
                elements: str
              backup:
                description: Run on entering BACKUP.
                type: list
                elements: str
              fault:
                description: Run on entering FAULT.
                type: list
                elements: str
              stop:
                description: Run when the instance stops.
                type: list
                elements: str
              timeout:
                description: Seconds a notify program may run before it is killed (0.01 to 3600, default
                  10).
                type: float
      sync_groups:
        description:
        - The sync groups (schema C($defs/sync_group)); the schema requires C(members) of the object that
          results.
        type: list
        elements: dict
        suboptions:
          name:
            description: The sync group's name; also its file name C(NAME.json). Up to 64 characters from
              C(A-Z a-z 0-9 _ . -), starting with a letter or digit.
            type: str
            required: true
          description:
            description: Free text for people (at most 256 characters).
            type: str
          members:
            description: Names of the member instances; an instance belongs to one sync group at most.
            type: list
            elements: str
          notify:
            description: Programs run on state changes, each an argv list run without a shell, killed after
              O(config.sync_groups[].notify.timeout) seconds.
            type: dict
            suboptions:
              master:
                description: Run on entering MASTER.
                type: list
                elements: str
              backup:
                description: Run on entering BACKUP.
                type: list
                elements: str
              fault:
                description: Run on entering FAULT.
                type: list
                elements: str
              stop:
                description: Run when the instance stops.
                type: list
                elements: str
              timeout:
                description: Seconds a notify program may run before it is killed (0.01 to 3600, default
                  10).
                type: float
seealso:
  - module: failover.vrrp.vrrp_instance
  - module: failover.vrrp.vrrp_sync_group
  - module: failover.vrrp.vrrp_state
"""

EXAMPLES = r"""
- name: The web and db virtual routers, failing over together; others on the host stay
  failover.vrrp.vrrp_config:
    config:
      instances:
        - name: web
          interface: eth0
          vrid: 51
          priority: 150
          virtual_addresses: [192.0.2.10/24]
        - name: db
          interface: eth0
          vrid: 52
          virtual_addresses: [192.0.2.11/24]
      sync_groups:
        - name: frontends
          members: [web, db]

- name: Exactly these objects on the host (every other instance and sync group is removed)
  failover.vrrp.vrrp_config:
    state: overridden
    config:
      instances: "{{ vrrp_instances }}"
      sync_groups: "{{ vrrp_sync_groups }}"

- name: Lower one priority, every other key as it is
  failover.vrrp.vrrp_config:
    config:
      instances:
        - name: web
          priority: 90

- name: Remove the sync group and one of its members
  failover.vrrp.vrrp_config:
    state: deleted
    config:
      instances: [{name: db}]
      sync_groups: [{name: frontends}]

- name: What the host has and what its runner runs
  failover.vrrp.vrrp_config:
    state: gathered
  register: vrrp_gathered

- name: The files, without a host
  failover.vrrp.vrrp_config:
    state: rendered
    config:
      instances: "{{ vrrp_instances }}"
  delegate_to: localhost
  register: vrrp_rendered
"""

RETURN = r"""
before:
  description:
    - The objects on the host before the task (passwords hidden), sorted by name.
  returned: when O(state) is V(merged), V(replaced), V(overridden) or V(deleted)
  type: dict
  contains:
    instances:
      description: The instances.
      type: list
      elements: dict
    sync_groups:
      description: The sync groups.
      type: list
      elements: dict
  sample: {instances: [], sync_groups: []}
after:
  description:
    - The objects after the task (predicted in check mode; for O(state=rendered), the objects
      given, every default filled in). Passwords hidden.
  returned: when O(state) is not V(gathered)
  type: dict
  sample:
    instances:
      - name: web
        interface: eth0
        vrid: 51
        priority: 150
        virtual_addresses: [192.0.2.10/24]
    sync_groups: []
commands:
  description:
    - What changed (or would change), one line per object, with the changed keys.
  returned: when O(state) is V(merged), V(replaced), V(overridden) or V(deleted)
  type: list
  elements: str
  sample: ["add instance web", "change instance db (priority)", "remove sync_group old"]
reloaded:
  description:
    - Whether the runner accepted one reload of the new configuration.
  returned: when O(state) is V(merged), V(replaced), V(overridden) or V(deleted)
  type: bool
  sample: true
gathered:
  description:
    - The objects in the host's files (passwords hidden).
  returned: when O(state=gathered)
  type: dict
  sample: {instances: [{name: web, interface: eth0, vrid: 51}], sync_groups: []}
running:
  description:
    - The runner's state of each instance it runs (V(null) when no runner listens).
  returned: when O(state=gathered)
  type: dict
  sample: {web: MASTER}
not_running:
  description:
    - Instances with a file that the runner does not run (written without a reload, or refused).
  returned: when O(state=gathered) and a runner listens
  type: list
  elements: str
  sample: []
not_in_files:
  description:
    - Instances the runner runs that have no file (removed without a reload).
  returned: when O(state=gathered) and a runner listens
  type: list
  elements: str
  sample: []
rendered:
  description:
    - The file each object would be written to and its content (canonical JSON, password hidden).
  returned: when O(state=rendered)
  type: dict
  sample: {/etc/failover-vrrp/instances.d/web.json: "{\n  \"name\": \"web\", ...}\n"}
"""

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_config import (
    REQUIRED_IF,
    config_spec,
    run_config,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_errors import (
    fail_from_error,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError


def main() -> None:
    module = AnsibleModule(
        argument_spec=config_spec(), required_if=REQUIRED_IF, supports_check_mode=True
    )
    try:
        result = run_config(module.params, check_mode=module.check_mode, diff=module._diff)
    except VRRPError as exc:
        fail_from_error(module, exc)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
