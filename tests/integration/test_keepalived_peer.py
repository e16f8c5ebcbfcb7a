"""keepalived 2.3.3 (Debian 13's) as the peer of our runner, both on systemd hosts.

r1 runs our runner, provisioned by the role; r2 runs Debian 13's keepalived
under its own unit, with a keepalived.conf this file writes. Four virtual
routers between them, VRRPv3 and VRRPv2, in each version one that each side
wins by priority (150 against 100):

==== ======= ============== ==============
VRID version ours (r1)      keepalived (r2)
==== ======= ============== ==============
51   3       150            100
52   3       100            150
53   2       150            100
54   2       100            150
==== ======= ============== ==============

In file order: each side wins its own; ours stops (``systemctl stop``, priority
0 adverts) and keepalived takes over all four; ours starts and takes its own
back (preempt); keepalived is killed (SIGKILL, its unit does not restart it)
and ours takes over keepalived's after Master_Down_Interval. Who is master is
read from both sides: our runner's state and the master address it names, and
the VIPs on each host's eth0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.conftest import TIMINGS
from integration.hosts import Host, HostLab
from integration.installed import InstalledCollection
from integration.trees import LabTrees
from lab import unique_prefix, wait_for
from lab.keepalived import KeepalivedInstance, render_config

pytestmark = pytest.mark.debian("13")

PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "keepalived_peer.yml"
OURS_V4, THEIRS_V4 = "192.0.2.11", "192.0.2.12"
# (vrid, version, our priority, keepalived's priority)
ROUTERS = ((51, 3, 150, 100), (52, 3, 100, 150), (53, 2, 150, 100), (54, 2, 100, 150))
VRIDS = tuple(vrid for vrid, *rest in ROUTERS)
OURS_WIN = (51, 53)
THEIRS_WIN = (52, 54)
# Master_Down_Interval at 1 s adverts is about 3.6 s; a loaded machine gets slack.
TAKEOVER_S = 15.0


def vip(vrid: int) -> str:
    return f"192.0.2.{100 + vrid}"


def name(vrid: int) -> str:
    return f"vr{vrid}"


@pytest.fixture(scope="module")
def ka_pair(rootfs: LabTrees, installed_collection: InstalledCollection) -> Iterator[HostLab]:
    """r1 provisioned with our four instances, r2 with keepalived's four, both started."""
    with HostLab(
        prefix=unique_prefix(),
        rootfs=rootfs.paths,
        collections_path=installed_collection.collections_path,
    ) as lab:
        r2 = lab.add_hosts({"r1": f"{OURS_V4}/24", "r2": f"{THEIRS_V4}/24"})[1]
        instances = [
            {
                "name": name(vrid),
                "interface": "eth0",
                "vrid": vrid,
                "version": version,
                "priority": our_priority,
                "advert_interval": 1,
                "virtual_addresses": [f"{vip(vrid)}/24"],
            }
            for vrid, version, our_priority, their_priority in ROUTERS
        ]
        run = lab.playbook(
            PLAYBOOK, extra_vars={"vrrp_instances": instances}, args=["--limit", "r1"]
        )
        TIMINGS["playbook keepalived_peer.yml, ours on r1"] = run.seconds
        assert run.returncode == 0, run.output[-6000:]
        assert run.warnings() == [], run.output[-6000:]
        config = render_config(
            [
                KeepalivedInstance(
                    vrid=vrid,
                    priority=their_priority,
                    version=version,
                    virtual_addresses=[f"{vip(vrid)}/24"],
                    name=name(vrid),
                )
                for vrid, version, our_priority, their_priority in ROUTERS
            ],
            router_id="r2",
        )
        (r2.root / "etc" / "keepalived" / "keepalived.conf").write_text(config)
        # After the SIGKILL below, systemd 257 in the lab's container keeps the
        # unit in stop-sigterm until TimeoutStopSec (90 s) although its cgroup is
        # empty: the poweroff at teardown would wait for it.
        dropin = r2.root / "etc" / "systemd" / "system" / "keepalived.service.d"
        dropin.mkdir(parents=True)
        (dropin / "lab.conf").write_text("[Service]\nTimeoutStopSec=2\n")
        lab.on(r2, "systemctl", "daemon-reload")
        lab.on(r2, "systemctl", "start", "keepalived.service")
        yield lab


def ours(lab: HostLab) -> dict[str, Any]:
    return dict(lab.runner_state(lab.hosts["r1"])["instances"])


