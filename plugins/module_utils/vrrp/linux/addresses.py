"""Virtual addresses and VMAC interfaces, in the current network namespace.

Every change is idempotent: adding an address that is there (EEXIST) or
removing one that is gone (EADDRNOTAVAIL) is "no change", not an error, so the
runner can re-apply its whole view after a restart or a netlink resync.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Union

from ..errors import NetlinkError
from . import netlink

IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]

IFF_UP: Final = 0x1
IFA_F_SECONDARY: Final = 0x01
IFA_F_NODAD: Final = 0x02
IFA_F_DADFAILED: Final = 0x08
IFA_F_TENTATIVE: Final = 0x40
RT_SCOPE_UNIVERSE: Final = 0
RT_SCOPE_LINK: Final = 253
MACVLAN_MODE_PRIVATE: Final = 1
SYSCTL_NET = Path("/proc/sys/net")  # a name, so that unit tests can point it elsewhere
RTN_LOCAL: Final = 2
# An IPv6 address added with IFA_F_NODAD is in the address list when the
# kernel acknowledges RTM_NEWADDR, but it is a destination of this host (its
# route in table local) only once the address's DAD work has run
# (addrconf_dad_work -> addrconf_dad_completed, "configure the address for
# reception", which also sends the RTM_NEWADDR notification), on a workqueue.
# Measured in the lab (kernel 6.18): not local at the ACK in 9 of 80 adds, for
# 0.4 to 4.2 ms. A packet to the VIP in that window takes the prefix route,
# is forwarded, and with forwarding off dropped (Ip6InAddrErrors). IPv4 makes
# its local route before the ACK. How long AddressChannel.add waits for it at most.
LOCAL_WAIT: Final = 0.1
_LOCAL_POLL: Final = 0.0002

# For a VMAC, as keepalived (vrrp/vrrp_if_config.c): the macvlan must not
# answer ARP for the parent's addresses (arp_ignore) and must receive while it
# has no address (rp_filter 0); the parent must not answer ARP for the VIP.
# Unlike keepalived, accept_local stays 0 (written, so that a VMAC an older
# runner made is put right): adverts are heard on a packet socket
# (linux.vmac_socket), which no IP source check touches, and with
# accept_local 1 the kernel answered an ARP request whose sender is one of
# its own addresses: the new Master's gratuitous ARP for the VIP, while the old
# Master still holds it (make before break, until it processes the new
# Master's advert). The answer leaves from the virtual MAC (RFC 9568 §7.3: only
# the Master may use it), the link's bridges learn the MAC back on the old
# Master's port, and the VIP's traffic goes there until the new Master's next
# advert: an Advertisement_Interval lost when the old Master is slow.
# arp_announce 2 on the parent goes beyond keepalived 2.2.7: traffic from a
# VIP leaves by the parent (its prefix route wins, see VMAC_ROUTE_METRIC), and
# the parent's ARP request would name the VIP as sender with the parent's own
# MAC, which makes every host that hears it bind the VIP to the physical MAC.
VMAC_SYSCTLS: Final = {
    "arp_ignore": "1",
    "accept_local": "0",
    "rp_filter": "0",
    "promote_secondaries": "1",
}
PARENT_SYSCTLS: Final = {"arp_ignore": "1", "arp_filter": "1", "arp_announce": "2"}
# The metric of the prefix route the kernel makes for a VIP on a VMAC
# (``192.0.2.155/24`` routes 192.0.2.0/24 through ``vrrp.55``): the largest, so
# any other route to that subnet, the parent's own, always wins. With equal
# metrics the route made first won, and the parent's is made again whenever
# its primary address changes or it comes back up: then the subnet was routed
# through the VMAC, and arp_filter made the parent ignore every ARP request for
# the host's own addresses. A unicast peer that had to resolve us again could
# not reach us, and both stayed Master (issue 8). A VIP outside the parent's
# subnets keeps its route through the VMAC.
VMAC_ROUTE_METRIC: Final = 0xFFFFFFFF
# Only the Master may use the virtual MAC as a source (RFC 9568 §7.3), so the
# VMAC carries no IPv6 address of its own: no link-local (addr_gen_mode 1), so
# no solicited-node group and no MLD report from a Backup; no autoconfiguration
# and no router solicitation either. Its VIPs (Master only) are added without
# DAD. The adverts' link-local source is the parent's (linux.vmac_socket).
VMAC6_SYSCTLS: Final = {
    "addr_gen_mode": "1",
    "accept_ra": "0",
    "autoconf": "0",
    "router_solicitations": "0",
    "accept_dad": "0",
}


@dataclass(frozen=True)
class Address:
    """One address of an interface as the kernel reports it."""

    ifindex: int
    interface: IPInterface
    secondary: bool
    tentative: bool
    scope: int
    dadfailed: bool = False

    @property
    def usable(self) -> bool:
        """The kernel lets us send from it: not in DAD, not a duplicate (RFC 4862 §5.4)."""
        return not (self.tentative or self.dadfailed)

    @property
    def ip(self) -> str:
        return str(self.interface.ip)


def ifname_to_index(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError as exc:
        raise NetlinkError(f"interface {ifname!r} does not exist") from exc


def _parse_interface(address: str) -> IPInterface:
    try:
        return ipaddress.ip_interface(address)
    except ValueError as exc:
        raise NetlinkError(f"not an IP address: {address!r}") from exc


@dataclass(frozen=True)
class AddressOptions:
    """What ``ip addr add`` takes beyond the address: ``label``, ``scope``, ``brd``."""

    label: str | None = None
    scope: int | None = None  # RT_SCOPE_*; None: link for link-local, else universe
    broadcast: str | None = None


def _addr_msg(
    ifindex: int,
    iface: IPInterface,
    *,
    nodad: bool,
    route_metric: int | None = None,
    options: AddressOptions | None = None,
) -> Any:
    msg = netlink.new_addr_msg()
    msg["family"] = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    msg["prefixlen"] = iface.network.prefixlen
    msg["index"] = ifindex
    msg["scope"] = RT_SCOPE_LINK if iface.ip.is_link_local else RT_SCOPE_UNIVERSE
    attrs: list[tuple[str, Any]] = [("IFA_LOCAL", str(iface.ip)), ("IFA_ADDRESS", str(iface.ip))]
    if route_metric is not None:
        attrs.append(("IFA_RT_PRIORITY", route_metric))
    if options is not None:
        if options.scope is not None:
            msg["scope"] = options.scope
        if options.label is not None:
            attrs.append(("IFA_LABEL", options.label))
        if options.broadcast is not None:
            attrs.append(("IFA_BROADCAST", options.broadcast))
    if iface.version == 6 and nodad:
        # A VIP must answer at once; DAD would hold it tentative for a second.
        msg["flags"] = IFA_F_NODAD
    msg["attrs"] = attrs
    return msg


def add_address(
    ifname: str,
    address: str,
    *,
    route_metric: int | None = None,
    options: AddressOptions | None = None,
) -> bool:
    """Add ``address`` (``"192.0.2.1/24"``; no length means /32 or /128).

    ``route_metric`` is the metric of the prefix route the kernel makes for it
    (None: the kernel's default; a VMAC's VIPs get :data:`VMAC_ROUTE_METRIC`);
    ``options`` its label, scope and broadcast address.
    Returns True when the address was added, False when it was already there.
    """
    iface = _parse_interface(address)
    ifindex = ifname_to_index(ifname)
    with netlink.Rtnl() as rtnl:
        code = rtnl.request(
            _addr_msg(ifindex, iface, nodad=True, route_metric=route_metric, options=options),
            msg_type=netlink.RTM_NEWADDR,
            flags=netlink.NLM_F_CREATE | netlink.NLM_F_EXCL,
        )
    if code == errno.EEXIST:
        return False
    if code:
        raise NetlinkError(f"add {iface} on {ifname}: {os.strerror(code)}")
    return True


def look_again(kind: int | None) -> bool:
    """Whether an address whose ``route_type`` is ``kind`` is worth another
    look: not local (RTN_LOCAL) yet, but routed, so the kernel may still make
    it local. None (no route at all, or its interface gone) settles it: nothing will."""
    return kind is not None and kind != RTN_LOCAL


def wait_until_all_local(
    targets: Sequence[tuple[str, str | IPInterface]],
    *,
    timeout: float = LOCAL_WAIT,
    rtnl: netlink.Rtnl | None = None,
) -> list[bool]:
    """Wait until the kernel routes each ``(ifname, address)`` to this host,
    all of them together: at most ``timeout`` s for the whole set, not for each.

    For each, True when it is local; False when the shared ``timeout`` ran out
    first, at once when there is no route to it at all (nothing will make one)
    or when its interface is gone. Each look is one RTM_GETROUTE (``ip route
    get``) per address not local yet, on ``rtnl`` when given (an open request
    socket), else on a socket of its own.
    """
    found = [False] * len(targets)
    pending = [(at, ip_text, ifindex) for at, (ip_text, ifindex) in route_lookups(targets)]
    if not pending:
        return found
    deadline = time.monotonic() + timeout
    with contextlib.ExitStack() as stack:
        sock = rtnl if rtnl is not None else stack.enter_context(netlink.Rtnl())
        while True:
            still = []
            for at, ip_text, ifindex in pending:
                kind = sock.route_type(ip_text, ifindex=ifindex)
                found[at] = kind == RTN_LOCAL
                if look_again(kind):
                    still.append((at, ip_text, ifindex))
            pending = still
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(_LOCAL_POLL)
    return found


def route_lookups(
    targets: Sequence[tuple[str, str | IPInterface]],
) -> list[tuple[int, tuple[str, int]]]:
    """``(position, (address, ifindex or 0))`` to ask ``route_type`` for each
    target; a link-local one whose interface is gone is left out (nothing to wait for)."""
    out: list[tuple[int, tuple[str, int]]] = []
    indexes: dict[str, int] = {}
    for at, (ifname, address) in enumerate(targets):
        ip = (_parse_interface(address) if isinstance(address, str) else address).ip
        ifindex = 0
        if ip.is_link_local:  # an fe80:: address has a route on its link only
            try:
                if ifname not in indexes:
                    indexes[ifname] = ifname_to_index(ifname)
            except NetlinkError:
                continue
            ifindex = indexes[ifname]
        out.append((at, (str(ip), ifindex)))
    return out


def remove_address(ifname: str, address: str) -> bool:
    """Remove ``address``; returns False when it was not there."""
    iface = _parse_interface(address)
    ifindex = ifname_to_index(ifname)
    with netlink.Rtnl() as rtnl:
        code = rtnl.request(_addr_msg(ifindex, iface, nodad=False), msg_type=netlink.RTM_DELADDR)
    if code in (errno.EADDRNOTAVAIL, errno.ENOENT):
        return False
    if code:
        raise NetlinkError(f"remove {iface} from {ifname}: {os.strerror(code)}")
    return True


def address_from_message(msg: Any) -> Address | None:
    """An :class:`Address` from a decoded ifaddrmsg (None when it has no address)."""
    ip = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
    if ip is None:
        return None
    flags = msg.get_attr("IFA_FLAGS")
    if flags is None:
        flags = msg["flags"]
    return Address(
        ifindex=int(msg["index"]),
        interface=ipaddress.ip_interface(f"{ip}/{msg['prefixlen']}"),
        secondary=bool(flags & IFA_F_SECONDARY),
        tentative=bool(flags & IFA_F_TENTATIVE),
        scope=int(msg["scope"]),
        dadfailed=bool(flags & IFA_F_DADFAILED),
    )


def list_addresses(ifname: str, *, family: int = socket.AF_UNSPEC) -> list[Address]:
    """The addresses of ``ifname`` in the kernel's order (primary first)."""
    ifindex = ifname_to_index(ifname)
    with netlink.Rtnl() as rtnl:
        messages = rtnl.addresses(family)
    out = []
    for msg in messages:
        if int(msg["index"]) != ifindex:
            continue
        addr = address_from_message(msg)
        if addr is not None:
            out.append(addr)
    return out


