"""Where a Backup runner's time goes per advert received: py-spy on the lab pair.

Not part of ``make bench`` (it needs nothing but the venv's ``py-spy``, but it
is a diagnosis, not a figure to compare): ``.venv/bin/python bench/advertcost.py``;
with ``--takeover --interval 1 --seconds 6`` it profiles a mass takeover instead.

``r1`` runs our runner as Master of N VRRPv3 instances (default 255 VRIDs ×
IPv4 + IPv6 = 510, 0.1 s: 5100 adverts/s), ``r2`` the same as Backup. Once
converged, over a window: the Backup's CPU (``/proc/PID/stat``) divided by the
adverts the Master sent (instances × window / interval), and ``py-spy record``
(sampling, ``--nonblocking``) of the Backup. Printed: µs per advert, the
functions with the most samples on top of the stack (self) and anywhere in it
(inclusive), in % of the samples taken while the process was on a CPU.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins" / "module_utils"), str(ROOT / "tests"), str(ROOT / "bench")]

from failover import cpu_seconds  # noqa: E402
from mass import BACKUP_PRIORITY, CASES, MASTER_PRIORITY, R1_V4, R2_V4, instances  # noqa: E402

from lab import Lab, unique_prefix  # noqa: E402
from lab.runner import RunnerProc  # noqa: E402

OUT: Final = ROOT / "build" / "advertcost-backup.txt"


def system_seconds(pid: int) -> float:
    """stime of a process, in seconds (/proc/PID/stat field 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def frame_name(frame: str) -> str:
    """``func (path/file.py:line)`` -> ``file.py:func`` (lines vary inside one function)."""
    func, _sep, where = frame.partition(" (")
    return f"{Path(where.split(':')[0]).name}:{func}" if where else func


def summarize(raw: Path, top: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """py-spy's raw (collapsed) output: total samples, top self and inclusive frames."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _sep, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            incl[name] += n
    return total, own.most_common(top), incl.most_common(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--case", choices=list(CASES), default="255x46")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", default=str(OUT), help="py-spy raw output")
    parser.add_argument(
        "--takeover", action="store_true", help="SIGKILL the Master 0.3 s into the window"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/advertcost.py needs root (network namespaces); skipped")
        return 0
    vrids, ipv6 = CASES[args.case]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pyspy = str(Path(sys.executable).parent / "py-spy")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    with Lab(prefix=unique_prefix()) as lab:
        r1 = lab.add_router("r1", v4=f"{R1_V4}/24", v6="2001:db8::11/64")
        r2 = lab.add_router("r2", v4=f"{R2_V4}/24", v6="2001:db8::12/64")
        procs = []
        for router, prio in ((r1, MASTER_PRIORITY), (r2, BACKUP_PRIORITY)):
            config = {"instances": instances(vrids, ipv6, prio, args.interval), "sync_groups": []}
            procs.append(RunnerProc(lab, router, config).start("--log-level", "warning"))
        master, backup = procs
        count = len(instances(vrids, ipv6, 0, args.interval))

        def converged() -> bool:
            m = master.result("state")["instances"].values()
            b = backup.result("state")["instances"].values()
            return all(i["state"] == "MASTER" for i in m) and all(i["state"] == "BACKUP" for i in b)

        lab.wait_for(converged, timeout=180, interval=0.5, what="converged")
        time.sleep(3)
        assert backup.proc is not None
        pid = backup.proc.pid
        cpu0, sys0, t0 = cpu_seconds(pid), system_seconds(pid), time.monotonic()
        spy = subprocess.Popen(  # noqa: S603 - the venv's py-spy
            [pyspy, "record", "--pid", str(pid), "--duration", str(int(args.seconds)),
             "--rate", str(args.rate), "--nonblocking", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if args.takeover:
            time.sleep(0.3)
            assert master.proc is not None
            lab.kill(master.proc, signal.SIGKILL)
        spy.wait()
        cpu, elapsed = cpu_seconds(pid) - cpu0, time.monotonic() - t0
        kernel = system_seconds(pid) - sys0
        states = backup.result("state")["instances"].values()
        backups = sum(i["state"] == "BACKUP" for i in states)
    adverts = count * elapsed / args.interval
    print(
        f"Backup runner, {count} instances at {args.interval:g} s"
        + (", Master killed" if args.takeover else "")
        + f" ({backups} BACKUP at the end): "
        f"{cpu / elapsed * 100:.1f} % of a core ({kernel / elapsed * 100:.1f} in the kernel) "
        f"over {elapsed:.1f} s"
        + ("" if args.takeover else f", {adverts / elapsed:.0f} adverts/s, "
                                    f"{cpu / adverts * 1e6:.1f} µs per advert")
    )  # fmt: skip
    total, own, incl = summarize(out, args.top)
    print(f"\npy-spy: {total} samples on CPU ({out})")
    print(f"{'self %':>7}  function")
    for name, n in own:
        print(f"{n / total * 100:7.1f}  {name}")
    print(f"\n{'incl %':>7}  function")
    for name, n in incl:
        print(f"{n / total * 100:7.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
