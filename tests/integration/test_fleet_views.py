"""Seeing the fleet on the lab hosts: segment scan, unicast peers from the inventory,
drift, metrics (issue 12).

One pair (the ``pair`` fixture: r1 priority 150, r2 100; preempt on here) plus a
Debian keepalived in a lab namespace on the same bridge, MASTER of VRID 77.
In order: ``ha_pair.yml`` with ``vrrp_pair_scan`` refuses an instance on VRID
77, naming keepalived's router, and provisions nothing; then it provisions the
pair (VRID 51, and VRID 52 whose unicast peers come from the inventory group);
a VIP added by hand on the BACKUP shows as drift in ``vrrp_facts.yml``; the
metrics scraped on both hosts match ``failover-vrrp-ctl stats``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from integration.conftest import TIMINGS
from integration.hosts import Host, HostLab, PlaybookRun
from integration.installed import playbook_fqcn
from lab.keepalived import Keepalived, KeepalivedInstance

# Debian 13 hosts: the shorter session of `make integration` (make test's budget).
pytestmark = pytest.mark.debian("13")

KEEPALIVED_V4 = "192.0.2.31/24"

WEB: dict[str, Any] = {
    "name": "web",
    "interface": "eth0",
    "vrid": 51,
    "priority": "{{ lab_priority | int }}",
    # Preempt on: r1 is MASTER whatever the start order (off, a loaded machine
    # lets r2's runner start first and keep both VRIDs; issue 12 §6).
    "preempt": True,
    "virtual_addresses": ["192.0.2.100/24"],
}
UNI: dict[str, Any] = {
    **WEB,
    "name": "uni",
    "vrid": 52,
    "virtual_addresses": ["192.0.2.101/24"],
    "unicast_peers_from": "routers",
}
PAIR_VARS: dict[str, Any] = {
    "vrrp_hosts": "routers",
    "vrrp_exclusive": True,
    "vrrp_metrics_listen": "127.0.0.1:9650",
    "vrrp_pair_scan": True,
    "vrrp_instances": [WEB, UNI],
}
SCRAPE = (
    "import urllib.request as r; "
    "print(r.urlopen('http://127.0.0.1:9650/metrics', timeout=10).read().decode())"
)
# failover-vrrp-ctl stats key -> metric sample name
COUNTERS = {
    "adverts_sent": "vrrp_adverts_sent_total",
    "adverts_received": "vrrp_adverts_received_total",
    "became_master": "vrrp_became_master_total",
    "priority_zero_sent": "vrrp_priority_zero_sent_total",
    "priority_zero_received": "vrrp_priority_zero_received_total",
    "announcements": "vrrp_announcements_total",
}


def play(lab: HostLab, name: str, label: str, **extra: Any) -> PlaybookRun:
    run = lab.playbook(playbook_fqcn(name), extra_vars={**PAIR_VARS, **extra})
    TIMINGS[f"fleet views: {name}, {label}"] = run.seconds
    return run


@pytest.fixture(scope="module")
def keepalived(pair: HostLab) -> Iterator[Keepalived]:
    """Debian's keepalived on the pair's segment, alone on VRID 77 (so MASTER)."""
    router = pair.lab.add_router("ka", v4=KEEPALIVED_V4)
    peer = Keepalived(
        pair.lab,
        router,
        [KeepalivedInstance(vrid=77, priority=100, virtual_addresses=["192.0.2.177/24"])],
    ).start()
    yield peer


@pytest.fixture(scope="module")
def provisioned(pair: HostLab, keepalived: Keepalived) -> PlaybookRun:
    """The pair from nothing, after the refused run (test order does not matter)."""
    refused_run(pair)
    run = play(pair, "ha_pair.yml", "scan passes, from nothing")
    assert run.returncode == 0, run.output[-6000:]
    return run


_refused: dict[str, PlaybookRun] = {}


def refused_run(lab: HostLab) -> PlaybookRun:
    if "run" not in _refused:
        taken = {**WEB, "name": "clash", "vrid": 77, "virtual_addresses": ["192.0.2.178/24"]}
        _refused["run"] = play(lab, "ha_pair.yml", "VRID 77 taken", vrrp_instances=[WEB, taken])
    return _refused["run"]


def test_scan_finds_keepalived_and_ha_pair_refuses_its_vrid(
    pair: HostLab, keepalived: Keepalived
) -> None:
    pair.lab.wait_for(lambda: keepalived.state() == "MASTER", timeout=15, what="keepalived MASTER")
    run = refused_run(pair)
    assert run.returncode != 0, run.output[-4000:]
    for host in ("r1", "r2"):
        assert f"{host}: not provisioning, a VRID is in use on the segment" in run.output
    assert (
        "instance 'clash' (VRID 77 on eth0, IPv4, VRRPv3, 192.0.2.178) collides with the"
        " virtual router heard from 192.0.2.31: VRRPv3, 192.0.2.177"
    ) in " ".join(run.output.split()), run.output[-4000:]
    for host in pair.hosts.values():  # any_errors_fatal: nothing was provisioned
        assert pair.ssh(host, ["test", "!", "-e", "/usr/lib/failover-vrrp"]).returncode == 0


def test_unicast_peers_come_from_the_inventory_group(
    pair: HostLab, provisioned: PlaybookRun
) -> None:
    assert "instance uni: MASTER is r1" in provisioned.output, provisioned.output[-4000:]
    for name, me, peer in (("r1", "192.0.2.11", "192.0.2.12"), ("r2", "192.0.2.12", "192.0.2.11")):
        frag = json.loads(
            pair.on(pair.hosts[name], "cat", "/etc/failover-vrrp/instances.d/uni.json")
        )
        assert frag["unicast_peers"] == [peer] and frag["unicast_source"] == me, frag
        assert "unicast_peers_from" not in frag
    state = pair.runner_state(pair.hosts["r2"])["instances"]["uni"]
    assert state["state"] == "BACKUP" and state["master"] == "192.0.2.11", state


def test_drift_shows_a_vip_added_by_hand_on_the_backup(
    pair: HostLab, provisioned: PlaybookRun
) -> None:
    clean = play(pair, "vrrp_facts.yml", "no drift", vrrp_facts_fail_on_mismatch=True)
    assert clean.returncode == 0 and "DRIFT" not in clean.output, clean.output[-4000:]
    r2 = pair.hosts["r2"]
    pair.on(r2, "ip", "addr", "add", "192.0.2.100/32", "dev", "eth0")
    try:
        run = play(pair, "vrrp_facts.yml", "VIP by hand on r2", vrrp_facts_fail_on_mismatch=True)
        assert run.returncode != 0, run.output[-4000:]
        assert (
            "!! DRIFT on r2: instance web is BACKUP but the host holds its virtual address"
            " 192.0.2.100 (192.0.2.100/32 on eth0)"
        ) in run.output, run.output[-4000:]
        assert "DRIFT on r1" not in run.output
    finally:
        pair.on(r2, "ip", "addr", "del", "192.0.2.100/32", "dev", "eth0")


def _ctl_stats(pair: HostLab, host: Host) -> dict[str, dict[str, int]]:
    return dict(json.loads(pair.on(host, "failover-vrrp-ctl", "stats", "--json"))["instances"])


def _scraped(body: str) -> dict[tuple[str, str], float]:
    """(instance, ctl stats key) -> the value scraped, for the counters both show."""
    metric_key = {metric: key for key, metric in COUNTERS.items()}
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = sample.labels
            if sample.name in metric_key:
                out[(labels["name"], metric_key[sample.name])] = sample.value
            elif sample.name == "vrrp_transitions_total":
                out[(labels["name"], f"transition.{labels['from']}.{labels['to']}")] = sample.value
    return out


def test_metrics_from_both_hosts_match_ctl_stats(pair: HostLab, provisioned: PlaybookRun) -> None:
    """Each counter scraped lies between ctl stats read just before and just after."""
    started = time.monotonic()
    for host in pair.hosts.values():
        before = _ctl_stats(pair, host)
        body = pair.on(host, "python3", "-c", SCRAPE)
        after = _ctl_stats(pair, host)
        scraped = _scraped(body)
        assert {name for name, _labels in scraped} == {"web", "uni"}, body[:2000]
        for inst in ("web", "uni"):
            transitions = {k for k in after[inst] if k.startswith("transition.")}
            assert transitions, (host.name, inst, after[inst])
            for key in [*COUNTERS, *transitions]:
                low, high = before[inst].get(key, 0), after[inst].get(key, 0)
                assert low <= scraped[(inst, key)] <= high, (host.name, inst, key, low, high)
            moving = "adverts_sent" if before[inst].get("adverts_sent") else "adverts_received"
            assert scraped[(inst, moving)] > 0, (host.name, inst, before[inst])
    TIMINGS["fleet views: scrape and ctl stats on both hosts"] = time.monotonic() - started