def source_address(ifname: str, *, version: int) -> str | None:
    """The address adverts leave ``ifname`` from (RFC 9568 §5.1.1.1, §5.1.2.1).

    IPv4: the interface's first primary address. IPv6: its link-local address.
    None when there is none yet (the runner treats that as a fault).
    """
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    for addr in list_addresses(ifname, family=family):
        if not addr.usable:
            continue
        if version == 4 and not addr.secondary:
            return addr.ip
        if version == 6 and addr.interface.ip.is_link_local:
            return addr.ip
    return None


def vmac_address(vrid: int, *, version: int) -> str:
    """The virtual router MAC: 00-00-5E-00-01-{VRID} / 00-00-5E-00-02-{VRID} (RFC 9568 §7.3)."""
    if not 1 <= vrid <= 255:
        raise NetlinkError(f"VRID {vrid} is out of range 1-255")
    return f"00:00:5e:00:{1 if version == 4 else 2:02x}:{vrid:02x}"


def ipv6_forwarding(ifname: str) -> bool:
    """Whether ``ifname`` forwards IPv6 (its ``forwarding`` sysctl): the R
    flag the kernel gives its own NAs there. False when it cannot be read."""
    try:
        return (SYSCTL_NET / "ipv6" / "conf" / ifname / "forwarding").read_text().strip() == "1"
    except (OSError, ValueError):
        return False


