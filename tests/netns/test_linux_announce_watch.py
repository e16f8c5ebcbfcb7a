"""The successor's announcement heard on a real link (issue 13, linux/announce_watch.py).

r1 listens for announcements of its VIP while r2 announces it (a GARP, or an
unsolicited NA) after traffic that must not count: r1's own announcement of
the VIP (outgoing, filtered by the BPF program), ordinary neighbour
resolution between the two (ARP / NS and solicited NA for their own
addresses). Exactly r2's announcement is reported.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from lab import Lab

WATCH = r"""
import json, select, sys, time, ipaddress
from vrrp.linux.announce import interface_mac
from vrrp.linux.announce_watch import AnnounceWatch
vip = ipaddress.ip_address(sys.argv[1])
watch = AnnounceWatch(ifname="eth0", version=vip.version, own_mac=interface_mac("eth0"),
                      addresses=[vip])
print("ready", flush=True)
found, until = [], time.monotonic() + 15
while time.monotonic() < until:
    if select.select([watch], [], [], 0.05)[0]:
        found += [str(a) for a in watch.read()]
    if found and until - time.monotonic() > 0.3:
        until = time.monotonic() + 0.3  # anything more that arrives, then stop
print(json.dumps({"found": found, "own": watch.own, "ignored": watch.ignored}), flush=True)
"""

ANNOUNCE = r"""
import sys
from vrrp.linux.announce import Announcer
with Announcer(ifname="eth0") as ann:
    ann.announce(sys.argv[1])
"""


def _run(lab: Lab, router: object, argv: list[str]) -> None:
    proc = lab.python(router, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # type: ignore[arg-type]
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


@pytest.mark.parametrize("family", [4, 6])
def test_only_the_peers_announcement_of_the_vip_is_reported(lab: Lab, family: int) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v4="192.0.2.12/24", v6="2001:db8::12/64")
    vip = "192.0.2.100" if family == 4 else "2001:db8::100"
    watcher = lab.python(
        r1, ["-c", WATCH, vip], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert watcher.stdout is not None
    assert watcher.stdout.readline().strip() == "ready", watcher.stderr
    _run(lab, r1, ["-c", ANNOUNCE, vip])  # ours: never a successor
    peer = r1.v4 if family == 4 else r1.v6
    ping = (
        ["ping", "-c", "1", "-W", "2", peer]
        if family == 4
        else ["ping", "-6", "-c", "1", "-W", "2", peer]
    )
    lab.run(r2, ping, check=True)  # neighbour resolution of their own addresses
    _run(lab, r2, ["-c", ANNOUNCE, vip])
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["found"] == [vip], report
    assert report["own"] == 0, report  # outgoing frames never pass the BPF filter
