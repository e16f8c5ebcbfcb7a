"""Virtual addresses and the VMAC macvlan, checked with iproute2 from outside."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from lab import Lab, Router

ADDRESSES = r"""
import json, sys
from vrrp.linux import addresses
out = []
for op, arg in json.loads(sys.argv[1]):
    if op == "add":
        out.append(addresses.add_address("eth0", arg))
    elif op == "remove":
        out.append(addresses.remove_address("eth0", arg))
    elif op == "list":
        out.append([str(a.interface) for a in addresses.list_addresses("eth0")])
    elif op == "source":
        out.append(addresses.source_address("eth0", version=arg))
print(json.dumps(out))
"""

VMAC = r"""
import json, sys
from vrrp.linux import addresses
cfg = json.loads(sys.argv[1])
spec = dict(ifname="eth0", vmac_ifname=cfg["name"], vrid=cfg["vrid"], version=cfg["version"])
out = {"created": addresses.create_vmac(**spec)}
out["again"] = addresses.create_vmac(**spec)
for vip in cfg["vips"]:
    out.setdefault("added", []).append(addresses.add_address(cfg["name"], vip))
print(json.dumps(out))
"""


def run_script(lab: Lab, router: Router, code: str, arg: Any) -> Any:
    proc = lab.python(
        router,
        ["-c", code, json.dumps(arg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_vip_add_remove_is_idempotent(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    steps = [
        ["add", "192.0.2.100/24"],
        ["add", "192.0.2.100/24"],
        ["add", "2001:db8::100/64"],
        ["add", "2001:db8::100/64"],
        ["list", None],
        ["source", 4],
        ["source", 6],
    ]
    result = run_script(lab, r1, ADDRESSES, steps)
    assert result[:4] == [True, False, True, False]
    listed = result[4]
    assert "192.0.2.100/24" in listed and "2001:db8::100/64" in listed
    assert listed.index("192.0.2.11/24") < listed.index("192.0.2.100/24")  # primary first
    assert result[5] == "192.0.2.11"  # the VIP is secondary: never the advert source
    assert result[6] == r1.v6_ll
    assert lab.has_address(r1, "192.0.2.100") and lab.has_address(r1, "2001:db8::100")
    # The IPv6 VIP is usable at once: nodad, so never tentative.
    v6 = [
        a
        for i in lab.ip_json(r1, "-6", "addr", "show", "dev", "eth0")
        for a in i["addr_info"]
        if a["local"] == "2001:db8::100"
    ]
    assert v6 and "tentative" not in v6[0]

    removed = run_script(
        lab,
        r1,
        ADDRESSES,
        [
            ["remove", "192.0.2.100/24"],
            ["remove", "192.0.2.100/24"],
            ["remove", "2001:db8::100/64"],
            ["remove", "2001:db8::100"],
        ],
    )
    assert removed == [True, False, True, False]
    assert not lab.has_address(r1, "192.0.2.100") and not lab.has_address(r1, "2001:db8::100")
    assert lab.has_address(r1, "192.0.2.11")


def test_vmac_answers_arp_for_the_vip(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v4="192.0.2.12/24", v6="2001:db8::12/64")
    result = run_script(
        lab, r1, VMAC, {"name": "vrrp.5", "vrid": 5, "version": 4, "vips": ["192.0.2.100/24"]}
    )
    assert result["created"] == result["again"]  # adopted, not recreated
    assert result["added"] == [True]
    link = lab.ip_json(r1, "-d", "link", "show", "dev", "vrrp.5")[0]
    assert link["address"] == "00:00:5e:00:01:05"
    assert link["linkinfo"]["info_kind"] == "macvlan"
    assert link["linkinfo"]["info_data"]["mode"] == "private"
    assert "UP" in link["flags"]
    sysctl = lab.run(
        r1,
        [
            "sysctl",
            "-n",
            "net.ipv4.conf.vrrp/5.arp_ignore",
            "net.ipv4.conf.vrrp/5.accept_local",
            "net.ipv4.conf.vrrp/5.rp_filter",
            "net.ipv4.conf.eth0.arp_ignore",
            "net.ipv4.conf.eth0.arp_filter",
        ],
        check=True,
    )
    assert sysctl.stdout.split() == ["1", "0", "0", "1", "1"]

    # r1 must not ARP for r2 while replying: its request would carry the VIP as
    # sender with eth0's MAC (arp_announce 0) and overwrite what we measure.
    lab.run(
        r1,
        [
            "ip",
            "neigh",
            "replace",
            "192.0.2.12",
            "lladdr",
            r2.mac,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
        check=True,
    )
    ping = lab.run(r2, ["ping", "-c", "1", "-W", "2", "192.0.2.100"])
    assert ping.returncode == 0, ping.stdout + ping.stderr
    neigh = lab.ip_json(r2, "neigh", "show", "192.0.2.100")
    assert neigh and neigh[0]["lladdr"] == "00:00:5e:00:01:05"
    # And the parent keeps answering for its own address with its own MAC.
    assert lab.run(r2, ["ping", "-c", "1", "-W", "2", "192.0.2.11"]).returncode == 0
    assert lab.ip_json(r2, "neigh", "show", "192.0.2.11")[0]["lladdr"] == r1.mac

    gone = run_script(
        lab,
        r1,
        "from vrrp.linux import addresses; import json\n"
        "print(json.dumps([addresses.delete_vmac('vrrp.5'), addresses.delete_vmac('vrrp.5')]))",
        None,
    )
    assert gone == [True, False]
    assert lab.run(r1, ["ip", "link", "show", "dev", "vrrp.5"]).returncode != 0


def test_vmac_v6_has_no_link_local_of_its_own(lab: Lab) -> None:
    """No EUI-64 link-local (every router of the VRID has this MAC) and no borrowed
    one either: any address on a Backup's VMAC makes it send MLD reports from the
    virtual MAC. Adverts take the parent's link-local as source (linux.vmac_socket)."""
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    run_script(
        lab, r1, VMAC, {"name": "vrrp6.7", "vrid": 7, "version": 6, "vips": ["2001:db8::107/64"]}
    )
    link = lab.ip_json(r1, "link", "show", "dev", "vrrp6.7")[0]
    assert link["address"] == "00:00:5e:00:02:07"
    addrs = [
        a["local"]
        for i in lab.ip_json(r1, "-6", "addr", "show", "dev", "vrrp6.7")
        for a in i["addr_info"]
    ]
    assert addrs == ["2001:db8::107"]
    for key, value in (("addr_gen_mode", "1"), ("accept_ra", "0"), ("router_solicitations", "0")):
        path = f"/proc/sys/net/ipv6/conf/vrrp6.7/{key}"
        assert lab.run(r1, ["cat", path], check=True).stdout.strip() == value, key


def test_vmac_refuses_a_foreign_interface_of_that_name(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    lab.run(
        r1, ["ip", "link", "add", "link", "eth0", "name", "vrrp.9", "type", "macvlan"], check=True
    )
    code = (
        "from vrrp.errors import NetlinkError\nfrom vrrp.linux import addresses\nimport json\n"
        "try:\n    addresses.create_vmac(ifname='eth0', vmac_ifname='vrrp.9', vrid=9, version=4)\n"
        "except NetlinkError as exc:\n    print(json.dumps(str(exc)))\n"
    )
    assert "refusing to touch it" in run_script(lab, r1, code, None)
    # Nor is it deleted when the runner removes the instance of that VMAC.
    code = (
        "from vrrp.errors import NetlinkError\nfrom vrrp.linux import addresses\nimport json\n"
        "try:\n    addresses.delete_vmac('vrrp.9', ifname='eth0', vrid=9, version=4)\n"
        "except NetlinkError as exc:\n    print(json.dumps(str(exc)))\n"
    )
    assert "refusing to touch it" in run_script(lab, r1, code, None)
    assert lab.run(r1, ["ip", "link", "show", "dev", "vrrp.9"]).returncode == 0
