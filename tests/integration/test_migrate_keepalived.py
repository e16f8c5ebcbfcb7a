"""``migrate_from_keepalived.yml`` on a live keepalived pair, with the loss measured.

The pair is provisioned the way users provision one: Debian's keepalived (from
the hosts' tree), a ``keepalived.conf`` per host with a ``vrrp_script`` health
check, unicast peers and PASS authentication, two instances (VIPs
192.0.2.100 and .101), r1 ``state MASTER`` at priority 150, r2 ``state
BACKUP`` at 100. A probe flow of 100 datagrams/s goes to each VIP for the
whole migration and for the whole rollback (``probeflow.py``: answered by
whichever host holds the VIP); not one may be lost.

Order matters (one pair for the module): refusals and ``--check`` first
(nothing may change), then the migration, a rerun (nothing to do), the rollback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integration.conftest import TIMINGS
from integration.hosts import Host, HostLab, PlaybookRun, task_events
from integration.installed import InstalledCollection, playbook_fqcn
from integration.probeflow import FlowReport, ProbeFlow, probe_flow
from integration.rootfs import Rootfs
from lab import REPO_ROOT, unique_prefix

# Debian 13 hosts (keepalived 2.3.3): the Debian 13 session of `make integration`
# is the shorter one, which keeps make test within its budget.
pytestmark = pytest.mark.debian("13")

VIPS = ("192.0.2.100", "192.0.2.101")
PLAYBOOK = "migrate_from_keepalived.yml"

KEEPALIVED_CONF = """\
! Configuration File for keepalived: the API load balancer pair
global_defs {{
    router_id LVS_{name}
    script_user root
    enable_script_security
}}

