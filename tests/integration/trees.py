"""Which Debian trees a test file's hosts boot: ``pytest.mark.debian``.

A test file (or one test) says on which releases it runs::

    pytestmark = pytest.mark.debian("12", "13", "12+13")

Each argument is one run of the file's tests with hosts of its own: ``"12"``
(bookworm), ``"13"`` (trixie), or a mixed lab ``"12+13"`` whose hosts take the
releases in the order they are added (r1 Debian 12, r2 Debian 13; a third host
Debian 12 again). Without the marker a file runs on ``"12"`` only.
``FAILOVER_VRRP_LAB_DEBIAN=13`` (comma-separated, the same words) runs every
file on those releases instead, whatever its marker says.

The ``rootfs`` fixture (``conftest.py``) is parametrized from the marker, with
module scope: pytest runs a file's tests on one release, tears its hosts down,
then on the next. The fixture's value is a :class:`LabTrees`;
``HostLab(rootfs=trees.paths)`` boots each host on its tree.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from integration.rootfs import CACHE_DIR, RELEASES, ensure_rootfs, lab_recipe

DEFAULT: Final = ("12",)
MARKER: Final = "debian"
MARKER_HELP: Final = (
    "debian(*selections): the Debian releases the file's hosts boot, each a run of "
    'its own: "12", "13", or a mixed lab "12+13" (tests/integration/trees.py)'
)
OVERRIDE_ENV: Final = "FAILOVER_VRRP_LAB_DEBIAN"


def parse(selection: str) -> tuple[str, ...]:
    """``"12+13"`` → ``("12", "13")``; a release the lab has no tree for is an error."""
    releases = tuple(part.strip() for part in selection.split("+"))
    unknown = [r for r in releases if r not in RELEASES]
    if not releases or unknown:
        raise ValueError(
            f"debian selection {selection!r}: the lab has Debian {sorted(RELEASES)} "
            f"('+' joins them into a mixed lab)"
        )
    return releases


def selections(marker_args: Sequence[str] | None) -> tuple[str, ...]:
    """The selections a test runs on: the override, else its marker's, else ``DEFAULT``."""
    override = os.environ.get(OVERRIDE_ENV, "").strip()
    chosen = tuple(s.strip() for s in override.split(",")) if override else None
    chosen = chosen or tuple(marker_args or ()) or DEFAULT
    for selection in chosen:
        parse(selection)
    return chosen


def label(selection: str) -> str:
    """The test id and timing label: ``debian12``, ``debian12+13``."""
    return "debian" + "+".join(parse(selection))


@dataclass(frozen=True)
class LabTrees:
    """The cached trees of one selection, in host order (cycling)."""

    selection: str
    releases: tuple[str, ...]
    paths: tuple[Path, ...]
    built_seconds: dict[str, float | None]

    @property
    def label(self) -> str:
        return label(self.selection)

    @property
    def mixed(self) -> bool:
        return len(set(self.releases)) > 1

    @property
    def path(self) -> Path:
        """The one tree of a single-release selection."""
        if self.mixed:
            raise ValueError(
                f"{self.label} is a mixed lab, one tree per host: pass rootfs.paths to HostLab"
            )
        return self.paths[0]

    def release_of(self, index: int) -> str:
        """The Debian release of the ``index``-th host added (0-based)."""
        return self.releases[index % len(self.releases)]


def trees(selection: str) -> LabTrees:
    """The trees of ``selection``, each built first when missing (cached by recipe)."""
    releases = parse(selection)
    paths, built = [], {}
    for release in releases:
        fs = ensure_rootfs(lab_recipe(RELEASES[release]))
        paths.append(fs.path)
        built[release] = fs.build_seconds
    return LabTrees(selection=selection, releases=releases, paths=tuple(paths), built_seconds=built)


_builders: list[threading.Thread] = []


def build_ahead(selected: Iterable[str]) -> list[str]:
    """Start building (in threads) the trees ``selected`` needs that are not cached yet.

    A cold cache then costs one ``debootstrap`` in the background while the
    first file's hosts run on a tree that is there; a test that needs a tree
    still being built waits for it (``ensure_rootfs`` holds one lock per suite).
    Returns the suites started.
    """
    needed = {RELEASES[r] for s in selected for r in parse(s)}
    started = []
    for suite in sorted(needed):
        recipe = lab_recipe(suite)
        if (CACHE_DIR / f"rootfs-{recipe.key}" / ".failover-vrrp-lab.json").is_file():
            continue
        thread = threading.Thread(
            target=_build_quietly, args=(suite,), name=f"rootfs-{suite}", daemon=True
        )
        thread.start()
        _builders.append(thread)
        started.append(suite)
    return started


def _build_quietly(suite: str) -> None:
    # A failure shows again, with its log, when a test asks for the tree.
    try:
        ensure_rootfs(lab_recipe(suite))
    except Exception:
        return


def join_builders() -> None:
    """Wait for the background builds (a debootstrap is never left running)."""
    for thread in _builders:
        thread.join()
