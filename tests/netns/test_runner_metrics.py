"""Prometheus metrics of two runners that elect: what a scrape says is what the
control socket says, scraped by an unprivileged user over IPv4 and IPv6 loopback."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab import Lab
from lab.runner import RunnerProc

pytestmark = pytest.mark.netns

VIP = "192.0.2.100"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
SCRAPE = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as answer:
    sys.stdout.write(answer.headers["Content-Type"] + "\\n" + answer.read().decode())
"""


def config(priority: int, **top: Any) -> dict[str, Any]:
    vi = {
        "name": "vi",
        "interface": "eth0",
        "vrid": 51,
        "priority": priority,
        "advert_interval": 1,
        "virtual_addresses": [f"{VIP}/24"],
        "track_interfaces": [{"interface": "eth0", "weight": -5}],
    }
    return {"instances": [vi], "sync_groups": [], **top}


def scrape(lab: Lab, runner: RunnerProc, url: str) -> dict[str, dict[str, Any]]:
    """{sample name: {"labels": ..., "value": ...}} of vi's samples and the runner's."""
    done = lab.run(runner.router, [*NOBODY, sys.executable, "-c", SCRAPE, url], timeout=30)
    assert done.returncode == 0, done.stderr
    ctype, _newline, body = done.stdout.partition("\n")
    assert ctype.startswith("text/plain; version=0.0.4")
    out: dict[str, dict[str, Any]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            key = sample.name + "".join(
                f",{k}={v}" for k, v in sorted(sample.labels.items()) if k not in LABELS
            )
            if sample.labels.get("name", "vi") == "vi":
                out[key] = {"labels": sample.labels, "value": sample.value}
    return out


LABELS = ("name", "vrid", "interface", "family")


def test_metrics_of_an_elected_pair_match_the_control_socket(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    a = RunnerProc(lab, r1, config(200, metrics_listen="127.0.0.1:9650")).start()
    b = RunnerProc(lab, r2, config(100, metrics_listen="127.0.0.1:1")).start(
        "--metrics-listen",
        "[::1]:9650",  # the flag wins over the config
    )
    lab.wait_for(lambda: a.state_of("vi") == "MASTER", timeout=10, what="r1 MASTER")
    lab.wait_for(lambda: b.state_of("vi") == "BACKUP", timeout=10, what="r2 BACKUP")
    lab.wait_for(
        lambda: b.result("state")["instances"]["vi"]["master"], timeout=5, what="r2 hears r1"
    )
    for runner, url, master in (
        (a, "http://127.0.0.1:9650/metrics", ""),
        (b, "http://[::1]:9650/metrics", "192.0.2.11"),
    ):
        before = runner.result("stats")["instances"]["vi"]
        got = scrape(lab, runner, url)
        state = runner.result("state")
        after = runner.result("stats")["instances"]["vi"]
        vi = state["instances"]["vi"]
        assert got["vrrp_priority"]["labels"] == {
            "name": "vi",
            "vrid": "51",
            "interface": "eth0",
            "family": "ipv4",
        }
        assert got[f"vrrp_instance_state,state={vi['state']}"]["value"] == 1
        assert got["vrrp_priority"]["value"] == vi["priority"]
        assert got["vrrp_effective_priority"]["value"] == vi["effective_priority"]
        assert got["vrrp_last_transition_timestamp_seconds"]["value"] == pytest.approx(
            vi["since"], abs=1e-3
        )
        assert got["vrrp_tracker_status,kind=interface,tracker=eth0"]["value"] == 1
        assert got["vrrp_tracker_weight,kind=interface,tracker=eth0"]["value"] == -5
        if master:
            assert got[f"vrrp_master_info,master_address={master}"]["value"] == 1
        for key, metric in (
            ("adverts_sent", "vrrp_adverts_sent_total"),
            ("adverts_received", "vrrp_adverts_received_total"),
            ("became_master", "vrrp_became_master_total"),
            ("priority_zero_received", "vrrp_priority_zero_received_total"),
        ):
            assert before.get(key, 0) <= got[metric]["value"] <= after.get(key, 0), metric
        assert got["vrrp_transitions_total,from=INIT,to=BACKUP"]["value"] == 1
        assert got["vrrp_runner_info,version=" + state["version"]]["value"] == 1
        assert got["vrrp_reloads_total,result=ok"]["value"] == 0
    assert scrape(lab, a, "http://127.0.0.1:9650/metrics")["vrrp_became_master_total"]["value"] == 1
    # Only the configured address is bound: nothing on r2's 127.0.0.1:1 (the flag won).
    refused = lab.run(
        r2, [*NOBODY, sys.executable, "-c", SCRAPE, "http://127.0.0.1:1/metrics"], timeout=30
    )
    assert refused.returncode != 0 and "refused" in refused.stderr.lower()
    # A graceful stop of the Master: r2 hears its priority-0 advert and counts it.
    assert a.stop() == 0
    lab.wait_for(lambda: b.state_of("vi") == "MASTER", timeout=10, what="r2 MASTER")
    got = scrape(lab, b, "http://[::1]:9650/metrics")
    assert got["vrrp_priority_zero_received_total"]["value"] >= 1
    assert got["vrrp_transitions_total,from=BACKUP,to=MASTER"]["value"] == 1
    assert got["vrrp_instance_state,state=MASTER"]["value"] == 1
