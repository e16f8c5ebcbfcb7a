"""Interoperability with Debian's keepalived (2.2.7) as the VRRP peer.

Our runner in r1, keepalived in r2, one virtual router between them, for
VRRPv2 (with and without PASS authentication), VRRPv3 over IPv4 and over
IPv6. In one run per case:

A. ours (200) against keepalived (100): ours wins, keepalived is BACKUP;
B. ours dies (SIGKILL): keepalived takes over;
C. ours comes back at 50 (its dead predecessor's VIP still on the interface):
   it removes that VIP, stays BACKUP and names keepalived as the master;
D. keepalived dies (SIGKILL): ours takes over;
E. a keepalived at 150 joins: it preempts ours, which goes BACKUP again.

At every step both must agree on the master: our control socket's ``state``
(``master`` = keepalived's advert source), keepalived's logged state, and
the VIPs on exactly the master's interface. Neither side may complain about
the other's packets (our drop counters, keepalived's log).

The last test documents the limit of interop for VRRPv3 over IPv4: keepalived
2.2.7 requires the pseudo-header checksum (our default); with
``checksum_form: rfc9568`` it logs an invalid checksum, ignores us and stays
Master beside us.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

from lab import Lab, Router
from lab.capture import Capture
from lab.keepalived import Keepalived, KeepalivedInstance, start_keepalived
from lab.runner import LATE, RunnerProc, instance_state, single_instance

VRID = 91
# What keepalived logs about adverts it rejects (vrrp.c: vrrp_check_packet & co).
KEEPALIVED_COMPLAINTS = re.compile(
    r"invalid|mismatch|bad |wrong|error|unknown|auth", flags=re.IGNORECASE
)


@dataclass(frozen=True)
class Case:
    name: str
    version: int
    vips: tuple[str, ...]
    interval: float
    password: str | None = None

    @property
    def ipv6(self) -> bool:
        return ":" in self.vips[0]

    @property
    def vip(self) -> str:
        return self.vips[-1].split("/")[0]

    def ours(self, priority: int) -> dict[str, Any]:
        extra: dict[str, Any] = {"version": self.version}
        if self.password is not None:
            extra["authentication"] = {"type": "pass", "password": self.password}
        return single_instance(
            "ka", vrid=VRID, priority=priority, vips=list(self.vips), interval=self.interval,
            **extra,
        )  # fmt: skip

    def keepalived(self, priority: int) -> KeepalivedInstance:
        return KeepalivedInstance(
            vrid=VRID, priority=priority, version=self.version, advert_interval=self.interval,
            virtual_addresses=list(self.vips), auth_pass=self.password,
        )  # fmt: skip

    def master_down(self, priority: int) -> float:
        """Master_Down_Interval of a Backup at ``priority`` (RFC 9568 §6.1)."""
        return 3 * self.interval + (256 - priority) / 256 * self.interval


CASES = [
    Case("v2-ipv4", 2, ("192.0.2.191/24",), 1.0),
    Case("v2-ipv4-pass", 2, ("192.0.2.191/24",), 1.0, password="s3cret"),
    Case("v3-ipv4", 3, ("192.0.2.191/24",), 0.1),
    Case("v3-ipv6", 3, ("fe80::91/64", "2001:db8::191/64"), 0.1),
]


def _source(router: Router, case: Case) -> str:
    """The address a router's adverts come from (IPv6: link-local, RFC 9568 §5.1.2.1)."""
    address = router.v6_ll if case.ipv6 else router.v4
    assert address is not None
    return address


def _no_complaints(ours: RunnerProc, ka: Keepalived) -> None:
    stats = ours.result("stats")["instances"]["ka"]
    drops = {k: v for k, v in stats.items() if k.startswith("drop.")}
    assert not drops, f"our runner dropped keepalived's adverts: {drops}"
    complaints = [line for line in ka.log().splitlines() if KEEPALIVED_COMPLAINTS.search(line)]
    assert not complaints, "keepalived complained:\n" + "\n".join(complaints)


def _ours_is_master(lab: Lab, ours: RunnerProc, ka: Keepalived, case: Case) -> None:
    lab.wait_for(lambda: ours.state_of("ka") == "MASTER", timeout=2, what="ours MASTER")
    ka.wait_backup(timeout=2)
    assert lab.has_address(ours.router, case.vip)
    assert not lab.has_address(ka.router, case.vip)


def _keepalived_is_master(
    lab: Lab, ours: RunnerProc, ka: Keepalived, case: Case, priority: int
) -> None:
    ka.wait_master(timeout=case.master_down(priority) + 2)
    lab.wait_for(
        lambda: instance_state(ours, "ka")["master"] == _source(ka.router, case),
        timeout=case.interval * 3 + 1,
        what="ours names keepalived as the master",
    )
    state = instance_state(ours, "ka")
    assert state["state"] == "BACKUP", state
    assert state["master_priority"] == priority, state
    lab.wait_for(
        lambda: not lab.has_address(ours.router, case.vip), timeout=3, what="no VIP on ours"
    )
    assert ka.state() == "MASTER" and ka.has_vips()


