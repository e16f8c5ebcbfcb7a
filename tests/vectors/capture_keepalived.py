#!/usr/bin/env python
"""Capture golden VRRP adverts from a real keepalived (Debian's package).

Run as root from the repository root::

    python3 tests/vectors/capture_keepalived.py [OUTDIR]

OUTDIR defaults to ``tests/unit/plugins/module_utils/vrrp/vectors``.

For each scenario the script builds a fresh lab: two network namespaces
(``vrrpcap<pid>a`` runs keepalived, ``vrrpcap<pid>b`` runs tcpdump) joined by
one veth pair with fixed MAC addresses, so that the IPv6 link-local source of
the adverts is the same on every run.  Addresses come only from the
documentation ranges (192.0.2.0/24, 2001:db8::/32) and link-local.  keepalived
is started in the foreground, left to become Master and send adverts for a few
seconds, then stopped with SIGTERM, which makes it send priority-0 adverts
(RFC 9568 §6.4.3, "Shutdown").  The capture is read back from the pcap file
(Ethernet, IPv4 or IPv6, no extension headers) and each scenario keeps its
first normal advert and its first priority-0 advert as JSON fixtures.

The expected field values in each fixture come from the keepalived
configuration the script wrote, not from our own decoder, so the tests that
decode the fixtures check the codec against keepalived rather than against
itself.

Clean-up runs on every exit path (normal, exception, SIGINT/SIGTERM):
keepalived and tcpdump are stopped by the PIDs this script started (and the
VRRP child by the PID keepalived wrote to its pid file), then both namespaces
are deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "unit" / "plugins" / "module_utils" / "vrrp" / "vectors"

MAC_A = "02:00:5e:10:00:01"
MAC_B = "02:00:5e:10:00:02"
LL_A = "fe80::5eff:fe10:1"  # EUI-64 of MAC_A
V4_A, V4_B = "192.0.2.1", "192.0.2.2"
V6_A, V6_B = "2001:db8::1", "2001:db8::2"

RUN_SECONDS = 4.5  # Master after ~3 s (no peer): a few adverts follow
STOP_SECONDS = 3.0  # time allowed for the priority-0 adverts after SIGTERM


@dataclass
class Scenario:
    """One keepalived instance and what its adverts must carry."""

    name: str
    what: str
    instance: str  # the vrrp_instance block body
    expected: dict[str, Any]
    global_defs: str = ""
    negative: dict[str, str] = field(default_factory=dict)  # expected PacketError


SCENARIOS = [
    Scenario(
        name="v2_ipv4_pass_auth",
        what="VRRPv2 over IPv4, PASS authentication, two virtual addresses",
        instance="""
    state MASTER
    interface va
    virtual_router_id 51
    priority 150
    advert_int 1
    version 2
    authentication {
        auth_type PASS
        auth_pass s3cr3t
    }
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.101/24
    }
""",
        expected={
            "version": 2,
            "vrid": 51,
            "priority": 150,
            "interval_cs": 100,
            "addresses": ["192.0.2.100", "192.0.2.101"],
            "auth_type": 1,
            # RFC 3768 §5.3.6.1: the password, zero padded to 8 octets
            "auth_data_hex": b"s3cr3t\x00\x00".hex(),
            "checksum_form": "v2",
        },
    ),
    Scenario(
        name="v3_ipv4_multicast",
        what="VRRPv3 over IPv4 multicast, two virtual addresses, 1 s interval",
        instance="""
    state MASTER
    interface va
    virtual_router_id 52
    priority 200
    advert_int 1
    version 3
    virtual_ipaddress {
        192.0.2.110/24
        192.0.2.111/24
    }
""",
        expected={
            "version": 3,
            "vrid": 52,
            "priority": 200,
            "interval_cs": 100,
            "addresses": ["192.0.2.110", "192.0.2.111"],
            "checksum_form": "pseudo_header",
        },
    ),
    Scenario(
        name="v3_ipv4_fast",
        what="VRRPv3 over IPv4 multicast, sub-second interval (0.25 s = 25 cs)",
        instance="""
    state MASTER
    interface va
    virtual_router_id 54
    priority 100
    advert_int 0.25
    version 3
    virtual_ipaddress {
        192.0.2.120/24
    }
