"""Two checkouts' Backups side by side: CPU at 510 instances, same adverts, same moment.

One lab, one Master (this checkout's runner, priority 200) and two Backups
(priority 100) on the same link: ``r2`` runs the engine of ``--other`` (a
checkout, e.g. a ``git archive`` of main), ``r3`` this checkout's. Each has
255 VRIDs × (IPv4, IPv6) = 510 instances at 1 s (the scale part of
``bench/failover.py``). Both hear the same adverts at the same time under
the same machine load, so their CPU figures compare even on a busy machine,
where runs minutes apart do not. Printed per window: CPU % of a core of
each Backup and the ratio this / other.

    .venv/bin/python bench/ab_backup.py --other /tmp/main-copy [--seconds 30 --windows 3]

Needs root (the lab).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins" / "module_utils"), str(ROOT / "tests")]

from failover import cpu_seconds  # noqa: E402  (bench/, the script's own folder)
from profile_backup import instances  # noqa: E402

from lab import Lab, unique_prefix  # noqa: E402
from lab.core import Router  # noqa: E402
from lab.runner import RunnerProc  # noqa: E402


class OtherEngine:
    """The lab, but ``python()`` imports the engine of another checkout."""

    def __init__(self, lab: Lab, other: Path) -> None:
        self._lab = lab
        self._paths = [str(other / "plugins" / "module_utils"), str(other / "tests")]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lab, name)

    def python(self, target: Router, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        if kwargs.pop("read_only", ()):  # RunnerProc.start passes it; no mount here
            raise ValueError("OtherEngine.python: read_only paths are not supported")
        env = dict(kwargs.pop("env", None) or os.environ)
        env["PYTHONPATH"] = os.pathsep.join(self._paths)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return self._lab.popen(target, [sys.executable, *args], env=env, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--other", required=True, type=Path, help="the other checkout")
    parser.add_argument("--seconds", type=float, default=30.0, help="one window")
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/ab_backup.py needs root (network namespaces)")
        return 1
    with Lab(prefix=unique_prefix()) as lab:
        r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
        r2 = lab.add_router("r2", v4="192.0.2.12/24", v6="2001:db8::12/64")
        r3 = lab.add_router("r3", v4="192.0.2.13/24", v6="2001:db8::13/64")
        cfg = {"instances": instances(100), "sync_groups": []}
        master = RunnerProc(lab, r1, {"instances": instances(200), "sync_groups": []})
        other = RunnerProc(OtherEngine(lab, args.other.resolve()), r2, cfg)  # type: ignore[arg-type]
        this = RunnerProc(lab, r3, cfg)
        procs = (master, other, this)
        try:
            for proc in procs:
                proc.start("--log-level", "info", wait=False)

            def settled() -> bool:
                try:
                    views = [p.result("state")["instances"].values() for p in procs]
                except Exception:  # not listening yet
                    return False
                want = ("MASTER", "BACKUP", "BACKUP")
                return all(all(i["state"] == w for i in v) for v, w in zip(views, want))

            lab.wait_for(settled, timeout=180, interval=0.5, what="510 Masters and Backups")
            time.sleep(5)
            pids = {"other": other.proc.pid, "this": this.proc.pid}  # type: ignore[union-attr]
            ratios = []
            for window in range(args.windows):
                start = {k: cpu_seconds(pid) for k, pid in pids.items()}
                t0 = time.monotonic()
                time.sleep(args.seconds)
                elapsed = time.monotonic() - t0
                pct = {k: (cpu_seconds(pid) - start[k]) / elapsed * 100 for k, pid in pids.items()}
                ratios.append(pct["this"] / pct["other"])
                print(
                    f"window {window + 1}: other {pct['other']:.2f} %, this {pct['this']:.2f} % "
                    f"of a core (this / other {ratios[-1]:.2f}), load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            print(f"median this / other: {statistics.median(ratios):.2f}")
            if not settled():
                print("WARNING: a router left its state during the windows")
        finally:
            for proc in procs:
                proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
