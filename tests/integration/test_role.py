"""The role on hosts that boot systemd, driven over SSH by ansible-playbook.

One module-scoped pair of hosts (r1 priority 150, r2 priority 100, preempt off,
VIP 192.0.2.100 on VRID 51) goes through the tests in file order: provisioning
from nothing, the unit as systemd sees it, the second run, the election, and a
SIGKILL of the master's runner.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from integration.conftest import TIMINGS
from integration.hosts import Host, HostLab, PlaybookRun, task_events
from integration.rootfs import PACKAGES, REPO_MOUNT, role_packages
from lab import REPO_ROOT

pytestmark = pytest.mark.debian("12", "13")

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
UNIT = "failover-vrrp.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
VIP = "192.0.2.100"
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13

# The runs of each pair (one per Debian selection), by label.
_runs: dict[str, dict[str, PlaybookRun]] = {}


def provision(lab: HostLab, label: str) -> PlaybookRun:
    run = lab.playbook(PLAYBOOKS / "provision.yml", args=["--diff"])
    TIMINGS[f"playbook provision.yml, {label}"] = run.seconds
    _runs.setdefault(lab.prefix, {})[label] = run
    return run


def first_run(lab: HostLab) -> PlaybookRun:
    if "first run" not in _runs.get(lab.prefix, {}):
        provision(lab, "first run")
    return _runs[lab.prefix]["first run"]


def vrrp_state(lab: HostLab, host: Host) -> dict[str, Any]:
    """The runner's state of instance ``web`` on ``host``, via the role's ctl wrapper."""
    return dict(lab.runner_state(host)["instances"]["web"])


def unit_show(lab: HostLab, host: Host, *props: str) -> dict[str, str]:
    out = lab.on(host, "systemctl", "show", UNIT, *(f"--property={p}" for p in props))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def has_vip(lab: HostLab, host: Host) -> bool:
    out = lab.on(host, "ip", "-j", "addr", "show", "dev", "eth0")
    return any(a.get("local") == VIP for i in json.loads(out) for a in i.get("addr_info", []))


def roles_now(lab: HostLab) -> dict[str, str]:
    return {name: vrrp_state(lab, host)["state"] for name, host in lab.hosts.items()}


def wait_roles(lab: HostLab, *, timeout: float = 20.0) -> dict[str, str]:
    """Wait until exactly one MASTER and one BACKUP; return ``{host: state}``."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            seen = roles_now(lab)
        except (AssertionError, KeyError, ValueError):
            seen = {}
        if sorted(seen.values()) == ["BACKUP", "MASTER"]:
            return seen
        time.sleep(0.5)
    raise AssertionError(f"no single MASTER + BACKUP within {timeout:g} s: {seen}")


# The engine's dependencies the role installs that the lab's tree leaves out.
ENGINE_DEPS = tuple(p for p in role_packages() if p not in PACKAGES)
INSTALL_TASK = "failover.vrrp.vrrp : Install the engine's dependencies from the OS packages"


def installed(lab: HostLab, host: Host, packages: tuple[str, ...]) -> set[str]:
    """Which of ``packages`` dpkg has installed on ``host``."""
    out = lab.on(
        host, "dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages, check=False
    )
    return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}


def apt_installs(lab: HostLab, host: Host) -> list[str]:
    """The ``Commandline``/``Start-Date``/``End-Date`` of each apt run in the host's history."""
    out = lab.on(host, "sh", "-c", "cat /var/log/apt/history.log 2>/dev/null || true")
    return [block.strip() for block in out.split("\n\n") if "Start-Date" in block]


# --- on the lab hosts ---------------------------------------------------------------


def test_bare_hosts_get_the_engines_dependencies_from_the_local_repository(
    pair: HostLab,
) -> None:
    """A bare host lacks the engine's dependencies; its only apt source is the
    lab's local repository (read-only), which offers each of them."""
    assert "first run" not in _runs.get(pair.prefix, {}), "runs before the first provisioning"
    assert ENGINE_DEPS, "the tree carries every package the role installs"
    for host in pair.hosts.values():
        assert installed(pair, host, ENGINE_DEPS) == set(), host.name
        policy = pair.on(host, "apt-cache", "policy", *ENGINE_DEPS)
        assert policy.count(f"file:{REPO_MOUNT} ./ Packages") == len(ENGINE_DEPS), policy
        assert "http" not in policy, policy
        options = pair.on(host, "findmnt", "-n", "-o", "OPTIONS", REPO_MOUNT).strip()
        assert "ro" in options.split(","), options
        assert apt_installs(pair, host) == []