def _stable(lab: Lab, ours: RunnerProc, ka: Keepalived, case: Case, *, master: str) -> None:
    """Five advert intervals later nobody has moved."""
    moves = len(ours.result("history")["ka"])
    ka_moves = ka.log().count("Entering")
    time.sleep(5 * case.interval)
    assert len(ours.result("history")["ka"]) == moves
    assert ka.log().count("Entering") == ka_moves
    assert ours.state_of("ka") == ("MASTER" if master == "ours" else "BACKUP")
    assert ka.state() == ("BACKUP" if master == "ours" else "MASTER")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_interop_with_keepalived(lab: Lab, case: Case) -> None:
    family = {"v6": "2001:db8::11/64"} if case.ipv6 else {"v4": "192.0.2.11/24"}
    r1 = lab.add_router("r1", **family)
    family = {"v6": "2001:db8::12/64"} if case.ipv6 else {"v4": "192.0.2.12/24"}
    r2 = lab.add_router("r2", **family)
    slack = LATE

    # A. ours has the higher priority and wins.
    ours = RunnerProc(lab, r1, case.ours(200)).start()
    ka = start_keepalived(lab, r2, case.keepalived(100))
    lab.wait_for(
        lambda: ours.state_of("ka") == "MASTER",
        timeout=case.master_down(200) + 2,
        what="ours MASTER",
    )
    _ours_is_master(lab, ours, ka, case)
    _stable(lab, ours, ka, case, master="ours")
    _no_complaints(ours, ka)

    # B. ours dies; keepalived takes over within its Master_Down_Interval.
    killed = time.monotonic()
    ours.kill()
    ka.wait_master(timeout=case.master_down(100) + 2)
    took = time.monotonic() - killed
    assert took < case.master_down(100) + slack, f"keepalived took over after {took:.2f} s"
    # SIGKILL leaves the dead runner's VIP behind: the restart must remove it.
    assert lab.has_address(r1, case.vip)

    # C. ours comes back at a lower priority: BACKUP, keepalived the master.
    ours = RunnerProc(lab, r1, case.ours(50), tag="b").start()
    _keepalived_is_master(lab, ours, ka, case, 100)
    _stable(lab, ours, ka, case, master="keepalived")
    _no_complaints(ours, ka)

    # D. keepalived dies; ours takes over.
    killed = time.monotonic()
    ka.kill()
    lab.wait_for(
        lambda: lab.has_address(r1, case.vip),
        timeout=case.master_down(50) + 2,
        what="VIP on ours",
    )
    took = time.monotonic() - killed
    assert took < case.master_down(50) + slack, f"ours took over after {took:.2f} s"
    assert ours.state_of("ka") == "MASTER"
    assert ka.has_vips()  # left behind; keepalived's restart removes them

    # E. a keepalived with the higher priority joins and preempts ours.
    ka = start_keepalived(lab, r2, case.keepalived(150))
    _keepalived_is_master(lab, ours, ka, case, 150)
    _stable(lab, ours, ka, case, master="keepalived")
    _no_complaints(ours, ka)
    moves = [(h["from"], h["to"]) for h in ours.result("history")["ka"]]
    assert moves[-2:] == [("BACKUP", "MASTER"), ("MASTER", "BACKUP")], moves


def test_rfc9568_checksum_form_is_refused_by_keepalived(lab: Lab) -> None:
    """The interop limit: keepalived 2.2.7 drops the message-only v3 IPv4 checksum."""
    case = CASES[2]  # v3-ipv4
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    ka = start_keepalived(lab, r2, case.keepalived(100))
    ka.wait_master(timeout=case.master_down(100) + 2)
    config = case.ours(200)
    config["instances"][0]["checksum_form"] = "rfc9568"
    with Capture(lab) as cap:
        ours = RunnerProc(lab, r1, config).start()
        lab.wait_for(lambda: ours.state_of("ka") == "MASTER", timeout=3, what="ours MASTER")
        lab.wait_for(
            lambda: "Invalid VRRPv3 checksum" in ka.log(),
            timeout=2,
            what="keepalived logs the invalid checksum",
        )
        time.sleep(5 * case.interval)
    # keepalived ignored every advert of ours: it is still Master beside us.
    assert ka.state() == "MASTER" and ka.has_vips()
    assert ka.log().count("Entering MASTER STATE") == 1
    assert ours.state_of("ka") == "MASTER" and lab.has_address(r1, case.vip)
    # Ours accepts keepalived's (pseudo-header) adverts and stays Master by priority.
    assert ours.result("stats")["instances"]["ka"].get("adverts_received", 0) > 0
    sent = [p for p in cap.packets() if p["src"] == r1.v4]
    assert sent and {p["checksum_form"] for p in sent} == {"rfc9568"}
    theirs = [p for p in cap.packets() if p["src"] == r2.v4]
    assert theirs and {p["checksum_form"] for p in theirs} == {"pseudo_header"}
