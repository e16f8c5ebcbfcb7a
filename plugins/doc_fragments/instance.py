# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The keys of one instance (schema C($defs/instance)); the schema checks the values.

    Defaults are the schema's: they are named in the descriptions rather than as
    C(default) because an unset key is left out and filled in by the schema.
    """

    DOCUMENTATION = r"""
options:
  name:
    description:
      - The instance's name; also its file name C(NAME.json). Up to 64 characters from
        C(A-Z a-z 0-9 _ . -), starting with a letter or digit.
    type: str
    required: true
  description:
    description: Free text for people (at most 256 characters); changes nothing on the wire.
    type: str
  interface:
    description:
      - The Linux interface the virtual router runs on.
      - Required when O(state=present).
    type: str
  vrid:
    description:
      - Virtual Router ID, 1 to 255; unique per interface and address family.
      - Required when O(state=present).
    type: int
  priority:
    description:
      - 1 to 254 (default 100); 255 means this router owns the virtual addresses.
    type: int
  version:
    description: VRRP version (default 3, RFC 9568); version 2 (RFC 3768) carries IPv4 only.
    type: int
    choices: [2, 3]
  advert_interval:
    description:
      - Seconds between advertisements (default 1). Version 3 takes 0.01 to 40.95 in 0.01
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
      - Required when O(state=present).
    type: list
    elements: raw
  virtual_addresses_excluded:
    description:
      - Addresses the MASTER holds but does not advertise (keepalived's
        C(virtual_ipaddress_excluded)), of either family; items as in O(virtual_addresses).
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
          - The interface. A unicast route with neither O(virtual_routes[].via) nor this goes
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
        keepalived's C(virtual_rules). A rule without O(virtual_rules[].from) and
        O(virtual_rules[].to) is of the instance's address family.
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
        description: The table to look up, as O(virtual_routes[].table).
        type: raw
        required: true
      priority:
        description: The rule's priority, 0 to 4294967295.
        type: int
      fwmark:
        description: Match packets with this firewall mark.
        type: int
      fwmask:
        description: The mask of O(virtual_rules[].fwmark).
        type: int
  preempt:
    description: Take over from a lower priority master (default V(true)).
    type: bool
  preempt_delay:
    description: Seconds to wait before preempting a lower priority master (default 0).
    type: float
  accept:
    description:
      - Accept mode (RFC 9568 sections 6.1 and 6.4.3), a MASTER that does not own the addresses
        (priority below 255) accepts packets sent to the virtual addresses (default V(true), as
        keepalived's default without C(vrrp_strict)).
      - V(false) drops them with nftables (the runner's own table C(inet failover_vrrp)) while
        this router is MASTER, but for IPv6 neighbour discovery; ARP is not IP and is answered.
        The host needs the C(nft) program (Debian package C(nftables)).
    type: bool
  unicast_source:
    description:
      - The source address of unicast advertisements.
      - Default, the interface's first IPv4 address that is not a virtual address; for IPv6
        its link-local address, or, when O(unicast_peers) are global (or unique local)
        addresses, its global address sharing the longest prefix with the first of them, the
        address the peers know this router by.
      - IPv6 peers named by link-local and by global addresses together need this option.
    type: str
  multicast_source:
    description:
      - The source address of multicast advertisements (keepalived's C(mcast_src_ip)), one the
        interface holds; for IPv6 a link-local address (RFC 9568 section 5.1.2.1).
      - While the interface does not hold it, the instance is in FAULT (reason C(address)).
      - Not with O(unicast_peers) (use O(unicast_source)) nor with O(unicast_source).
    type: str
  unicast_peers:
    description: Send advertisements to these peers instead of the multicast group.
    type: list
    elements: str
  unicast_ttl:
    description:
      - With O(unicast_peers) only, the TTL (IPv4) or hop limit (IPv6) unicast advertisements
        are sent with, 1 to 255 (default 255), as keepalived's C(unicast_ttl).
      - Below 255, for peers a routed path away, this instance's unicast advertisements are
        accepted whatever TTL they arrive with, as keepalived does; at 255 the RFC 9568
        section 7.1 check (TTL 255 only) stays. Multicast advertisements always need 255.
    type: int
  vmac:
    description: Use the virtual MAC address on a macvlan interface (default V(false)).
    type: bool
  vmac_interface:
    description:
      - The macvlan interface's name when O(vmac=true) (default C(vrrp.VRID), C(vrrp6.VRID)
        for IPv6).
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
        description:
          - Added to the priority while the interface is up (positive) or down (negative);
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
        description: As for O(track_interfaces[].weight).
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
        description: As for O(track_interfaces[].weight).
        type: int
  garp:
    description:
      - Gratuitous ARP and unsolicited neighbour advertisements after becoming MASTER.
      - Neighbour advertisements always carry the Router flag, with Solicited clear and
        Override set (RFC 9568 section 6.4.2), whatever the host's IPv6 forwarding
        setting, so hosts that route through a virtual address keep their default route.
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
    description:
      - VRRP version 2 simple text password (RFC 3768 section 5.3.6.1). The file is then
        written with mode 0600 and the password is hidden in results and diffs.
    type: dict
    suboptions:
      type:
        description: The authentication type (default V(pass)).
        type: str
        choices: [pass]
      password:
        description: 1 to 8 printable ASCII characters.
        type: str
        required: true
  checksum_form:
    description:
      - VRRP version 3 over IPv4 only. V(pseudo_header) (the default, what keepalived and FRR
        send) or V(rfc9568) (the VRRP message only).
    type: str
    choices: [rfc9568, pseudo_header]
"""
