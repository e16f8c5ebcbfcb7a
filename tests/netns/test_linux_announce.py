"""GARP and unsolicited NA on the wire: captured on the peer, and obeyed by its kernel.

The peer holds a stale neighbour entry for the VIP with a wrong MAC; the
announcement must make its kernel take our MAC (which proves the frame is
valid: ARP format, ICMPv6 checksum, hop limit 255, override flag).
"""

from __future__ import annotations

import subprocess

import pytest

from lab import Lab, Router

ANNOUNCE = r"""
import sys
from vrrp.linux.announce import Announcer, mac_bytes
mac = mac_bytes(sys.argv[2]) if len(sys.argv) > 2 else None
with Announcer(ifname="eth0", mac=mac) as ann:
    ann.announce(sys.argv[1])
print(ann.sent)
"""

WRONG_MAC = "02:00:00:00:00:99"


def capture(lab: Lab, router: Router, bpf: str) -> tuple[subprocess.Popen[str], str]:
    pcap = str(lab.tmpdir / f"{router.name}-{abs(hash(bpf))}.pcap")
    proc = lab.popen(
        router,
        ["tcpdump", "-i", "eth0", "-n", "-U", "-c", "1", "-w", pcap, bpf],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "listening on" in line, line
    return proc, pcap


def fields(lab: Lab, pcap: str, names: list[str]) -> list[str]:
    argv = ["tshark", "-r", pcap, "-T", "fields", "-E", "separator=|"]
    for name in names:
        argv += ["-e", name]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    return out.strip().split("|")


def announce(lab: Lab, router: Router, address: str, mac: str | None = None) -> None:
    args = ["-c", ANNOUNCE, address] + ([mac] if mac else [])
    proc = lab.python(router, args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and out.strip() == "1", err


@pytest.mark.parametrize("vmac", [None, "00:00:5e:00:01:05"])
def test_gratuitous_arp_seen_and_obeyed(lab: Lab, vmac: str | None) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    lab.run(
        r2,
        ["ip", "neigh", "add", "192.0.2.100", "lladdr", WRONG_MAC, "dev", "eth0", "nud", "stale"],
        check=True,
    )
    cap, pcap = capture(lab, r2, "arp")
    announce(lab, r1, "192.0.2.100", vmac)
    assert cap.wait(timeout=10) == 0
    expect_mac = vmac or r1.mac
    got = fields(
        lab,
        pcap,
        [
            "eth.dst",
            "eth.src",
            "arp.opcode",
            "arp.src.hw_mac",
            "arp.src.proto_ipv4",
            "arp.dst.proto_ipv4",
            "arp.isgratuitous",
        ],
    )
    assert got == [
        "ff:ff:ff:ff:ff:ff",
        expect_mac,
        "1",
        expect_mac,
        "192.0.2.100",
        "192.0.2.100",
        "1",
    ]
    neigh = lab.wait_for(
        lambda: [
            n
            for n in lab.ip_json(r2, "neigh", "show", "192.0.2.100")
            if n.get("lladdr") == expect_mac
        ],
        what="ARP entry updated",
    )
    assert neigh


@pytest.mark.parametrize("vmac", [None, "00:00:5e:00:02:07"])
def test_unsolicited_na_seen_and_obeyed(lab: Lab, vmac: str | None) -> None:
    r1 = lab.add_router("r1", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v6="2001:db8::12/64")
    # The source of the NA is the VIP itself: it must be r1's address first.
    lab.run(r1, ["ip", "-6", "addr", "add", "2001:db8::100/64", "dev", "eth0", "nodad"], check=True)
    lab.run(
        r2,
        [
            "ip",
            "-6",
            "neigh",
            "add",
            "2001:db8::100",
            "lladdr",
            WRONG_MAC,
            "dev",
            "eth0",
            "nud",
            "stale",
        ],
        check=True,
    )
    cap, pcap = capture(lab, r2, "icmp6 and ip6[40] == 136")
    announce(lab, r1, "2001:db8::100", vmac)
    assert cap.wait(timeout=10) == 0
    expect_mac = vmac or r1.mac
    got = fields(
        lab,
        pcap,
        [
            "eth.dst",
            "eth.src",
            "ipv6.src",
            "ipv6.dst",
            "ipv6.hlim",
            "icmpv6.type",
            "icmpv6.nd.na.flag.r",
            "icmpv6.nd.na.flag.o",
            "icmpv6.nd.na.flag.s",
            "icmpv6.nd.na.target_address",
            "icmpv6.opt.linkaddr",
            "icmpv6.checksum.status",
        ],
    )
    assert got == [
        "33:33:00:00:00:01",
        expect_mac,
        "2001:db8::100",
        "ff02::1",
        "255",
        "136",
        "1",  # router (RFC 9568 §6.4.2)
        "1",
        "0",
        "2001:db8::100",
        expect_mac,
        "1",
    ]  # checksum status 1: good
    neigh = lab.wait_for(
        lambda: [
            n
            for n in lab.ip_json(r2, "-6", "neigh", "show", "2001:db8::100")
            if n.get("lladdr") == expect_mac
        ],
        what="neighbour entry updated",
    )
    assert neigh
