"""The Debian trees the lab hosts boot (12 bookworm, 13 trixie): built once, cached by recipe.

The recipe (suite, variant, architecture, mirror, packages and the setup script
run inside the new tree) is hashed; the tree lives in
``{cache}/rootfs-{sha256[:16]}``. A changed recipe builds a new tree; an
unchanged one is reused, so only the first run pays for ``debootstrap``.

The mirror is the one this machine's apt already uses (``/etc/apt/sources.list``
and ``sources.list.d``), never a host named here: the suite's own entry if it
has one, else the archive it uses for bookworm (which carries trixie too).
The hosts sit on an isolated bridge with no route out. The tree carries what
the role does not install (a booting systemd, SSH, Python with python3-apt, the
tools the tests use, keepalived for the interoperability and migration tests);
the engine's dependencies, which the role installs (``roles/vrrp/vars/Debian.yml``),
are left out. This machine downloads them (with whatever they pull in that the
tree lacks) into a flat apt repository beside the tree, ``{tree}.apt``
(``Packages`` + ``Release``), which each host sees read-only at
:data:`REPO_MOUNT` as its only apt source (``[trusted=yes]``, lists current from
the build): the role's package task really installs them, as from a mirror.
"""

from __future__ import annotations

import contextlib
import email.utils
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import yaml

from lab import REPO_ROOT
from lab.netns import ensure_tool

CACHE_DIR: Final = Path(os.environ.get("FAILOVER_VRRP_LAB_CACHE", "/var/cache/failover-vrrp-lab"))
SUITE: Final = "bookworm"
TRIXIE: Final = "trixie"
# The lab's Debian releases by version, as tests name them (``pytest.mark.debian``).
RELEASES: Final = {"12": SUITE, "13": TRIXIE}

# What the role does not install. systemd + dbus: a booting init. python3 +
# python3-apt: what Ansible's modules need on a Debian target (apt would
# otherwise try to install python3-apt). procps: /bin/kill for the unit's
# ExecReload (the role lists it too; minbase has it). keepalived: the pair the
# migration playbook takes over (Debian's unit does not start without
# /etc/keepalived/keepalived.conf, so it stays idle elsewhere).
PACKAGES: Final = (
    "dbus",
    "iproute2",
    "iputils-ping",
    "keepalived",
    "openssh-server",
    "procps",
    "python3",
    "python3-apt",
    "systemd",
)

# Where the hosts see the local apt repository (bind-mounted read-only).
REPO_MOUNT: Final = "/srv/failover-vrrp-lab-apt"


def role_packages() -> tuple[str, ...]:
    """The packages the role installs on Debian (its ``vars/Debian.yml``)."""
    data = yaml.safe_load((REPO_ROOT / "roles" / "vrrp" / "vars" / "Debian.yml").read_text())
    return tuple(sorted(data["vrrp_packages"]))


# Run with `chroot TREE /bin/sh -c SCRIPT sh PACKAGE...` after debootstrap, from
# the suite's mirror (debootstrap's sources.list): the .debs apt would install
# for the role's packages on this tree, left in /var/cache/apt/archives. Without
# Recommends, as the hosts' apt is set up (SETUP_SCRIPT): on trixie they would
# pull python3-typeshed (15 MB) through jsonschema's format checkers, and
# double the role's first run there. Part of the recipe hash.
DOWNLOAD_SCRIPT: Final = r"""
set -eu
apt-get clean
apt-get update -q
apt-get install -y -q --download-only --no-install-recommends "$@"
"""

# Run with `chroot TREE /bin/sh -c` after debootstrap. Part of the recipe hash.
SETUP_SCRIPT: Final = r"""
set -eu
# Every host gets its own machine id at first boot (an empty file asks for one).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
# No host keys in the image: the lab writes a fresh key per host before boot
# and puts it in the controller's known_hosts, so SSH checks keys strictly.
rm -f /etc/ssh/ssh_host_*
echo localhost > /etc/hostname
systemctl enable ssh.service
# Root logs in with the lab's key only.
printf '%s\n' 'HostKey /etc/ssh/ssh_host_ed25519_key' 'PermitRootLogin prohibit-password' \
    'PasswordAuthentication no' 'UseDNS no' > /etc/ssh/sshd_config.d/lab.conf
# Units that only slow a container's boot or wait for hardware.
systemctl mask systemd-networkd-wait-online.service e2scrub_reap.service \
    apt-daily.timer apt-daily-upgrade.timer 2>/dev/null || true
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
# The hosts' only apt source: the lab's local repository (the engine's
# dependencies), here during the build, bind-mounted read-only at boot. Its
# lists stay in the tree, as on a host whose apt lists are current.
rm -f /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
# A slim image's apt: no Recommends (the repository holds none), and dpkg
# without fsync (a throwaway overlay on a busy machine: the role's install).
echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90failover-vrrp-lab
echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/failover-vrrp-lab
echo 'deb [trusted=yes] file:/srv/failover-vrrp-lab-apt ./' > /etc/apt/sources.list
apt-get update -q
rm -f /var/cache/apt/*.bin
"""

