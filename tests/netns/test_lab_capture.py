"""The lab's capture: tshark decodes keepalived's adverts, and judges both v3 IPv4 checksum forms.

What tshark 4.0 reports (checked here against keepalived 2.2.7):

- keepalived's VRRPv2 and VRRPv3 IPv6 adverts: ``vrrp.checksum.status`` 1 (good).
- keepalived's VRRPv3 IPv4 adverts (multicast and unicast) carry the checksum
  with the IPv4 pseudo-header: good with default preferences, bad with
  ``vrrp.v3_checksum_as_in_v2:TRUE``.
- The same advert with the checksum over the VRRP message only (RFC 9568
  form): bad with default preferences, good with ``v3_checksum_as_in_v2``.
- keepalived itself accepts only the pseudo-header form: a higher-priority
  advert in the message-only form is logged as "Invalid VRRPv3 checksum" and
  dropped (it stays MASTER); the same advert with the pseudo-header checksum
  moves it to BACKUP.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from lab import Lab
from lab.capture import Capture, decode_vrrp
from lab.inject import VRRP_V4_GROUP, inject, vrrp3_advert
from lab.keepalived import KeepalivedInstance, start_keepalived


def _first(packets: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    for packet in packets:
        if all(packet.get(k) == v for k, v in match.items()):
            return packet
    raise AssertionError(f"no packet with {match} among {len(packets)}")


def test_capture_sees_keepalived_adverts_with_good_checksums(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v4="192.0.2.12/24", v6="2001:db8::12/64")
    with Capture(lab) as cap:
        ka = start_keepalived(
            lab,
            r1,
            KeepalivedInstance(vrid=51, priority=200, advert_interval=0.1,
                               virtual_addresses=["192.0.2.100/24"]),
            KeepalivedInstance(vrid=52, priority=150, version=2, auth_pass="secret",
                               virtual_addresses=["192.0.2.101/24", "192.0.2.102"]),
            KeepalivedInstance(vrid=53, priority=200, advert_interval=0.5,
                               virtual_addresses=["fe80::53/64", "2001:db8::53/64"]),
            KeepalivedInstance(vrid=54, priority=200, virtual_addresses=["192.0.2.104/24"],
                               unicast_source="192.0.2.11", unicast_peers=["192.0.2.12"]),
        )  # fmt: skip
        ka.wait_master(timeout=8)
        lab.wait_for(
            lambda: {51, 52, 53, 54} <= {p["vrid"] for p in cap.packets()},
            timeout=5,
            interval=0.2,
            what="adverts of all four instances",
        )
    packets = cap.packets()
    assert packets, "no VRRP captured"
    assert all(p["checksum_status"] == "good" for p in packets), [
        p for p in packets if p["checksum_status"] != "good"
    ]
    assert all(p["ttl"] == 255 for p in packets)
    assert all(p["type"] == 1 for p in packets)

    v3 = _first(packets, vrid=51, priority=200)
    assert (v3["version"], v3["family"], v3["src"], v3["dst"]) == (3, "ipv4", r1.v4, VRRP_V4_GROUP)
    assert v3["advert_interval_cs"] == 10 and v3["advert_interval"] == 0.1
    assert v3["addresses"] == ["192.0.2.100"]
    assert v3["eth_src"] == r1.mac and v3["eth_dst"] == "01:00:5e:00:00:12"
    assert v3["checksum_form"] == "pseudo_header"
    assert v3["checksum_status_message_only"] == "bad"
    # Our own encoder agrees with keepalived on the pseudo-header form, bit for bit.
    assert v3["checksum"] == int.from_bytes(
        vrrp3_advert(vrid=51, priority=200, advert_interval_cs=10, addresses=["192.0.2.100"],
                     src="192.0.2.11", dst=VRRP_V4_GROUP)[6:8], "big")  # fmt: skip

    v2 = _first(packets, vrid=52)
    assert (v2["version"], v2["priority"], v2["advert_interval"]) == (2, 150, 1.0)
    assert (v2["auth_type"], v2["auth_string"]) == (1, "secret")
    assert v2["addresses"] == ["192.0.2.101", "192.0.2.102"]
    assert v2["checksum_form"] == "v2"

    v6 = _first(packets, vrid=53, priority=200)
    assert (v6["version"], v6["family"], v6["src"], v6["dst"]) == (3, "ipv6", r1.v6_ll, "ff02::12")
    assert v6["addresses"] == ["fe80::53", "2001:db8::53"]
    assert v6["advert_interval_cs"] == 50
    assert v6["checksum_form"] == "ipv6"

    uni = _first(packets, vrid=54)
    assert (uni["src"], uni["dst"], uni["eth_dst"]) == (r1.v4, r2.v4, r2.mac)
    assert uni["checksum_form"] == "pseudo_header"

    times = [p["time"] for p in packets if p["vrid"] == 51 and p["priority"] == 200]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # about every 0.1 s: never a gap a Backup would take for a dead Master (3 × 0.1 s)
    assert gaps and max(gaps) < 0.3, "keepalived's 0.1 s adverts arrive about every 0.1 s"


@pytest.mark.parametrize("form", ["rfc9568", "pseudo_header"])
def test_v3_ipv4_checksum_forms_judged_by_tshark_and_keepalived(lab: Lab, form: str) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r3 = lab.add_router("r3", v4="192.0.2.13/24")
    ka = start_keepalived(
        lab, r1, KeepalivedInstance(vrid=51, priority=100, advert_interval=0.1,
                                    virtual_addresses=["192.0.2.100/24"])
    )  # fmt: skip
    ka.wait_master(timeout=3)
    assert r3.v4 is not None
    stronger = vrrp3_advert(vrid=51, priority=200, advert_interval_cs=10,
                            addresses=["192.0.2.100"], src=r3.v4, dst=VRRP_V4_GROUP,
                            checksum_form=form)  # fmt: skip
    with Capture(lab) as cap:
        sender = inject(lab, r3, stronger, dst=VRRP_V4_GROUP, count=15, interval=0.05)
        assert sender.wait(timeout=30) == 0, lab.log_of(sender)
        time.sleep(0.2)
    injected = [p for p in cap.packets() if p["src"] == r3.v4]
    assert len(injected) == 15
    for packet in injected:
        assert (packet["vrid"], packet["priority"], packet["ttl"]) == (51, 200, 255)
        assert packet["checksum_form"] == form
        if form == "rfc9568":
            assert packet["checksum_status"] == "bad"
            assert packet["checksum_status_message_only"] == "good"
        else:
            assert packet["checksum_status"] == "good"
            assert packet["checksum_status_message_only"] == "bad"

    log = ka.log()
    heard = f"Master received advert from {r3.v4} with higher priority 200, ours 100"
    if form == "pseudo_header":
        # keepalived accepts it: the higher priority makes it BACKUP (and MASTER
        # again once the injected adverts stop).
        assert heard in log
        assert "Invalid VRRPv3 checksum" not in log
        assert log.count("Entering BACKUP STATE") == 2, log
    else:
        # keepalived drops it (bad checksum) and stays MASTER through 15 adverts.
        assert heard not in log
        assert log.count("(VI_51) Invalid VRRPv3 checksum") == 15, log
        assert log.count("Entering BACKUP STATE") == 1, log  # only "(init)"
        assert ka.state() == "MASTER" and ka.has_vips()


def test_capture_on_a_router_sees_gratuitous_arp_for_the_vip(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    with Capture(lab, on=r2, arp=True) as cap:
        ka = start_keepalived(
            lab, r1, KeepalivedInstance(vrid=51, priority=200, advert_interval=0.1,
                                        virtual_addresses=["192.0.2.100/24"])
        )  # fmt: skip
        ka.wait_master(timeout=3)
        lab.wait_for(
            lambda: any(o["arp_src_ip"] == "192.0.2.100" for o in cap.others()),
            timeout=3,
            interval=0.1,
            what="gratuitous ARP for the VIP",
        )
    garp = _first(cap.others(), arp_src_ip="192.0.2.100")
    assert garp["arp_dst_ip"] == "192.0.2.100"
    assert garp["eth_dst"] == "ff:ff:ff:ff:ff:ff"
    assert garp["arp_src_mac"] == r1.mac
    assert _first(cap.packets(), vrid=51)["src"] == r1.v4


def test_decode_of_an_empty_capture_is_empty(lab: Lab) -> None:
    lab.add_router("r1", v4="192.0.2.11/24")
    with Capture(lab) as cap:
        pass
    assert cap.packets() == []
    assert decode_vrrp(str(cap.pcap)) == []