def _write_sysctls(ifname: str, values: dict[str, str], *, version: int = 4) -> None:
    family = "ipv4" if version == 4 else "ipv6"
    if version == 6 and not (SYSCTL_NET / family).is_dir():
        return  # a kernel booted without IPv6 (ipv6.disable=1): nothing to set
    base = SYSCTL_NET / family / "conf" / ifname
    for key, value in values.items():
        try:
            (base / key).write_text(value)
        except OSError as exc:
            # The path and the errno text: what a fault reason shows (faults.vmac).
            raise NetlinkError(f"sysctl {base / key}={value}: {exc.strerror or exc}") from exc


def _link_state(rtnl: netlink.Rtnl, ifname: str) -> Any:
    for msg in rtnl.links():
        if msg.get_attr("IFLA_IFNAME") == ifname:
            return msg
    return None


def _set_up(rtnl: netlink.Rtnl, ifindex: int, ifname: str, *, up: bool = True) -> None:
    msg = netlink.new_link_msg()
    msg["index"] = ifindex
    msg["flags"] = IFF_UP if up else 0
    msg["change"] = IFF_UP
    code = rtnl.request(msg, msg_type=netlink.RTM_NEWLINK)
    if code:
        raise NetlinkError(f"set {ifname} {'up' if up else 'down'}: {os.strerror(code)}")


