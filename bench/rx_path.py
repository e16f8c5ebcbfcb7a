"""Microbenchmark: one advert through a Backup runner's receive path, in process.

A real :class:`vrrp.runner.Runner` with 510 Backup instances (255 VRIDs ×
IPv4 and IPv6, 1 s) over a fake kernel (``support.fakehost``) on a real
asyncio loop whose clock moves by hand, 1 s a pass: each pass hands every
instance the advert its Master would send (encoded by the engine) through
``Fleet.on_datagrams`` → decode → instance lookup → FSM →
``Instance.execute`` (the Master_Down timer on the loop), one datagram per
call as the kernel delivers them at 1 s; the loop runs between passes so its
timer heap behaves as in the daemon. CPU time (process), not wall time. The
socket's own parse (``VrrpSocket._parse`` of an IPv4 datagram with its
ancillary data) is timed apart. No root, no namespaces.

    .venv/bin/python bench/rx_path.py [--rounds 7] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import json
import pstats
import socket
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins" / "module_utils"), str(ROOT / "tests")]

from support.fakehost import FakeHost  # noqa: E402
from vrrp.config import load_config  # noqa: E402
from vrrp.hostio import SocketKey  # noqa: E402
from vrrp.linux import sockets  # noqa: E402
from vrrp.linux.sockets import Received  # noqa: E402
from vrrp.packet import VRRP_MCAST_V4, VRRP_MCAST_V6, VRRP_TTL, Advertisement, encode  # noqa: E402
from vrrp.runner import Runner  # noqa: E402

VRIDS = 255
MASTER_V4, MASTER_V6 = "192.0.2.12", "fe80::12"


class Kernel(FakeHost):
    """FakeHost with an IPv6 link-local source and a receive queue."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: list[Received] = []

    def usable_addresses(self, ifname: str, version: int) -> list[str]:
        return ["fe80::11"] if version == 6 else super().usable_addresses(ifname, version)

    def receive(self, key: SocketKey) -> list[Received]:
        out, self.queue = self.queue, []
        return out


class Watcher:
    """Every link up with carrier."""

    def link(self, ifname: str) -> Any:
        return types.SimpleNamespace(up=True, carrier=True)


def config() -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for vrid in range(1, VRIDS + 1):
        common = {"interface": "eth0", "vrid": vrid, "priority": 100, "advert_interval": 1}
        out.append({"name": f"v4-{vrid}", **common, "virtual_addresses": [f"198.51.100.{vrid}/32"]})
        out.append(
            {
                "name": f"v6-{vrid}",
                **common,
                "virtual_addresses": [f"fe80::5:{vrid:x}/64", f"2001:db8:5::{vrid:x}/128"],
            }
        )
    return {"instances": out, "sync_groups": []}


def datagrams(runner: Runner) -> list[tuple[SocketKey, Received]]:
    """The Master's advert for each instance, as the socket hands it over."""
    out = []
    for inst in runner.instances.values():
        ours = inst.router.advertisement()
        theirs = Advertisement(
            version=3,
            vrid=ours.vrid,
            priority=200,
            interval_cs=ours.interval_cs,
            addresses=ours.addresses,
        )
        six = inst.ip_version == 6
        src, dst = (MASTER_V6, str(VRRP_MCAST_V6)) if six else (MASTER_V4, str(VRRP_MCAST_V4))
        payload = encode(theirs, src=src, dst=dst)
        rx = Received(payload=payload, src=src, dst=dst, ttl=VRRP_TTL, ifindex=2)
        out.append(((inst.socket_ifname, inst.ip_version), rx))
    return out


def parse_cost(rounds: int, n: int = 20000) -> float:
    """µs per ``VrrpSocket._parse`` of an IPv4 datagram with IP_TTL + IP_PKTINFO."""
    sock = object.__new__(sockets.VrrpSocket)
    sock.version, sock.ifindex, sock.peers = 4, 2, frozenset()  # type: ignore[misc]
    sock.drops = collections.Counter()  # type: ignore[misc]
    payload = bytes(16)  # the parse does not look into the VRRP message
    total = 20 + len(payload)
    header = bytes([0x45, 0, 0, total, 0, 0, 0x40, 0, 255, 112, 0, 0])
    header += socket.inet_aton(MASTER_V4) + socket.inet_aton(str(VRRP_MCAST_V4))
    data = header + payload
    anc = [
        (socket.IPPROTO_IP, socket.IP_TTL, (255).to_bytes(4, sys.byteorder)),
        (
            socket.IPPROTO_IP,
            sockets.IP_PKTINFO,
            sockets._IN_PKTINFO.pack(
                2, socket.inet_aton(MASTER_V4), socket.inet_aton("224.0.0.18")
            ),
        ),
    ]
    times = []
    for _round in range(rounds):
        t0 = time.process_time()
        for _round in range(n):
            sock._parse(data, anc, (MASTER_V4, 0))
        times.append((time.process_time() - t0) / n * 1e6)
    return statistics.median(times)


def main() -> int:  # noqa: PLR0915 (one straight script)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=20, help="adverts per instance a round")
    parser.add_argument("--profile", action="store_true", help="cProfile one round")
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    # The loop's clock moves one advert interval a pass (the timers due meanwhile
    # fire as in the daemon), not with the wall clock.
    clock = [loop.time()]
    loop.time = lambda: clock[0]  # type: ignore[method-assign]
    asyncio.set_event_loop(loop)
    kernel = Kernel()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config()))
        runner = Runner(
            config_path=str(path),
            state_dir=str(Path(tmp) / "run"),
            lib_dir=str(Path(tmp) / "lib"),
            io=kernel,
        )
        runner.watcher = Watcher()  # type: ignore[assignment]
        runner.fleet.apply(load_config(config()), previous=None)
        grams = datagrams(runner)
        fleet = runner.fleet

        def one_round() -> None:
            for _round in range(args.per_round):
                clock[0] += 1.0  # one Advertisement_Interval a pass
                for key, rx in grams:
                    kernel.queue = [rx]
                    fleet.on_datagrams(key)
                loop.run_until_complete(asyncio.sleep(0))

        one_round()
        states = {inst.router.state.value for inst in runner.instances.values()}
        if states != {"BACKUP"}:
            raise SystemExit(f"instances not all Backup: {states}")
        n = args.per_round * len(grams)
        made = 0
        call_at = loop.call_at

        def counted(*a: Any, **kw: Any) -> Any:
            nonlocal made
            made += 1
            return call_at(*a, **kw)

        loop.call_at = counted  # type: ignore[method-assign]
        times = []
        for _round in range(args.rounds):
            t0 = time.process_time()
            one_round()
            times.append((time.process_time() - t0) / n * 1e6)
        print(
            f"receive path (on_datagrams → decode → lookup → FSM → timers), {len(grams)} "
            f"Backups, {args.rounds} rounds × {n}: CPU time median "
            f"{statistics.median(times):.2f} µs per advert (min {min(times):.2f})"
        )
        print(f"loop timer handles made per advert: {made / (args.rounds * n):.3f}")
        print(f"VrrpSocket._parse, IPv4 with IP_TTL + IP_PKTINFO: {parse_cost(args.rounds):.2f} µs")
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            one_round()
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
            print(out.getvalue())
        for name in list(runner.instances):
            fleet.remove_instance(name)
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
