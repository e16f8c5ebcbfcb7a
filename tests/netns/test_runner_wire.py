"""Our runner on real kernels, judged on the wire by tshark.

Two runners hold an election, r1 advertises steadily and then stops
(SIGTERM). tshark decodes every advert: well formed, TTL 255, a good checksum
in the configured VRRPv3 IPv4 form, the configured advertisement interval in
the field and in the spacing of the adverts, and one priority-0 advert when
the Master stops, after which r2 takes over within Skew_Time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from lab import Lab
from lab.capture import Capture
from lab.runner import (
    RunnerProc,
    adverts_of,
    check_our_adverts,
    master_down_interval,
    runner_config,
    skew_time,
    vrrp_instance,
    wait_state,
)

VIP = "192.0.2.100"
VRID = 51
R1, R2 = "192.0.2.11", "192.0.2.12"


@pytest.mark.parametrize(
    ("form", "interval"),
    [(None, 0.1), ("rfc9568", 0.05)],
    ids=["default-pseudo-header", "rfc9568"],
)
def test_every_advert_decodes_well_in_its_form_and_keeps_the_interval(
    lab: Lab, form: str | None, interval: float
) -> None:
    extra: dict[str, Any] = {} if form is None else {"checksum_form": form}
    expected_form = form or "pseudo_header"
    r1 = lab.add_router("r1", v4=f"{R1}/24")
    r2 = lab.add_router("r2", v4=f"{R2}/24")
    cap = Capture(lab).start()

    def cfg(priority: int) -> dict[str, Any]:
        return runner_config(
            vrrp_instance(
                "vi", vrid=VRID, priority=priority, vips=[f"{VIP}/24"], interval=interval, **extra
            )
        )

    a = RunnerProc(lab, r1, cfg(200)).start()
    b = RunnerProc(lab, r2, cfg(100)).start()
    wait_state(a, "vi", "MASTER", timeout=5)
    wait_state(b, "vi", "BACKUP", timeout=5)
    time.sleep(1.0)
    # Each runner decodes the other's form: r2 hears r1's adverts.
    assert b.result("state")["instances"]["vi"]["master"] == R1
    assert b.result("stats")["instances"]["vi"].get("adverts_received", 0) >= 0.5 / interval
    assert not any(k.startswith("drop.") for k in b.result("stats")["instances"]["vi"])
    stopped = time.time()
    assert a.stop() == 0
    wait_state(b, "vi", "MASTER", timeout=2)
    lab.wait_for(lambda: lab.has_address(r2, VIP), timeout=2, what="VIP on r2")
    time.sleep(0.3)
    cap.stop()
    packets = cap.packets()

    # tshark decodes every advert of ours: good checksum in the form asked
    # for, TTL 255 (and nothing else on the wire that claims to be VRRP).
    assert check_our_adverts(packets, sources={R1, R2}, form=expected_form) == len(packets)
    if expected_form == "pseudo_header":
        # what keepalived sends and requires: tshark's default verdict
        assert {p["checksum_status"] for p in packets} == {"good"}
    else:
        # RFC 9568 §5.2.8: the VRRP message only; only the message-only verdict is good
        assert {p["checksum_status_message_only"] for p in packets} == {"good"}
        assert {p["checksum_status"] for p in packets} == {"bad"}
    for packet in packets:
        assert (packet["version"], packet["type"], packet["vrid"]) == (3, 1, VRID)
        assert packet["addresses"] == [VIP] and packet["addr_count"] == 1
        assert packet["dst"] == "224.0.0.18"
        assert packet["eth_dst"] == "01:00:5e:00:00:12"
        assert packet["advert_interval_cs"] == round(interval * 100)
    ours = adverts_of(packets, src=R1, vrid=VRID)
    assert {p["eth_src"] for p in ours} == {r1.mac}

    # The rhythm: while Master and until the stop, one advert per interval.
    steady = [p for p in ours if p["priority"] == 200]
    assert len(steady) >= 1.0 / interval
    gaps = [b2["time"] - b1["time"] for b1, b2 in zip(steady, steady[1:])]
    # the median shows the timer's period; single late wake-ups of a loaded box
    # may stretch a gap, but never to what r2 would take for a dead Master
    assert abs(statistics.median(gaps) - interval) < 0.2 * interval, statistics.median(gaps)
    mdi = master_down_interval(100, interval)
    assert max(gaps) < mdi, max(gaps)

    # SIGTERM: one priority-0 advert, then silence from r1; r2 answers after Skew_Time.
    zero = [p for p in ours if p["priority"] == 0]
    assert len(zero) == 1 and zero[0]["time"] >= stopped
    assert zero[0] is ours[-1]
    assert zero[0]["time"] - steady[-1]["time"] < mdi
    theirs = adverts_of(packets, src=R2, vrid=VRID)
    assert theirs and {p["priority"] for p in theirs} == {100}
    assert min(p["time"] for p in theirs) > zero[0]["time"]
    took = min(p["time"] for p in theirs) - zero[0]["time"]
    skew = skew_time(100, interval)
    assert skew - 0.01 <= took < mdi, (took, skew)  # Skew_Time, not Master_Down_Interval
    # and r2 keeps the rhythm once Master
    r2_gaps = [b2["time"] - b1["time"] for b1, b2 in zip(theirs, theirs[1:])]
    assert r2_gaps and max(r2_gaps) < master_down_interval(200, interval)
