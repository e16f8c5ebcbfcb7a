"""Fixtures of the integration tests: the cached trees, booted systemd hosts, timings.

The Debian release(s) a file's hosts boot come from its ``pytest.mark.debian``
marker (``integration.trees``): the ``rootfs`` fixture is parametrized from it.

These tests need root (namespaces, overlay mounts, systemd-nspawn). Without it
they are skipped with the reason; CI and ``make integration`` run as root. The
measured figures (debootstrap, boot, SSH, playbook runs) are printed at the end
of the run and written to ``build/integration-timings.json`` (or the file
``FAILOVER_VRRP_LAB_TIMINGS`` names: ``make integration`` runs two sessions).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration import trees
from integration.hosts import WORK_ROOT, HostLab
from integration.installed import InstalledCollection, build_and_install
from integration.trees import LabTrees
from lab import REPO_ROOT, SESSION_PREFIX, netns_list, sweep, unique_prefix

_HERE = Path(__file__).resolve().parent


class _Timings(dict[str, Any]):
    """The figures of the run; a key set while a lab of a tree selection is up is
    prefixed with its label (``debian13: playbook ha_pair.yml, from nothing``)."""

    label = ""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(f"{self.label}: {key}" if self.label else key, value)


TIMINGS: dict[str, Any] = _Timings()


def _unusable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (namespaces, overlayfs, systemd-nspawn); CI runs these as root"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", trees.MARKER_HELP)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses ``rootfs`` (also through ``pair``) runs once per selection."""
    if "rootfs" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker(trees.MARKER)
    chosen = trees.selections(marker.args if marker else None)
    metafunc.parametrize(
        "rootfs", chosen, indirect=True, scope="module", ids=[trees.label(s) for s in chosen]
    )


@pytest.hookimpl(trylast=True)  # after -k/-m deselected what this session will not run
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Trees that are not cached yet start building now, beside the first tests."""
    if _unusable() is not None:
        return
    chosen = {
        item.callspec.params["rootfs"]
        for item in items
        if hasattr(item, "callspec") and "rootfs" in item.callspec.params
    }
    for suite in trees.build_ahead(chosen):
        print(f"lab rootfs: building the {suite} tree in the background")


def pytest_sessionfinish() -> None:
    trees.join_builders()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("integration timings")
    for key, value in TIMINGS.items():
        shown = f"{value:.2f} s" if isinstance(value, float) else str(value)
        terminalreporter.write_line(f"{key:<40} {shown}")
    default = REPO_ROOT / "build" / "integration-timings.json"
    out = Path(os.environ.get("FAILOVER_VRRP_LAB_TIMINGS", default))
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(TIMINGS, indent=2) + "\n")


@pytest.fixture(scope="module")
def rootfs(request: pytest.FixtureRequest) -> Iterator[LabTrees]:
    """The Debian tree(s) of the module's selection (debootstrap on the first run only)."""
    reason = _unusable()
    if reason is not None:
        pytest.skip(reason)
    found = trees.trees(getattr(request, "param", trees.DEFAULT[0]))
    for release, path in zip(found.releases, found.paths):
        TIMINGS[f"rootfs Debian {release}"] = str(path)
        seconds = found.built_seconds[release]
        TIMINGS[f"rootfs Debian {release} debootstrap + setup"] = (
            seconds if seconds is not None else "cached (built by an earlier run)"
        )
    _Timings.label = found.label
    try:
        yield found
    finally:
        _Timings.label = ""


@pytest.fixture(scope="session")
def installed_collection(tmp_path_factory: pytest.TempPathFactory) -> InstalledCollection:
    """The collection built into a tarball and installed from it, once per session.

    The lab hosts' Ansible finds failover.vrrp only there (``HostLab(collections_path=)``).
    """
    installed = build_and_install(tmp_path_factory.mktemp("collection"))
    TIMINGS["ansible-galaxy collection build"] = installed.build_seconds
    TIMINGS["ansible-galaxy collection install"] = installed.install_seconds
    return installed


@pytest.fixture(scope="module")
def pair(rootfs: LabTrees, installed_collection: InstalledCollection) -> Iterator[HostLab]:
    """Two booted hosts r1 (192.0.2.11, priority 150) and r2 (.12, 100), no preempt,
    on the module's Debian release(s) (r1 on the first, r2 on the second of a mixed lab).

    Ansible runs the collection installed from its tarball. Preempt is off so
    that a runner restarted by systemd rejoins as Backup and does not take the
    VIP back: what the kill -9 test checks. That r1 is MASTER after provisioning
    from nothing, whichever runner starts first, is the role's first-election
    staging (r2 applies a new instance once r1 is MASTER of it;
    test_first_election.py holds it under adversarial timing).
    """
    with HostLab(
        prefix=unique_prefix(),
        rootfs=rootfs.paths,
        collections_path=installed_collection.collections_path,
    ) as lab:
        hosts = lab.add_hosts({"r1": "192.0.2.11/24", "r2": "192.0.2.12/24"})
        for host in hosts:
            TIMINGS[f"boot {host.name} (nspawn → READY=1)"] = host.boot_seconds
            TIMINGS[f"ssh {host.name} (READY=1 → first login)"] = host.ssh_seconds
        lab.write_inventory(
            host_vars={
                "r1": {"lab_priority": 150, "lab_preempt": "false"},
                "r2": {"lab_priority": 100, "lab_preempt": "false"},
            }
        )
        yield lab


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    yield
    if _unusable() is not None:
        return
    left = [ns for ns in netns_list() if ns.startswith(SESSION_PREFIX)]
    for ns in left:
        sweep(ns.split("-")[0])
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(WORK_ROOT) + "/" + SESSION_PREFIX)
    ]
    assert not left, f"namespaces left behind by this run (now removed): {left}"
    assert not mounts, f"mounts left behind by this run: {mounts}"
