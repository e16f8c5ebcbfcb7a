"""Accept mode enforced in the kernel (RFC 9568 §6.4.3) through nftables.

A Master that does not own the addresses (priority below 255) and runs with
``accept: false`` MUST NOT accept packets addressed to the virtual addresses;
it still answers ARP (IPv4, not IP at all) and neighbour discovery (IPv6)
for them, or no host could reach the router through them. The runner puts
the drop into a table of its own (``inet failover_vrrp``) while it holds the
addresses, and takes it away on leaving Master and at stop. ``accept: true``
(keepalived's default, and ours) answers as before.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab import Lab, Router
from lab.runner import RunnerProc, neighbour_mac, ping, single_instance, wait_state

NAME = "acc"
TABLE = ("inet", "failover_vrrp")

V4 = ("192.0.2.11/24", "192.0.2.12/24", "192.0.2.13/24", ["192.0.2.140/24"], "192.0.2.140")
V6 = (
    "fd00:40::11/64",
    "fd00:40::12/64",
    "fd00:40::13/64",
    ["fe80::40/64", "fd00:40::140/64"],
    "fd00:40::140",
)


def table(lab: Lab, router: Router) -> list[dict[str, Any]] | None:
    """The runner's nftables table in ``router`` (None: there is none)."""
    proc = lab.run(router, ["nft", "-j", "list", "table", *TABLE], check=False)
    if proc.returncode != 0:
        return None
    return list(json.loads(proc.stdout)["nftables"])


def udp_answers(lab: Lab, server: Router, client: Router, address: str) -> bool:
    """A UDP echo from ``client`` to ``address``:9 served in ``server`` comes back."""
    family = "6" if ":" in address else "4"
    code = (
        "import socket,sys\n"
        f"s=socket.socket(socket.AF_INET{'6' if family == '6' else ''}, socket.SOCK_DGRAM)\n"
        "s.bind(('', 9)); s.settimeout(5)\n"
        "try:\n data, peer = s.recvfrom(100); s.sendto(data, peer)\n"
        "except OSError: pass\n"
    )
    srv = lab.popen(server, ["python3", "-c", code])
    try:
        # The server binds within a few ms; the client tries for long enough.
        client_code = (
            "import socket,sys,time\n"
            f"s=socket.socket(socket.AF_INET{'6' if family == '6' else ''}, socket.SOCK_DGRAM)\n"
            "s.settimeout(0.3)\n"
            "for _ in range(6):\n"
            f" s.sendto(b'x', ({address!r}, 9))\n"
            " try:\n  s.recvfrom(100); sys.exit(0)\n"
            " except OSError: pass\n"
            "sys.exit(1)\n"
        )
        return lab.run(client, ["python3", "-c", client_code], timeout=15).returncode == 0
    finally:
        lab.kill(srv)
        srv.wait()


@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_accept_off_master_drops_vip_traffic_but_answers_arp_nd(
    lab: Lab, fam: tuple[Any, ...]
) -> None:
    a1, a2, a3, vips, vip = fam
    key = "v6" if ":" in a1 else "v4"
    r1, r2 = lab.add_router("r1", **{key: a1}), lab.add_router("r2", **{key: a2})
    client = lab.add_router("c", **{key: a3})
    low = RunnerProc(
        lab, r1, single_instance(NAME, vrid=40, priority=100, vips=vips, accept=False)
    ).start()
    wait_state(low, NAME, "MASTER")
    lab.wait_for(lambda: table(lab, r1) is not None, timeout=5, what="nft table in r1")
    assert not ping(lab, client, vip), "a non-owner Master with accept off answered a ping"
    assert not udp_answers(lab, r1, client, vip), "... and a UDP datagram"
    # The protocol's own traffic still works: the VIP resolves to r1 (ARP / ND).
    assert neighbour_mac(lab, client, vip) == r1.mac.lower()
    assert ping(lab, client, a1.split("/")[0]), "r1's own address must stay reachable"

    # The default is keepalived's: accept on. r2 takes over; r1, now Backup, has no table.
    high = RunnerProc(lab, r2, single_instance(NAME, vrid=40, priority=200, vips=vips)).start()
    wait_state(high, NAME, "MASTER")
    wait_state(low, NAME, "BACKUP")
    lab.wait_for(lambda: table(lab, r1) is None, timeout=5, what="no nft table in r1 (BACKUP)")
    assert table(lab, r2) is None, "accept on needs no table"
    lab.run(client, ["ip", "neigh", "flush", "all"], check=True)
    lab.wait_for(lambda: ping(lab, client, vip), timeout=10, what="ping to the VIP on r2")
    assert udp_answers(lab, r2, client, vip)

    # r2 goes: r1 Master again, the drop back; r1 stops: the table goes with it.
    high.stop()
    wait_state(low, NAME, "MASTER")
    lab.wait_for(lambda: table(lab, r1) is not None, timeout=5, what="nft table in r1 again")
    lab.run(client, ["ip", "neigh", "flush", "all"], check=True)
    assert not ping(lab, client, vip)
    assert low.stop() == 0
    assert table(lab, r1) is None, "the table outlived the runner"


def test_owner_accepts_and_flushed_table_is_put_back(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    client = lab.add_router("c", v4="192.0.2.13/24")
    cfg = single_instance(NAME, vrid=41, priority=100, vips=["192.0.2.141/24"], accept=False)
    cfg["instances"].append(
        {
            "name": "own",
            "interface": "eth0",
            "vrid": 42,
            "priority": 255,
            "accept": False,
            "advert_interval": 0.1,
            "virtual_addresses": ["192.0.2.142/24"],
        }
    )
    proc = RunnerProc(lab, r1, cfg).start()
    wait_state(proc, NAME, "MASTER")
    wait_state(proc, "own", "MASTER")
    # RFC 9568 §6.4.3: the owner accepts whatever Accept_Mode says.
    assert ping(lab, client, "192.0.2.142")
    assert not ping(lab, client, "192.0.2.141")
    # Someone flushes the ruleset: the runner notices and puts its table back.
    lab.run(r1, ["nft", "flush", "ruleset"], check=True)
    lab.wait_for(lambda: table(lab, r1) is not None, timeout=30, what="table put back")
    assert not ping(lab, client, "192.0.2.141")
    assert "put back" in proc.log() or "re-created" in proc.log()
