"""Netlink framing, the VMAC address rule and the probe report (no root needed)."""

from __future__ import annotations

import errno
import struct

import pytest

from vrrp.errors import NetlinkError
from vrrp.linux import netlink
from vrrp.linux.addresses import vmac_address
from vrrp.linux.link import ProbeReport, ProbeResult, errno_name, probe, probe_report


def nlmsg(msg_type: int, body: bytes, *, seq: int = 1, flags: int = 0) -> bytes:
    length = 16 + len(body)
    return struct.pack("=IHHII", length, msg_type, flags, seq, 0) + body + bytes(-length % 4)


def test_split_messages_walks_aligned_messages_and_drops_a_torn_tail() -> None:
    one = nlmsg(netlink.NLMSG_DONE, b"\0\0\0\0", seq=7)
    two = nlmsg(netlink.NLMSG_ERROR, b"abc", seq=8)  # padded to 4
    torn = nlmsg(netlink.NLMSG_DONE, b"0123")[:10]
    got = netlink.split_messages(one + two + torn)
    assert [(t, s) for t, _f, s, _m in got] == [(netlink.NLMSG_DONE, 7), (netlink.NLMSG_ERROR, 8)]
    assert got[1][3] == two[:19]


def test_split_messages_stops_on_a_lying_length() -> None:
    bad = struct.pack("=IHHII", 8, 3, 0, 1, 0)  # shorter than its own header
    assert netlink.split_messages(bad + nlmsg(3, b"")) == []


def test_error_code() -> None:
    assert (
        netlink.error_code(nlmsg(netlink.NLMSG_ERROR, struct.pack("=i", -errno.EEXIST)))
        == errno.EEXIST
    )
    assert netlink.error_code(nlmsg(netlink.NLMSG_ERROR, struct.pack("=i", 0))) == 0
    assert netlink.error_code(nlmsg(netlink.NLMSG_ERROR, b"")) == errno.EPROTO


def test_decode_round_trips_a_link_message() -> None:
    msg = netlink.new_link_msg()
    msg["index"] = 3
    msg["flags"] = 0x10041
    msg["attrs"] = [("IFLA_IFNAME", "eth0")]
    msg["header"]["type"] = netlink.RTM_NEWLINK
    msg.encode()
    decoded = netlink.decode(netlink.RTM_NEWLINK, msg.data)
    assert decoded["index"] == 3 and decoded.get_attr("IFLA_IFNAME") == "eth0"
    assert netlink.decode(netlink.NLMSG_DONE, msg.data) is None


@pytest.mark.parametrize(
    ("vrid", "version", "mac"),
    [(1, 4, "00:00:5e:00:01:01"), (255, 4, "00:00:5e:00:01:ff"), (7, 6, "00:00:5e:00:02:07")],
)
def test_vmac_address(vrid: int, version: int, mac: str) -> None:
    assert vmac_address(vrid, version=version) == mac


@pytest.mark.parametrize("vrid", [0, 256])
def test_vmac_address_out_of_range(vrid: int) -> None:
    with pytest.raises(NetlinkError, match="out of range"):
        vmac_address(vrid, version=4)


def test_errno_names() -> None:
    assert errno_name(errno.EOPNOTSUPP) == "EOPNOTSUPP"
    assert errno_name(errno.ENODEV) == "ENODEV"
    assert errno_name(None) == "errno None"


def test_bad_names_and_methods_are_unsupported_not_raised() -> None:
    assert probe("x" * 16, "ethtool") == ProbeResult("ethtool", "unsupported", "EINVAL")
    assert probe("lo", "smoke-signals") == ProbeResult(
        "smoke-signals", "unsupported", "unknown method"
    )
    report = probe_report("")
    assert report.best is None and all(not r.supported for r in report.results.values())


def test_report_as_dict() -> None:
    report = ProbeReport("eth0", {"mii": ProbeResult("mii", "unsupported", "EOPNOTSUPP")}, None)
    assert report.as_dict() == {
        "interface": "eth0",
        "methods": {
            "netlink": {"supported": True, "result": "events", "detail": "primary event source"},
            "mii": {"supported": False, "result": "unsupported", "detail": "EOPNOTSUPP"},
        },
        "best": None,
    }
