"""The built tarball holds what users need and nothing of the development tree.

No root: ``ansible-galaxy collection build`` and ``install`` (the session's
``installed_collection``), then Ansible against the installed copy only. The
lab tests run their playbooks from this same install.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Final

import pytest

from integration.installed import FQCN, VENV_BIN, InstalledCollection, playbook_fqcn
from lab import REPO_ROOT

# Development only (galaxy.yml build_ignore): the tarball must hold none of it.
NOT_SHIPPED: Final = (
    "Makefile",
    "bench/",
    "demo/",
    "build/",
    ".venv",
    ".ci/",
    "requirements/",
    "docs/site/",
    "tests/lab/",
    "tests/netns/",
    "tests/chaos/",
    "tests/integration/",
    "tests/ansible_test_bootstrap.py",
)
# What the role, the playbooks and the modules load at run time, and what
# Galaxy shows: every file of the checkout under these must ship.
SHIPPED_TREES: Final = ("roles/", "playbooks/", "plugins/", "meta/", "docs/docsite/")
SHIPPED_FILES: Final = ("README.md", "LICENSE", "roles/vrrp/README.md")
PLAYBOOKS: Final = (
    "ha_pair.yml",
    "vrrp_facts.yml",
    "rolling_maintenance.yml",
    "migrate_from_keepalived.yml",
)


def checkout_files() -> set[str]:
    """Tracked and untracked-not-ignored files of the checkout (what the build sees)."""
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True, cwd=REPO_ROOT,
    )  # fmt: skip
    names = {n for n in proc.stdout.decode().split("\0") if n}
    return {n for n in names if (REPO_ROOT / n).is_file()}


def installed_env(installed: InstalledCollection, home: Path) -> dict[str, str]:
    """Ansible that sees only the installed collection (as ``HostLab`` sets it up)."""
    return dict(
        os.environ,
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_CONFIG=str(home / "none.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(installed.collections_path),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_ROLES_PATH=str(home / "no-roles"),
        ANSIBLE_NOCOLOR="1",
    )


def test_tarball_holds_no_development_files(installed_collection: InstalledCollection) -> None:
    leaked = sorted(
        name
        for name in installed_collection.members
        if name.startswith(NOT_SHIPPED) or "__pycache__" in name or name.endswith(".pyc")
    )
    assert not leaked, f"{installed_collection.tarball.name} holds development files: {leaked}"


def test_tarball_holds_every_file_the_role_playbooks_and_modules_need(
    installed_collection: InstalledCollection,
) -> None:
    needed = {n for n in checkout_files() if n.startswith(SHIPPED_TREES)} | set(SHIPPED_FILES)
    needed = {n for n in needed if "__pycache__" not in n}
    missing = sorted(needed - installed_collection.members)
    assert not missing, f"{installed_collection.tarball.name} lacks {missing}"
    for name in ("MANIFEST.json", "FILES.json"):
        assert name in installed_collection.members
    # The installed copy is the tarball's, byte for byte where the role copies the
    # engine from (roles/vrrp/vars/main.yml: role_path/../../plugins/module_utils/vrrp).
    engine = "plugins/module_utils/vrrp/"
    for name in sorted(n for n in needed if n.startswith(engine)):
        assert (installed_collection.root / name).read_bytes() == (REPO_ROOT / name).read_bytes()


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbooks_resolve_by_fqcn_from_the_install_alone(
    installed_collection: InstalledCollection, playbook: str, tmp_path: Path
) -> None:
    """``ansible-playbook failover.vrrp.<name>`` loads the play, the role and its
    task files from the installed collection, with the checkout out of reach."""
    argv = [
        str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "--list-tasks",
        "--extra-vars", '{"vrrp_pair_hosts": "all", "vrrp_fleet_hosts": "all"}',
        playbook_fqcn(playbook),
    ]  # fmt: skip
    proc = subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=tmp_path,
        env=installed_env(installed_collection, tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where = installed_collection.root / "playbooks" / playbook
    assert f"playbook: {where}" in proc.stdout, proc.stdout
    if playbook == "ha_pair.yml":
        assert f"{FQCN}.vrrp : " in proc.stdout, proc.stdout


def test_the_install_is_the_only_failover_vrrp_ansible_sees(
    installed_collection: InstalledCollection, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "list", FQCN, "--format", "json"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env=installed_env(installed_collection, tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f'"{installed_collection.collections_path / "ansible_collections"}"' in proc.stdout
    assert str(REPO_ROOT) + '"' not in proc.stdout, proc.stdout