def test_check_mode_on_bare_hosts_predicts_and_touches_nothing(pair: HostLab) -> None:
    """``--check`` before anything is installed: every step says what it would
    change (systemd is not asked about a unit it does not have yet), nothing fails,
    nothing lands on the hosts."""
    assert "first run" not in _runs.get(pair.prefix, {}), "runs before the first real provisioning"
    run = pair.playbook(PLAYBOOKS / "provision.yml", args=["--check", "--diff"])
    TIMINGS["playbook provision.yml, --check on bare hosts"] = run.seconds
    assert run.returncode == 0, run.output[-6000:]
    assert run.failed() == 0
    assert run.warnings() == [], run.output[-6000:]
    for counts in run.recap.values():
        assert counts["changed"] >= 5, run.recap
    engine = REPO_ROOT / "plugins" / "module_utils" / "vrrp"
    files = len(list(engine.rglob("*.py")))
    assert run.output.count(f"would install {files} engine file(s): ") == 2, run.output[-4000:]
    assert f"would install {UNIT}, set enabled=True and state=started" in run.output
    for host in pair.hosts.values():
        for path in ("/usr/lib/failover-vrrp", "/etc/failover-vrrp", UNIT_PATH):
            pair.on(host, "test", "!", "-e", path)


def test_provision_from_nothing(pair: HostLab) -> None:
    for host in pair.hosts.values():
        assert "inactive" in pair.on(host, "systemctl", "is-active", UNIT, check=False)
        pair.on(host, "test", "!", "-e", "/usr/lib/failover-vrrp")
    run = first_run(pair)
    assert run.returncode == 0, run.output[-6000:]
    assert set(run.recap) == {"r1", "r2"}, run.output[-3000:]
    assert run.failed() == 0
    # What a user sees on a first install: no warning (ansible.builtin.find
    # warned about the engine directory it was asked to list before it existed).
    assert run.warnings() == [], run.output[-6000:]
    for counts in run.recap.values():
        assert counts["changed"] > 0
    # The role's apt task installed the engine's dependencies, once per host.
    changed = {
        h
        for task, h, status in task_events(run.output)
        if task == INSTALL_TASK and status == "changed"
    }
    assert changed == {"r1", "r2"}, run.output[-6000:]
    for host in pair.hosts.values():
        assert installed(pair, host, ENGINE_DEPS) == set(ENGINE_DEPS), host.name
        history = apt_installs(pair, host)
        assert len(history) == 1, history
        TIMINGS[f"apt install of the engine's dependencies on {host.name} (history.log)"] = (
            _apt_seconds(history[0])
        )


def _apt_seconds(entry: str) -> int:
    """End-Date minus Start-Date of one apt history entry (whole seconds)."""
    dates = dict(line.split(": ", 1) for line in entry.splitlines() if "-Date: " in line)
    start, end = (time.strptime(dates[k], "%Y-%m-%d  %H:%M:%S") for k in ("Start-Date", "End-Date"))
    return int(time.mktime(end) - time.mktime(start))


def test_engine_installed_is_the_collections_engine(pair: HostLab) -> None:
    assert first_run(pair).returncode == 0
    source = REPO_ROOT / "plugins" / "module_utils" / "vrrp"
    wanted = sorted(str(p.relative_to(source)) for p in source.rglob("*.py"))
    for host in pair.hosts.values():
        listed = pair.on(host, "find", "/usr/lib/failover-vrrp/vrrp", "-name", "*.py")
        found = sorted(
            line.removeprefix("/usr/lib/failover-vrrp/vrrp/") for line in listed.splitlines()
        )
        assert found == wanted
        sums = pair.on(host, "sh", "-c", "cd /usr/lib/failover-vrrp/vrrp && sha256sum runner.py")
        assert sums.split()[0] == hashlib.sha256((source / "runner.py").read_bytes()).hexdigest()


