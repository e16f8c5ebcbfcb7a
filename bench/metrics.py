"""Cost of one Prometheus scrape of a runner with 510 instances (``make bench``).

The body of ``/metrics`` is generated synchronously on the runner's loop
(``vrrp.metrics``): this measures how long that blocks the loop. A real
:class:`~vrrp.runner.Runner` holds 510 real instances (VRRPv3, IPv4, one
tracked interface each, counters as after a day of adverts and a few drops);
no kernel is touched. Reported, median over the rounds: the runner's
``state()`` + ``stats()`` + ``details()`` alone (on the loop), the whole
``generate_latest`` (those included), the body size and the sample count;
then, while the endpoint's ``body()`` makes scrapes back to back (in slices,
the loop running between), the longest the loop was late to wake a 1 ms timer: what
a scrape costs the runner's timing; and the same while idle, for the box's
own noise.
Written to ``build/bench-metrics.json`` as well.

``python bench/metrics.py [--instances N] [--rounds N]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from ipaddress import ip_address
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins" / "module_utils")]

from prometheus_client.exposition import generate_latest  # noqa: E402

from vrrp import metrics  # noqa: E402
from vrrp.config import load_config  # noqa: E402
from vrrp.instance import Instance  # noqa: E402
from vrrp.runner import Runner  # noqa: E402


def build(loop: asyncio.AbstractEventLoop, count: int, lib_dir: str) -> Runner:
    runner = Runner(config_path="/nonexistent", state_dir=lib_dir, lib_dir=lib_dir)
    instances = [
        {
            "name": f"vr{i:03d}",
            "interface": f"eth{i // 255}",
            "vrid": i % 255 + 1,
            "virtual_addresses": [f"10.{i // 250}.{i % 250}.1/24"],
            "track_interfaces": [{"interface": "uplink", "weight": -20}],
        }
        for i in range(count)
    ]
    for cfg in load_config({"instances": instances}).instances:
        inst = Instance(
            cfg=cfg,
            primary=ip_address("192.0.2.11"),
            loop=loop,
            io=runner.fleet,
            feed=lambda i, e: None,
        )
        inst.stats.update(
            {
                "adverts_sent": 86_400,
                "adverts_received": 3 * 86_400,
                "became_master": 2,
                "became_backup": 3,
                "transition.INIT.BACKUP": 1,
                "transition.BACKUP.MASTER": 2,
                "transition.MASTER.BACKUP": 2,
                "drop.ttl": 4,
                "announcements": 10,
            }
        )
        runner.instances[cfg.name] = inst
    return runner


def median_ms(fn: object, rounds: int) -> float:
    times = []
    for _round in range(rounds):
        start = time.perf_counter_ns()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times)


async def loop_lag_ms(
    server: metrics.MetricsServer | None, rounds: int, idle: float = 0.0
) -> tuple[float, float]:
    """(worst lateness of a 1 ms timer during ``rounds`` scrapes, median scrape ms).

    No server: the same timer while the loop idles ``idle`` seconds per round,
    for the box's own noise.
    """
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            before = loop.time()
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - before - 0.001)

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.01)
    times = []
    for _round in range(rounds):
        start = time.perf_counter_ns()
        if server is None:
            await asyncio.sleep(idle)
        else:
            await server.body()
        times.append((time.perf_counter_ns() - start) / 1e6)
    done = True
    await task
    return worst * 1000, statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=510)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as lib_dir:
        runner = build(loop, args.instances, lib_dir)
        registry = metrics.registry(runner.api)
        body = generate_latest(registry)
        result = {
            "instances": args.instances,
            "rounds": args.rounds,
            "read_state_ms": median_ms(
                lambda: (runner.api.state(), runner.api.stats(), runner.api.details()), args.rounds
            ),
            "generate_latest_ms": median_ms(lambda: generate_latest(registry), args.rounds),
            "body_bytes": len(body),
            "samples": sum(1 for line in body.splitlines() if line and not line.startswith(b"#")),
        }
        server = metrics.MetricsServer(runner.api, listen="127.0.0.1:0")
        lag, scrape = loop.run_until_complete(loop_lag_ms(server, args.rounds))
        idle_lag, _unused = loop.run_until_complete(loop_lag_ms(None, args.rounds, scrape / 1000))
        result.update(scrape_ms=scrape, worst_loop_lag_ms=lag, idle_worst_loop_lag_ms=idle_lag)
        loop.run_until_complete(server.close())
    loop.close()
    for key, value in result.items():
        print(f"{key:20} {value:.2f}" if isinstance(value, float) else f"{key:20} {value}")
    out = ROOT / "build" / "bench-metrics.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
