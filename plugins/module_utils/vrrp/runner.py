"""The runner: one asyncio loop that makes the VRRP core true on a Linux host.

``PYTHONPATH=plugins/module_utils python3 -m vrrp.runner --config FILE|DIR
[--state-dir DIR] [--lib-dir DIR] [--check]``

This module is the daemon's composition root and reactor: it builds the
parts, owns the loop, the signals, the watchdog and the one :meth:`Runner.feed`
through which every event reaches a state machine (through its sync group
if it has one), and decides when to reload (SIGHUP or the control socket:
the new config is validated as a whole first, then applied all or nothing)
and when to stop (SIGTERM: priority-0 adverts, addresses removed). The parts:

- :mod:`.fleet`: the running set of instances and sync groups; applies a
  reload as :mod:`.reload_plan` plans it; trackers; advert dispatch;
- :mod:`.follow`: netlink link and address events, link probes, start-up;
- :mod:`.hostio`: the kernel behind the ``HostIo`` protocol;
- :mod:`.notifier`: hooks and sd_notify status;
- :mod:`.control_api` over :mod:`.control`: the control socket's commands;
- :func:`vrrp.config.check`: ``--check``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Coroutine, Sequence
from typing import Any, Final

from . import sdnotify
from .config import Config, check, check_host, load_isolated
from .control import ControlServer
from .control_api import ControlApi
from .errors import ConfigError, VRRPError
from .fleet import Fleet, Tagged, core_error
from .fsm import Event, Transition
from .group import SyncGroup
from .hooks import HookRunner
from .hostio import HostIo, KernelIo
from .instance import Instance, carry_out, records_last
from .linux.watch import LinkWatcher
from .notifier import Notifier
from .persist import RuntimeState
from .version import __version__

log = logging.getLogger("failover-vrrp")

DEFAULT_STATE_DIR: Final = "/run/failover-vrrp"
DEFAULT_LIB_DIR: Final = "/var/lib/failover-vrrp"
PROBE_INTERVAL: Final = 0.1
# How often the accept-mode table is compared with what it should be (only
# while it should hold addresses): someone's "nft flush ruleset" is undone.
ACCEPT_VERIFY_INTERVAL: Final = 5.0


class Runner:
    """The daemon's composition root and reactor. See the module docstring."""

    def __init__(
        self,
        *,
        config_path: str,
        state_dir: str,
        lib_dir: str,
        metrics_listen: str | None = None,
        io: HostIo | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config_path = config_path
        self.metrics_listen = metrics_listen  # the flag; else the config's metrics_listen
        self.state_dir = state_dir
        self.lib_dir = lib_dir
        self.counters: Counter[str] = Counter()
        self.loop = asyncio.get_event_loop() if loop is None else loop
        self.stop_event = asyncio.Event()
        instances: dict[str, Instance] = {}
        self.notifier = Notifier(instances=instances, hooks=HookRunner(), loop=self.loop)
        if io is None:
            io = KernelIo(loop=self.loop, on_datagrams=self._on_datagrams)
        self.io = io
        self.fleet = Fleet(
            loop=self.loop,
            instances=instances,
            io=io,
            notifier=self.notifier,
            runtime=RuntimeState.load(lib_dir),
            counters=self.counters,
            feed=self.feed,
            execute_tagged=self._execute_tagged,
        )
        self.api = ControlApi(
            instances=instances,
            runtime=self.fleet.runtime,
            counters=self.counters,
            socket_drops=io.socket_drops,
            notifier=self.notifier,
            now=self.loop.time,
            feed=self.feed,
            tracked=self.fleet.tracked,
            reload=self.reload,
        )
        self.control = ControlServer(os.path.join(state_dir, "control.sock"), self.api)
        self._probe_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._metrics: Any = None  # a metrics.MetricsServer while serving
        # Until startup_delay is over: the virtual routers are not started, a
        # reload only takes the new config for when they are.
        self._starting = False
        self._pending = Config()

    async def _follow_metrics(self) -> None:
        """Serve metrics where the flag or the config says (off: nothing is imported)."""
        listen = self.metrics_listen or self.config.metrics_listen
        if listen is not None or self._metrics is not None:
            from .metrics import follow  # noqa: PLC0415

            self._metrics = await follow(self._metrics, self.api, listen)

    def _on_datagrams(self, key: tuple[str, int]) -> None:
        # The fleet is made after the host I/O that calls this.
        self.fleet.on_datagrams(key)

    # The running set, as the fleet holds it.
    @property
    def instances(self) -> dict[str, Instance]:
        return self.fleet.instances

    @property
    def groups(self) -> dict[str, SyncGroup]:
        return self.fleet.groups

    @property
    def config(self) -> Config:
        return self.fleet.config

    @config.setter
    def config(self, config: Config) -> None:
        self.fleet.config = config

    @property
    def watcher(self) -> LinkWatcher | None:
        return self.fleet.watcher

    @watcher.setter
    def watcher(self, watcher: LinkWatcher | None) -> None:
        self.fleet.watcher = watcher

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        config = await load_isolated(self.config_path)
        check_host(config)
        self.config = Config()  # nothing runs until the routers start
        os.makedirs(self.state_dir, mode=0o755, exist_ok=True)
        os.makedirs(self.lib_dir, mode=0o700, exist_ok=True)
        self.io.reset_accept_filter()
        self.watcher = LinkWatcher()
        self.loop.add_reader(self.watcher.fileno(), self.fleet.on_netlink)
        for signum, handler in (
            (signal.SIGTERM, self.stop_event.set),
            (signal.SIGINT, self.stop_event.set),
            (signal.SIGHUP, self._reload_on_signal),
        ):
            self.loop.add_signal_handler(signum, handler)
        watchdog = asyncio.ensure_future(self._watchdog_loop())
        self._pending = config
        if config.startup_delay > 0:
            self._starting = True
            await self.control.start()
            if not await self._startup_delay(config.startup_delay):
                return await self._shutdown(watchdog)
        self._starting = False
        self.fleet.apply(self._pending, previous=None)
        self.config = self._pending
        if config.startup_delay <= 0:
            await self.control.start()
        await self._follow_metrics()
        self._probe_task = asyncio.ensure_future(self._probe_loop())
        verify = asyncio.ensure_future(self._accept_verify_loop())
        sdnotify.ready(self.notifier.status())
        log.info("failover-vrrp %s running %d instance(s)", __version__, len(self.instances))
        await self.stop_event.wait()
        verify.cancel()
        return await self._shutdown(watchdog)

    async def _startup_delay(self, delay: float) -> bool:
        """Wait ``delay`` (keepalived's vrrp_startup_delay) with nothing started; False: stopped.

        systemd hears READY at once (a long delay must not time the unit
        out), and the control socket answers: no instance yet, and a reload
        takes the new config for when the routers start.
        """
        log.info("startup_delay: starting the virtual routers in %g s", delay)
        sdnotify.ready(f"startup_delay: virtual routers start in {delay:g} s")
        try:
            await asyncio.wait_for(self.stop_event.wait(), timeout=delay)
        except asyncio.TimeoutError:
            log.info("startup_delay over: starting the virtual routers")
            return True
        return False

    async def _shutdown(self, watchdog: asyncio.Future[Any]) -> int:
        sdnotify.stopping()
        log.info("stopping: releasing every virtual router")
        watchdog.cancel()
        if self._probe_task is not None:
            self._probe_task.cancel()
        now = self.loop.time()
        for group in self.groups.values():
            # All members at once: each Master sends its priority-0 advert.
            self._execute_tagged(group.stop(now))
        for name in list(self.instances):
            self.fleet.remove_instance(name)
        self.fleet.vmacs.close()
        await self.fleet.close_trackers()
        await self.control.close()
        if self._metrics is not None:
            await self._metrics.close()
        await self.notifier.hooks.close()
        self.io.reset_accept_filter()
        self.io.close()
        if self.watcher is not None:
            self.loop.remove_reader(self.watcher.fileno())
            self.watcher.close()
        return 0

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _reload_on_signal(self) -> None:
        async def reload() -> None:
            with contextlib.suppress(ConfigError):  # logged by reload()
                await self.reload()

        self._spawn(reload())

    async def _watchdog_loop(self) -> None:
        interval = sdnotify.watchdog_interval()
        if interval is None:
            return
        while True:
            sdnotify.watchdog()
            await asyncio.sleep(interval / 2)

    async def _accept_verify_loop(self) -> None:
        while True:
            await asyncio.sleep(ACCEPT_VERIFY_INTERVAL)
            if not self.io.verify_accept_filter():
                self.counters["accept_filter_restored"] += 1

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            self.fleet.probe_links()

    # ------------------------------------------------------------- dispatch

    def feed(self, inst: Instance, event: Event) -> None:
        """Give one event to an instance (through its sync group if it has one)."""
        now = self.loop.time()
        try:
            group = self.groups.get(inst.group) if inst.group else None
            if group is None:
                inst.execute(inst.router.handle(event, now))
                return
            self._execute_tagged(group.handle(inst.name, event, now))
        except VRRPError as exc:
            core_error(self.counters, inst.name, event, exc)

    def _execute_tagged(self, tagged: Tagged) -> None:
        """Carry out a sync group's actions: every member's VIPs before any
        record (hook), Transitions last; a group's notification after its
        members' records (which may wait for new IPv6 VIPs: instance.carry_out)."""
        steps = []
        moved: dict[str, str] = {}  # group -> cause of its members' last transition
        for member, action in records_last(tagged, lambda item: item[1]):
            target = self.instances.get(member)
            if target is not None:
                steps.append((target, action))
                if target.group is not None and isinstance(action, Transition):
                    moved[target.group] = f"{member}: {action.cause}"

        def notify() -> None:
            for name, cause in moved.items():
                group = self.groups.get(name)
                if group is not None:
                    self.notifier.group_transition(group, cause)

        carry_out(steps, then=notify if moved else None)
        for target in {id(inst): inst for inst, _action in steps}.values():
            target.follow_successor_watch()

    # ---------------------------------------------------------------- reload

    async def reload(self) -> dict[str, Any]:
        """Validate the config on disk as a whole, then apply it (or keep the old one)."""
        try:
            config = await load_isolated(self.config_path)
            check_host(config)
            if self._starting:
                # The routers start with it when startup_delay is over.
                self._pending = config
                return {}
            report = self.fleet.apply(config, previous=self.config)
            self.io.sync_accept_filter()  # accept or priority changed in place
        except ConfigError as exc:
            self.counters["reloads_refused"] += 1
            log.error("reload refused, still running the previous config: %s", exc)
            raise
        self.counters["reloads"] += 1
        await self._follow_metrics()
        log.info(
            "reloaded: %s",
            "; ".join(f"{k} {', '.join(v)}" for k, v in report.items() if v) or "no instances",
        )
        sdnotify.status(self.notifier.status())
        return report


def _setup_logging(level: str) -> None:
    fmt = "%(levelname)s %(message)s"
    if "JOURNAL_STREAM" not in os.environ:
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=getattr(logging, level.upper()), format=fmt, stream=sys.stderr)


