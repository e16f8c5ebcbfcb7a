"""Profile the runner at 510 instances: where a Backup's CPU goes.

Two runners in a lab (r1 Master at priority 200, r2 Backup at 100), each with
255 VRIDs × (IPv4, IPv6) = 510 instances at 1 s (the scale part of
``bench/failover.py``). Once every instance has settled, for ``--seconds``:
CPU % of a core and RSS of both, and ``py-spy record`` on the Backup (and on
the Master with ``--master``), whose flat profile is printed (own time by
function, then time under each of our functions).

    .venv/bin/python bench/profile_backup.py --seconds 30 [--master]

Needs root (the lab) and py-spy (in the venv). On a loaded machine trust the
proportions of the profile more than the absolute CPU figure.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins" / "module_utils"), str(ROOT / "tests")]

from failover import cpu_seconds, rss_mib  # noqa: E402  (bench/, the script's own folder)

from lab import Lab, unique_prefix  # noqa: E402
from lab.runner import RunnerProc  # noqa: E402

VRIDS = 255
PY_SPY = Path(sys.executable).parent / "py-spy"


def instances(priority: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for vrid in range(1, VRIDS + 1):
        common = {"interface": "eth0", "vrid": vrid, "priority": priority, "advert_interval": 1}
        out.append({"name": f"v4-{vrid}", **common, "virtual_addresses": [f"198.51.100.{vrid}/32"]})
        out.append(
            {
                "name": f"v6-{vrid}",
                **common,
                "virtual_addresses": [f"fe80::5:{vrid:x}/64", f"2001:db8:5::{vrid:x}/128"],
            }
        )
    return out


def flat_profile(raw: Path, top: int) -> None:
    """Own and cumulative share of samples per function, from py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = waiting = 0
    for line in raw.read_text().splitlines():
        stack, _sep, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1] for f in stack.split(";")]
        frames = [f.rstrip(")") for f in frames]
        if "selectors.py" in frames[-1]:
            # In epoll_wait's return: on a loaded machine mostly a woken
            # thread waiting for a CPU (py-spy counts it as running).
            waiting += count
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    print(f"{samples} samples in Python code ({waiting} more in or just out of epoll_wait)")
    print("own time:")
    for frame, n in own.most_common(top):
        print(f"  {100 * n / samples:5.1f} %  {frame}")
    print("cumulative:")
    for frame, n in total.most_common(top):
        print(f"  {100 * n / samples:5.1f} %  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--master", action="store_true", help="profile the Master instead")
    args = parser.parse_args()
    with Lab(prefix=unique_prefix()) as lab:
        r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
        r2 = lab.add_router("r2", v4="192.0.2.12/24", v6="2001:db8::12/64")
        master = RunnerProc(lab, r1, {"instances": instances(200), "sync_groups": []})
        backup = RunnerProc(lab, r2, {"instances": instances(100), "sync_groups": []})
        try:
            master.start("--log-level", "info", wait=False)
            backup.start("--log-level", "info", wait=False)

            def settled() -> bool:
                try:
                    m = master.result("state")["instances"].values()
                    b = backup.result("state")["instances"].values()
                except Exception:  # not listening yet
                    return False
                return all(i["state"] == "MASTER" for i in m) and all(
                    i["state"] == "BACKUP" for i in b
                )

            lab.wait_for(settled, timeout=180, interval=0.5, what="510 Masters and Backups")
            time.sleep(5)
            assert master.proc is not None and backup.proc is not None
            pids = {"master": master.proc.pid, "backup": backup.proc.pid}
            target = pids["master" if args.master else "backup"]
            with tempfile.TemporaryDirectory() as tmp:
                raw = Path(tmp) / "profile.txt"
                start = {role: cpu_seconds(pid) for role, pid in pids.items()}
                t0 = time.monotonic()
                spy = [str(PY_SPY), "record", "--pid", str(target), "--rate", "1000"]
                spy += ["--duration", str(int(args.seconds)), "--nonblocking"]
                subprocess.run(  # noqa: S603 (our own py-spy, our own arguments)
                    [*spy, "--format", "raw", "--output", str(raw)],
                    check=True,
                    capture_output=True,
                )
                elapsed = time.monotonic() - t0
                for role, pid in pids.items():
                    pct = (cpu_seconds(pid) - start[role]) / elapsed * 100
                    print(f"{role}: {pct:.2f} % of a core, RSS {rss_mib(pid):.1f} MiB")
                flat_profile(raw, args.top)
        finally:
            master.stop()
            backup.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
