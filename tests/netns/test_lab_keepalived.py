"""The keepalived peer of the lab: configs it accepts, elections, failover."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import pytest

from lab import Lab, Router
from lab.keepalived import (
    Keepalived,
    KeepalivedInstance,
    ensure_keepalived,
    render_config,
    start_keepalived,
)


def _instance(vip: str, priority: int, **kwargs: Any) -> KeepalivedInstance:
    return KeepalivedInstance(vrid=51, priority=priority, virtual_addresses=[vip], **kwargs)


def _pair(lab: Lab) -> tuple[Router, Router]:
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v4="192.0.2.12/24", v6="2001:db8::12/64")
    return r1, r2


def test_rendered_configs_pass_keepalived_config_test(lab: Lab) -> None:
    instances = [
        KeepalivedInstance(vrid=1, priority=100, version=2, auth_pass="s3cret",
                           virtual_addresses=["192.0.2.100/24", "192.0.2.101"]),
        KeepalivedInstance(vrid=2, priority=200, advert_interval=0.05, nopreempt=True,
                           virtual_addresses=["192.0.2.102/24"]),
        KeepalivedInstance(vrid=3, priority=50, preempt_delay=2.5, virtual_addresses=["fe80::3/64",
                           "2001:db8::3/64"], unicast_source="2001:db8::11",
                           unicast_peers=["2001:db8::12"]),
    ]  # fmt: skip
    text = render_config(instances, router_id="t1")
    assert "vrrp_strict" not in text
    for needle in ("auth_type PASS", "auth_pass s3cret", "advert_int 0.05", "nopreempt",
                   "preempt_delay 2.5", "native_ipv6", "unicast_src_ip 2001:db8::11",
                   "192.0.2.101 dev eth0", "version 2", "state BACKUP"):  # fmt: skip
        assert needle in text
    conf = lab.tmpdir / "test.conf"
    conf.write_text(text)
    result = subprocess.run(
        [ensure_keepalived(), "--config-test", "--use-file", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with pytest.raises(ValueError, match="IPv4 only"):
        KeepalivedInstance(vrid=1, priority=1, version=2, virtual_addresses=["2001:db8::1"])
    with pytest.raises(ValueError, match="VRRPv2"):
        KeepalivedInstance(vrid=1, priority=1, auth_pass="x", virtual_addresses=["192.0.2.1"])


@pytest.mark.parametrize(
    ("version", "vip", "interval"),
    [(3, "192.0.2.100/24", 0.1), (3, "2001:db8::100/64", 0.1), (2, "192.0.2.100/24", 1.0)],
    ids=["v3-ipv4", "v3-ipv6", "v2-ipv4"],
)
def test_pair_elects_higher_priority_and_backup_takes_over_on_kill(
    lab: Lab, version: int, vip: str, interval: float
) -> None:
    r1, r2 = _pair(lab)
    # RFC 9568 §5.2.9: for IPv6 a link-local address comes first.
    vips = ["fe80::51/64", vip] if ":" in vip else [vip]
    auth = "pw" if version == 2 else None
    low, high = (
        start_keepalived(lab, router, KeepalivedInstance(
            vrid=51, priority=priority, version=version, advert_interval=interval,
            virtual_addresses=vips, auth_pass=auth))
        for router, priority in ((r1, 100), (r2, 200))
    )  # fmt: skip
    budget = 4 * interval + 3.0
    high.wait_master(timeout=budget)
    low.wait_backup(timeout=budget)
    assert not low.has_vips()

    start = time.monotonic()
    high.kill()
    assert not high.running
    low.wait_master(timeout=budget)
    took = time.monotonic() - start
    # Master_Down_Interval = 3 × interval + skew (RFC 9568 §6.1), plus some slack.
    assert took < 3 * interval + 1 + 0.5, f"takeover after {took:.2f} s"


def test_graceful_stop_hands_over_within_skew_time(lab: Lab) -> None:
    r1, r2 = _pair(lab)
    backup = start_keepalived(lab, r1, _instance("192.0.2.100/24", 100, advert_interval=1.0))
    master = start_keepalived(lab, r2, _instance("192.0.2.100/24", 200, advert_interval=1.0))
    master.wait_master(timeout=6)
    backup.wait_backup(timeout=6)
    assert master.proc is not None
    start = time.monotonic()
    lab.kill(master.proc, signal.SIGTERM)
    backup.wait_master(timeout=3)
    took = time.monotonic() - start
    # Priority 0 from the leaving master: the backup waits Skew_Time, not
    # Master_Down_Interval (RFC 9568 §6.4.2): (256 - 100) / 256 × 1 s ≈ 0.61 s.
    skew_time = (256 - 100) / 256 * 1.0
    # below Master_Down_Interval (3 × 1 s + skew): the priority 0 was heeded
    assert skew_time - 0.05 < took < 3 * 1.0 + skew_time, f"handover after {took:.3f} s"
    assert master.stop() == 0
    assert master.has_no_vips()


def test_nopreempt_keeps_the_lower_master(lab: Lab) -> None:
    r1, r2 = _pair(lab)
    first = start_keepalived(lab, r1, _instance("192.0.2.100/24", 100, advert_interval=0.1))
    first.wait_master(timeout=3)
    late = start_keepalived(
        lab, r2, _instance("192.0.2.100/24", 200, advert_interval=0.1, nopreempt=True)
    )
    late.wait_backup(timeout=3)
    time.sleep(1.0)  # ten adverts: a preempting router would have taken over by now
    assert first.state() == "MASTER" and first.has_vips()
    assert late.state() == "BACKUP" and late.has_no_vips()


def test_preempt_delay_postpones_the_takeover(lab: Lab) -> None:
    r1, r2 = _pair(lab)
    first = start_keepalived(lab, r1, _instance("192.0.2.100/24", 100, advert_interval=0.1))
    first.wait_master(timeout=3)
    late = Keepalived(lab, r2, [_instance("192.0.2.100/24", 200, advert_interval=0.1,
                                          preempt_delay=1.5)])  # fmt: skip
    started = time.monotonic()
    late.start()
    late.wait_master(timeout=5)
    waited = time.monotonic() - started
    assert waited >= 1.4, f"took over after {waited:.2f} s despite preempt_delay 1.5"
    first.wait_backup(timeout=2)


def test_unicast_peers_elect_without_multicast(lab: Lab) -> None:
    r1, r2 = _pair(lab)
    low = start_keepalived(lab, r1, _instance("192.0.2.100/24", 100, advert_interval=0.1,
                           unicast_source="192.0.2.11", unicast_peers=["192.0.2.12"]))  # fmt: skip
    high = start_keepalived(lab, r2, _instance("192.0.2.100/24", 200, advert_interval=0.1,
                            unicast_source="192.0.2.12", unicast_peers=["192.0.2.11"]))  # fmt: skip
    high.wait_master(timeout=3)
    low.wait_backup(timeout=3)
    high.kill()
    low.wait_master(timeout=3)


def test_two_keepalived_side_by_side_keep_their_own_files(lab: Lab) -> None:
    r1, r2 = _pair(lab)
    a = start_keepalived(lab, r1, _instance("192.0.2.100/24", 100, advert_interval=0.1))
    b = start_keepalived(lab, r2, _instance("192.0.2.100/24", 200, advert_interval=0.1))
    assert a.dir != b.dir
    assert a.pid_path.read_text().strip() == str(a.pid)
    assert b.pid_path.read_text().strip() == str(b.pid)
    assert a.vrrp_pid_path.exists() and b.vrrp_pid_path.exists()
    b.wait_master(timeout=3)
    assert "Entering MASTER STATE" in b.log()
