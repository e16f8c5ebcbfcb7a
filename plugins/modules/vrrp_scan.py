#!/usr/bin/python
# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402 - the documentation comes first in an Ansible module

DOCUMENTATION = r"""
module: vrrp_scan
short_description: Listen for the VRRP routers already on a host's segments
version_added: 0.1.0
description:
  - Listens for VRRP advertisements (VRRPv2 and VRRPv3, IPv4 and IPv6, multicast and unicast to
    this host) for O(duration) seconds and returns every virtual router heard (RV(routers)),
    decoded with the failover.vrrp engine's own codec.
  - Checks the virtual routers declared for this host (O(instances), or the fragments in
    O(config_dir)) against what was heard; a VRID in use on the instance's interface and
    family with other virtual addresses or another VRRP version, by a router that is not one
    of this host's addresses, is a collision (RV(collisions)).
  - Needs no runner, so it can run before the first provisioning. It only listens, never
    sends, and never changes anything; it runs in check mode too.
  - Raw IP protocol 112 sockets need root; without it the module fails saying so.
  - This host's own addresses are read through netlink with the Python library pyroute2;
    without it the scan still runs, with a warning.
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
      - The interfaces to listen on; every interface that is up but the loopback when unset.
    type: list
    elements: str
  duration:
    description:
      - Seconds to listen (above 0, at most 3600). A master advertises once per advert
        interval (1 s by default), so listen for a few of them.
    type: float
    default: 3
  instances:
    description:
      - The virtual routers declared for this host, each with the keys of
        M(failover.vrrp.vrrp_instance) (the configuration schema's instance items); validated
        by that schema before anything listens.
      - A VRRPv2 password in them is masked in the result, and the module's arguments are not
        logged on the host.
      - Mutually exclusive with O(config_dir).
    type: list
    elements: dict
  config_dir:
    description:
      - Read the declared instances from this configuration directory (its C(instances.d)),
        as the runner does, when it exists; usually C(/etc/failover-vrrp).
      - Mutually exclusive with O(instances).
    type: path
  peer_addresses:
    description:
      - Addresses of the routers that belong with this host (the other hosts of its pair or
        group); what they advertise is never a collision, as this host's own adverts are not.
        A rerun that changes a VRID's virtual addresses hears the peers' old ones.
      - The scan cannot tell them apart otherwise; C(ha_pair.yml) passes the addresses of
        the play's hosts.
    type: list
    elements: str
    default: []
  fail_on_collision:
    description:
      - Fail when a collision is found (the result still holds RV(routers) and RV(collisions)).
    type: bool
    default: false
seealso:
  - module: failover.vrrp.vrrp_instance
  - module: failover.vrrp.vrrp_link_probe
"""

EXAMPLES = r"""
- name: What VRRP routers are already on the segments?
  become: true
  failover.vrrp.vrrp_scan:
  register: scan

- name: Refuse VRIDs another router already uses, before provisioning
  become: true
  failover.vrrp.vrrp_scan:
    interfaces: [eth0]
    duration: 5
    instances: "{{ vrrp_instances }}"
    fail_on_collision: true

- name: Check what this host already runs
  become: true
  failover.vrrp.vrrp_scan:
    config_dir: /etc/failover-vrrp
"""