def vips_on(lab: HostLab, host: Host) -> set[str]:
    out = lab.on(host, "ip", "-j", "addr", "show", "dev", "eth0")
    return {a["local"] for i in json.loads(out) for a in i.get("addr_info", [])}


def masters(lab: HostLab) -> dict[int, str]:
    """``{vrid: "ours" | "keepalived" | what was seen}`` from our runner and the VIPs."""
    seen: dict[int, str] = {}
    state = ours(lab)
    on_r1, on_r2 = vips_on(lab, lab.hosts["r1"]), vips_on(lab, lab.hosts["r2"])
    for vrid in VRIDS:
        inst = state.get(name(vrid), {})
        if inst.get("state") == "MASTER" and vip(vrid) in on_r1:
            seen[vrid] = "ours"
        elif (
            inst.get("state") == "BACKUP"
            and inst.get("master") == THEIRS_V4
            and vip(vrid) in on_r2
            and vip(vrid) not in on_r1
        ):
            seen[vrid] = "keepalived"
        else:
            seen[vrid] = f"ours {inst.get('state')} (master {inst.get('master')}), VIP on " + (
                "+".join(h for h, on in (("r1", on_r1), ("r2", on_r2)) if vip(vrid) in on) or "none"
            )
    return seen


def wait_masters(lab: HostLab, want: dict[int, str], what: str) -> None:
    last: dict[int, str] = {}

    def done() -> bool:
        nonlocal last
        try:
            last = masters(lab)
        except (AssertionError, KeyError, ValueError):
            return False
        return last == want

    try:
        wait_for(done, timeout=TAKEOVER_S, interval=0.3, what=what)
    except TimeoutError as exc:
        raise AssertionError(f"{what}: want {want}, saw {last}") from exc


def test_the_peer_is_debian_13s_keepalived_2_3_3(ka_pair: HostLab) -> None:
    r2 = ka_pair.hosts["r2"]
    version = ka_pair.ssh(r2, ["keepalived", "--version"])
    assert "Keepalived v2.3.3" in version.stdout + version.stderr, version
    assert ka_pair.on(r2, "systemctl", "is-active", "keepalived.service").strip() == "active"


def test_each_side_wins_its_own_in_v2_and_v3(ka_pair: HostLab) -> None:
    want = {**dict.fromkeys(OURS_WIN, "ours"), **dict.fromkeys(THEIRS_WIN, "keepalived")}
    wait_masters(ka_pair, want, "ours MASTER of 51/53, keepalived of 52/54")


def test_keepalived_takes_over_when_ours_stops_then_ours_takes_its_own_back(
    ka_pair: HostLab,
) -> None:
    r1 = ka_pair.hosts["r1"]
    ka_pair.on(r1, "systemctl", "stop", "failover-vrrp.service")
    on_r2: set[str] = set()

    def keepalived_has_all() -> bool:
        nonlocal on_r2
        on_r2 = vips_on(ka_pair, ka_pair.hosts["r2"])
        return all(vip(vrid) in on_r2 for vrid in VRIDS)

    wait_for(keepalived_has_all, timeout=TAKEOVER_S, interval=0.3, what="keepalived takes over")
    assert not {vip(vrid) for vrid in VRIDS} & vips_on(ka_pair, r1)
    ka_pair.on(r1, "systemctl", "start", "failover-vrrp.service")
    want = {**dict.fromkeys(OURS_WIN, "ours"), **dict.fromkeys(THEIRS_WIN, "keepalived")}
    wait_masters(ka_pair, want, "ours preempts keepalived on 51/53 again")


def test_ours_takes_over_when_keepalived_is_killed(ka_pair: HostLab) -> None:
    r2 = ka_pair.hosts["r2"]
    ka_pair.on(r2, "systemctl", "kill", "--signal=KILL", "keepalived.service")
    wait_for(
        lambda: all(ours(ka_pair)[name(v)]["state"] == "MASTER" for v in VRIDS),
        timeout=TAKEOVER_S,
        interval=0.3,
        what="ours MASTER of all four after keepalived's SIGKILL",
    )
    on_r1 = vips_on(ka_pair, ka_pair.hosts["r1"])
    assert {vip(vrid) for vrid in VRIDS} <= on_r1, on_r1
    assert ka_pair.on(r2, "systemctl", "is-active", "keepalived.service", check=False).strip() != (
        "active"
    )
