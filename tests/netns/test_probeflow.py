"""The probe flow (``tests/integration/probeflow.py``) counts VRRP's losses, not its own.

On a starved machine the sender or a responder is not scheduled for a second or
two (round trips up to 2.9 s were seen beside ``make test`` with a busy loop per
core). The sender then sends its backlog at once, on its absolute schedule, and
the responder receives them in a burst; a stalled responder finds them queued
on its socket. A default-sized socket receive buffer holds a few hundred of
these small datagrams (256 here): the rest were dropped by the responder's
kernel (``RcvbufErrors`` of its ``/proc/net/snmp``: 146 for 146 lost in one
run before the fix; the sender's 0) and counted as lost. Beside ``make test`` with a busy loop
per core: 102 datagrams (990 ms) on each of two VIPs at once in the middle of
a Master's tenure (the keepalived migration), 29 and 12 in rolling maintenance
(``test_playbooks.py``), each a run of consecutive sequence numbers with no
handover near, no reply that failed, and a round trip over 2 s in the same
flow. Before the fix this test lost the tail of each burst (218 and 290 of
1400 datagrams in two runs; at 100/s and 3 s stalls, 44 of each 300).

Here nothing moves: one host answers from its own address while the sender,
then the responder, is stopped (SIGSTOP) for longer than the buffers held.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any, Final

from integration.probeflow import RESPONDER, ProbeFlow
from lab import Lab

RATE: Final = 400.0
STALL: Final = 1.0  # seconds: 400 datagrams, more than a default buffer held (256 here)
PORT: Final = 7201


def stalled(proc: subprocess.Popen[Any] | None, seconds: float) -> None:
    assert proc is not None
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def test_a_stalled_sender_or_responder_loses_no_datagram(lab: Lab) -> None:
    host = lab.add_router("r1", v4="192.0.2.11/24")
    client = lab.add_router("c", v4="192.0.2.2/24")
    responder = lab.python(host, ["-c", RESPONDER, host.name, str(PORT), "4"])
    flow = ProbeFlow(client.ns, "192.0.2.11", port=PORT, rate=RATE, grace=3.0)
    flow.start()
    try:
        time.sleep(0.5)
        stalled(flow.proc, STALL)  # the sender: its backlog goes out at once
        time.sleep(0.5)
        stalled(responder, STALL)  # the responder: the requests queue up
        time.sleep(0.5)
    finally:
        report = flow.stop()
    print(report.summary())
    assert report.sent >= RATE * (2 * STALL + 1.5) * 0.9, report.summary()
    assert report.errors == [], report.summary()
    assert report.lost == [], report.summary()
    assert report.handovers == ["r1"], report.summary()