# Debian 13 hosts also carry keepalived (2.3.3), the interoperability peer of
# test_keepalived_peer.py; its unit stays off until a test writes a config.
TRIXIE_PACKAGES: Final = PACKAGES  # keepalived 2.3.3 there: the interop peer
TRIXIE_SETUP_SCRIPT: Final = SETUP_SCRIPT + "systemctl disable keepalived.service\n"


def _dpkg_arch() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the content of the tree."""

    mirror: str
    suite: str = SUITE
    variant: str = "minbase"
    arch: str = field(default_factory=_dpkg_arch)
    packages: tuple[str, ...] = PACKAGES
    setup_script: str = SETUP_SCRIPT
    # The local apt repository's packages (with what they pull in) and how it is fetched.
    repo_packages: tuple[str, ...] = field(default_factory=role_packages)
    download_script: str = DOWNLOAD_SCRIPT

    @property
    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def configured_mirror(suite: str = SUITE) -> str:
    """The Debian mirror URI this machine's apt uses for ``suite`` (main archive).

    Reads the one-line (``deb URI SUITE ...``) and deb822 (``URIs:`` /
    ``Suites:``) formats; the security archive is skipped.
    """
    sources = [Path("/etc/apt/sources.list")]
    parts = Path("/etc/apt/sources.list.d")
    if parts.is_dir():
        sources += sorted(parts.glob("*.list")) + sorted(parts.glob("*.sources"))
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (m.group(1).lower(), m.group(2).split())
                    for m in re.finditer(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.MULTILINE)
                )
                if suite in fields.get("suites", []) and "deb" in fields.get("types", ["deb"]):
                    uris = [u for u in fields.get("uris", []) if "security" not in u]
                    if uris:
                        return str(uris[0]).rstrip("/")
        else:
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                if len(words) < 3 or words[0] != "deb":
                    continue
                words = [w for w in words[1:] if not w.startswith("[")]
                if len(words) >= 2 and words[1] == suite and "security" not in words[0]:
                    return words[0].rstrip("/")
    raise RuntimeError(f"no Debian mirror for {suite!r} in /etc/apt/sources.list*")


def lab_recipe(suite: str = SUITE) -> Recipe:
    """The recipe of the lab's tree for ``suite`` (``bookworm`` or ``trixie``)."""
    try:
        mirror = configured_mirror(suite)
    except RuntimeError:
        mirror = configured_mirror(SUITE)
    if suite == SUITE:
        return Recipe(mirror=mirror)
    if suite == TRIXIE:
        return Recipe(
            mirror=mirror, suite=suite, packages=TRIXIE_PACKAGES, setup_script=TRIXIE_SETUP_SCRIPT
        )
    raise ValueError(f"the lab has no recipe for {suite!r} (it knows {sorted(RELEASES.values())})")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``: one build at a time across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Rootfs:
    path: Path
    recipe: Recipe
    built: bool  # True when this call ran debootstrap
    build_seconds: float | None  # how long that took (None when cached)

    @property
    def repo(self) -> Path:
        return repo_of(self.path)


def repo_of(tree: Path) -> Path:
    """The local apt repository built with ``tree`` (the hosts mount it at :data:`REPO_MOUNT`)."""
    return tree.with_name(tree.name + ".apt")


