"""GARP and unsolicited NA frames, byte for byte."""

from __future__ import annotations

import ipaddress

import pytest

from vrrp.errors import NetlinkError
from vrrp.linux import announce
from vrrp.linux.announce import (
    garp_frame,
    interface_mac,
    mac_bytes,
    multicast_mac_v6,
    unsolicited_na_frame,
)

MAC = bytes.fromhex("020000000001")


def ones_complement_sum(data: bytes) -> int:
    total = 0
    for i in range(0, len(data), 2):
        total += int.from_bytes(data[i : i + 2].ljust(2, b"\0"), "big")
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_garp_frame_is_a_broadcast_request_with_sender_equal_target() -> None:
    expected = bytes.fromhex(
        "ffffffffffff"
        "020000000001"
        "0806"  # Ethernet: broadcast, our MAC, ARP
        "0001"
        "0800"
        "06"
        "04"
        "0001"  # Ethernet/IPv4, request
        "020000000001"
        "c0000264"  # sender: our MAC, the VIP
        "000000000000"
        "c0000264"  # target: zero MAC, the VIP
    ) + bytes(18)  # padded to the 60-byte minimum frame
    assert garp_frame(mac=MAC, vip="192.0.2.100") == expected
    assert len(expected) == 60


def test_unsolicited_na_frame_layout() -> None:
    frame = unsolicited_na_frame(mac=MAC, target="2001:db8::100")
    vip = ipaddress.IPv6Address("2001:db8::100").packed
    all_nodes = ipaddress.IPv6Address("ff02::1").packed
    assert frame[:14] == bytes.fromhex("33330000000102000000000186dd")
    ip6 = frame[14:54]
    assert ip6[:4] == bytes.fromhex("60000000")  # version 6, no class, no flow
    assert ip6[4:6] == (32).to_bytes(2, "big")  # payload: 24 NA + 8 option
    assert ip6[6] == 58 and ip6[7] == 255  # ICMPv6, hop limit 255 (RFC 4861 §7.1.2)
    assert ip6[8:24] == vip and ip6[24:40] == all_nodes
    icmp = frame[54:]
    assert icmp[0] == 136 and icmp[1] == 0  # neighbour advertisement, code 0
    # RFC 9568 §6.4.1/§6.4.2: router set, solicited clear, override set
    assert icmp[4:8] == bytes.fromhex("a0000000")
    assert icmp[8:24] == vip
    assert icmp[24:32] == bytes.fromhex("0201") + MAC  # target link-layer address option
    pseudo = vip + all_nodes + len(icmp).to_bytes(4, "big") + bytes(3) + bytes([58])
    assert ones_complement_sum(pseudo + icmp) == 0xFFFF  # checksum verifies


def test_unsolicited_na_always_router_flag_and_explicit_source() -> None:
    # The VIP is a router's address whatever this host's forwarding setting:
    # without R, hosts routing through it drop their default route (RFC 4861
    # §7.2.5) at every failover.
    frame = unsolicited_na_frame(mac=MAC, target="2001:db8::100", source="fe80::1")
    flags = int.from_bytes(frame[54 + 4 : 54 + 8], "big")
    assert flags & 0x80000000  # R
    assert not flags & 0x40000000  # S
    assert flags & 0x20000000  # O
    assert frame[54 + 4 : 54 + 8] == bytes.fromhex("a0000000")
    assert frame[22:38] == ipaddress.IPv6Address("fe80::1").packed
    pseudo = frame[22:54] + (32).to_bytes(4, "big") + bytes(3) + bytes([58])
    assert ones_complement_sum(pseudo + frame[54:]) == 0xFFFF


def test_an_own_address_na_follows_forwarding_for_its_router_flag() -> None:
    """Our own source address (a unicast Backup introducing itself) is a
    router's only when the host forwards: R as the kernel would set it."""
    host = unsolicited_na_frame(mac=MAC, target="2001:db8::12", router=False)
    flags = int.from_bytes(host[54 + 4 : 54 + 8], "big")
    assert flags == 0x20000000  # O alone
    pseudo = host[22:54] + (32).to_bytes(4, "big") + bytes(3) + bytes([58])
    assert ones_complement_sum(pseudo + host[54:]) == 0xFFFF
    assert unsolicited_na_frame(mac=MAC, target="2001:db8::12", router=True)[
        58:62
    ] == bytes.fromhex("a0000000")


def test_multicast_mac_v6() -> None:
    assert multicast_mac_v6(ipaddress.IPv6Address("ff02::1:ff00:12")) == bytes.fromhex(
        "3333ff000012"
    )


@pytest.mark.parametrize("text", ["00:00:5e:00:01:05", "00-00-5E-00-01-05"])
def test_mac_bytes(text: str) -> None:
    assert mac_bytes(text) == bytes.fromhex("00005e000105")


@pytest.mark.parametrize(
    "text", ["", "00:00:5e:00:01", "zz:00:5e:00:01:05", "00:00:5e:00:01:05:06"]
)
def test_mac_bytes_rejects_garbage(text: str) -> None:
    with pytest.raises(NetlinkError, match="not a MAC address"):
        mac_bytes(text)


def test_interface_mac_asks_the_kernel_of_this_namespace() -> None:
    # Every namespace has lo, whose hardware address is all zeros; the answer
    # comes from an ioctl on a socket, not from a sysfs that may show another
    # namespace.
    assert interface_mac("lo") == bytes(6)


@pytest.mark.parametrize("name", ["", "x" * 16, "no-such-if0"])
def test_interface_mac_names_the_interface_it_could_not_read(name: str) -> None:
    with pytest.raises(NetlinkError, match="MAC address of"):
        interface_mac(name)


def test_an_announcer_makes_each_frame_once_and_sends_it_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[bytes] = []
    made: list[str] = []
    garp, na = announce.garp_frame, announce.unsolicited_na_frame
    monkeypatch.setattr(announce, "garp_frame", lambda **k: made.append(k["vip"]) or garp(**k))
    monkeypatch.setattr(
        announce, "unsolicited_na_frame", lambda **k: made.append(k["target"]) or na(**k)
    )
    announcer = object.__new__(announce.Announcer)
    announcer.ifname, announcer.mac, announcer.sent, announcer._frames = "eth0", MAC, 0, {}
    monkeypatch.setattr(announcer, "_send", sent.append)
    for _round in range(3):
        announcer.announce("192.0.2.10")
        announcer.announce("2001:db8::10")
    assert made == ["192.0.2.10", "2001:db8::10"]
    assert sent == [garp(mac=MAC, vip="192.0.2.10"), na(mac=MAC, target="2001:db8::10")] * 3
