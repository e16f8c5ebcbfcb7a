"""``make demo``: an HA pair provisioned by Ansible, a crash, and maintenance without loss.

From a bare machine (root):

1. builds the lab hosts: a Debian 12 tree (debootstrap, cached after the first
   run) booted twice with ``systemd-nspawn --boot`` (systemd as PID 1) in two
   network namespaces on a bridge, plus a controller namespace that reaches
   them over SSH (``tests/integration/hosts.py``);
2. runs ``playbooks/ha_pair.yml``: first the election plan
   (``failover.vrrp.vrrp_plan``, on the controller, before any host is
   changed: the predicted MASTER and why), then the ``failover.vrrp.vrrp``
   role installs the runner under systemd on both hosts and declares one
   virtual router, and the play waits for exactly one MASTER;
3. prints the fleet table (``playbooks/vrrp_facts.yml``);
4. starts a steady flow of UDP datagrams to the VIP, answered by whichever host
   is MASTER (``tests/integration/probeflow.py``), and SIGKILLs the MASTER's
   runner: the BACKUP takes over after Master_Down_Interval (measured from the
   last advert heard to the VIP's netlink event, by a watcher in its
   namespace), systemd restarts the killed runner, which rejoins as BACKUP;
   the datagrams lost to the crash are counted;
5. runs ``playbooks/rolling_maintenance.yml`` under the same flow: each host is
   demoted in turn (make-before-break), "maintained", restored; prints how many
   datagrams were lost (the goal, and the usual result, is 0);
6. tears everything down (also on failure or Ctrl-C).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from vipwatch import Watcher, master_down_interval  # noqa: E402

from integration.hosts import HostLab  # noqa: E402
from integration.probeflow import FlowReport, probe_flow  # noqa: E402
from integration.rootfs import ensure_rootfs  # noqa: E402
from lab import unique_prefix  # noqa: E402

PLAYBOOKS: Final = ROOT / "playbooks"
MAINTENANCE_TASKS: Final = Path(__file__).resolve().parent / "maintenance_tasks.yml"
VRID: Final = 51
VIP: Final = "192.0.2.100"
INTERVAL: Final = 0.1
RATE: Final = 100.0
HOSTS: Final = {"r1": ("192.0.2.11/24", 150), "r2": ("192.0.2.12/24", 100)}
STEPS: Final = 6

PAIR_VARS: Final[dict[str, Any]] = {
    "vrrp_hosts": "routers",
    "vrrp_exclusive": True,
    "vrrp_instances": [
        {
            "name": "web",
            "interface": "eth0",
            "vrid": VRID,
            "priority": "{{ demo_priority | int }}",
            "preempt": False,
            "advert_interval": INTERVAL,
            "virtual_addresses": [f"{VIP}/24"],
        }
    ],
}

_TASK_RE: Final = re.compile(r"^(TASK|PLAY|RUNNING HANDLER) \[(?P<name>.*)\]")
_MSG_RE: Final = re.compile(r'^\s+"msg": "(?P<msg>.*)"$')
_ROW_RE: Final = re.compile(r'^\s+"(?P<row>.*)",?$')


def step(n: int, text: str) -> None:
    print(f"\n[{n}/{STEPS}] {text}", flush=True)


def note(text: str) -> None:
    print(f"      {text}", flush=True)


def playbook(lab: HostLab, name: str, **extra: Any) -> tuple[str, float]:
    """``ansible-playbook`` from the controller namespace, task names shown as they run."""
    argv = lab.in_controller(lab.playbook_argv(PLAYBOOKS / name, extra_vars={**PAIR_VARS, **extra}))
    note(f"$ ansible-playbook -i inventory playbooks/{name}")
    started = time.monotonic()
    lines: list[str] = []
    shown: set[str] = set()
    with subprocess.Popen(  # noqa: S603 (argv is ours: ip netns exec, ansible-playbook)
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=lab.ansible_env(),
    ) as proc:
        if proc.stdout is None:
            raise RuntimeError("no output pipe")
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if (m := _TASK_RE.match(line)) and m.group("name") not in shown:
                shown.add(m.group("name"))  # a task of a loop of includes: shown once
                elapsed = time.monotonic() - started
                note(f"  {elapsed:5.1f} s  {m.group(1).lower():<7} {m.group('name')}")
            elif m := _MSG_RE.match(line):
                note(f"           {m.group('msg')}")
            elif (m := _ROW_RE.match(line)) and m.group("row").startswith(("VRID ", "finding: ")):
                note(f"           {m.group('row')}")  # the election plan
    output = "\n".join(lines)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {proc.returncode}):\n{output[-4000:]}")
    recap = output.rsplit("PLAY RECAP", 1)[-1].strip().splitlines()[1:]
    for row in recap:
        note(f"  {' '.join(row.split())}")
    note(f"{name}: {seconds:.1f} s")
    return output, seconds


def fleet_table(lab: HostLab) -> None:
    output, _seconds = playbook(lab, "vrrp_facts.yml")
    for line in output.splitlines():
        m = _ROW_RE.match(line)
        if m and (m.group("row").startswith(("instance ", "web ", "ok:", "!! "))):
            note(f"    {m.group('row')}")


def state_of(lab: HostLab, name: str) -> dict[str, Any]:
    return dict(lab.runner_state(lab.hosts[name])["instances"]["web"])


def rejoined(lab: HostLab, name: str) -> bool:
    try:
        return bool(state_of(lab, name)["state"] == "BACKUP")
    except AssertionError:  # no runner listening yet: systemd is restarting it
        return False


def master_of(lab: HostLab) -> str:
    masters = [name for name in lab.hosts if state_of(lab, name)["state"] == "MASTER"]
    if len(masters) != 1:
        raise RuntimeError(f"expected one MASTER, found {masters or 'none'}")
    return masters[0]


def clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}"


def loss_line(what: str, report: FlowReport) -> None:
    note(f"{what}: {report.summary()}")


def build() -> HostLab:
    step(1, "building the lab hosts: Debian 12 under systemd-nspawn, on a bridge")
    note("the Debian 12 tree: debootstrap on the first run only (1-2 min), cached after")
    fs = ensure_rootfs()
    if fs.built:
        note(f"debootstrap + setup: {fs.build_seconds:.0f} s (cached for the next run)")
    else:
        note(f"rootfs cached: {fs.path}")
    lab = HostLab(prefix=unique_prefix(), rootfs=fs.path)
    lab.open()
    try:
        booted = lab.add_hosts({name: v4 for name, (v4, _prio) in HOSTS.items()})
        for host in booted:
            note(
                f"{host.name}: {host.address}, systemd booted in {host.boot_seconds or 0:.2f} s, "
                f"ssh root@{host.address} ok"
            )
        lab.write_inventory(host_vars={n: {"demo_priority": p} for n, (_v4, p) in HOSTS.items()})
        note("controller 192.0.2.2: inventory group `routers`, an SSH key of its own")
    except BaseException:
        lab.close()
        raise
    return lab


def crash(lab: HostLab) -> None:
    master = master_of(lab)
    backup = next(name for name in lab.hosts if name != master)
    step(4, f"SIGKILL to the MASTER's runner ({master}) under {RATE:g} datagrams/s to the VIP")
    mdi = master_down_interval(INTERVAL, HOSTS[backup][1])
    watcher = Watcher(lab.lab, lab.hosts[backup].router, vips=[VIP], vrid=VRID)
    try:
        with probe_flow(lab, VIP, rate=RATE) as flow:
            time.sleep(1.0)
            before = state_of(lab, master)
            t_kill = time.monotonic()
            lab.ssh(lab.hosts[master], ["systemctl", "kill", "--signal=SIGKILL", "failover-vrrp"])
            event = watcher.next_vip(added=True, after=t_kill, timeout=mdi + 10)
            last = event["last"].get(HOSTS[master][0].split("/", maxsplit=1)[0])
            if last is not None:
                reaction = (event["t"] - last[0]) * 1000
                note(
                    f"{backup} heard {master}'s last advert, then took the VIP "
                    f"{reaction:.1f} ms later (Master_Down_Interval {mdi * 1000:.1f} ms "
                    f"+ {reaction - mdi * 1000:.1f} ms)"
                )
            lab.lab.wait_for(
                lambda: rejoined(lab, master),
                timeout=30,
                interval=0.2,
                what=f"{master}'s runner restarted by systemd, as BACKUP",
            )
            restarts = lab.ssh(
                lab.hosts[master],
                ["systemctl", "show", "-P", "NRestarts", "failover-vrrp"],
            ).stdout.strip()
            after = state_of(lab, master)
            note(
                f"systemd restarted {master}'s runner (NRestarts={restarts}); it rejoined as "
                f"{after['state']} hearing {after['master']} (preempt off: no second flap)"
            )
            note(
                f"{master}'s instance had been {before['state']} since {clock(before['since'])}, "
                f"is {after['state']} since {clock(after['since'])}"
            )
            time.sleep(1.0)
            report = flow.stop()
    finally:
        watcher.stop()
    loss_line("crash", report)
    note(
        f"(a SIGKILLed runner cannot remove its VIP: {master}'s kernel kept answering until "
        f"{backup}'s gratuitous ARP moved the traffic, and the restarted runner removed it)"
    )


def maintenance(lab: HostLab) -> FlowReport:
    step(5, "rolling maintenance (playbooks/rolling_maintenance.yml) under the same flow")
    with probe_flow(lab, VIP, rate=RATE) as flow:
        time.sleep(1.0)
        playbook(lab, "rolling_maintenance.yml", maintenance_tasks=str(MAINTENANCE_TASKS))
        time.sleep(1.0)
        report = flow.stop()
    loss_line("rolling maintenance", report)
    return report


def demo() -> int:
    print(
        f"failover.vrrp demo: an HA pair under systemd, provisioned by Ansible over SSH;\n"
        f"VRID {VRID}, VIP {VIP}, VRRPv3, adverts every {INTERVAL:g} s, preempt off",
        flush=True,
    )
    started = time.monotonic()
    lab = build()
    try:
        step(2, "provisioning the pair from nothing (playbooks/ha_pair.yml)")
        playbook(lab, "ha_pair.yml")
        step(3, "the fleet's VRRP state (playbooks/vrrp_facts.yml)")
        fleet_table(lab)
        crash(lab)
        report = maintenance(lab)
        note("the fleet afterwards:")
        fleet_table(lab)
    finally:
        step(6, "tearing down: hosts powered off, namespaces and overlays removed")
        lab.close()
        note("lab gone; nothing left behind")
    print(
        f"\nrolling maintenance: {report.lost_count} of {report.sent} datagrams lost "
        f"({RATE:g}/s to {VIP}, answered by {' → '.join(report.handovers)}); "
        f"demo took {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 0


def main() -> int:
    if os.geteuid() != 0:
        print("make demo needs root (namespaces, overlayfs, systemd-nspawn)", file=sys.stderr)
        return 1
    try:
        return demo()
    except KeyboardInterrupt:
        print("\ninterrupted: the lab was torn down", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