def remove_vmac_addresses(vmac_ifname: str, vips: list[str]) -> None:
    """Remove IPv6 VIPs from a VMAC without a frame from the virtual MAC.

    Dropping an address leaves its solicited-node group, and the kernel says
    so in MLD reports sent from the VMAC just after the Master stepped down
    (RFC 9568 §7.3: only the Master may use that MAC). A down interface sends
    no MLD, so the VMAC goes down, loses the VIPs and comes back up (it has no
    other address, so coming up sends nothing either). Without a VIP on it,
    nothing is touched.
    """
    wanted = {str(_parse_interface(vip).ip) for vip in vips}
    if not any(addr.ip in wanted for addr in list_addresses(vmac_ifname)):
        return
    ifindex = ifname_to_index(vmac_ifname)
    with netlink.Rtnl() as rtnl:
        _set_up(rtnl, ifindex, vmac_ifname, up=False)
        try:
            for vip in vips:
                remove_address(vmac_ifname, vip)
        finally:
            _set_up(rtnl, ifindex, vmac_ifname)


def create_vmac(
    *, ifname: str, vmac_ifname: str, vrid: int, version: int, ours: int | None = None
) -> int:
    """Create (or adopt) macvlan ``vmac_ifname`` on ``ifname`` with the VRRP MAC, up.

    Mode private: the VMAC does not talk to its siblings on the same parent.
    An existing interface of that name with the right MAC and parent is kept;
    anything else by that name is an error (never silently replaced), except
    the VMAC we made ourselves (ifindex ``ours``, on ``ifname``) whose MAC
    another program changed: that gets the VRRP MAC back.
    Returns the VMAC's ifindex.
    """
    parent = ifname_to_index(ifname)
    mac = vmac_address(vrid, version=version)
    with netlink.Rtnl() as rtnl:
        existing = _link_state(rtnl, vmac_ifname)
        if existing is None:
            msg = netlink.new_link_msg()
            msg["attrs"] = [
                ("IFLA_IFNAME", vmac_ifname),
                ("IFLA_LINK", parent),
                ("IFLA_ADDRESS", mac),
                (
                    "IFLA_LINKINFO",
                    {
                        "attrs": [
                            ("IFLA_INFO_KIND", "macvlan"),
                            (
                                "IFLA_INFO_DATA",
                                {"attrs": [("IFLA_MACVLAN_MODE", MACVLAN_MODE_PRIVATE)]},
                            ),
                        ]
                    },
                ),
            ]
            code = rtnl.request(
                msg, msg_type=netlink.RTM_NEWLINK, flags=netlink.NLM_F_CREATE | netlink.NLM_F_EXCL
            )
            if code:
                raise NetlinkError(f"create VMAC {vmac_ifname} on {ifname}: {os.strerror(code)}")
            existing = _link_state(rtnl, vmac_ifname)
            if existing is None:
                raise NetlinkError(f"VMAC {vmac_ifname} vanished right after creation")
        else:
            if ours is not None and int(existing["index"]) == ours:
                existing = _put_mac_back(
                    rtnl, existing, vmac_ifname=vmac_ifname, ifname=ifname, mac=mac
                )
            _check_ours(
                existing, vmac_ifname=vmac_ifname, ifname=ifname, vrid=vrid, version=version
            )
        ifindex = int(existing["index"])
        _write_sysctls(vmac_ifname, VMAC_SYSCTLS)
        _write_sysctls(ifname, PARENT_SYSCTLS)
        # Every router of the VRID has this MAC, so an EUI-64 link-local made
        # from it would clash on the link: generate none (keepalived does too).
        _write_sysctls(vmac_ifname, VMAC6_SYSCTLS, version=6)
        _set_up(rtnl, ifindex, vmac_ifname)
    if version == 6:
        # An earlier runner lent the VMAC the parent's link-local address; the
        # adverts now leave from it without (linux.vmac_socket).
        parent_ll = source_address(ifname, version=6)
        if parent_ll is not None:
            remove_address(vmac_ifname, f"{parent_ll}/64")
    return ifindex