""",
        expected={
            "version": 3,
            "vrid": 54,
            "priority": 100,
            "interval_cs": 25,
            "addresses": ["192.0.2.120"],
            "checksum_form": "pseudo_header",
        },
    ),
    Scenario(
        name="v3_ipv4_unicast",
        what="VRRPv3 over IPv4 unicast to one peer: the pseudo-header holds the peer's address",
        instance=f"""
    state MASTER
    interface va
    virtual_router_id 55
    priority 180
    advert_int 1
    version 3
    unicast_src_ip {V4_A}
    unicast_peer {{
        {V4_B}
    }}
    virtual_ipaddress {{
        192.0.2.130/24
    }}
""",
        expected={
            "version": 3,
            "vrid": 55,
            "priority": 180,
            "interval_cs": 100,
            "addresses": ["192.0.2.130"],
            "checksum_form": "pseudo_header",
        },
    ),
    Scenario(
        name="v3_ipv4_unicast_old_checksum",
        what=(
            "VRRPv3 over IPv4 unicast with keepalived's old_unicast_checksum: the "
            "pseudo-header carries 224.0.0.18 instead of the real destination (the "
            "keepalived < 1.3.6 bug); not a form we accept"
        ),
        instance=f"""
    state MASTER
    interface va
    virtual_router_id 56
    priority 170
    advert_int 1
    version 3
    unicast_src_ip {V4_A}
    unicast_peer {{
        {V4_B}
    }}
    old_unicast_checksum
    virtual_ipaddress {{
        192.0.2.140/24
    }}
""",
        expected={
            "version": 3,
            "vrid": 56,
            "priority": 170,
            "interval_cs": 100,
            "addresses": ["192.0.2.140"],
            "checksum_form": None,
        },
        negative={"reason": "checksum"},
    ),
    Scenario(
        name="v3_ipv6_link_local_first",
        what="VRRPv3 over IPv6, link-local first virtual address then a global one",
        instance="""
    state MASTER
    interface va
    virtual_router_id 53
    priority 120
    advert_int 1
    version 3
    virtual_ipaddress {
        fe80::53/64
        2001:db8::53/64
    }
