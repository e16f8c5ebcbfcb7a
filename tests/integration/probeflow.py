"""A steady UDP probe flow to a VIP, answered by whichever host is MASTER.

The two halves of the loss measurement of rolling maintenance:

- **Responder** (:data:`RESPONDER`, runs on each lab host as a transient systemd
  unit, started over SSH by :func:`start_responders`): a UDP socket on
  ``0.0.0.0:PORT`` (``[::]:PORT`` for an IPv6 VIP) that answers each datagram
  with its sequence number and the host's name, from the address the datagram
  was sent to (``IP_PKTINFO`` / ``IPV6_PKTINFO``), so
  a reply comes from the VIP the way a service's would. Python's standard
  library only: the hosts run Debian's python3. The socket is transparent
  (``IP_TRANSPARENT`` / ``IPV6_TRANSPARENT``): a datagram the kernel delivered
  while the host held the VIP is answered from the VIP even when the responder
  reads it after a handover took the VIP away (it lagged behind on a loaded
  machine: 15 consecutive "reply failed" at one handover). What the flow judges
  is VRRP's delivery, not the responder's scheduling: a datagram that reaches a
  host after its VIP left is still dropped by that host's kernel, unanswered.
- **Sender** (``python -m integration.probeflow send``, runs in the controller
  namespace, driven by :class:`ProbeFlow`): datagrams at a fixed rate on an
  absolute schedule (no drift), replies matched by sequence number. On SIGTERM
  it stops sending, waits ``grace`` seconds for late replies and prints a JSON
  report: sent, answered, lost (and which), who answered in which order, the
  longest run of lost datagrams, round-trip times. A sender that was not
  scheduled for a while sends its backlog at once and reads the replies
  between sends; both ends' socket buffers hold thousands of datagrams
  (``SO_RCVBUFFORCE``), so a stall of the sender or of a responder loses
  nothing by itself (``tests/netns/test_probeflow.py``; with the default
  buffers such a burst overflowed the responder's socket).

A datagram counts as lost when no reply came back by the end of the grace
period: whether the request or the reply was dropped, the service was not
there for it.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from integration.hosts import HostLab

TESTS_DIR: Final = Path(__file__).resolve().parent.parent
PORT: Final = 7007
UNIT: Final = "failover-vrrp-probe-echo"  # + "-N", one per flow
_FLOWS: Final = itertools.count(1)
_HEADER: Final = struct.Struct("!QQ")  # run id, sequence number

# The responder: bound to every address, so it answers on the VIP only while the
# host holds it; replies leave from the datagram's destination (the VIP).
RESPONDER: Final = r"""
import socket, struct, sys
name, port = sys.argv[1].encode(), int(sys.argv[2])
v6 = len(sys.argv) > 3 and sys.argv[3] == "6"
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    s.setsockopt(socket.IPPROTO_IPV6, 75, 1)  # IPV6_TRANSPARENT
    s.bind(("::", port))
    level, kind, size = socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, 20
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    level, kind, size = socket.SOL_IP, getattr(socket, "IP_PKTINFO", 8), 12
    s.setsockopt(level, kind, 1)
    s.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT
    s.bind(("0.0.0.0", port))
# A burst (the sender's backlog, or requests queued while this process was not
# scheduled) must not overflow the default buffer (a few hundred datagrams):
# SO_RCVBUFFORCE (root), else as much as rmem_max allows.
try:
    s.setsockopt(socket.SOL_SOCKET, 33, 1 << 22)
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
while True:
    data, anc, _flags, peer = s.recvmsg(64, socket.CMSG_SPACE(size))
    cmsg = []
    for lvl, knd, info in anc:
        if (lvl, knd) == (level, kind) and len(info) >= size:
            # in6_pktinfo {addr, ifindex 0} / in_pktinfo {ifindex 0, spec_dst, addr}
            src = info[:16] + b"\0" * 4 if v6 else struct.pack("=i4s4s", 0, info[8:12], b"\0" * 4)
            cmsg = [(level, kind, src)]
    try:
        s.sendmsg([data[:16] + name], cmsg, 0, peer)
    except OSError as exc:  # counted lost; the journal says why
        print("reply failed:", struct.unpack_from("!QQ", data)[1] if len(data) >= 16 else "?",
              exc, flush=True)