RETURN = r"""
routers:
  description:
    - Every virtual router heard, one per interface, family, VRID, version and source address,
      sorted that way; the fields of the last advert heard.
  returned: always
  type: list
  elements: dict
  sample:
    - interface: eth0
      family: 4
      version: 3
      vrid: 51
      source: 192.0.2.1
      priority: 150
      advert_interval: 1.0
      advert_interval_cs: 100
      addresses: [192.0.2.100]
      adverts: 3
      checksum_form: pseudo_header
      auth_type: 0
      ttls: [255]
      destinations: [224.0.0.18]
  contains:
    interface:
      description: The interface it was heard on.
      type: str
      returned: always
    family:
      description: The address family, 4 or 6.
      type: int
      returned: always
    version:
      description: The VRRP version, 2 or 3.
      type: int
      returned: always
    vrid:
      description: The virtual router ID.
      type: int
      returned: always
    source:
      description: The advert's source address.
      type: str
      returned: always
    priority:
      description: The priority advertised (0 when the master resigned).
      type: int
      returned: always
    advert_interval:
      description: The advert interval in seconds.
      type: float
      returned: always
    advert_interval_cs:
      description: The advert interval in centiseconds.
      type: int
      returned: always
    addresses:
      description: The virtual addresses advertised.
      type: list
      elements: str
      returned: always
    adverts:
      description: How many adverts were heard.
      type: int
      returned: always
    checksum_form:
      description:
        - The checksum form the advert is right in, C(v2), C(rfc9568) or C(pseudo_header)
          (VRRPv3 over IPv4 with the IPv4 pseudo-header, what keepalived sends).
      type: str
      returned: always
    auth_type:
      description: The VRRPv2 authentication type (0 none, 1 simple text); 0 for VRRPv3.
      type: int
      returned: always
    ttls:
      description: The distinct TTLs / hop limits heard; a router sends 255.
      type: list
      elements: int
      returned: always
    destinations:
      description: The distinct destinations, the VRRP group or this host's unicast address.
      type: list
      elements: str
      returned: always
collisions:
  description:
    - Per declared instance and conflicting router heard, what differs (C(version),
      C(addresses)) and a message naming both.
  returned: always
  type: list
  elements: dict
  sample:
    - instance: web
      interface: eth0
      family: 4
      vrid: 51
      version: 3
      addresses: [192.0.2.100]
      source: 192.0.2.9
      heard_version: 2
      heard_addresses: [192.0.2.50]
      differs: [version, addresses]
      msg: >-
        instance 'web' (VRID 51 on eth0, IPv4, VRRPv3, 192.0.2.100) collides with the virtual
        router heard from 192.0.2.9: VRRPv2, 192.0.2.50
instances_checked:
  description: The names of the declared instances checked for collisions.
  returned: always
  type: list
  elements: str
instances_not_checked:
  description:
    - The declared instances that could not be checked, with the reason (their interface and
      family were not listened on).
  returned: always
  type: dict
  sample:
    other: eth9 IPv4 was not listened on
interfaces:
  description: The interfaces listened on.
  returned: always
  type: list
  elements: str
listening:
  description: The interface and family pairs a socket listened on, C(eth0 IPv4).
  returned: always
  type: list
  elements: str
skipped:
  description: Interface and family pairs that could not listen, with the reason.
  returned: always
  type: dict
drops:
  description:
    - Datagrams that were not VRRP adverts, counted by reason (the codec's receive checks,
      C(checksum), C(length) and so on, and the IP header checks, C(ip_short) and so on).
  returned: always
  type: dict
duration:
  description: The seconds listened.
  returned: always
  type: float
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_errors import (
    fail_from_error,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_scan import (
    scan_segment,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError


def passwords(instances: Any) -> set[str]:
    """The VRRPv2 passwords in the declared instances (however malformed the items)."""
    found = set()
    for item in instances or ():
        auth = item.get("authentication") if isinstance(item, dict) else None
        password = auth.get("password") if isinstance(auth, dict) else None
        if isinstance(password, str) and password:
            found.add(password)
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "interfaces": {"type": "list", "elements": "str"},
            "duration": {"type": "float", "default": 3},
            "instances": {"type": "list", "elements": "dict"},
            "config_dir": {"type": "path"},
            "fail_on_collision": {"type": "bool", "default": False},
            "peer_addresses": {"type": "list", "elements": "str", "default": []},
        },
        mutually_exclusive=[("instances", "config_dir")],
        supports_check_mode=True,
        # O(instances) may carry VRRPv2 passwords that no argument spec can mark:
        # keep the arguments out of the host's log and mask the passwords in the result.
        no_log=True,
    )
    params = module.params
    module.no_log_values.update(passwords(params["instances"]))
    try:
        result = scan_segment(
            interfaces=params["interfaces"],
            duration=params["duration"],
            instances=params["instances"],
            config_dir=params["config_dir"],
            peer_addresses=params["peer_addresses"],
        )
    except VRRPError as exc:
        fail_from_error(module, exc)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if params["fail_on_collision"] and result["collisions"]:
        module.fail_json(
            msg="; ".join(c["msg"] for c in result["collisions"]), changed=False, **result
        )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