""",
        expected={
            "version": 3,
            "vrid": 53,
            "priority": 120,
            "interval_cs": 100,
            "addresses": ["fe80::53", "2001:db8::53"],
            "checksum_form": "rfc9568",
        },
    ),
]


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def netns(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ip", "netns", "exec", ns, *argv, check=check)


class Lab:
    """Two namespaces joined by a veth pair; undone by close() on every path."""

    def __init__(self, tag: str) -> None:
        self.ns_a = f"vrrpcap{os.getpid()}{tag}a"
        self.ns_b = f"vrrpcap{os.getpid()}{tag}b"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.child_pidfiles: list[Path] = []

    def open(self) -> None:
        run("ip", "netns", "add", self.ns_a)
        run("ip", "netns", "add", self.ns_b)
        for ns in (self.ns_a, self.ns_b):
            netns(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0")
            netns(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
            netns(ns, "ip", "link", "set", "lo", "up")
        run(
            "ip", "link", "add", "va", "netns", self.ns_a, "address", MAC_A,
            "type", "veth", "peer", "name", "vb", "netns", self.ns_b, "address", MAC_B,
        )  # fmt: skip
        for ns, dev, v4, v6 in ((self.ns_a, "va", V4_A, V6_A), (self.ns_b, "vb", V4_B, V6_B)):
            netns(ns, "ip", "addr", "add", f"{v4}/24", "dev", dev)
            netns(ns, "ip", "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            netns(ns, "ip", "link", "set", dev, "up")
        time.sleep(0.5)

    def spawn(self, ns: str, *argv: str, log: Path) -> subprocess.Popen[bytes]:
        # `ip netns exec` execs the command: the PID is the program's own.
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv], stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        for pidfile in self.child_pidfiles:
            with contextlib.suppress(OSError, ValueError):
                pid = int(pidfile.read_text().strip())
                if _is_keepalived(pid):
                    os.kill(pid, signal.SIGKILL)
        for ns in (self.ns_a, self.ns_b):
            run("ip", "netns", "del", ns, check=False)


def _is_keepalived(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "keepalived"
    except OSError:
        return False


def read_pcap(path: Path) -> list[tuple[str, str, int, bytes]]:
    """(src, dst, ttl, VRRP message) of each IPv4/IPv6 protocol-112 frame."""
    import ipaddress

    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    if linktype != 1:
        raise RuntimeError(f"unexpected pcap link type {linktype}")
    out = []
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "IIII", data, off)[2]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        ip = frame[14:]
        if ethertype == 0x0800 and ip[9] == 112:
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack_from("!H", ip, 2)[0]
            src = str(ipaddress.IPv4Address(ip[12:16]))
            dst = str(ipaddress.IPv4Address(ip[16:20]))
            out.append((src, dst, ip[8], bytes(ip[ihl:total])))
        elif ethertype == 0x86DD and ip[6] == 112:
            plen = struct.unpack_from("!H", ip, 4)[0]
            src = str(ipaddress.IPv6Address(ip[8:24]))
            dst = str(ipaddress.IPv6Address(ip[24:40]))
            out.append((src, dst, ip[7], bytes(ip[40 : 40 + plen])))
    return out


def keepalived_version() -> str:
    text = run("keepalived", "--version", check=False).stderr
    return text.splitlines()[0].strip() if text else "unknown"


def capture(scenario: Scenario, workdir: Path, tag: str) -> list[tuple[str, str, int, bytes]]:
    lab = Lab(tag)
    try:
        lab.open()
        conf = workdir / f"{scenario.name}.conf"
        conf.write_text(
            "global_defs {\n    router_id capture\n"
            f"{scenario.global_defs}}}\n"
            f"vrrp_instance {scenario.name} {{{scenario.instance}}}\n"
        )
        pcap = workdir / f"{scenario.name}.pcap"
        dump = lab.spawn(
            lab.ns_b, "tcpdump", "-i", "vb", "-U", "-n", "-w", str(pcap),
            "ip proto 112 or ip6 proto 112", log=workdir / f"{scenario.name}.tcpdump.log",
        )  # fmt: skip
        time.sleep(1.0)
        child_pid = workdir / f"{scenario.name}.vrrp.pid"
        lab.child_pidfiles.append(child_pid)
        keepalived = lab.spawn(
            lab.ns_a, "keepalived", "-n", "-l", "-D", "-G", "-P", "-f", str(conf),
            "-p", str(workdir / f"{scenario.name}.pid"), "-r", str(child_pid),
            log=workdir / f"{scenario.name}.keepalived.log",
        )  # fmt: skip
        time.sleep(RUN_SECONDS)
        if keepalived.poll() is not None:
            raise RuntimeError(f"keepalived exited early: see {scenario.name}.keepalived.log")
        keepalived.send_signal(signal.SIGTERM)
        keepalived.wait(timeout=10)
        time.sleep(STOP_SECONDS)
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
        return read_pcap(pcap)
    finally:
        lab.close()


def fixture(scenario: Scenario, packet: tuple[str, str, int, bytes], kind: str) -> dict[str, Any]:
    src, dst, ttl, message = packet
    expected = dict(scenario.expected)
    if kind == "shutdown":
        expected["priority"] = 0
    what = scenario.what
    if kind == "shutdown":
        what += "; priority-0 advert sent on SIGTERM"
    return {
        "name": f"{scenario.name}_{kind}",
        "what": what,
        "source": f"captured from {keepalived_version()} by tests/vectors/capture_keepalived.py",
        "keepalived_instance": scenario.instance.strip().splitlines(),
        "src": src,
        "dst": dst,
        "ttl": ttl,
        "message_hex": message.hex(),
        "expected": expected,
        **({"expected_error": scenario.negative} if scenario.negative else {}),
    }


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("capture_keepalived.py needs root (network namespaces)", file=sys.stderr)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    # SIGTERM/SIGINT unwind through the finally blocks above.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    written = 0
    with tempfile.TemporaryDirectory(prefix="vrrpcap-") as tmp:
        for index, scenario in enumerate(SCENARIOS):
            packets = capture(scenario, Path(tmp), tag=str(index))
            normal = [p for p in packets if p[3][2] != 0]
            shutdown = [p for p in packets if p[3][2] == 0]
            if not normal or not shutdown:
                log = (Path(tmp) / f"{scenario.name}.keepalived.log").read_text()
                raise RuntimeError(
                    f"{scenario.name}: {len(normal)} adverts, {len(shutdown)} priority-0 "
                    f"adverts captured\n{log}"
                )
            for kind, packet in (("advert", normal[0]), ("shutdown", shutdown[0])):
                doc = fixture(scenario, packet, kind)
                path = out / f"{doc['name']}.json"
                path.write_text(json.dumps(doc, indent=2) + "\n")
                written += 1
                print(f"{path}: {doc['src']} -> {doc['dst']} ttl {doc['ttl']} {doc['message_hex']}")
    print(f"{written} fixtures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