"""


@dataclass
class FlowReport:
    """What one probe flow saw."""

    target: str
    rate: float
    sent: int
    answered: int
    lost: list[int]
    responders: list[tuple[str, int]]  # (host, datagrams answered in a row), in order
    seconds: float
    rtt_ms_median: float | None
    rtt_ms_max: float | None
    longest_outage_ms: float
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    # Filled in by the driver only when datagrams were lost: what each host's
    # responder logged (a reply that failed had reached a host that lost the
    # VIP before it answered, not a host that never received it).
    notes: list[str] = field(default_factory=list)

    @property
    def lost_count(self) -> int:
        return len(self.lost)

    @property
    def handovers(self) -> list[str]:
        """The hosts that answered, in order, one entry per change of responder."""
        return [host for host, _count in self.responders]

    def summary(self) -> str:
        order = " → ".join(f"{host} ({count})" for host, count in self.responders) or "nobody"
        rtt = (
            f"rtt median {self.rtt_ms_median:.2f} ms, max {self.rtt_ms_max:.2f} ms"
            if self.rtt_ms_median is not None and self.rtt_ms_max is not None
            else "no rtt"
        )
        return (
            f"{self.sent} datagrams to {self.target} at {self.rate:g}/s over "
            f"{self.seconds:.1f} s: {self.answered} answered, {self.lost_count} lost "
            f"(longest outage {self.longest_outage_ms:.0f} ms); answered by {order}; {rtt}"
            + "".join(f"; {note}" for note in self.notes)
        )

    @classmethod
    def from_json(cls, text: str) -> FlowReport:
        raw = json.loads(text)
        raw["responders"] = [tuple(pair) for pair in raw["responders"]]
        return cls(**raw)


# --- the sender (runs in the controller namespace) -------------------------------


# A socket buffer for thousands of small datagrams, at both ends: with the
# default (rmem_default, 256 of them in the netns lab) a starved sender's
# backlog, sent at once, overflowed the responder's buffer (RcvbufErrors on the
# host), and the overflow was counted as VRRP's loss (tests/netns/test_probeflow.py).
# The replies to such a burst come back as one too.
RECEIVE_BUFFER: Final = 1 << 22
SO_RCVBUFFORCE: Final = getattr(socket, "SO_RCVBUFFORCE", 33)


def grow_receive_buffer(sock: socket.socket) -> None:
    """SO_RCVBUFFORCE (root: past rmem_max), else as much as rmem_max allows."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


class _Sender:
    """The sender's state: what went out when, what came back from whom."""

    def __init__(self, target: str, port: int, rate: float) -> None:
        self.target, self.port, self.rate = target, port, rate
        self.run_id = int.from_bytes(os.urandom(8), "big")
        family = socket.AF_INET6 if ":" in target else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        grow_receive_buffer(self.sock)
        self.sent_at: list[float] = []
        self.answered: dict[int, tuple[float, str]] = {}
        self.duplicates = 0
        self.errors: list[str] = []

    def send_next(self) -> None:
        seq = len(self.sent_at)
        try:
            self.sock.sendto(_HEADER.pack(self.run_id, seq), (self.target, self.port))
        except OSError as exc:  # e.g. no neighbour yet: that datagram is lost
            self.errors.append(f"seq {seq}: {exc}")
        self.sent_at.append(time.monotonic())

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(256)
            except BlockingIOError:
                return
            except OSError as exc:  # ICMP errors surface here
                self.errors.append(str(exc))
                continue
            if len(data) < _HEADER.size:
                continue
            rid, seq = _HEADER.unpack_from(data)
            if rid != self.run_id or seq >= len(self.sent_at):
                continue
            if seq in self.answered:
                self.duplicates += 1
            else:
                host = data[_HEADER.size :].decode(errors="replace")
                self.answered[seq] = (time.monotonic(), host)

    def report(self) -> FlowReport:
        sent_at, answered = self.sent_at, self.answered
        responders: list[tuple[str, int]] = []
        for seq in sorted(answered):
            host = answered[seq][1]
            if responders and responders[-1][0] == host:
                responders[-1] = (host, responders[-1][1] + 1)
            else:
                responders.append((host, 1))
        rtts = sorted((answered[seq][0] - sent_at[seq]) * 1000 for seq in answered)
        longest = run = 0
        for seq in range(len(sent_at)):
            run = run + 1 if seq not in answered else 0
            longest = max(longest, run)
        return FlowReport(
            target=self.target,
            rate=self.rate,
            sent=len(sent_at),
            answered=len(answered),
            lost=[seq for seq in range(len(sent_at)) if seq not in answered],
            responders=responders,
            seconds=(sent_at[-1] - sent_at[0]) if sent_at else 0.0,
            rtt_ms_median=rtts[len(rtts) // 2] if rtts else None,
            rtt_ms_max=rtts[-1] if rtts else None,
            longest_outage_ms=longest * 1000 / self.rate,
            duplicates=self.duplicates,
            errors=self.errors[:20],
        )


def send(target: str, port: int, rate: float, grace: float) -> FlowReport:
    """Send until SIGTERM/SIGINT, then collect late replies for ``grace`` seconds."""
    stop = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sender = _Sender(target, port, rate)
    sel = selectors.DefaultSelector()
    sel.register(sender.sock, selectors.EVENT_READ)
    start = time.monotonic()
    deadline: float | None = None
    print("started", flush=True)  # the parent waits for this line
    while True:
        now = time.monotonic()
        if stop and deadline is None:
            deadline = now + grace
        if deadline is not None:
            if now >= deadline:
                break
            wake = deadline
        else:
            # An absolute schedule: a late wake-up sends at once, with no drift.
            wake = start + len(sender.sent_at) / rate
            if now >= wake:
                sender.send_next()
                sender.drain()  # a backlog's replies are read as they come
                continue
        if sel.select(timeout=wake - now):
            sender.drain()
    sender.sock.close()
    return sender.report()


# --- driving it from a test or the demo -------------------------------------------


class ProbeFlow:
    """The sender as a child process in namespace ``ns``; :meth:`stop` returns its report."""

    def __init__(
        self, ns: str, target: str, *, port: int = PORT, rate: float = 100.0, grace: float = 1.0
    ) -> None:
        self.ns, self.target, self.port, self.rate, self.grace = ns, target, port, rate, grace
        self.proc: subprocess.Popen[str] | None = None
        # Called when datagrams were lost: notes for the report (probe_flow sets it).
        self.explain: Callable[[], list[str]] | None = None

    def start(self) -> None:
        argv = [
            "ip", "netns", "exec", self.ns, sys.executable, "-m", "integration.probeflow",
            "send", self.target, "--port", str(self.port), "--rate", str(self.rate),
            "--grace", str(self.grace),
        ]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=str(TESTS_DIR))
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        if self.proc.stdout is None or self.proc.stdout.readline().strip() != "started":
            _out, err = self.proc.communicate(timeout=10)
            raise RuntimeError(f"probe flow sender did not start: {err.strip()}")

    def stop(self) -> FlowReport:
        if self.proc is None:
            raise RuntimeError("probe flow not started")
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=self.grace + 30)
        if proc.returncode != 0:
            raise RuntimeError(f"probe flow sender failed ({proc.returncode}): {err.strip()}")
        report = FlowReport.from_json(out)
        if report.lost and self.explain is not None:
            report.notes = self.explain()
        return report

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def start_responders(lab: HostLab, port: int = PORT, *, ipv6: bool = False) -> str:
    """Run the responder on every host as a transient unit (gone when the host is).

    Each flow's unit has a name of its own (returned): under Debian 12's
    systemd in the lab's containers a stopped transient unit can stay loaded
    (its cgroup's emptiness is not noticed), and a second flow under the same
    name would be refused ("already loaded").
    """
    unit = f"{UNIT}-{next(_FLOWS)}"
    for name, host in lab.hosts.items():
        proc = lab.ssh(
            host,
            ["systemd-run", f"--unit={unit}", "--collect", "--quiet",
             "/usr/bin/python3", "-c", RESPONDER, name, str(port), "6" if ipv6 else "4"],
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"probe responder on {name} did not start: {proc.stderr.strip()}")
    for name, host in lab.hosts.items():
        proc = lab.ssh(host, ["systemctl", "is-active", unit])
        if proc.stdout.strip() != "active":
            raise RuntimeError(f"probe responder on {name} is {proc.stdout.strip()}")
    return unit


