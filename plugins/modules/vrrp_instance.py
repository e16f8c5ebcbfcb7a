#!/usr/bin/python
# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402 - the documentation comes first in an Ansible module

DOCUMENTATION = r"""
module: vrrp_instance
short_description: Declare one VRRP virtual router for the failover.vrrp runner
version_added: 0.1.0
description:
  - Writes one virtual router (a VRRP instance) to C(<config_dir>/instances.d/NAME.json)
    as canonical JSON, atomically and only when the content changes, then asks the runner
    to reload over its control socket.
  - The options are the keys of the collection's configuration schema; the schema checks
    every value (ranges, address families, VRRP version rules) and errors name the key and
    the rule broken.
  - Before anything is written, the whole configuration directory as it would be after the
    change is validated, so a clash with another instance (the same VRID twice on one
    interface, for example) fails without touching a file.
  - If the runner refuses the new configuration, the previous file is restored (or the new
    one removed) and the module fails with the runner's error; the runner keeps running the
    previous configuration.
  - If no runner listens on O(control_socket), the file is written, RV(reloaded) is V(false)
    and a warning says so; the runner reads the directory when it starts.
author:
  - failover.vrrp developers (@failover)
requirements:
  - jsonschema (on the managed host)
extends_documentation_fragment:
  - failover.vrrp.attributes
  - failover.vrrp.attributes.platform
  - failover.vrrp.instance
  - failover.vrrp.notify
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
      - V(present) writes the instance, V(absent) removes its file.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: failover.vrrp.vrrp_sync_group
  - module: failover.vrrp.vrrp_state
"""

EXAMPLES = r"""
- name: A virtual router for the web VIP
  failover.vrrp.vrrp_instance:
    name: web
    interface: eth0
    vrid: 51
    priority: 150
    virtual_addresses:
      - 192.0.2.10/24

- name: An IPv6 virtual router (the first address is link-local)
  failover.vrrp.vrrp_instance:
    name: web6
    interface: eth0
    vrid: 52
    virtual_addresses:
      - fe80::52/64
      - 2001:db8::10/64
    track_interfaces:
      - interface: eth1
        weight: -50

- name: A VRRPv2 instance with a password, unicast to its peer
  failover.vrrp.vrrp_instance:
    name: legacy
    interface: eth0
    vrid: 53
    version: 2
    virtual_addresses: [192.0.2.20/24]
    unicast_source: 192.0.2.2
    unicast_peers: [192.0.2.3]
    authentication:
      password: "{{ vrrp_password }}"

- name: An edge router - the MASTER also holds a WAN address, a default route and a rule
  failover.vrrp.vrrp_instance:
    name: edge
    interface: eth0
    vrid: 60
    virtual_addresses:
      - 192.0.2.60/24
      - {address: 198.51.100.60/24, dev: eth1, label: "eth1:vip"}
    virtual_addresses_excluded: [2001:db8::60/64]
    virtual_routes:
      - {to: default, via: 198.51.100.1, table: 100}
    virtual_rules:
      - {from: 192.0.2.0/24, table: 100, priority: 1000}

- name: Remove an instance
  failover.vrrp.vrrp_instance:
    name: old
    state: absent
"""

RETURN = r"""
instance:
  description:
    - The instance as written, in canonical form with every default filled in (the password
      is hidden). Empty when O(state=absent).
  returned: always
  type: dict
  sample:
    name: web
    description: ""
    interface: eth0
    vrid: 51
    priority: 150
    version: 3
    advert_interval: 1
    virtual_addresses: [192.0.2.10/24]
    preempt: true
    preempt_delay: 0
    accept: true
    unicast_peers: []
    vmac: false
    track_interfaces: []
    track_files: []
    track_scripts: []
    garp: {delay: 5, interval: 0, refresh: 0, refresh_repeat: 1, repeat: 5}
    notify: {timeout: 10}
    checksum_form: pseudo_header
file:
  description:
    - The fragment file of the instance.
  returned: always
  type: str
  sample: /etc/failover-vrrp/instances.d/web.json
reloaded:
  description:
    - Whether the runner accepted a reload of the new configuration.
  returned: always
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_argspec import (
    fragment_spec,
    required_when_present,
    schema_object,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_config import (
    run_object,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_errors import (
    fail_from_error,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config import (
    load_instance,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import (
    VRRPError,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.schema import (
    check,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=fragment_spec("instance"),
        required_if=required_when_present("instance"),
        supports_check_mode=True,
    )
    try:
        check(module.params["name"], definition="name", prefix=("name",))
        wanted = None
        if module.params["state"] == "present":
            wanted = load_instance(schema_object(module.params, "instance")).to_dict()
        result = run_object(
            module.params,
            key="instances",
            wanted=wanted,
            check_mode=module.check_mode,
            diff=module._diff,
        )
    except VRRPError as exc:
        fail_from_error(module, exc)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