def _listen_address(text: str) -> str:
    from .metrics import ListenAddressError, parse_listen  # noqa: PLC0415

    try:
        parse_listen(text)
    except ListenAddressError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vrrp.runner", description=__doc__.split("\n", maxsplit=1)[0]
    )
    parser.add_argument(
        "--config", required=True, help="config file (YAML/JSON) or fragment directory"
    )
    parser.add_argument(
        "--state-dir", default=DEFAULT_STATE_DIR, help="runtime dir (control socket)"
    )
    parser.add_argument("--lib-dir", default=DEFAULT_LIB_DIR, help="persistent runtime state dir")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    parser.add_argument(
        "--metrics-listen",
        metavar="ADDR:PORT",
        type=_listen_address,
        help="serve Prometheus metrics there (overrides metrics_listen; [::1]:PORT for IPv6)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    args = parser.parse_args(argv)
    if args.check:
        return check(args.config)
    _setup_logging(args.log_level)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        runner = Runner(
            config_path=args.config,
            state_dir=args.state_dir,
            lib_dir=args.lib_dir,
            metrics_listen=args.metrics_listen,
        )
        return loop.run_until_complete(runner.run())
    except ConfigError as exc:
        log.error("%s: %s", args.config, exc)
        return 1
    except VRRPError as exc:
        log.error("cannot start: %s", exc)
        return 1
    finally:
        loop.close()


if __name__ == "__main__":
    raise SystemExit(main())