def failed_replies(lab: HostLab, unit: str) -> list[str]:
    """Per host, the replies its responder could not send (from its journal)."""
    notes = []
    for name, host in lab.hosts.items():
        try:
            out = lab.ssh(host, ["journalctl", "-u", unit, "-o", "cat", "--no-pager"]).stdout
        except Exception as exc:  # a note must never hide the loss it explains
            notes.append(f"{name}: journal unreadable ({exc})")
            continue
        failed = [line.split()[2] for line in out.splitlines() if line.startswith("reply failed:")]
        if failed:
            notes.append(f"{name}: {len(failed)} replies failed (seq {failed[0]}..{failed[-1]})")
    return notes


def stop_responders(lab: HostLab, unit: str) -> None:
    """SIGTERM to each responder; not waiting for systemd to notice the unit is empty."""
    for host in lab.hosts.values():
        lab.ssh(host, ["systemctl", "kill", "--signal=TERM", unit])
        lab.ssh(host, ["systemctl", "stop", "--no-block", unit])


@contextlib.contextmanager
def probe_flow(
    lab: HostLab, target: str, *, rate: float = 100.0, port: int = PORT
) -> Iterator[ProbeFlow]:
    """Responders on every host and a sender in the controller namespace, torn down after."""
    if lab.controller is None:
        raise RuntimeError("lab is not open")
    unit = start_responders(lab, port, ipv6=":" in target)
    flow = ProbeFlow(lab.controller.ns, target, port=port, rate=rate)
    flow.explain = lambda: failed_replies(lab, unit)
    try:
        flow.start()
        yield flow
    finally:
        flow.kill()
        stop_responders(lab, unit)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    snd = sub.add_parser("send", help="send until SIGTERM, print the JSON report")
    snd.add_argument("target")
    snd.add_argument("--port", type=int, default=PORT)
    snd.add_argument("--rate", type=float, default=100.0)
    snd.add_argument("--grace", type=float, default=1.0)
    args = parser.parse_args(argv)
    report = send(args.target, args.port, args.rate, args.grace)
    out: dict[str, Any] = dict(report.__dict__)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
