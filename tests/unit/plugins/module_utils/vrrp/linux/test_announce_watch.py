"""Reading another node's gratuitous ARP / unsolicited NA (issue 13): pure, never raising."""

from __future__ import annotations

from ipaddress import ip_address

from hypothesis import given, settings
from hypothesis import strategies as st
from test_vmac_socket import PACKET_HOST, PACKET_MULTICAST, run_bpf

from vrrp.linux.announce import garp_frame, unsolicited_na_frame
from vrrp.linux.announce_watch import (
    ETH_P_ARP,
    ETH_P_IPV6,
    NA_FLAG_SOLICITED,
    PACKET_OUTGOING,
    announced_address,
    filter_program,
)

PACKET_BROADCAST = 1
OURS = bytes.fromhex("020000000001")
THEIRS = bytes.fromhex("020000000002")


def test_a_garp_from_another_node_names_its_address() -> None:
    frame = garp_frame(mac=THEIRS, vip="192.0.2.100")
    assert announced_address(frame, version=4, own_mac=OURS) == ip_address("192.0.2.100")


def test_the_reply_form_counts_too() -> None:
    frame = bytearray(garp_frame(mac=THEIRS, vip="192.0.2.100"))
    frame[21] = 2  # ARP reply (keepalived's garp reply form, other stacks)
    assert announced_address(bytes(frame), version=4, own_mac=OURS) == ip_address("192.0.2.100")


def test_our_own_frames_are_not_a_successor() -> None:
    assert (
        announced_address(garp_frame(mac=OURS, vip="192.0.2.100"), version=4, own_mac=OURS) is None
    )
    na = unsolicited_na_frame(mac=OURS, target="2001:db8::100")
    assert announced_address(na, version=6, own_mac=OURS) is None


def test_an_unsolicited_na_names_its_target() -> None:
    frame = unsolicited_na_frame(mac=THEIRS, target="2001:db8::100")
    assert announced_address(frame, version=6, own_mac=OURS) == ip_address("2001:db8::100")


def test_a_solicited_na_is_an_answer_not_an_announcement() -> None:
    frame = bytearray(unsolicited_na_frame(mac=THEIRS, target="2001:db8::100"))
    frame[14 + 40 + 4] |= NA_FLAG_SOLICITED
    assert announced_address(bytes(frame), version=6, own_mac=OURS) is None


def test_an_na_that_crossed_a_router_is_no_announcement() -> None:
    """RFC 4861 §7.1.2: a neighbour advertisement whose hop limit is not 255
    came from off the link (or was forwarded): the kernel discards it, and it
    does not end a resigned Master's hold either."""
    frame = bytearray(unsolicited_na_frame(mac=THEIRS, target="2001:db8::100"))
    frame[14 + 7] = 64
    assert announced_address(bytes(frame), version=6, own_mac=OURS) is None


def test_a_family_reads_only_its_frames() -> None:
    assert (
        announced_address(garp_frame(mac=THEIRS, vip="192.0.2.1"), version=6, own_mac=OURS) is None
    )
    na = unsolicited_na_frame(mac=THEIRS, target="2001:db8::1")
    assert announced_address(na, version=4, own_mac=OURS) is None


def test_the_kernel_filter_wakes_only_for_incoming_announcements() -> None:
    arp = filter_program(ETH_P_ARP)
    na = filter_program(ETH_P_IPV6)
    garp = garp_frame(mac=THEIRS, vip="192.0.2.100")
    reply = garp[:21] + b"\x02" + garp[22:]
    advert = unsolicited_na_frame(mac=THEIRS, target="2001:db8::100")
    assert run_bpf(arp, garp, pkttype=PACKET_BROADCAST) > 0
    assert run_bpf(arp, reply, pkttype=PACKET_HOST) > 0
    assert run_bpf(arp, garp, pkttype=PACKET_OUTGOING) == 0  # ours, as sent
    assert run_bpf(arp, garp[:21] + b"\x03" + garp[22:], pkttype=PACKET_BROADCAST) == 0
    assert run_bpf(arp, garp[:20] + b"\x01\x01" + garp[22:], pkttype=PACKET_BROADCAST) == 0
    assert run_bpf(na, advert, pkttype=PACKET_MULTICAST) > 0
    assert run_bpf(na, advert, pkttype=PACKET_OUTGOING) == 0
    ns = advert[:54] + b"\x87" + advert[55:]  # a neighbour solicitation
    assert run_bpf(na, ns, pkttype=PACKET_MULTICAST) == 0
    udp = advert[:20] + b"\x11" + advert[21:]
    assert run_bpf(na, udp, pkttype=PACKET_MULTICAST) == 0
    assert run_bpf(na, advert[:30], pkttype=PACKET_MULTICAST) == 0  # short: dropped


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120), st.sampled_from([4, 6]), st.integers(0, 119), st.binary(max_size=8))
def test_any_frame_or_mangled_announcement_is_read_without_raising(
    junk: bytes, version: int, cut: int, patch: bytes
) -> None:
    announced_address(junk, version=version, own_mac=OURS)
    good = (
        garp_frame(mac=THEIRS, vip="192.0.2.100")
        if version == 4
        else unsolicited_na_frame(mac=THEIRS, target="2001:db8::100")
    )
    announced_address(good[:cut], version=version, own_mac=OURS)
    mangled = good[:cut] + patch + good[cut + len(patch) :]
    announced_address(mangled, version=version, own_mac=OURS)