def test_unit_is_active_and_verified_inside_the_hosts(pair: HostLab) -> None:
    assert first_run(pair).returncode == 0
    for host in pair.hosts.values():
        assert pair.on(host, "systemctl", "is-active", UNIT).strip() == "active"
        assert pair.on(host, "systemctl", "is-enabled", UNIT).strip() == "enabled"
        verify = pair.ssh(host, ["systemd-analyze", "verify", UNIT_PATH])
        assert verify.returncode == 0, verify.stderr
        assert not [line for line in verify.stderr.splitlines() if UNIT in line], verify.stderr
        props = unit_show(pair, host, "Type", "WatchdogUSec", "MainPID", "NRestarts")
        assert props["Type"] == "notify"
        assert props["WatchdogUSec"] == "10s"
        # The runner holds exactly CAP_NET_ADMIN and CAP_NET_RAW, nothing else.
        status = pair.on(host, "cat", f"/proc/{props['MainPID']}/status")
        fields = (line.split(":\t") for line in status.splitlines() if line.startswith("Cap"))
        caps = {k: int(v, 16) for k, v in fields}
        wanted = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)
        assert caps["CapEff"] == wanted, status
        assert caps["CapBnd"] == wanted, status
        assert "NoNewPrivs:\t1" in status
        # The control socket is root's only; the runtime directory too.
        mode = pair.on(host, "stat", "-c", "%a %U", "/run/failover-vrrp/control.sock").split()
        assert mode == ["600", "root"]


PLANT = """
import os, pwd, sys, tempfile
marker, shared = sys.argv[1], tempfile.mkdtemp(prefix="shared.", dir="/tmp")
os.chmod(shared, 0o1777)
os.mkdir(os.path.join(shared, "vrrp"))
nobody = pwd.getpwnam("nobody")
for name in ("argparse.py", "json.py", "vrrp/__init__.py", "vrrp/ctl.py"):
    path = os.path.join(shared, name)
    with open(path, "w") as handle:
        handle.write(f"open({marker!r}, 'a').write({name!r} + chr(10))\\n")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
print(shared)
"""


def test_ctl_run_by_root_from_a_shared_directory_runs_no_planted_code(pair: HostLab) -> None:
    """Root runs ``failover-vrrp-ctl`` from a sticky world-writable directory
    where another user left ``vrrp/`` and ``argparse.py``: none of it runs, the
    CLI answers. (The same ``python3 -m vrrp.ctl`` without the wrapper's guard
    does run them: the plant is real.)"""
    assert first_run(pair).returncode == 0
    host = pair.hosts["r1"]
    marker = "/root/planted-code-ran"
    shared = pair.on(host, "python3", "-c", PLANT, marker).strip()
    try:
        out = pair.on(host, "sh", "-c", f"cd {shared} && failover-vrrp-ctl state --json")
        assert "web" in json.loads(out)["instances"]
        pair.on(host, "test", "!", "-e", marker)
        bare = f"cd {shared} && PYTHONPATH=/usr/lib/failover-vrrp python3 -m vrrp.ctl state"
        pair.on(host, "sh", "-c", bare, check=False)
        assert "vrrp/__init__.py" in pair.on(host, "cat", marker)
    finally:
        pair.on(host, "rm", "-rf", shared, marker)


def test_second_run_changes_nothing(pair: HostLab) -> None:
    assert first_run(pair).returncode == 0
    run = provision(pair, "second run")
    assert run.returncode == 0, run.output[-6000:]
    assert set(run.recap) == {"r1", "r2"}
    assert run.changed() == 0, run.output[-6000:]
    assert run.warnings() == [], run.output[-6000:]
    for host in pair.hosts.values():  # apt ran once: on the first run only
        assert len(apt_installs(pair, host)) == 1, host.name


# Tasks a no-op rerun must not send to a host: one look at the host (the engine,
# the CLI, the unit, runner.json, the configuration directories, the packages'
# stamp) decides them on the controller.
ASKED_ONLY_WHEN_SOMETHING_DIFFERS = {
    "failover.vrrp.vrrp : Gather the facts that choose the package names",
    "failover.vrrp.vrrp : Install the engine's dependencies from the OS packages",
    "failover.vrrp.vrrp : Create the engine directories",
    "failover.vrrp.vrrp : Install the control CLI",
    "failover.vrrp.vrrp : Create the configuration directories",
    "failover.vrrp.vrrp : Install the systemd unit",
    "failover.vrrp.vrrp : Write runner.json (metrics_listen)",
}


def test_first_run_reloads_each_runner_once(pair: HostLab) -> None:
    """A changed run reloads each host's runner once: runner.json is in place
    before the runner starts, and the change set's own reload covers it."""
    assert first_run(pair).returncode == 0
    for host in pair.hosts.values():
        stats = json.loads(pair.on(host, "failover-vrrp-ctl", "stats", "--json"))
        assert stats["runner"].get("reloads", 0) <= 1, (host.name, stats["runner"])


