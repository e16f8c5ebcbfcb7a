"""The collection the way users get it: ``ansible-galaxy collection build``, then install.

The integration tests run the role, the modules and the playbooks from this
installed copy (``ANSIBLE_COLLECTIONS_PATH`` pointing at it, playbooks by FQCN
``failover.vrrp.ha_pair``), so a file that ``galaxy.yml``'s ``build_ignore``
drops, or one the build never picks up, fails them as it would fail a user.

One build and one install per test session (the ``installed_collection``
fixture in ``conftest.py``), into a directory of its own outside the lab's
work root (``sweep_stale`` removes what it does not own there).
"""

from __future__ import annotations

import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml

from lab import REPO_ROOT

NAMESPACE: Final = "failover"
NAME: Final = "vrrp"
FQCN: Final = f"{NAMESPACE}.{NAME}"
VENV_BIN: Final = REPO_ROOT / ".venv" / "bin"


@dataclass(frozen=True)
class InstalledCollection:
    """A built tarball and the collections path it was installed into."""

    tarball: Path
    collections_path: Path
    members: frozenset[str]
    build_seconds: float
    install_seconds: float

    @property
    def root(self) -> Path:
        """The installed collection: ``<path>/ansible_collections/failover/vrrp``."""
        return self.collections_path / "ansible_collections" / NAMESPACE / NAME


def galaxy_version() -> str:
    return str(yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())["version"])


def build_and_install(workdir: Path) -> InstalledCollection:
    """Build the checkout's collection into ``workdir`` and install the tarball there.

    Only the tarball is installed (``--offline``, no dependency resolution from
    Galaxy): what the tests then run is exactly what a user would get from it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    galaxy = str(VENV_BIN / "ansible-galaxy")
    started = time.monotonic()
    _run([galaxy, "collection", "build", "--force", "--output-path", str(workdir), str(REPO_ROOT)])
    built = time.monotonic()
    tarball = workdir / f"{NAMESPACE}-{NAME}-{galaxy_version()}.tar.gz"
    if not tarball.is_file():
        raise RuntimeError(f"ansible-galaxy collection build made no {tarball.name} in {workdir}")
    collections = workdir / "collections"
    _run(
        [galaxy, "collection", "install", "--offline", "--force", "--no-deps",
         "-p", str(collections), str(tarball)],
    )  # fmt: skip
    installed = time.monotonic()
    with tarfile.open(tarball) as tar:
        members = frozenset(m.name for m in tar.getmembers() if m.isfile())
    return InstalledCollection(
        tarball=tarball,
        collections_path=collections,
        members=members,
        build_seconds=built - started,
        install_seconds=installed - built,
    )


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")


def playbook_fqcn(file_name: str) -> str:
    """``ha_pair.yml`` → ``failover.vrrp.ha_pair``: how users name the collection's playbooks."""
    return f"{FQCN}.{Path(file_name).stem}"
