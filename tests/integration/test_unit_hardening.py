"""The hardened unit on systemd hosts: everything the runner does still works.

One module-scoped pair (r1 priority 150, r2 100, preempt off) provisioned by
``playbooks/hardened.yml``: a VMAC instance (VRID 61, VIP 192.0.2.110 on
``vrrp.61``) with a track script that pings the controller (weight 0: FAULT
while it fails) and a notify hook (``playbooks/files/lab-vrrp-hook``) that logs each call
and, on MASTER, probes its sandbox. The tests go in file order: provisioning,
the unit as systemd loaded it, the election on the VMAC, the track script and
the hooks, what a hook can and cannot do, and a failover.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from integration.conftest import TIMINGS
from integration.hosts import Host, HostLab, PlaybookRun

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
UNIT = "failover-vrrp.service"
VIP = "192.0.2.110"
VMAC_IF = "vrrp.61"
VMAC_MAC = "00:00:5e:00:01:3d"  # RFC 9568 §7.3: 00-00-5E-00-01-{VRID 61}
CONTROLLER = "192.0.2.2"

# The directives as systemd loaded them on the hosts (systemctl show).
LOADED = {
    "ProtectKernelTunables": "yes",
    "PrivateMounts": "yes",
    "TasksMax": "2048",
    "LimitNOFILE": "8192",
    "MemoryMax": str(512 * 1024 * 1024),
    "NoNewPrivileges": "yes",
}

# What a notify hook can do inside the runner's sandbox (playbooks/files/lab-vrrp-hook);
# README.md, "Security", says the same.
SANDBOX = {
    "write_etc": "no",
    "write_usr": "no",
    "write_var_tmp": "yes",
    "write_tmp": "yes",
    "write_runtime_dir": "yes",
    "write_state_dir": "yes",
    "read_root": "no",
    "write_interface_sysctl": "yes",
    "write_other_sysctl": "no",
    # Every process is visible (ProtectProc= would hide none from gid 0), and
    # root's may be signalled (same uid); other users' not (no CAP_KILL).
    "see_root_daemons": "yes",
    "see_pid1": "yes",
    "see_other_users": "yes",
    "signal_root_daemons": "yes",
    "signal_other_users": "no",
    "ping": "yes",
    "logger": "yes",
    "systemctl_is_active": "yes",
    "systemctl_start": "yes",
    "path_unit": "yes",
    "renice": "no",
    "chown": "no",
}

_runs: dict[str, PlaybookRun] = {}


def provisioned(lab: HostLab) -> PlaybookRun:
    if "hardened" not in _runs:
        run = lab.playbook(PLAYBOOKS / "hardened.yml")
        TIMINGS["playbook hardened.yml from nothing"] = run.seconds
        _runs["hardened"] = run
    return _runs["hardened"]


def state(lab: HostLab, host: Host) -> dict[str, Any]:
    return dict(lab.runner_state(host)["instances"]["vmac"])


def wait_roles(lab: HostLab, *, timeout: float = 30.0) -> tuple[Host, Host]:
    """Wait for one MASTER and one BACKUP of ``vmac``; return (master, backup)."""
    seen: dict[str, str] = {}

    def settled() -> bool:
        seen.clear()
        for name, host in lab.hosts.items():
            try:
                seen[name] = state(lab, host)["state"]
            except (AssertionError, KeyError, ValueError):
                return False
        return sorted(seen.values()) == ["BACKUP", "MASTER"]

    lab.lab.wait_for(settled, timeout=timeout, interval=0.5, what="one MASTER + one BACKUP of vmac")
    master = next(lab.hosts[n] for n, s in seen.items() if s == "MASTER")
    backup = next(lab.hosts[n] for n, s in seen.items() if s == "BACKUP")
    return master, backup


def addresses(lab: HostLab, host: Host, ifname: str) -> list[str]:
    out = lab.on(host, "ip", "-j", "addr", "show", "dev", ifname, check=False)
    return [a["local"] for i in json.loads(out or "[]") for a in i.get("addr_info", [])]


def link(lab: HostLab, host: Host, ifname: str) -> dict[str, Any]:
    return dict(json.loads(lab.on(host, "ip", "-j", "-d", "link", "show", "dev", ifname))[0])


def controller_reaches_vip_at(lab: HostLab, mac: str) -> None:
    """The controller pings the VIP and has learnt ``mac`` for it."""
    ctl = lab.controller
    assert ctl is not None
    ping = lab.lab.run(ctl, ["ping", "-c", "2", "-W", "2", VIP])
    assert ping.returncode == 0, ping.stdout + ping.stderr
    neigh = lab.lab.run(ctl, ["ip", "-j", "neigh", "show", VIP]).stdout
    assert [n.get("lladdr") for n in json.loads(neigh)] == [mac], neigh


# --- on the lab hosts ---------------------------------------------------------------


def test_hardened_unit_provisions_and_systemd_loads_every_directive(pair: HostLab) -> None:
    run = provisioned(pair)
    assert run.returncode == 0, run.output[-6000:]
    assert run.failed() == 0
    for host in pair.hosts.values():
        assert pair.on(host, "systemctl", "is-active", UNIT).strip() == "active"
        out = pair.on(host, "systemctl", "show", UNIT, *(f"--property={p}" for p in LOADED))
        shown = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        assert shown == LOADED, out
        verify = pair.ssh(host, ["systemd-analyze", "verify", f"/etc/systemd/system/{UNIT}"])
        assert verify.returncode == 0 and UNIT not in verify.stderr, verify.stderr
    security = pair.ssh(pair.hosts["r1"], ["systemd-analyze", "security", "--no-pager", UNIT])
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    TIMINGS["exposure of the unit on the lab host (systemd-analyze security)"] = (
        score.group(1) if score else security.stdout[-300:] + security.stderr[-300:]
    )


def test_vmac_instance_elects_with_the_vip_on_the_virtual_mac(pair: HostLab) -> None:
    assert provisioned(pair).returncode == 0
    master, backup = wait_roles(pair)
    assert state(pair, backup)["master"] == master.address
    for host in (master, backup):
        vmac = link(pair, host, VMAC_IF)
        assert vmac["address"] == VMAC_MAC
        assert vmac["linkinfo"]["info_kind"] == "macvlan"
        # The per-interface sysctls the runner wrote through ProtectKernelTunables.
        for key, value in (("arp_ignore", "1"), ("accept_local", "0"), ("rp_filter", "0")):
            got = pair.on(host, "cat", f"/proc/sys/net/ipv4/conf/{VMAC_IF}/{key}").strip()
            assert got == value, (host.name, key, got)
        got = pair.on(host, "cat", f"/proc/sys/net/ipv6/conf/{VMAC_IF}/addr_gen_mode").strip()
        assert got == "1", (host.name, got)
    assert VIP in addresses(pair, master, VMAC_IF)
    assert VIP not in addresses(pair, backup, VMAC_IF)
    controller_reaches_vip_at(pair, VMAC_MAC)


def test_track_script_and_notify_hooks_run_inside_the_sandbox(pair: HostLab) -> None:
    assert provisioned(pair).returncode == 0
    master, backup = wait_roles(pair)
    # The track script (ping, weight 0) is up: a failing one would mean FAULT.
    for host in (master, backup):
        assert state(pair, host)["faults"] == [], state(pair, host)
    pair.lab.wait_for(
        lambda: "INSTANCE vmac MASTER" in pair.on(master, "cat", "/run/failover-vrrp/lab-hook.log"),
        timeout=20, interval=0.5, what=f"the MASTER hook on {master.name}",
    )  # fmt: skip
    log = pair.on(backup, "cat", "/run/failover-vrrp/lab-hook.log")
    # Preempt is off: whichever runner came up first may hold MASTER, so the
    # BACKUP's priority is its own (r1 150, r2 100), not always r2's.
    priority = {"r1": 150, "r2": 100}[backup.name]
    assert f"INSTANCE vmac BACKUP {priority} VRRP_STATE=BACKUP" in log, log


def test_what_a_hook_can_and_cannot_do_in_the_sandbox(pair: HostLab) -> None:
    assert provisioned(pair).returncode == 0
    master, _backup = wait_roles(pair)
    found = pair.lab.wait_for(
        lambda: pair.on(master, "cat", "/run/failover-vrrp/lab-probe", check=False),
        timeout=30, interval=0.5, what=f"the hook's probe on {master.name}",
    )  # fmt: skip
    probed = dict(line.split() for line in str(found).splitlines())
    assert probed == SANDBOX, probed
    # What the hook could not do left no trace; the units it started ran.
    pair.on(master, "test", "!", "-e", "/etc/lab-probe")
    pair.on(master, "test", "-e", "/run/lab-started-by-systemctl")
    pair.lab.wait_for(
        lambda: pair.ssh(master, ["test", "-e", "/run/lab-started-by-path"]).returncode == 0,
        timeout=10, interval=0.2, what="the unit the hook asked for through the path unit",
    )  # fmt: skip


def test_vmac_failover_when_the_master_runner_stops(pair: HostLab) -> None:
    assert provisioned(pair).returncode == 0
    master, backup = wait_roles(pair)
    stopped_at = time.monotonic()
    pair.on(master, "systemctl", "stop", UNIT)
    try:
        pair.lab.wait_for(
            lambda: state(pair, backup)["state"] == "MASTER",
            timeout=15, interval=0.2, what=f"{backup.name} MASTER",
        )  # fmt: skip
        TIMINGS["hardened: stop of the master → peer MASTER"] = time.monotonic() - stopped_at
        assert VIP in addresses(pair, backup, VMAC_IF)
        controller_reaches_vip_at(pair, VMAC_MAC)
        pair.lab.wait_for(
            lambda: "INSTANCE vmac MASTER" in pair.on(
                backup, "cat", "/run/failover-vrrp/lab-hook.log"
            ),
            timeout=20, interval=0.5, what=f"the MASTER hook on {backup.name}",
        )  # fmt: skip
    finally:
        pair.on(master, "systemctl", "start", UNIT)
    new_master, new_backup = wait_roles(pair)
    assert (new_master, new_backup) == (backup, master)  # preempt off: it rejoins as BACKUP
