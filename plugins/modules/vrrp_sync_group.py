#!/usr/bin/python
# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402 - the documentation comes first in an Ansible module

DOCUMENTATION = r"""
module: vrrp_sync_group
short_description: Declare a VRRP sync group for the failover.vrrp runner
version_added: 0.1.0
description:
  - Writes one sync group (instances that move between BACKUP, MASTER and FAULT together) to
    C(<config_dir>/sync_groups.d/NAME.json) as canonical JSON, atomically and only when the
    content changes, then asks the runner to reload over its control socket.
  - The options are the keys of the collection's configuration schema, which checks every value.
  - Before anything is written, the whole configuration directory as it would be after the
    change is validated, so a member that names no instance, or an instance already in
    another group, fails without touching a file. Declare the instances first.
  - If the runner refuses the new configuration, the previous file is restored (or the new
    one removed) and the module fails with the runner's error.
  - If no runner listens on O(control_socket), the file is written, RV(reloaded) is V(false)
    and a warning says so; the runner reads the directory when it starts.
author:
  - failover.vrrp developers (@failover)
requirements:
  - jsonschema (on the managed host)
extends_documentation_fragment:
  - failover.vrrp.attributes
  - failover.vrrp.attributes.platform
  - failover.vrrp.sync_group
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
      - V(present) writes the sync group, V(absent) removes its file.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: failover.vrrp.vrrp_instance
"""

EXAMPLES = r"""
- name: The web and database VIPs fail over together
  failover.vrrp.vrrp_sync_group:
    name: frontends
    members: [web, db]
    notify:
      master: [/usr/local/bin/vrrp-notify, master]

- name: Remove a sync group
  failover.vrrp.vrrp_sync_group:
    name: frontends
    state: absent
"""

RETURN = r"""
sync_group:
  description:
    - The sync group as written, in canonical form with every default filled in. Empty when
      O(state=absent).
  returned: always
  type: dict
  sample:
    name: frontends
    description: ""
    members: [web, db]
    notify: {timeout: 10}
file:
  description:
    - The fragment file of the sync group.
  returned: always
  type: str
  sample: /etc/failover-vrrp/sync_groups.d/frontends.json
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
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config import load_sync_group
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.schema import check


def main() -> None:
    module = AnsibleModule(
        argument_spec=fragment_spec("sync_group"),
        required_if=required_when_present("sync_group"),
        supports_check_mode=True,
    )
    try:
        check(module.params["name"], definition="name", prefix=("name",))
        wanted = None
        if module.params["state"] == "present":
            wanted = load_sync_group(schema_object(module.params, "sync_group")).to_dict()
        result = run_object(
            module.params,
            key="sync_groups",
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
