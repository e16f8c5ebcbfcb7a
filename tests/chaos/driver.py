"""The chaos driver: random faults from a seed, invariants after each, loss per fault.

``python -m chaos.driver --seed N --duration S`` (root; ``make chaos``). Builds
the scenario (``chaos.scenario``), starts the probe flow (``chaos.probe``) and
then, until ``duration`` has passed, draws a fault class and a target from the
seeded RNG, runs the fault's steps and after each lets it settle and checks the
invariants (``chaos.observe``). Prints the fault log and a table (faults,
violations, probe loss per fault class), writes the same as JSON, and exits 1
on any violation, naming the seed that replays the run.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from lab import Lab, unique_prefix

from .faults import FAULTS, Step, reset
from .observe import Health, loss_in, probe_report, settle
from .scenario import INTERVAL, ROUTERS, SPECS, World

# Master_Down_Interval + Skew_Time at 0.1 s and priority 1, before a first look
MIN_WAIT_S: Final = 3 * INTERVAL + 2 * INTERVAL
STABLE_POLLS: Final = 2


@dataclass
class StepResult:
    what: str
    settled_s: float
    violations: list[str]


@dataclass
class FaultResult:
    index: int
    kind: str
    start: float
    end: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None
    sent: int = 0
    lost: int = 0
    longest_outage_ms: float = 0.0

    @property
    def violations(self) -> list[str]:
        out = [v for s in self.steps for v in s.violations]
        return [*out, f"fault raised: {self.error}"] if self.error else out


def _settle(world: World, health: Health, step: Step, timeout: float) -> StepResult:
    time.sleep(MIN_WAIT_S)
    started = time.monotonic()
    found: list[str] = []
    for _round in range(STABLE_POLLS):  # hold twice in a row, not once by luck mid-takeover
        left = max(0.5, timeout - (time.monotonic() - started))
        _elapsed, found = settle(world, timeout=left, split_brain_ok=step.split_brain_ok)
        if found:
            break
    found += health.check()
    return StepResult(step.what, round(MIN_WAIT_S + time.monotonic() - started, 2), found)


def run_faults(
    world: World,
    rng: random.Random,
    *,
    kinds: list[str],
    duration: float,
    count: int | None,
    settle_s: float,
) -> list[FaultResult]:
    health = Health(world)
    results = [FaultResult(0, "startup", time.monotonic())]
    results[0].steps.append(_settle(world, health, Step("all runners started"), settle_s))
    results[0].end = time.monotonic()
    deadline = time.monotonic() + duration

    def more() -> bool:
        return len(results) - 1 < count if count is not None else time.monotonic() < deadline

    while more():
        kind = rng.choice(kinds)
        result = FaultResult(len(results), kind, time.monotonic())
        results.append(result)
        try:
            for step in FAULTS[kind](world, rng):
                result.steps.append(_settle(world, health, step, settle_s))
                print(f"  [{result.index}] {kind}: {step.what} -> "
                      f"{'ok' if not result.steps[-1].violations else 'VIOLATION'} "
                      f"({result.steps[-1].settled_s} s)", flush=True)  # fmt: skip
        except Exception as exc:  # a fault that breaks is a finding (then a reset), not the end
            result.error = f"{exc!r}\n{traceback.format_exc()[-1500:]}"
            print(f"  [{result.index}] {kind}: raised {exc!r}", flush=True)
        if result.violations:
            try:
                reset(world)
                result.steps.append(_settle(world, health, Step("reset"), settle_s))
            except Exception as exc:  # a lab that cannot be reset ends the run
                result.error = (result.error or "") + f"\nreset failed: {exc!r}"
                result.end = time.monotonic()
                break
            verdict = "VIOLATION" if result.steps[-1].violations else "ok"
            print(f"  [{result.index}] reset -> {verdict}", flush=True)
        result.end = time.monotonic()
    return results


def summarize(results: list[FaultResult]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for r in results:
        row = table.setdefault(r.kind, {"faults": 0, "violations": 0, "sent": 0, "lost": 0,
                                        "longest_outage_ms": 0.0})  # fmt: skip
        row["faults"] += 1
        row["violations"] += 1 if r.violations else 0
        row["sent"] += r.sent
        row["lost"] += r.lost
        row["longest_outage_ms"] = max(row["longest_outage_ms"], r.longest_outage_ms)
    return dict(sorted(table.items()))


def markdown(table: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| fault class | injected | with violations | probes sent | lost | loss % "
        "| longest outage ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, row in table.items():
        pct = 100 * row["lost"] / row["sent"] if row["sent"] else 0.0
        lines.append(f"| {kind} | {row['faults']} | {row['violations']} | {row['sent']} | "
                     f"{row['lost']} | {pct:.2f} | {row['longest_outage_ms']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos.driver", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (default: random)")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of faults")
    parser.add_argument("--count", type=int, default=None, help="this many faults (not --duration)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds a fault may take")
    parser.add_argument("--faults", default="", help="comma-separated fault classes (all)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    kinds = [k for k in args.faults.split(",") if k] or sorted(FAULTS)
    unknown = sorted(set(kinds) - set(FAULTS))
    if unknown:
        parser.error(f"unknown fault classes {unknown}; known: {sorted(FAULTS)}")
    how_long = f"{args.count} faults" if args.count is not None else f"{args.duration:g} s"
    print(f"chaos: seed {seed}, {how_long}, faults {kinds}", flush=True)
    rng = random.Random(seed)
    with Lab(prefix=unique_prefix()) as lab:
        world = World(lab)
        world.start_all()
        probe = lab.python(world.client, ["-m", "chaos.probe", *(s.probe for s in SPECS)])
        try:
            results = run_faults(world, rng, kinds=kinds, duration=args.duration,
                                 count=args.count, settle_s=args.settle)  # fmt: skip
        finally:
            lab.kill(probe, signal.SIGTERM)
            probe.wait(timeout=30)
        report = probe_report(lab.log_of(probe))
        logs = {name: world.runners[name].log()[-4000:] for name in ROUTERS}
    for r in results:
        r.sent, r.lost, r.longest_outage_ms = loss_in(report, r.start, r.end)
    table = summarize(results)
    # the same faults in the same order, however long each takes on this box
    replay = f"make chaos SEED={seed} COUNT={len(results) - 1}"
    if args.faults:
        replay += f" CHAOS_FAULTS={args.faults}"
    failed = [r for r in results if r.violations]
    out = {
        "seed": seed,
        "duration": args.duration,
        "replay": replay,
        "faults": [{**asdict(r), "violations": r.violations} for r in results],
        "by_class": table,
        "violations": len(failed),
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    print("\n" + markdown(table))
    for r in failed:
        print(f"\nVIOLATION in fault [{r.index}] {r.kind} (seed {seed}):")
        for s in r.steps:
            print(f"  step: {s.what} (settled {s.settled_s} s)")
            for v in s.violations:
                print("    - " + v.replace("\n", "\n      "))
        if r.error:
            print("    - raised: " + r.error.replace("\n", "\n      "))
    if failed:
        print(f"\nchaos: {len(failed)} of {len(results)} faults broke an invariant; "
              f"replay with: {replay}")  # fmt: skip
        if any("runner log" in v or "runner exited" in v for r in failed for v in r.violations):
            print("\nrunner log tails:\n" + json.dumps(logs, indent=1)[:8000])
        return 1
    print(f"\nchaos: {len(results) - 1} faults, no violation; replay with: {replay}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