vrrp_script chk_service {{
    script "/etc/keepalived/check_service.sh"
    interval 1
    timeout 2
    fall 2
    rise 2
    weight -60
}}
{instances}"""

INSTANCE = """
vrrp_instance VI_{n} {{
    state {state}
    interface eth0
    virtual_router_id {vrid}
    priority {priority}
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass 42lab42
    }}
    unicast_src_ip {me}
    unicast_peer {{
        {peer}
    }}
    virtual_ipaddress {{
        {vip}/24
    }}
    track_script {{
        chk_service
    }}
}}
"""

CHECK_SCRIPT = "#!/bin/sh\n# The service is up unless the host is in maintenance.\n" + (
    "test ! -e /etc/keepalived/maintenance\n"
)

# An AH instance besides the pair's: a VRRP item the importer cannot convert.
WITH_AH = """\
include keepalived.conf
vrrp_instance VI_9 {
    interface eth0
    virtual_router_id 59
    authentication {
        auth_type AH
        auth_pass 42lab42
    }
    virtual_ipaddress {
        192.0.2.109/24
    }
}
"""


def keepalived_conf(name: str, me: str, peer: str) -> str:
    master = name == "r1"
    instances = "".join(
        INSTANCE.format(
            n=n,
            state="MASTER" if master else "BACKUP",
            vrid=50 + n,
            priority=150 if master else 100,
            me=me,
            peer=peer,
            vip=vip,
        )
        for n, vip in enumerate(VIPS, start=1)
    )
    return KEEPALIVED_CONF.format(name=name, instances=instances)


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def held(lab: HostLab, host: Host) -> set[str]:
    out = lab.on(host, "ip", "-o", "-4", "address", "show", "dev", "eth0")
    return {word.split("/")[0] for word in out.split() if word.split("/")[0] in VIPS}


def active(lab: HostLab, host: Host, unit: str) -> str:
    return lab.ssh(host, ["systemctl", "is-active", unit]).stdout.strip()


@pytest.fixture(scope="module")
def keepalived_pair(rootfs: Rootfs, installed_collection: InstalledCollection) -> Iterator[HostLab]:
    """r1 (keepalived MASTER of both VIPs) and r2 (BACKUP), as users set them up."""
    started = time.monotonic()
    with HostLab(
        prefix=unique_prefix(),
        rootfs=rootfs.path,
        collections_path=installed_collection.collections_path,
    ) as lab:
        lab.add_hosts({"r1": "192.0.2.11/24", "r2": "192.0.2.12/24"})
        r1, r2 = lab.hosts["r1"], lab.hosts["r2"]
        for host, peer in ((r1, r2), (r2, r1)):
            etc = host.root / "etc" / "keepalived"
            etc.mkdir(exist_ok=True)
            (etc / "keepalived.conf").write_text(
                keepalived_conf(host.name, host.address, peer.address)
            )
            (etc / "with-ah.conf").write_text(WITH_AH)
            (etc / "check_service.sh").write_text(CHECK_SCRIPT)
            (etc / "check_service.sh").chmod(0o755)
            lab.on(host, "systemctl", "enable", "--now", "keepalived")
        wait_until("keepalived on r1 holds both VIPs", lambda: held(lab, r1) == set(VIPS))
        assert held(lab, r2) == set()
        # A setting from the inventory, as users keep them in group_vars.
        lab.write_inventory(group_vars={"vrrp_migrate_timeout": 60})
        TIMINGS["migration: keepalived pair up (boot, keepalived MASTER)"] = (
            time.monotonic() - started
        )
        yield lab


def migrate(lab: HostLab, label: str, *args: str, **extra: Any) -> PlaybookRun:
    run = lab.playbook(
        playbook_fqcn(PLAYBOOK), extra_vars={"vrrp_hosts": "routers", **extra}, args=args
    )
    TIMINGS[f"playbook {PLAYBOOK}, {label}"] = run.seconds
    # The output beside the timings: the README's walk-through quotes it.
    (REPO_ROOT / "build").mkdir(exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in label).strip("-")
    (REPO_ROOT / "build" / f"migrate-{slug}.log").write_text(run.output)
    return run


def unchanged(lab: HostLab) -> None:
    """keepalived as provisioned: running on both, r1 holds the VIPs, no runner."""
    r1, r2 = lab.hosts["r1"], lab.hosts["r2"]
    for host in (r1, r2):
        assert active(lab, host, "keepalived") == "active", host.name
        assert lab.ssh(host, ["test", "!", "-e", "/usr/lib/failover-vrrp"]).returncode == 0
        assert lab.ssh(host, ["test", "!", "-e", "/etc/failover-vrrp"]).returncode == 0
    assert held(lab, r1) == set(VIPS)
    assert held(lab, r2) == set()


def test_refusals_and_check_mode_change_nothing(keepalived_pair: HostLab) -> None:
    lab = keepalived_pair
    limited = migrate(lab, "--limit r1 (refused)", "--limit", "r1")
    assert limited.returncode != 0
    assert "a migration moves the whole group or nothing: --limit leaves out r2" in (
        limited.output
    ), limited.output[-3000:]

    partial = migrate(
        lab, "AH not converted (refused)", migrate_keepalived_conf="/etc/keepalived/with-ah.conf"
    )
    assert partial.returncode != 0
    assert (
        "not converted, so nothing was touched: /etc/keepalived/with-ah.conf:5: authentication:"
        " auth_type AH: only PASS with auth_pass is converted" in partial.output
    ), partial.output[-3000:]
    unchanged(lab)

    check = migrate(lab, "--check --diff", "--check", "--diff")
    assert check.returncode == 0, check.output[-6000:]
    for step in (
        "keepalived → failover-vrrp: first r2 (BACKUP), one at a time; then r2 is raised to"
        " priority 254 and takes over from r1 (MASTER)",
        "would stop and disable keepalived on r2, then enable and start failover-vrrp",
        "would raise the runner on r2 to priority 254",
        "would stop and disable keepalived on r1, then enable and start failover-vrrp",
        "would restore r2's declared configuration, have it resign (priority 0)",
    ):
        assert step in " ".join(check.output.split()), (step, check.output[-6000:])
    # What was not converted is shown; the VRRP items the migration makes moot
    # (state, script settings) are named but do not stop it.
    assert "/etc/keepalived/keepalived.conf:18: state: MASTER: an initial state" in check.output
    unchanged(lab)


def measured(lab: HostLab, label: str, **extra: Any) -> tuple[PlaybookRun, list[FlowReport]]:
    """The playbook under a flow of 100 datagrams/s to each VIP; the flows' reports."""
    if lab.controller is None:
        raise RuntimeError("lab is not open")
    with probe_flow(lab, VIPS[0], rate=100.0) as first:
        second = ProbeFlow(lab.controller.ns, VIPS[1], rate=100.0)
        second.start()
        try:
            time.sleep(1.0)  # both flows answered before the playbook starts
            run = migrate(lab, label, **extra)
            r1 = lab.hosts["r1"]
            # The flows cover the settling too: r1 holds both VIPs again.
            wait_until("r1 holds both VIPs", lambda: held(lab, r1) == set(VIPS), timeout=30)
            time.sleep(1.0)
            reports = [first.stop(), second.stop()]
        finally:
            second.kill()
    for vip, report in zip(VIPS, reports):
        TIMINGS[f"{label} probe flow to {vip}"] = report.summary()
    return run, reports


