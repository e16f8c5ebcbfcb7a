"""Where a Backup's reaction goes: stamps on the takeover path of our runner.

Not part of ``make bench`` (a diagnosis, not a figure to compare):
``.venv/bin/python bench/reaction.py --interval 0.1 --trials 5`` runs
``bench/failover.py --impl ours --no-scale`` with the runners stamped
(``bench/reaction_stamps/sitecustomize.py``), then prints, for every
Master_Down expiry that made a Master, in ms (median, min, max):

- late: the loop callback that expires the timer, after the deadline;
- to add: from that callback to the VIP's netlink request (the core's step,
  the address code before the request);
- record: the Transition's record alone (log line, notifier), made after the
  addresses, the announcement and the first advert;
- add_vip: the netlink requests adding the instance's VIPs
  (``AddressChannel.add``, over the socket the runner keeps open);
- VIP added: the end of that request, after the deadline.

The stamps cost a few µs each: compare runs of this script, not with
``bench/failover.py``'s figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
STAMPS: Final = ROOT / "bench" / "reaction_stamps"


def takeovers(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """One dict of step durations (ms) per Master_Down expiry that made a Master."""
    out = []
    for row in rows:
        if row["step"] != "expire" or row["state"] != "MASTER":
            continue
        inside = [
            r for r in rows if r["pid"] == row["pid"] and row["start"] <= r["start"] <= row["end"]
        ]
        steps = {r["step"]: r for r in inside}
        add, record = steps.get("add_vip"), steps.get("record")
        if add is None:
            continue
        deadline = row["deadline"]
        item = {
            "late": row["fired"] - deadline,
            "to add": add["start"] - row["fired"],
            "add_vip": add["end"] - add["start"],
            "VIP added": add["end"] - deadline,
        }
        if record is not None:
            item["record"] = record["end"] - record["start"]
        out.append({k: v * 1000 for k, v in item.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--interval", type=float, action="append", help="advert interval(s)")
    parser.add_argument("--trials", type=int, default=5, help="trials per scenario")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        stamps = Path(tmp) / "stamps.jsonl"
        env = dict(os.environ, REACTION_STAMPS=str(stamps), PYTHONPATH=str(STAMPS))
        bench = [sys.executable, str(ROOT / "bench" / "failover.py"), "--impl", "ours"]
        bench += ["--no-scale", "--trials", str(args.trials), "--out", str(Path(tmp) / "f.json")]
        for interval in args.interval or [0.1]:
            bench += ["--interval", str(interval)]
        subprocess.run(bench, env=env, check=True)  # noqa: S603 - our own bench
        rows = [json.loads(line) for line in stamps.read_text(encoding="utf-8").splitlines()]
    found = takeovers(rows)
    print(f"\n{len(found)} takeovers by Master_Down expiry, ms after the deadline / per step:")
    for key in ("late", "to add", "record", "add_vip", "VIP added"):
        values = [t[key] for t in found if key in t]
        if values:
            print(
                f"  {key:<10} median {statistics.median(values):6.3f}"
                f"  min {min(values):6.3f}  max {max(values):6.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
