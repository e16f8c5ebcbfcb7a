"""The role without hosts: its variables against the schema, its unit on this machine.

No root needed. ``systemd-analyze verify`` works here without systemd as PID 1:
it loads the unit into a private manager and checks its directives and the
executables it names.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from integration.hosts import VENV_BIN
from lab import REPO_ROOT
from vrrp.schema import CONFIG_SCHEMA

ROLE = REPO_ROOT / "roles" / "vrrp"
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
UNIT = "failover-vrrp.service"


def test_the_role_lists_no_schema_key() -> None:
    """The items go to vrrp_config as they are, in one call: no list of keys that
    could drift from the schema (the module's spec is derived from it)."""
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert not [name for name in role_vars if name.endswith("_keys")], role_vars
    tasks = yaml.safe_load((ROLE / "tasks" / "config.yml").read_text())
    calls = [task for task in tasks if "failover.vrrp.vrrp_config" in task]
    assert len(calls) == 1, tasks
    call = calls[0]
    assert "loop" not in call
    assert call["failover.vrrp.vrrp_config"]["config"] == {
        "instances": "{{ vrrp_instances_applied }}",
        "sync_groups": "{{ vrrp_sync_groups }}",
    }
    # The items as given, only unicast_peers_from filled in (by the filter, in Python).
    assert role_vars["vrrp_instances_applied"] == (
        "{{ vrrp_instances | failover.vrrp.unicast_peers(hostvars, groups, inventory_hostname) }}"
    )
    text = (ROLE / "tasks" / "config.yml").read_text()
    for key in CONFIG_SCHEMA["$defs"]["instance"]["properties"]:
        assert f"item.{key}" not in text, key
    # The first stage of a first election: the same items, some left out by name.
    staged = yaml.safe_load((ROLE / "tasks" / "first_election.yml").read_text())
    (first,) = [task for task in staged if "failover.vrrp.vrrp_config" in task]
    config = first["failover.vrrp.vrrp_config"]["config"]
    assert " ".join(config["instances"].split()) == (
        "{{ vrrp_instances_applied | rejectattr('name', 'in', vrrp_election.withhold) | list }}"
    )
    assert " ".join(config["sync_groups"].split()) == (
        "{{ vrrp_sync_groups | rejectattr('name', 'in', vrrp_election.withhold_groups) | list }}"
    )


def render(tmp_path: Path, *extra: str) -> None:
    """Run ``render_unit.yml`` on this machine with ``-e`` arguments ``extra``."""
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = {
        "PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
        "ANSIBLE_HOME": str(tmp_path / "ansible"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "HOME": str(tmp_path),
    }
    argv = [
        str(VENV_BIN / "ansible-playbook"),
        "-i",
        "localhost,",
        str(PLAYBOOKS / "render_unit.yml"),
    ]
    for value in extra:
        argv += ["-e", value]
    rendered = subprocess.run(
        argv, capture_output=True, text=True, env=env, check=False, cwd=REPO_ROOT
    )
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr


def test_unit_renders_and_passes_systemd_analyze_verify_here(tmp_path: Path) -> None:
    """The role's template with its defaults, checked by this machine's systemd-analyze."""
    unit = tmp_path / UNIT
    render(tmp_path, f"unit_dest={unit}")
    text = unit.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=10",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW",
        "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/run/failover-vrrp /var/lib/failover-vrrp"
        " /proc/sys/net/ipv4/conf -/proc/sys/net/ipv6/conf",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET",
        "RuntimeDirectory=failover-vrrp",
        "StateDirectory=failover-vrrp",
        "ConfigurationDirectory=failover-vrrp",
        "Environment=PYTHONPATH=/usr/lib/failover-vrrp",
    ):
        assert line in text.splitlines(), f"{line!r} missing from the unit"
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stderr
    # verify reports problems of *this* unit on stderr, prefixed with its path.
    complaints = [line for line in verify.stderr.splitlines() if UNIT in line]
    assert not complaints, verify.stderr


# The unit's exposure as `systemd-analyze security --offline=yes` scores it (3.0
# before issue 9), and the directives that brought it down; README.md,
# "Security", says why each is there. test_unit_hardening.py proves on the lab
# hosts that the runner, VMAC, track scripts and hooks work under them.
EXPOSURE_MAX = 2.5
HARDENING = (
    "ProtectKernelTunables=yes",
    "PrivateMounts=yes",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@resources",
    "TasksMax=2048",
    "LimitNOFILE=8192",
    "MemoryMax=512M",
)


def test_unit_exposure_score_is_at_most_2_5(tmp_path: Path) -> None:
    unit = tmp_path / UNIT
    render(tmp_path, f"unit_dest={unit}")
    lines = unit.read_text().splitlines()
    missing = [line for line in HARDENING if line not in lines]
    assert not missing, f"missing from the unit: {missing}"
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert found, security.stdout + security.stderr
    assert float(found.group(1)) <= EXPOSURE_MAX, security.stdout


# Modules a hostile user could leave in a directory root runs the CLI from: the
# stdlib modules vrrp.ctl imports first, and the engine's own package name.
PLANTED = ("argparse.py", "json.py", "socket.py", "vrrp/__init__.py", "vrrp/ctl.py")


def test_ctl_wrapper_imports_nothing_from_the_working_directory(tmp_path: Path) -> None:
    """Root runs ``failover-vrrp-ctl`` from a directory anyone can write to (a
    sticky /tmp-like one): the modules planted there are not imported, the
    engine's CLI runs (and says no runner listens on the socket)."""
    ctl, marker = tmp_path / "failover-vrrp-ctl", tmp_path / "planted-code-ran"
    socket_path = tmp_path / "no-runner.sock"
    engine = REPO_ROOT / "plugins" / "module_utils"
    render(
        tmp_path, f"unit_dest={tmp_path / UNIT}", f"ctl_dest={ctl}",
        f"vrrp_install_dir={engine}", f"vrrp_control_socket={socket_path}",
    )  # fmt: skip
    hostile = tmp_path / "shared"
    hostile.mkdir()
    hostile.chmod(0o1777)
    for name in PLANTED:
        path = hostile / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\nraise SystemExit(99)\n"
        )
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        ["/bin/sh", str(ctl), "state"], cwd=hostile, env=env,
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    ran = marker.read_text() if marker.exists() else ""
    assert not ran, f"planted modules ran: {ran.split()}"
    # 2: no runner listens (vrrp.ctl's own exit status), so the CLI itself ran.
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert str(socket_path) in proc.stderr


