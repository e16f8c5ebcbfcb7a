"""Timing helpers shared by ``make bench`` (``bench/failover.py``) and ``make demo``.

- A watcher process, run inside a router's namespace (``python bench/vipwatch.py
  --vip ADDR``), that prints one JSON line per change of a watched address,
  taken from netlink (RTM_NEWADDR / RTM_DELADDR through our ``LinkWatcher``),
  with the receive time and priority of the last VRRP advert it heard from each
  source on a raw socket. Every stamp is ``CLOCK_MONOTONIC``, one clock for all
  namespaces, so it compares with a fault stamped by the parent.
- ``netlink_in(ns)`` / ``set_link()``: a bridge port set down by a netlink
  request sent from this process (no ``ip`` exec between the stamp and the fault).
- The RFC 9568 §6.1 figures the measurements are held against.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins" / "module_utils"), str(ROOT / "tests")]

from vrrp.linux.watch import AddressChanged, LinkWatcher  # noqa: E402

VRRP_GROUP_V4: Final = "224.0.0.18"
_CLONE_NEWNET: Final = 0x40000000
_IFF_UP: Final = 0x1
_RTM_NEWLINK: Final = 16
_NLM_F_REQUEST_ACK: Final = 0x1 | 0x4


def skew_time(interval: float, priority: int) -> float:
    """RFC 9568 §6.1: Skew_Time = ((256 - Priority) × Master_Adver_Interval) / 256."""
    return (256 - priority) * interval / 256


def master_down_interval(interval: float, priority: int) -> float:
    """RFC 9568 §6.1: 3 × Master_Adver_Interval + Skew_Time."""
    return 3 * interval + skew_time(interval, priority)


# --------------------------------------------------- the watcher (in a router)


def watch(*, ifname: str, vrid: int, vips: set[str]) -> None:
    """Print VIP changes with the last advert heard per source; runs until SIGTERM."""
    watcher = LinkWatcher()
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    any_local = bytes(4)  # INADDR_ANY: the group on this ifindex
    mreqn = struct.pack(
        "=4s4si", socket.inet_aton(VRRP_GROUP_V4), any_local, socket.if_nametoindex(ifname)
    )
    raw.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    raw.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(raw, selectors.EVENT_READ, "raw")
    selector.register(watcher.fileno(), selectors.EVENT_READ, "netlink")
    last: dict[str, list[float]] = {}  # source -> [time, priority, adverts heard]
    print(json.dumps({"ev": "ready", "t": time.monotonic()}), flush=True)
    while True:
        for key, _mask in selector.select():
            if key.data == "raw":
                while True:
                    try:
                        data, (src, _port) = raw.recvfrom(2048)
                    except BlockingIOError:
                        break
                    now = time.monotonic()
                    vrrp = data[(data[0] & 0x0F) * 4 :]
                    if len(vrrp) >= 3 and vrrp[1] == vrid:
                        heard = last.get(src, [0.0, 0, 0])[2]
                        last[src] = [now, vrrp[2], heard + 1]
                continue
            now = time.monotonic()
            for event in watcher.read():
                if isinstance(event, AddressChanged) and event.address in vips:
                    line = {"ev": "vip", "t": now, "addr": event.address, "added": event.added}
                    print(json.dumps({**line, "last": last}), flush=True)


class Watcher:
    """The watcher process in a lab router, read back through its lab log."""

    def __init__(self, lab: Any, router: Any, *, vips: list[str], vrid: int) -> None:
        argv = [str(Path(__file__).resolve()), "--vrid", str(vrid)]
        for vip in vips:
            argv += ["--vip", vip]
        self.lab = lab
        self.proc = lab.python(router, argv)
        lab.wait_for(self.events, timeout=10, what=f"the VIP watcher in {router.ns}")

    def events(self) -> list[dict[str, Any]]:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the watcher exited:\n{self.lab.log_of(self.proc)}")
        return [
            json.loads(line)
            for line in self.lab.log_of(self.proc).splitlines()
            if line.startswith("{") and line.endswith("}")
        ]

    def next_vip(self, *, added: bool, after: float, timeout: float) -> dict[str, Any]:
        """The first VIP event of that kind stamped after ``after`` (monotonic)."""

        def found() -> dict[str, Any] | None:
            for event in self.events():
                if event["ev"] == "vip" and event["added"] is added and event["t"] >= after:
                    return event
            return None

        event: dict[str, Any] = self.lab.wait_for(
            found, timeout=timeout, interval=0.005, what="the VIP event"
        )
        return event

    def stop(self) -> None:
        self.lab.stop(self.proc)


# ------------------------------------------------------ fault: a link set down


@contextlib.contextmanager
def netlink_in(ns: str) -> Iterator[socket.socket]:
    """A NETLINK_ROUTE socket living in namespace ``ns`` (setns, socket, setns back)."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns to {ns}")
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        finally:
            if libc.setns(own, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(target)
    with sock:
        yield sock


def set_link(sock: socket.socket, ifindex: int, *, up: bool) -> None:
    """RTM_NEWLINK changing IFF_UP only; returns once the kernel acknowledged it."""
    body = struct.pack("=BBHiII", 0, 0, 0, ifindex, _IFF_UP if up else 0, _IFF_UP)
    header = struct.pack("=IHHII", 16 + len(body), _RTM_NEWLINK, _NLM_F_REQUEST_ACK, 1, 0)
    sock.send(header + body)
    reply = sock.recv(4096)
    (code,) = struct.unpack_from("=i", reply, 16)
    if code != 0:
        raise OSError(-code, f"set link {ifindex} {'up' if up else 'down'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="print VIP changes with the last advert heard")
    parser.add_argument("--ifname", default="eth0")
    parser.add_argument("--vrid", type=int, required=True)
    parser.add_argument("--vip", action="append", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    watch(ifname=args.ifname, vrid=args.vrid, vips=set(args.vip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
