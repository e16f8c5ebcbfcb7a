"""vrrp_scan on a real segment: keepalived and our runner heard from a third router.

r1 runs Debian's keepalived (VRRPv2, PASS authentication, VRID 51); r2 runs
our runner (VRRPv3 over IPv4, VRID 52, and over IPv6, VRID 53); r3 runs the
``vrrp_scan`` module itself (``python -m ...vrrp_scan ARGS``, the module
AnsiballZ would run) with instances declared for r3. Both routers must be
found with the fields their configurations give; keepalived's VRID declared
with other addresses is a collision, our runner's virtual routers declared as
they are (the second router of the pair) are not, and our runner's VRID
declared as VRRPv2 is. Adverts injected from r1 show the hostile side (broken
ones counted by drop reason, TTL and unicast destination recorded) and the
own-address rule (an advert from r3's own address is no collision).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab import Lab, Router
from lab.inject import inject, vrrp3_advert
from lab.keepalived import KeepalivedInstance, start_keepalived
from lab.runner import RunnerProc, runner_config, vrrp_instance, wait_state

REPO = Path(__file__).resolve().parents[2]
KEEPALIVED_VRID = 51
RUNNER_VRID = 52
RUNNER_VRID6 = 53


def run_scan(lab: Lab, router: Router, args: dict[str, Any]) -> dict[str, Any]:
    """The vrrp_scan module run in ``router``; its JSON result."""
    tree = lab.tmpdir / "collections"
    if not tree.exists():
        (tree / "ansible_collections" / "failover").mkdir(parents=True)
        (tree / "ansible_collections" / "failover" / "vrrp").symlink_to(REPO)
    args_file = lab.tmpdir / "scan-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = lab.python(
        router,
        ["-m", "ansible_collections.failover.vrrp.plugins.modules.vrrp_scan", str(args_file)],
        env={"PYTHONPATH": str(tree)},
    )
    proc.wait(timeout=float(args.get("duration", 3)) + 30)
    out = lab.log_of(proc)
    result: dict[str, Any] = json.loads(out[out.index("{") :])
    return result


def by_vrid(result: dict[str, Any]) -> dict[int, dict[str, Any]]:
    routers = result["routers"]
    found = {r["vrid"]: r for r in routers}
    assert len(found) == len(routers), routers
    return found


def test_scan_finds_keepalived_and_our_runner_and_the_collisions(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24", v6="2001:db8::12/64")
    r3 = lab.add_router("r3", v4="192.0.2.13/24", v6="2001:db8::13/64")
    keepalived = start_keepalived(
        lab,
        r1,
        KeepalivedInstance(
            vrid=KEEPALIVED_VRID,
            priority=150,
            version=2,
            virtual_addresses=["192.0.2.51/24"],
            auth_pass="s3cr3t",
        ),
    )
    ours_v4 = vrrp_instance("v4", vrid=RUNNER_VRID, priority=200, vips=["192.0.2.52/24"])
    ours_v6 = vrrp_instance(
        "v6", vrid=RUNNER_VRID6, priority=200, vips=["fe80::53/64", "2001:db8::53/64"]
    )
    runner = RunnerProc(lab, r2, runner_config(ours_v4, ours_v6)).start()
    keepalived.wait_master()
    wait_state(runner, "v4", "MASTER")
    wait_state(runner, "v6", "MASTER")

    declared = [
        # keepalived's VRID with other addresses: a collision
        {**vrrp_instance("clash", vrid=KEEPALIVED_VRID, priority=100, vips=["192.0.2.99/24"]),
         "version": 2, "advert_interval": 1},
        # the pair's other router: our runner's instances as they are
        {**ours_v4, "priority": 100},
        {**ours_v6, "priority": 100},
    ]  # fmt: skip
    result = run_scan(lab, r3, {"duration": 3, "instances": declared})
    assert result.get("failed") is not True, result
    assert result["changed"] is False
    assert result["interfaces"] == ["eth0"]
    assert set(result["listening"]) == {"eth0 IPv4", "eth0 IPv6"}

    routers = by_vrid(result)
    assert set(routers) == {KEEPALIVED_VRID, RUNNER_VRID, RUNNER_VRID6}
    kad = routers[KEEPALIVED_VRID]
    assert kad["source"] == r1.v4
    assert (kad["version"], kad["family"], kad["priority"]) == (2, 4, 150)
    assert kad["addresses"] == ["192.0.2.51"]
    assert (kad["advert_interval"], kad["checksum_form"], kad["auth_type"]) == (1.0, "v2", 1)
    assert kad["adverts"] >= 1
    assert kad["ttls"] == [255]
    assert kad["destinations"] == ["224.0.0.18"]
    assert "s3cr3t" not in json.dumps(result)

    v4 = routers[RUNNER_VRID]
    assert (v4["source"], v4["version"], v4["family"], v4["priority"]) == (r2.v4, 3, 4, 200)
    assert (v4["addresses"], v4["advert_interval_cs"]) == (["192.0.2.52"], 10)
    assert v4["checksum_form"] == "pseudo_header"
    assert v4["adverts"] >= 5, "0.1 s adverts over a 3 s listen"
    v6 = routers[RUNNER_VRID6]
    assert (v6["source"], v6["version"], v6["family"]) == (r2.v6_ll, 3, 6)
    assert v6["addresses"] == ["fe80::53", "2001:db8::53"]
    assert (v6["checksum_form"], v6["ttls"], v6["destinations"]) == ("rfc9568", [255], ["ff02::12"])

    assert result["instances_checked"] == ["clash", "v4", "v6"]
    (collision,) = result["collisions"]
    assert collision["instance"] == "clash"
    assert collision["source"] == r1.v4
    assert collision["differs"] == ["addresses"]
    assert collision["heard_addresses"] == ["192.0.2.51"]
    assert result["drops"] == {}


def test_scan_flags_our_vrid_declared_as_another_version(lab: Lab) -> None:
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    r3 = lab.add_router("r3", v4="192.0.2.13/24")
    ours = vrrp_instance("v4", vrid=RUNNER_VRID, priority=200, vips=["192.0.2.52/24"])
    runner = RunnerProc(lab, r2, runner_config(ours)).start()
    wait_state(runner, "v4", "MASTER")
    declared = {**ours, "version": 2, "advert_interval": 1}
    result = run_scan(
        lab,
        r3,
        {"duration": 1, "interfaces": ["eth0"], "instances": [declared], "fail_on_collision": True},
    )
    assert result["failed"] is True
    (collision,) = result["collisions"]
    assert collision["differs"] == ["version"]
    assert result["msg"] == collision["msg"]
    assert f"heard from {r2.v4}: VRRPv3" in result["msg"]


def test_scan_counts_broken_adverts_and_records_ttl_and_unicast(lab: Lab) -> None:
    """Injected from r1 for the whole scan (however late the scan starts): broken adverts
    are counted by reason, a TTL-64 advert is reported with its TTL, a unicast one with
    r3's address as destination."""
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r3 = lab.add_router("r3", v4="192.0.2.13/24")
    group = "224.0.0.18"

    def advert(vrid: int, dst: str, **broken: Any) -> bytes:
        return vrrp3_advert(
            vrid=vrid, priority=100, advert_interval_cs=100, addresses=["192.0.2.60"],
            src=r1.v4 or "", dst=dst, **broken,
        )  # fmt: skip

    stream = {"count": 1000, "interval": 0.05}
    injectors = [
        inject(lab, r1, advert(60, group, checksum=0x1234), dst=group, **stream),
        inject(lab, r1, advert(60, group, version=4), dst=group, **stream),
        inject(lab, r1, advert(61, group), dst=group, ttl=64, **stream),
        inject(lab, r1, advert(62, r3.v4 or ""), dst=r3.v4 or "", **stream),
    ]
    try:
        result = run_scan(lab, r3, {"duration": 2, "interfaces": ["eth0"]})
    finally:
        for proc in injectors:
            lab.kill(proc)
    assert result.get("failed") is not True, result
    assert set(result["drops"]) == {"checksum", "version"}, result["drops"]
    routers = by_vrid(result)
    assert set(routers) == {61, 62}
    assert routers[61]["ttls"] == [64]
    assert routers[61]["destinations"] == [group]
    assert routers[62]["destinations"] == [r3.v4]
    assert routers[62]["source"] == r1.v4