def test_migration_moves_the_pair_without_losing_a_datagram(keepalived_pair: HostLab) -> None:
    lab = keepalived_pair
    run, reports = measured(lab, "migration")
    assert run.returncode == 0, run.output[-8000:]
    for report in reports:
        assert report.sent >= 100 * run.seconds, report.summary()
        assert report.lost_count == 0, report.summary()
        # r1 (keepalived) answered, then r2 (the runner raised above keepalived),
        # then r1 again (the runner, once r2 resigned).
        assert report.handovers == ["r1", "r2", "r1"], report.summary()
    r1, r2 = lab.hosts["r1"], lab.hosts["r2"]
    for host in (r1, r2):
        assert active(lab, host, "keepalived") == "inactive", host.name
        assert active(lab, host, "failover-vrrp") == "active", host.name
        assert lab.on(host, "systemctl", "is-enabled", "keepalived", check=False).strip() == (
            "disabled"
        )
    states = {
        host.name: {n: i["state"] for n, i in lab.runner_state(host)["instances"].items()}
        for host in (r1, r2)
    }
    assert states == {
        "r1": {"VI_1": "MASTER", "VI_2": "MASTER"},
        "r2": {"VI_1": "BACKUP", "VI_2": "BACKUP"},
    }
    for host in (r1, r2):
        for inst in lab.runner_state(host)["instances"].values():
            assert inst["demoted"] is None
    assert "migrated to failover-vrrp: instance VI_1: MASTER is r1" in run.output, run.output[
        -4000:
    ]
    order = [
        (host.split("(")[0], task)  # "r1 -> r2(192.0.2.12)": delegated to r2
        for task, host, status in task_events(run.output)
        if status == "changed"
        and task
        in (
            "Stop and disable the old service",
            "Raise the runner on the host that takes over above keepalived",
            "Hand MASTER back to the peers from the host that took over",
            "Restore the declared priorities",
        )
    ]
    assert order == [
        ("r2", "Stop and disable the old service"),
        ("r1 -> r2", "Raise the runner on the host that takes over above keepalived"),
        ("r1", "Stop and disable the old service"),
        ("r2", "Hand MASTER back to the peers from the host that took over"),
        ("r2", "Restore the declared priorities"),
    ], order

    again = migrate(lab, "rerun after migration")
    assert again.returncode == 0, again.output[-4000:]
    assert again.changed() == 0, again.output[-6000:]
    assert "nothing to do: every host of the group runs failover-vrrp" in again.output


def test_rollback_puts_keepalived_back_without_losing_a_datagram(
    keepalived_pair: HostLab,
) -> None:
    lab = keepalived_pair
    r1, r2 = lab.hosts["r1"], lab.hosts["r2"]
    if active(lab, r1, "failover-vrrp") != "active":
        pytest.skip("the migration test did not leave the pair on the runner")
    run, reports = measured(lab, "rollback", migrate_rollback=True)
    assert run.returncode == 0, run.output[-8000:]
    for report in reports:
        assert report.lost_count == 0, report.summary()
        # r1 (the runner) answered, then keepalived on r2 while r1 resigned,
        # then keepalived on r1 (priority 150, preempt) took it back.
        assert report.handovers == ["r1", "r2", "r1"], report.summary()
    for host in (r1, r2):
        assert active(lab, host, "keepalived") == "active", host.name
        assert active(lab, host, "failover-vrrp") == "inactive", host.name
    assert held(lab, r1) == set(VIPS)
    assert held(lab, r2) == set()
    assert "rolled back to keepalived: r1 holds 192.0.2.100, 192.0.2.101" in " ".join(
        run.output.split()
    ), run.output[-4000:]
