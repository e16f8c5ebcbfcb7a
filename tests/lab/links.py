"""Link-level faults inside a lab router: re-created veths, VRRP filters, tentative addresses.

Used by the chaos suite (``tests/chaos``); each helper undoes what the one
beside it does, so a fault can be healed.
"""

from __future__ import annotations

from .core import Lab, Router

VRRP_PROTO = "112"  # IANA protocol number of VRRP (RFC 9568 §5.1.1.4)


def delete_link(lab: Lab, router: Router, ifname: str) -> None:
    """Delete ``ifname`` in ``router`` (a veth: its bridge-side peer goes with it)."""
    lab.run(router, ["ip", "link", "del", ifname], check=True)


def create_link(
    lab: Lab,
    router: Router,
    *,
    ifname: str,
    port: str,
    bridge: str,
    mac: str | None,
    addresses: list[str],
) -> None:
    """(Re-)create ``ifname`` as a veth to ``bridge`` the way ``Lab.add_router`` builds eth0.

    The pair is made in the switch namespace and one end moved, so both ends
    get their own ifindex. IPv6 addresses get ``nodad`` (the lab has DAD off).
    """
    sw, tmp = lab.switch_ns, f"c-{router.name}"
    steps: list[tuple[str, list[str]]] = [
        (sw, ["ip", "link", "add", port, "type", "veth", "peer", "name", tmp]),
        (sw, ["ip", "link", "set", tmp, "netns", router.ns]),
        (router.ns, ["ip", "link", "set", tmp, "name", ifname]),
    ]
    if mac is not None:
        steps.append((router.ns, ["ip", "link", "set", ifname, "address", mac]))
    steps += [
        (router.ns, ["sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.accept_dad=0"]),
        (sw, ["ip", "link", "set", port, "master", bridge]),
        (sw, ["ip", "link", "set", port, "up"]),
    ]
    for address in addresses:
        extra = ["nodad"] if ":" in address else []
        steps.append((router.ns, ["ip", "addr", "add", address, "dev", ifname, *extra]))
    steps.append((router.ns, ["ip", "link", "set", ifname, "up"]))
    for target, argv in steps:
        lab.run(target, argv, check=True)


SINK = "vrrpsink"  # an IFB device left down: what is redirected to it is dropped


def block_vrrp(lab: Lab, router: Router, *, ifname: str = "eth0", direction: str) -> None:
    """Drop VRRP (IPv4 protocol / IPv6 next header 112) on ``ifname`` one way.

    ``direction`` is ``"ingress"`` or ``"egress"``. The lab has neither nft nor
    iptables and the kernel no gact (``action drop``): a u32 filter on a clsact
    qdisc redirects VRRP to a device that is down, where mirred drops it.
    """
    lab.run(router, ["ip", "link", "add", SINK, "type", "ifb"], check=True)
    lab.run(router, ["tc", "qdisc", "add", "dev", ifname, "clsact"], check=True)
    for proto, match in (("ip", "ip"), ("ipv6", "ip6")):
        argv = ["tc", "filter", "add", "dev", ifname, direction, "protocol", proto, "u32",
                "match", match, "protocol", VRRP_PROTO, "0xff",
                "action", "mirred", "egress", "redirect", "dev", SINK]  # fmt: skip
        lab.run(router, argv, check=True)


def unblock_vrrp(lab: Lab, router: Router, *, ifname: str = "eth0") -> None:
    """Remove what ``block_vrrp`` added (the clsact qdisc and the sink)."""
    lab.run(router, ["tc", "qdisc", "del", "dev", ifname, "clsact"], check=False)
    lab.run(router, ["ip", "link", "del", SINK], check=False)


def make_link_local_tentative(
    lab: Lab, router: Router, *, ifname: str = "eth0", transmits: int = 3
) -> None:
    """Re-add ``router``'s link-local address with DAD on: tentative for ~``transmits`` s.

    Undo with ``dad_off`` once DAD has finished (the address stays).
    """
    ll = f"{router.v6_ll}/64"
    for argv in (
        ["sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.accept_dad=1"],
        ["sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.dad_transmits={transmits}"],
        ["ip", "-6", "addr", "del", ll, "dev", ifname],
        ["ip", "-6", "addr", "add", ll, "dev", ifname, "scope", "link"],
    ):
        lab.run(router, argv, check=True)


def dad_off(lab: Lab, router: Router, *, ifname: str = "eth0") -> None:
    """The lab's default again: no DAD on ``ifname``."""
    for argv in (
        ["sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.accept_dad=0"],
        ["sysctl", "-q", "-w", f"net.ipv6.conf.{ifname}.dad_transmits=0"],
    ):
        lab.run(router, argv, check=True)