def test_an_advert_from_our_own_address_is_no_collision(lab: Lab) -> None:
    """r1 sends adverts with r3's own link-local address as source (IPv6 does not drop a
    packet from the wire whose source is local); the module reads r3's addresses itself.
    The same VRID and addresses from r1's own link-local address is a collision."""
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    r3 = lab.add_router("r3", v4="192.0.2.13/24", v6="2001:db8::13/64")
    lab.run(r1, ["sysctl", "-qw", "net.ipv6.ip_nonlocal_bind=1"], check=True)
    group = "ff02::12"
    vips = ["fe80::70", "2001:db8::70"]

    def advert(src: str) -> bytes:
        return vrrp3_advert(
            vrid=70, priority=100, advert_interval_cs=100, addresses=vips, src=src, dst=group
        )

    stream = {"count": 1000, "interval": 0.05}
    spoofed, real = r3.v6_ll or "", r1.v6_ll or ""
    injectors = [
        inject(lab, r1, advert(spoofed), dst=group, src=spoofed, **stream),
        inject(lab, r1, advert(real), dst=group, src=real, **stream),
    ]
    declared = vrrp_instance("mine", vrid=70, priority=100, vips=["fe80::71/64", "2001:db8::71/64"])
    try:
        result = run_scan(lab, r3, {"duration": 2, "interfaces": ["eth0"], "instances": [declared]})
    finally:
        for proc in injectors:
            lab.kill(proc)
    assert result.get("failed") is not True, result
    assert {r["source"] for r in result["routers"]} == {spoofed, real}, result["routers"]
    assert [c["source"] for c in result["collisions"]] == [real]