def _put_mac_back(
    rtnl: netlink.Rtnl, existing: Any, *, vmac_ifname: str, ifname: str, mac: str
) -> Any:
    """Give our VMAC (still on ``ifname``) its VRRP MAC again; the link as it is then."""
    if existing.get_attr("IFLA_ADDRESS") == mac or existing.get_attr("IFLA_LINK") != (
        ifname_to_index(ifname)
    ):
        return existing
    msg = netlink.new_link_msg()
    msg["index"] = int(existing["index"])
    msg["attrs"] = [("IFLA_ADDRESS", mac)]
    code = rtnl.request(msg, msg_type=netlink.RTM_NEWLINK)
    if code:
        raise NetlinkError(f"set {vmac_ifname} address {mac}: {os.strerror(code)}")
    return _link_state(rtnl, vmac_ifname) or existing


def _check_ours(existing: Any, *, vmac_ifname: str, ifname: str, vrid: int, version: int) -> None:
    """Raise unless the link ``existing`` is the VMAC of ``vrid`` on ``ifname``."""
    mac = vmac_address(vrid, version=version)
    parent = ifname_to_index(ifname)
    if existing.get_attr("IFLA_ADDRESS") != mac or existing.get_attr("IFLA_LINK") != parent:
        raise NetlinkError(
            f"{vmac_ifname} exists but is not the VMAC {mac} on {ifname}: refusing to touch it"
        )


def delete_vmac(
    vmac_ifname: str, *, ifname: str | None = None, vrid: int = 0, version: int = 4
) -> bool:
    """Delete the VMAC interface; False when it did not exist.

    With ``ifname`` (and ``vrid``, ``version``), only the VMAC of that VRID
    on that interface: anything else by that name is an error, never deleted.
    """
    with netlink.Rtnl() as rtnl:
        existing = _link_state(rtnl, vmac_ifname)
        if existing is None:
            return False
        if ifname is not None:
            _check_ours(
                existing, vmac_ifname=vmac_ifname, ifname=ifname, vrid=vrid, version=version
            )
        msg = netlink.new_link_msg()
        msg["index"] = int(existing["index"])
        code = rtnl.request(msg, msg_type=netlink.RTM_DELLINK)
    if code == errno.ENODEV:
        return False
    if code:
        raise NetlinkError(f"delete VMAC {vmac_ifname}: {os.strerror(code)}")
    return True