def test_second_run_asks_the_hosts_only_what_it_must(pair: HostLab) -> None:
    """The no-op rerun skips every install step whose result is already on the
    host (decided from one find per host), so it costs a few round trips."""
    assert "second run" in _runs.get(pair.prefix, {}), "runs after test_second_run_changes_nothing"
    run = _runs[pair.prefix]["second run"]
    ran = {task for task, _host, status in task_events(run.output) if status in ("ok", "changed")}
    asked = ran & ASKED_ONLY_WHEN_SOMETHING_DIFFERS
    assert not asked, sorted(asked)


def test_check_mode_predicts_no_change(pair: HostLab) -> None:
    assert first_run(pair).returncode == 0
    run = pair.playbook(PLAYBOOKS / "provision.yml", args=["--check", "--diff"])
    TIMINGS["playbook provision.yml, --check --diff"] = run.seconds
    assert run.returncode == 0, run.output[-6000:]
    assert run.changed() == 0, run.output[-6000:]


def test_one_master_one_backup(pair: HostLab) -> None:
    assert first_run(pair).returncode == 0
    roles = wait_roles(pair)
    master = next(pair.hosts[name] for name, state in roles.items() if state == "MASTER")
    backup = next(pair.hosts[name] for name, state in roles.items() if state == "BACKUP")
    assert has_vip(pair, master)
    assert not has_vip(pair, backup)
    assert vrrp_state(pair, backup)["master"] == master.address
    # The VIP answers from the controller, through the bridge.
    ping = pair.lab.run(pair.controller, ["ping", "-c", "1", "-W", "2", VIP])  # type: ignore[arg-type]
    assert ping.returncode == 0, ping.stdout + ping.stderr


SCRAPE = (
    "import urllib.request as r; "
    "print(r.urlopen('http://127.0.0.1:9650/metrics', timeout=10).read().decode())"
)


def test_metrics_are_served_to_an_unprivileged_user(pair: HostLab) -> None:
    """vrrp_metrics_listen: runner.json written, the Debian package there, no root to scrape."""
    assert first_run(pair).returncode == 0
    wait_roles(pair)
    for host in pair.hosts.values():
        settings = json.loads(pair.on(host, "cat", "/etc/failover-vrrp/runner.json"))
        assert settings == {"metrics_listen": "127.0.0.1:9650"}
        state = vrrp_state(pair, host)["state"]
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        body = pair.on(host, *nobody, "python3", "-c", SCRAPE)
        labels = 'family="ipv4",interface="eth0",name="web",state="{}",vrid="51"'
        assert "vrrp_instance_state{" + labels.format(state) + "} 1.0" in body, body[:2000]


def test_kill_9_of_the_master_runner_systemd_restarts_it_and_it_rejoins(pair: HostLab) -> None:
    assert first_run(pair).returncode == 0
    roles = wait_roles(pair)
    master = next(pair.hosts[name] for name, state in roles.items() if state == "MASTER")
    backup = next(pair.hosts[name] for name, state in roles.items() if state == "BACKUP")
    before = unit_show(pair, master, "MainPID", "NRestarts")
    killed_at = time.monotonic()
    pair.on(master, "kill", "-9", before["MainPID"])

    # systemd sees the SIGKILL as a failure and restarts the runner (RestartSec=1).
    def restarted() -> dict[str, str] | None:
        now = unit_show(pair, master, "MainPID", "NRestarts", "ActiveState")
        ok = now["ActiveState"] == "active" and now["MainPID"] not in ("0", before["MainPID"])
        return now if ok and int(now["NRestarts"]) > int(before["NRestarts"]) else None

    after = pair.lab.wait_for(restarted, timeout=20, interval=0.2, what="runner restarted")
    TIMINGS["kill -9 → runner active again"] = time.monotonic() - killed_at

    # The peer took over, and the restarted runner (preempt off) rejoined as BACKUP
    # without the VIP its dead predecessor held.
    pair.lab.wait_for(
        lambda: vrrp_state(pair, backup)["state"] == "MASTER",
        timeout=15,
        interval=0.2,
        what=f"{backup.name} MASTER",
    )
    TIMINGS["kill -9 → peer MASTER"] = time.monotonic() - killed_at
    rejoined = pair.lab.wait_for(
        lambda: (s := vrrp_state(pair, master))["state"] == "BACKUP" and s,
        timeout=15,
        interval=0.2,
        what=f"{master.name} BACKUP after restart",
    )
    assert rejoined["master"] == backup.address
    assert has_vip(pair, backup)
    assert not has_vip(pair, master)
    # It stays BACKUP: no takeover over a few advert intervals.
    time.sleep(4)
    assert roles_now(pair) == {master.name: "BACKUP", backup.name: "MASTER"}
    assert after is not None
    assert unit_show(pair, master, "MainPID")["MainPID"] == after["MainPID"]
    journal = pair.on(master, "journalctl", "-u", UNIT, "--no-pager", "-o", "cat")
    TIMINGS["kill -9 journal tail"] = " | ".join(journal.strip().splitlines()[-6:])


