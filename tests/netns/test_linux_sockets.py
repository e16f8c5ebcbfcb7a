"""VrrpSocket between two namespaces: multicast and unicast, IPv4 and IPv6, TTL seen.

The receiver runs inside its router under an asyncio loop with ``add_reader``
(the way the runner will use it) and prints what it got as JSON.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from lab import Lab, Router

RECEIVER = r"""
import asyncio, json, sys
from vrrp.linux.sockets import VrrpSocket
cfg = json.loads(sys.argv[1])

async def main():
    sock = VrrpSocket(ifname="eth0", version=cfg["version"], source=cfg["source"],
                      peers=cfg.get("peers", ()))
    got, done = [], asyncio.Event()
    def readable():
        for r in sock.receive():
            got.append({"payload": r.payload.hex(), "src": r.src, "dst": r.dst,
                        "ttl": r.ttl, "ifindex": r.ifindex})
        if len(got) >= cfg["count"]:
            done.set()
    asyncio.get_running_loop().add_reader(sock.fileno(), readable)
    print("ready", flush=True)
    try:
        await asyncio.wait_for(done.wait(), cfg["wait"])
    except asyncio.TimeoutError:
        pass
    print(json.dumps({"got": got, "drops": dict(sock.drops)}), flush=True)

asyncio.run(main())
"""

SENDER = r"""
import json, sys
from vrrp.linux.sockets import VrrpSocket
cfg = json.loads(sys.argv[1])
with VrrpSocket(ifname="eth0", version=cfg["version"], source=cfg["source"],
                peers=cfg.get("peers", ())) as sock:
    for payload in cfg["payloads"]:
        sock.send(bytes.fromhex(payload))
    print(json.dumps({"sent": sock.sent}))
"""

# A plain raw socket that does what a sloppy or hostile sender does: TTL 64.
LOW_TTL_SENDER = r"""
import json, socket, sys
cfg = json.loads(sys.argv[1])
if cfg["version"] == 4:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.SOL_SOCKET, 25, b"eth0")
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 64)
    s.sendto(bytes.fromhex(cfg["payload"]), ("224.0.0.18", 0))
else:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
    idx = socket.if_nametoindex("eth0")
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 64)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    s.sendto(bytes.fromhex(cfg["payload"]), ("ff02::12", 0, 0, idx))
print("{}")
"""

# Counts the socket's recvmsg calls, and those that found nothing (EAGAIN).
COUNTING_RECEIVER = r"""
import json, select, sys, time
from vrrp.linux.sockets import VrrpSocket
cfg = json.loads(sys.argv[1])

class Counting:
    def __init__(self, sock):
        self.sock, self.calls, self.empty = sock, 0, 0
    def __getattr__(self, name):
        return getattr(self.sock, name)
    def recvmsg(self, *args):
        self.calls += 1
        try:
            return self.sock.recvmsg(*args)
        except BlockingIOError:
            self.empty += 1
            raise

sock = VrrpSocket(ifname="eth0", version=cfg["version"], source=cfg["source"])
counting = sock._sock = Counting(sock._sock)
print("ready", flush=True)
got, deadline = [], time.monotonic() + cfg["wait"]
while len(got) < cfg["count"] and time.monotonic() < deadline:
    if select.select([sock.fileno()], [], [], 0.2)[0]:
        time.sleep(0.2)  # let the rest of the burst queue up behind the first
        got += [r.payload.hex() for r in sock.receive()]
