"""The engine under the oldest Python it claims: Debian 11's python3 (3.9).

``python tests/py39/run.py`` (root; ``make py39``, part of ``make test``):

1. a Debian 11 (bullseye) tree from ``debootstrap --variant=minbase`` with
   bullseye's own python3 (3.9) and the engine's dependencies and test tools
   as bullseye packages them (``PACKAGES``), built once and cached by the hash
   of its recipe, exactly as the lab's Debian 12 tree (``integration.rootfs``);
   it lives in its own cache subdirectory (``CACHE``) because a cache
   directory keeps only the tree of its latest recipe;
2. in that tree (``systemd-nspawn`` without boot, the tree and the checkout
   read-only, no network, only ``/tmp`` writable): the engine's unit tests
   (``tests/unit/plugins/module_utils/vrrp``, not the ``slow`` fuzz) with
   bullseye's pytest and hypothesis, then ``vrrp.runner --check`` on the
   fixture configuration, as one file and as a fragment directory.

The mirror is the one this machine's apt uses (bullseye's entry if it has
one, else the main archive it uses for the lab's suite, which also carries
bullseye); ``FAILOVER_VRRP_PY39_MIRROR`` overrides it, no host is named here.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from integration.rootfs import (  # noqa: E402
    CACHE_DIR,
    Recipe,
    Rootfs,
    configured_mirror,
    ensure_rootfs,
)
from integration.rootfs import SUITE as LAB_SUITE  # noqa: E402
from lab.netns import ensure_tool  # noqa: E402

SUITE: Final = "bullseye"
PYTHON: Final = (3, 9)  # what bullseye's python3 must be: the claim under test
CACHE: Final = CACHE_DIR / "py39"

# The engine's dependencies as a Debian 11 host gets them from the role
# (python3-jsonschema 3.2: draft 7 only; python3-pyroute2 0.5.14), and the
# test tools from the same suite (pytest 6.0, hypothesis 5.43).
PACKAGES: Final = (
    "python3",
    "python3-hypothesis",
    "python3-jsonschema",
    "python3-pytest",
    "python3-pyroute2",
    "python3-yaml",
)

SRC: Final = "/src"  # where the checkout appears inside the tree (SETUP_SCRIPT makes it)

SETUP_SCRIPT: Final = r"""
set -eu
# The mount point of the checkout: the tree is read-only when the tests run.
mkdir -p /src
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
"""

UNIT_TESTS: Final = "tests/unit/plugins/module_utils/vrrp"
FIXTURES: Final = f"{UNIT_TESTS}/config_fixtures"


def mirror() -> str:
    """This machine's Debian mirror for bullseye (see the module docstring)."""
    override = os.environ.get("FAILOVER_VRRP_PY39_MIRROR")
    if override:
        return override.rstrip("/")
    try:
        return configured_mirror(SUITE)
    except RuntimeError:
        return configured_mirror(LAB_SUITE)


def recipe() -> Recipe:
    return Recipe(mirror=mirror(), suite=SUITE, packages=PACKAGES, setup_script=SETUP_SCRIPT)


def in_tree(tree: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``tree`` (cwd: the checkout), output to ours as it comes."""
    nspawn = [
        ensure_tool("systemd-nspawn", "systemd-container"),
        "--quiet",
        # No systemd as PID 1 on the machine that runs this: no machined, no scope.
        "--register=no",
        "--keep-unit",
        # A stub init as PID 1: the tests' own process must not be PID 1 (whose
        # signals and WATCHDOG_PID=1 mean something else).
        "--as-pid2",
        f"--machine=py39-{os.getpid()}",
        f"--directory={tree}",
        "--read-only",
        "--private-network",
        "--tmpfs=/tmp",
        f"--bind-ro={ROOT}:{SRC}",
        f"--chdir={SRC}",
        "--console=pipe",
        # pytest 6.0 ignores pyproject's `pythonpath` (pytest >= 7): say it here.
        f"--setenv=PYTHONPATH={SRC}/plugins/module_utils:{SRC}/tests",
        "--setenv=PYTHONDONTWRITEBYTECODE=1",
        # Hypothesis keeps its example database under the working directory,
        # which is the read-only checkout.
        "--setenv=HYPOTHESIS_STORAGE_DIRECTORY=/tmp/hypothesis",
        "--setenv=LC_ALL=C.UTF-8",
        "--",
        *argv,
    ]
    print(f"py39: {shlex.join(argv)}", flush=True)
    return subprocess.run(nspawn, text=True, stdin=subprocess.DEVNULL, check=False)


def check_python(tree: Path) -> str:
    """The tree's python3 version; a SystemExit when it is not the claimed 3.9."""
    out = subprocess.run(
        ["chroot", str(tree), "python3", "-c", "import sys; print(*sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    version = tuple(int(part) for part in out)
    if version[:2] != PYTHON:
        raise SystemExit(f"py39: {tree} has python3 {version}, not {PYTHON}")
    return ".".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k NAME)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    fs: Rootfs = ensure_rootfs(recipe(), cache_dir=CACHE)
    how = f"built in {fs.build_seconds:.0f} s" if fs.build_seconds is not None else "cached"
    print(f"py39: Debian {SUITE} tree {fs.path} ({how}), python3 {check_python(fs.path)}")
    steps = [
        [
            "python3", "-m", "pytest", UNIT_TESTS, "-q", "-m", "not slow",
            "-p", "no:cacheprovider", *args.pytest_args,
        ],
        ["python3", "-m", "vrrp.runner", "--check", "--config", f"{FIXTURES}/full.yml"],
        ["python3", "-m", "vrrp.runner", "--check", "--config", f"{FIXTURES}/fragments"],
    ]  # fmt: skip
    failed = [step for step in steps if in_tree(fs.path, step).returncode != 0]
    seconds = time.monotonic() - started
    for step in failed:
        print(f"py39: FAILED under python3 {PYTHON[0]}.{PYTHON[1]}: {shlex.join(step)}")
    print(f"py39: {len(steps) - len(failed)} of {len(steps)} steps passed in {seconds:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
