"""The probe flow: ICMP echo to each VIP every 10 ms from the client namespace.

``python -m chaos.probe --rate 100 VIP...`` (root: raw sockets). Requests go
out on an absolute schedule (a late wake-up sends at once, no drift); a reply
counts for its sequence number whoever sent it. On SIGTERM it waits ``grace``
seconds for late replies and prints one JSON object: per VIP the send times
(``time.monotonic()``, the same clock in every namespace) and the sequence
numbers answered. The driver cuts that into fault windows.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Sequence
from typing import Any, Final

_ECHO: Final = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
_V4_REQUEST, _V4_REPLY = 8, 0
_V6_REQUEST, _V6_REPLY = 128, 129


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class _Target:
    """One VIP: its raw socket, what was sent when, which sequence numbers came back."""

    def __init__(self, vip: str, ident: int) -> None:
        self.vip, self.ident = vip, ident
        self.v6 = ":" in vip
        if self.v6:
            self.sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.sock.setblocking(False)
        self.sent_at: list[float] = []
        self.answered: set[int] = set()
        self.errors = 0

    def send(self) -> None:
        seq = len(self.sent_at)
        kind = _V6_REQUEST if self.v6 else _V4_REQUEST
        payload = b"chaos-probe"
        header = _ECHO.pack(kind, 0, 0, self.ident, seq & 0xFFFF)
        if not self.v6:  # the kernel fills in the ICMPv6 checksum itself
            header = _ECHO.pack(kind, 0, _checksum(header + payload), self.ident, seq & 0xFFFF)
        self.sent_at.append(time.monotonic())
        try:
            self.sock.sendto(header + payload, (self.vip, 0))
        except OSError:  # no neighbour, no route: that request is lost
            self.errors += 1

    def receive(self) -> None:
        while True:
            try:
                data = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            if not self.v6:
                data = data[(data[0] & 0x0F) * 4 :]  # a raw IPv4 socket keeps the IP header
            if len(data) < _ECHO.size:
                continue
            kind, _code, _sum, ident, seq16 = _ECHO.unpack_from(data)
            if kind != (_V6_REPLY if self.v6 else _V4_REPLY) or ident != self.ident:
                continue
            # the 16-bit sequence number wraps after 655 s at 100/s: the newest match
            seq = len(self.sent_at) - 1 - ((len(self.sent_at) - 1 - seq16) & 0xFFFF)
            if seq >= 0:
                self.answered.add(seq)

    def report(self) -> dict[str, Any]:
        return {
            "sent_at": [round(t, 4) for t in self.sent_at],
            "answered": sorted(self.answered),
            "errors": self.errors,
        }


def run(vips: Sequence[str], *, rate: float, grace: float) -> dict[str, Any]:
    """Probe until SIGTERM/SIGINT, then collect late replies for ``grace`` seconds."""
    stop = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    base = os.getpid() & 0xFF00
    targets = [_Target(vip, base | n) for n, vip in enumerate(vips)]
    sel = selectors.DefaultSelector()
    for target in targets:
        sel.register(target.sock, selectors.EVENT_READ, target)
    start, ticks, deadline = time.monotonic(), 0, None
    print("started", flush=True)
    while True:
        now = time.monotonic()
        if stop and deadline is None:
            deadline = now + grace
        if deadline is not None:
            if now >= deadline:
                break
            wake = deadline
        else:
            wake = start + ticks / rate
            if now >= wake:
                for target in targets:
                    target.send()
                ticks += 1
                continue
        for key, _events in sel.select(timeout=max(0.0, wake - now)):
            key.data.receive()
    return {"rate": rate, "vips": {t.vip: t.report() for t in targets}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos.probe", description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second per VIP")
    parser.add_argument("--grace", type=float, default=1.0, help="seconds to wait for replies")
    parser.add_argument("vips", nargs="+")
    args = parser.parse_args(argv)
    report = run(args.vips, rate=args.rate, grace=args.grace)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