print(json.dumps({"got": got, "calls": counting.calls, "empty": counting.empty}), flush=True)
"""

PAYLOAD_A = "3105ff0100010000c000020a"  # shaped like a VRRPv3 advert; bytes are all we test
PAYLOAD_B = "3105640100010000c000020b"


def start_receiver(lab: Lab, router: Router, cfg: dict[str, Any]) -> subprocess.Popen[str]:
    return start_receiver_script(lab, router, RECEIVER, cfg)


def start_receiver_script(
    lab: Lab, router: Router, script: str, cfg: dict[str, Any]
) -> subprocess.Popen[str]:
    proc = lab.python(
        router,
        ["-c", script, json.dumps(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", (
        f"receiver did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
    )
    return proc


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def run_script(lab: Lab, router: Router, code: str, cfg: dict[str, Any]) -> dict[str, Any]:
    proc = lab.python(
        router,
        ["-c", code, json.dumps(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return finish(proc)


def two_routers(lab: Lab) -> tuple[Router, Router]:
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v4="192.0.2.12/24", v6="2001:db8::12/64")
    return r1, r2


@pytest.mark.parametrize("version", [4, 6])
def test_multicast_round_trip_with_ttl_255(lab: Lab, version: int) -> None:
    r1, r2 = two_routers(lab)
    src = r1.v4 if version == 4 else r1.v6_ll
    rx = start_receiver(
        lab,
        r2,
        {"version": version, "source": r2.v4 if version == 4 else r2.v6_ll, "count": 2, "wait": 5},
    )
    sent = run_script(
        lab, r1, SENDER, {"version": version, "source": src, "payloads": [PAYLOAD_A, PAYLOAD_B]}
    )
    assert sent == {"sent": 2}
    result = finish(rx)
    group = "224.0.0.18" if version == 4 else "ff02::12"
    assert [g["payload"] for g in result["got"]] == [PAYLOAD_A, PAYLOAD_B]
    for got in result["got"]:
        assert got["src"] == src
        assert got["dst"] == group
        assert got["ttl"] == 255
        assert got["ifindex"] == r2.ifindex
    assert result["drops"] == {}


@pytest.mark.parametrize("version", [4, 6])
def test_unicast_peer_round_trip_and_stranger_dropped(lab: Lab, version: int) -> None:
    r1, r2 = two_routers(lab)
    r3 = lab.add_router("r3", v4="192.0.2.13/24", v6="2001:db8::13/64")
    addr = (lambda r: r.v4) if version == 4 else (lambda r: r.v6)
    rx = start_receiver(
        lab,
        r2,
        {"version": version, "source": addr(r2), "peers": [addr(r1)], "count": 1, "wait": 3},
    )
    # The stranger first: it must be counted, not delivered.
    run_script(
        lab,
        r3,
        SENDER,
        {"version": version, "source": addr(r3), "peers": [addr(r2)], "payloads": [PAYLOAD_B]},
    )
    run_script(
        lab,
        r1,
        SENDER,
        {"version": version, "source": addr(r1), "peers": [addr(r2)], "payloads": [PAYLOAD_A]},
    )
    result = finish(rx)
    assert result["got"] == [
        {"payload": PAYLOAD_A, "src": addr(r1), "dst": addr(r2), "ttl": 255, "ifindex": r2.ifindex}
    ]
    assert result["drops"] == {"unknown_peer": 1}


@pytest.mark.parametrize("version", [4, 6])
def test_low_ttl_is_reported_as_received(lab: Lab, version: int) -> None:
    r1, r2 = two_routers(lab)
    rx = start_receiver(
        lab,
        r2,
        {"version": version, "source": r2.v4 if version == 4 else r2.v6_ll, "count": 1, "wait": 5},
    )
    run_script(lab, r1, LOW_TTL_SENDER, {"version": version, "payload": PAYLOAD_A})
    result = finish(rx)
    assert len(result["got"]) == 1
    assert result["got"][0]["ttl"] == 64  # the core drops it (RFC 9568 §7.1), not this layer
    assert result["got"][0]["payload"] == PAYLOAD_A


def test_send_on_missing_interface_is_a_clear_error(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    code = (
        "from vrrp.errors import NetlinkError\n"
        "from vrrp.linux.sockets import VrrpSocket\n"
        "try:\n"
        "    VrrpSocket(ifname='nosuch0', version=4, source='192.0.2.11')\n"
        "except NetlinkError as exc:\n"
        '    print(\'{"error": "%s"}\' % exc)\n'
    )
    assert run_script(lab, r1, code, {}) == {"error": "interface 'nosuch0' does not exist"}


@pytest.mark.parametrize("version", [4, 6])
def test_receive_reads_what_is_queued_without_a_final_empty_read(lab: Lab, version: int) -> None:
    """Called when the socket is readable, receive() takes every datagram queued
    and stops there: no last recvmsg that can only say EAGAIN (one per loop
    wake-up, the most frequent call of a Backup's loop)."""
    r1, r2 = two_routers(lab)
    payloads = [PAYLOAD_A, PAYLOAD_B, PAYLOAD_A]
    rx = start_receiver_script(
        lab,
        r2,
        COUNTING_RECEIVER,
        {"version": version, "source": r2.v4 if version == 4 else r2.v6_ll, "count": 3, "wait": 10},
    )
    src = r1.v4 if version == 4 else r1.v6_ll
    run_script(lab, r1, SENDER, {"version": version, "source": src, "payloads": payloads})
    result = finish(rx)
    assert result["got"] == payloads
    assert result["empty"] == 0
    assert result["calls"] == len(payloads)
