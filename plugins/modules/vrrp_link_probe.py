#!/usr/bin/python
# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402 - the documentation comes first in an Ansible module

DOCUMENTATION = r"""
module: vrrp_link_probe
short_description: Report which link-probe methods work on a host's interfaces
version_added: 0.1.0
description:
  - Runs every link probe the failover.vrrp runner knows on each interface and reports which
    are supported and which one the runner polls (RV(interfaces)) besides netlink
    events.
  - The methods are C(netlink) (link events, the primary source; needs the Python library
    pyroute2), C(ethtool) (ETHTOOL_GLINK), C(mii) (the PHY's BMSR link bit; veth and many
    virtual NICs refuse it) and C(iff_running) (the IFF_UP and IFF_RUNNING flags).
  - With O(required), fails naming the host, the interface and the method when a required
    method is unsupported.
  - "The C(mii) ioctls need root (C(CAP_NET_ADMIN)): without it the kernel answers EPERM
    before it asks the driver, so the method is reported C(denied), not unsupported, and a
    required one fails saying to run the task with C(become: true)."
  - Read-only; never changes anything.
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
  interfaces:
    description:
      - The interfaces to probe; every interface but the loopback when unset.
    type: list
    elements: str
  required:
    description:
      - Methods that must be supported on every probed interface.
    type: list
    elements: str
    choices: [netlink, ethtool, mii, iff_running]
    default: []
seealso:
  - module: failover.vrrp.vrrp_state
"""

EXAMPLES = r"""
- name: Which probes work on this host?
  failover.vrrp.vrrp_link_probe:
  register: probes

- name: The VRRP interfaces must report link through ethtool
  failover.vrrp.vrrp_link_probe:
    interfaces: [eth0, eth1]
    required: [ethtool, netlink]
"""

RETURN = r"""
interfaces:
  description:
    - Per interface name, each method's answer and the method the runner polls.
  returned: always
  type: dict
  sample:
    eth0:
      best: ethtool
      methods:
        netlink: {supported: true, result: events, detail: primary event source}
        ethtool: {supported: true, result: up, detail: link=1}
        mii: {supported: false, result: unsupported, detail: EOPNOTSUPP}
        iff_running: {supported: true, result: up, detail: flags=0x11043}
  contains:
    best:
      description:
        - The best supported probe (ethtool, then mii, then iff_running); null when none is.
      type: str
      returned: always
    methods:
      description:
        - Per method, C(supported), C(result) (C(up), C(down), C(unsupported), C(denied) when
          the kernel refused this login the ioctl (EPERM, needs root); C(events) for netlink)
          and C(detail) (an errno name or the raw reading).
      type: dict
      returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_errors import (
    fail_from_error,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_probes import (
    PROBE_METHODS,
    probe_links,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "interfaces": {"type": "list", "elements": "str"},
            "required": {
                "type": "list",
                "elements": "str",
                "choices": list(PROBE_METHODS),
                "default": [],
            },
        },
        supports_check_mode=True,
    )
    try:
        reports, problems = probe_links(module.params["interfaces"], module.params["required"])
    except VRRPError as exc:
        fail_from_error(module, exc)
    if problems:
        module.fail_json(msg="; ".join(problems), interfaces=reports)
    module.exit_json(changed=False, interfaces=reports)


if __name__ == "__main__":
    main()