def test_exclusive_removes_leftovers_and_a_changed_engine_restarts(pair: HostLab) -> None:
    """A leftover instance goes (reload, same runner); a tampered engine file is put
    back and only that host's runner restarts."""
    assert first_run(pair).returncode == 0
    r1, r2 = pair.hosts["r1"], pair.hosts["r2"]
    leftover = {
        "name": "old",
        "interface": "eth0",
        "vrid": 52,
        "priority": 100,
        "virtual_addresses": ["192.0.2.101/24"],
    }
    target = "/etc/failover-vrrp/instances.d/old.json"
    pair.on(r1, "sh", "-c", f"umask 077 && echo '{json.dumps(leftover)}' > {target}")
    pair.on(r1, "failover-vrrp-ctl", "reload")
    assert "old" in pair.runner_state(r1)["instances"]
    pair.on(r2, "sh", "-c", "echo '# tampered' >> /usr/lib/failover-vrrp/vrrp/version.py")
    pid_r1 = unit_show(pair, r1, "MainPID")["MainPID"]
    pid_r2 = unit_show(pair, r2, "MainPID")["MainPID"]

    run = provision(pair, "leftover + tampered engine")
    assert run.returncode == 0, run.output[-6000:]
    assert run.recap["r1"]["changed"] > 0 and run.recap["r2"]["changed"] > 0

    state_r1 = pair.runner_state(r1)
    assert sorted(state_r1["instances"]) == ["web"]
    pair.on(r1, "test", "!", "-e", "/etc/failover-vrrp/instances.d/old.json")
    assert unit_show(pair, r1, "MainPID")["MainPID"] == pid_r1  # reloaded, not restarted
    assert unit_show(pair, r2, "MainPID")["MainPID"] != pid_r2  # restarted
    source = REPO_ROOT / "plugins" / "module_utils" / "vrrp" / "version.py"
    installed = pair.on(r2, "sha256sum", "/usr/lib/failover-vrrp/vrrp/version.py").split()[0]
    assert installed == hashlib.sha256(source.read_bytes()).hexdigest()
    wait_roles(pair)
    again = provision(pair, "after the repair")
    assert again.returncode == 0 and again.changed() == 0, again.output[-6000:]


def test_accept_off_is_enforced_from_inside_the_hardened_unit(pair: HostLab) -> None:
    """accept: false on a non-owner: the sandboxed runner writes its nftables table (nft,
    installed by the role) while MASTER; the VIP does not answer, and the table goes with it."""
    assert first_run(pair).returncode == 0
    r1 = pair.hosts["r1"]
    strict = {
        "name": "strict",
        "interface": "eth0",
        "vrid": 53,
        "priority": 100,
        "accept": False,
        "advert_interval": 0.2,
        "virtual_addresses": ["192.0.2.103/24"],
    }
    target = "/etc/failover-vrrp/instances.d/strict.json"
    table = ["nft", "-j", "list", "table", "inet", "failover_vrrp"]
    started = time.monotonic()
    pair.on(r1, "sh", "-c", f"umask 077 && echo '{json.dumps(strict)}' > {target}")
    pair.on(r1, "failover-vrrp-ctl", "reload")
    pair.lab.wait_for(
        lambda: pair.runner_state(r1)["instances"]["strict"]["state"] == "MASTER",
        timeout=15,
        interval=0.2,
        what="strict MASTER on r1",
    )
    assert "192.0.2.103" in pair.on(r1, *table)
    controller = pair.controller
    dropped = pair.lab.run(controller, ["ping", "-c", "1", "-W", "1", "192.0.2.103"])  # type: ignore[arg-type]
    assert dropped.returncode != 0, "a non-owner MASTER with accept off answered"
    pair.on(r1, "rm", target)
    pair.on(r1, "failover-vrrp-ctl", "reload")
    pair.lab.wait_for(
        lambda: pair.ssh(r1, table).returncode != 0, timeout=10, interval=0.2, what="table gone"
    )
    TIMINGS["accept off: instance added, enforced, removed"] = time.monotonic() - started