def ensure_rootfs(recipe: Recipe | None = None, *, cache_dir: Path = CACHE_DIR) -> Rootfs:
    """The cached tree for ``recipe``, built first when missing."""
    recipe = recipe or lab_recipe()
    target = cache_dir / f"rootfs-{recipe.key}"
    stamp = target / ".failover-vrrp-lab.json"
    # One lock per suite: a tree of one suite can be built while the other is in use.
    with _locked(cache_dir / f".lock-{recipe.suite}"):
        if stamp.is_file():
            return Rootfs(path=target, recipe=recipe, built=False, build_seconds=None)
        debootstrap = ensure_tool("debootstrap", "debootstrap")
        work = cache_dir / f"rootfs-{recipe.key}.partial"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(repo_of(target), ignore_errors=True)
        started = time.monotonic()
        print(
            f"lab rootfs: debootstrap {recipe.suite} ({recipe.variant}, "
            f"{len(recipe.packages)} packages) from {recipe.mirror} into {work}",
            file=sys.stderr,
        )
        argv = [
            debootstrap,
            f"--variant={recipe.variant}",
            f"--arch={recipe.arch}",
            "--include=" + ",".join(recipe.packages),
            recipe.suite,
            str(work),
            recipe.mirror,
        ]
        _run_logged(argv, cache_dir / f"rootfs-{recipe.key}.log")
        _run_logged(
            ["chroot", str(work), "/bin/sh", "-c", recipe.download_script, "sh",
             *recipe.repo_packages],
            cache_dir / f"rootfs-{recipe.key}.download.log",
        )  # fmt: skip
        repo = work / REPO_MOUNT.lstrip("/")
        repo.mkdir(parents=True)
        for deb in (work / "var" / "cache" / "apt" / "archives").glob("*.deb"):
            deb.rename(repo / deb.name)
        write_repo_index(repo, suite=recipe.suite)
        _run_logged(
            ["chroot", str(work), "/bin/sh", "-c", recipe.setup_script],
            cache_dir / f"rootfs-{recipe.key}.setup.log",
        )
        # Out of the tree, beside it; the empty directory stays as the mount point.
        repo.rename(repo_of(target))
        repo.mkdir()
        seconds = time.monotonic() - started
        (work / stamp.name).write_text(
            json.dumps({"recipe": asdict(recipe), "build_seconds": round(seconds, 1)}, indent=2)
        )
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
        _prune(cache_dir, suite=recipe.suite, keep=recipe.key)
        return Rootfs(path=target, recipe=recipe, built=True, build_seconds=seconds)


def write_repo_index(repo: Path, *, suite: str) -> None:
    """``Packages`` and ``Release`` of the flat repository of the .debs in ``repo``."""
    paragraphs = []
    for deb in sorted(repo.glob("*.deb")):
        control = subprocess.run(
            ["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True
        ).stdout.rstrip("\n")
        data = deb.read_bytes()
        paragraphs.append(
            f"{control}\nFilename: ./{deb.name}\nSize: {len(data)}\n"
            f"MD5sum: {hashlib.md5(data).hexdigest()}\n"
            f"SHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
    if not paragraphs:
        raise RuntimeError(f"no .deb downloaded for the local repository {repo}")
    index = "\n".join(paragraphs).encode()
    (repo / "Packages").write_bytes(index)
    release = (
        f"Origin: failover-vrrp-lab\nLabel: failover-vrrp-lab\nSuite: {suite}\n"
        f"Date: {email.utils.formatdate(usegmt=True)}\n"
        f"SHA256:\n {hashlib.sha256(index).hexdigest()} {len(index)} Packages\n"
    )
    (repo / "Release").write_text(release)


def _prune(cache_dir: Path, *, suite: str, keep: str) -> None:
    """Remove the trees (and logs) of ``suite``'s other recipes: one tree per suite.

    A tree of another suite stays; a tree whose stamp cannot be read (no suite
    known) is left alone too.
    """
    stale = []
    for tree in cache_dir.glob("rootfs-*"):
        if not tree.is_dir() or tree.name == f"rootfs-{keep}" or tree.suffix == ".partial":
            continue
        try:
            stamp = json.loads((tree / ".failover-vrrp-lab.json").read_text())
        except (OSError, ValueError):
            continue
        if stamp.get("recipe", {}).get("suite") == suite:
            stale.append(tree.name)
    for name in stale:
        for path in cache_dir.glob(f"{name}*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _run_logged(argv: list[str], log: Path) -> None:
    """Run ``argv`` with its output in ``log``; on any interruption end it and its children."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8"),
            start_new_session=True,
        )
        try:
            returncode = proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{argv[0]} failed ({returncode}), log {log}:\n{tail}")


if __name__ == "__main__":
    for name in sys.argv[1:] or list(RELEASES.values()):
        fs = ensure_rootfs(lab_recipe(name))
        state = f"built in {fs.build_seconds:.0f} s" if fs.built else "cached"
        print(f"{name}: {fs.path} ({state})")
