"""Reading another node's gratuitous ARP / unsolicited NA (issue 13): pure, never raising."""

from __future__ import annotations

import struct
from ipaddress import ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.linux.announce import garp_frame, unsolicited_na_frame
from vrrp.linux.announce_watch import (
    ETH_P_ARP,
    ETH_P_IPV6,
    NA_FLAG_SOLICITED,
    announced_address,
    filter_program,
)

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


def test_a_family_reads_only_its_frames() -> None:
    assert (
        announced_address(garp_frame(mac=THEIRS, vip="192.0.2.1"), version=6, own_mac=OURS) is None
    )
    na = unsolicited_na_frame(mac=THEIRS, target="2001:db8::1")
    assert announced_address(na, version=4, own_mac=OURS) is None


def test_the_filters_are_whole_sock_filter_arrays() -> None:
    for protocol in (ETH_P_ARP, ETH_P_IPV6):
        program = filter_program(protocol)
        assert len(program) % 8 == 0
        codes = [struct.unpack_from("HBBI", program, i)[0] for i in range(0, len(program), 8)]
        assert codes[-1] == 0x06  # every path ends in a return


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