def test_one_truth_for_the_supported_ansible_versions() -> None:
    runtime = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text())
    minimum = runtime["requires_ansible"].removeprefix(">=").removesuffix(".0")
    meta = yaml.safe_load((ROLE / "meta" / "main.yml").read_text())
    assert meta["galaxy_info"]["min_ansible_version"] == minimum
    assert f"ansible-core {minimum} or later" in (REPO_ROOT / "README.md").read_text()


def test_the_supported_versions_are_the_tested_ones() -> None:
    """The claims (requires_ansible, the role's platforms, the README's "Tested
    with") are what CI runs: the pinned ansible-core, the lab hosts' release."""
    pinned = (REPO_ROOT / "requirements" / "dev.txt").read_text()
    version = next(
        line.split("==", 1)[1].strip()
        for line in pinned.splitlines()
        if line.startswith("ansible-core==")
    )
    runtime = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text())
    minor = ".".join(version.split(".")[:2])
    assert runtime["requires_ansible"] == f">={minor}.0", (runtime, version)
    meta = yaml.safe_load((ROLE / "meta" / "main.yml").read_text())
    platforms = {(p["name"], v) for p in meta["galaxy_info"]["platforms"] for v in p["versions"]}
    assert platforms <= {("Debian", "bookworm"), ("Debian", "trixie")}, platforms
    readme = (REPO_ROOT / "README.md").read_text()
    tested = readme.split("### Tested with", 1)[1].split("\n#", 1)[0]
    assert f"| ansible-core on the controller | {version} " in tested, tested
    assert "Debian 12" in tested, tested
