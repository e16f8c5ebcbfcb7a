"""The role without hosts: its variables against the schema, its unit on this machine.

No root needed. ``systemd-analyze verify`` works here without systemd as PID 1:
it loads the unit into a private manager and checks its directives and the
executables it names.
"""

from __future__ import annotations

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
        "instances": "{{ vrrp_instances }}",
        "sync_groups": "{{ vrrp_sync_groups }}",
    }
    text = (ROLE / "tasks" / "config.yml").read_text()
    for key in CONFIG_SCHEMA["$defs"]["instance"]["properties"]:
        assert f"item.{key}" not in text, key


def test_unit_renders_and_passes_systemd_analyze_verify_here(tmp_path: Path) -> None:
    """The role's template with its defaults, checked by this machine's systemd-analyze."""
    unit = tmp_path / UNIT
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = {
        "PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
        "ANSIBLE_HOME": str(tmp_path / "ansible"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "HOME": str(tmp_path),
    }
    rendered = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,",
         str(PLAYBOOKS / "render_unit.yml"), "-e", f"unit_dest={unit}"],
        capture_output=True, text=True, env=env, check=False, cwd=REPO_ROOT,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
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
        "ReadWritePaths=/run/failover-vrrp /var/lib/failover-vrrp",
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


def test_one_truth_for_the_supported_ansible_versions() -> None:
    runtime = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text())
    minimum = runtime["requires_ansible"].removeprefix(">=").removesuffix(".0")
    meta = yaml.safe_load((ROLE / "meta" / "main.yml").read_text())
    assert meta["galaxy_info"]["min_ansible_version"] == minimum
    assert f"ansible-core {minimum} or later" in (REPO_ROOT / "README.md").read_text()
