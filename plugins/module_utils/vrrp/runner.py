"""The runner: one asyncio loop that makes the VRRP core true on a Linux host.

``PYTHONPATH=plugins/module_utils python3 -m vrrp.runner --config FILE|DIR
[--state-dir DIR] [--lib-dir DIR] [--check]``

It feeds kernel events (VRRP datagrams, netlink link and address changes,
probe results, tracker results) and timer expiries to the state machines and
carries out the actions they return. It owns reload (SIGHUP or the control
socket: the new config is validated as a whole first, then applied as planned
by :mod:`.reload_plan`, all or nothing; unchanged instances and those changed
in place keep their state and rhythm), graceful stop on SIGTERM (priority-0 adverts,
addresses removed), sd_notify readiness and watchdog, notify hooks and the
control socket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from ipaddress import ip_address
from typing import Any, Final

from . import reload_plan, sdnotify
from .cli import complain, say
from .config import Config, load, load_isolated
from .config_types import Notify
from .control import ControlServer
from .errors import ConfigError, ControlError, NetlinkError, PacketError, VRRPError
from .follow import UNSPECIFIED, HostFollower
from .fsm import (
    AdvertReceived,
    Event,
    FaultCleared,
    FaultRaised,
    PriorityChanged,
    Reconfigure,
    Resign,
    Shutdown,
    State,
    Transition,
)
from .group import GROUP_FAULT_PREFIX, SyncGroup
from .hooks import HookRunner, group_state_word
from .instance import Instance, IPInterface, router_params, trackers_of
from .linux import addresses, link
from .linux.announce import Announcer, mac_bytes
from .linux.sockets import VrrpSocket
from .linux.watch import LinkWatcher
from .packet import Advertisement, decode
from .persist import RuntimeState
from .source import IPAddress
from .tracking import Tracking, TrackResult
from .trackio import FileTracker, ScriptTracker
from .version import __version__

log = logging.getLogger("failover-vrrp")

DEFAULT_STATE_DIR: Final = "/run/failover-vrrp"
DEFAULT_LIB_DIR: Final = "/var/lib/failover-vrrp"
PROBE_INTERVAL: Final = 0.1
# The source of every advert heard, parsed once per address (the same few
# peers send every interval); bounded, as a stranger may send from anywhere.
_source_address: Final = functools.lru_cache(maxsize=1024)(ip_address)


class Runner(HostFollower):
    """The daemon. See the module docstring."""

    def __init__(
        self, *, config_path: str, state_dir: str, lib_dir: str, metrics_listen: str | None = None
    ) -> None:
        self.config_path = config_path
        self.metrics_listen = metrics_listen  # the flag; else the config's metrics_listen
        self.state_dir = state_dir
        self.lib_dir = lib_dir
        self.config = Config(instances=(), sync_groups=())
        self.instances: dict[str, Instance] = {}
        self.groups: dict[str, SyncGroup] = {}
        self.group_notify: dict[str, Notify] = {}
        self._group_words: dict[str, str] = {}  # group -> the state its hooks last saw
        # _virtual_addresses_on(): VIPs per interface, for this set of instances
        self._instances_generation = 0
        self._vips_generation = -1
        self._vips_on: dict[str, frozenset[IPAddress]] = {}
        self.by_vrid: dict[tuple[str, int, int], Instance] = {}
        # (parent, version, vrid) of VMAC instances: their adverts are heard on
        # the VMAC; a copy the parent's socket also gets is no stranger's.
        self.heard_on_vmac: set[tuple[str, int, int]] = set()
        self.sockets: dict[tuple[str, int], VrrpSocket] = {}
        self.announcers: dict[str, Announcer] = {}
        self.scripts: dict[str, ScriptTracker] = {}
        self.files: FileTracker | None = None
        self.counters: Counter[str] = Counter()
        self.started = time.time()
        self.loop = asyncio.get_event_loop()
        self.stop_event = asyncio.Event()
        self.watcher: LinkWatcher | None = None
        self.runtime = RuntimeState.load(lib_dir)
        self.hooks = HookRunner()
        self.control = ControlServer(os.path.join(state_dir, "control.sock"), self)
        self.probe_methods: dict[str, str] = {}
        self._address_view: dict[tuple[str, int], list[str]] | None = None
        self._attached: dict[str, int] = {}
        self._probe_seen: dict[str, str] = {}  # ifname -> last probe result acted on
        self._probe_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._metrics: Any = None  # a metrics.MetricsServer while serving

    async def _follow_metrics(self) -> None:
        """Serve metrics where the flag or the config says (off: nothing is imported)."""
        listen = self.metrics_listen or self.config.metrics_listen
        if listen is not None or self._metrics is not None:
            from .metrics import follow  # noqa: PLC0415

            self._metrics = await follow(self._metrics, self, listen)

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        self.config = await load_isolated(self.config_path)
        os.makedirs(self.state_dir, mode=0o755, exist_ok=True)
        os.makedirs(self.lib_dir, mode=0o700, exist_ok=True)
        self.watcher = LinkWatcher()
        self.loop.add_reader(self.watcher.fileno(), self._on_netlink)
        self._apply(self.config, previous=None)
        await self.control.start()
        await self._follow_metrics()
        for signum, handler in (
            (signal.SIGTERM, self.stop_event.set),
            (signal.SIGINT, self.stop_event.set),
            (signal.SIGHUP, self._reload_on_signal),
        ):
            self.loop.add_signal_handler(signum, handler)
        self._probe_task = asyncio.ensure_future(self._probe_loop())
        watchdog = asyncio.ensure_future(self._watchdog_loop())
        sdnotify.ready(self._status())
        log.info("failover-vrrp %s running %d instance(s)", __version__, len(self.instances))
        await self.stop_event.wait()
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
            self._remove_instance(name)
        await self._close_trackers()
        await self.control.close()
        if self._metrics is not None:
            await self._metrics.close()
        await self.hooks.close()
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

    def _status(self) -> str:
        counts = Counter(inst.router.state.value for inst in self.instances.values())
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no instances"

    async def _watchdog_loop(self) -> None:
        interval = sdnotify.watchdog_interval()
        if interval is None:
            return
        while True:
            sdnotify.watchdog()
            await asyncio.sleep(interval / 2)

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
            # A bug in the core must not take the host's routers down with it.
            self.counters["core_errors"] += 1
            log.exception("%s: %s while handling %r: %s", inst.name, type(exc).__name__, event, exc)

    def _execute_tagged(self, tagged: Sequence[tuple[str, Any]]) -> None:
        moved: dict[str, str] = {}  # group -> cause of its members' last transition
        for member, action in tagged:
            target = self.instances.get(member)
            if target is not None:
                target.execute([action])
                if target.group is not None and isinstance(action, Transition):
                    moved[target.group] = f"{member}: {action.cause}"
        for name, cause in moved.items():
            self._group_transition(name, cause)

    def _group_transition(self, name: str, cause: str) -> None:
        """Run a sync group's own hooks once per change of the group's state."""
        group = self.groups.get(name)
        if group is None:
            return
        word = group_state_word(
            (router.state.value, router.enabled) for router in group.routers.values()
        )
        old = self._group_words.get(name)
        if word is None or word == old:
            return
        self._group_words[name] = word
        log.info("sync group %s: %s -> %s: %s", name, old or "INIT", word, cause)
        notify = self.group_notify.get(name)
        argv = getattr(notify, word.lower(), None) if notify is not None else None
        if notify is not None and argv:
            self.hooks.submit_group_transition(
                name, list(argv), new_state=word, old_state=old, cause=cause, timeout=notify.timeout
            )

    # -------------------------------------------------------------- receive

    def _on_datagrams(self, key: tuple[str, int]) -> None:
        sock = self.sockets.get(key)
        if sock is None:
            return
        ifname, version = key
        for rx in sock.receive():
            payload = rx.payload
            if len(payload) < 2:
                self.counters["drop.length"] += 1
                continue
            inst = self.by_vrid.get((ifname, version, payload[1]))
            if inst is None:
                if (ifname, version, payload[1]) not in self.heard_on_vmac:
                    self.counters["drop.unknown_vrid"] += 1
                continue
            try:
                advert = decode(
                    payload,
                    src=rx.src,
                    dst=rx.dst,
                    ttl=rx.ttl,
                    any_unicast_ttl=inst.any_unicast_ttl,
                )
            except PacketError as exc:
                inst.stats[f"drop.{exc.reason}"] += 1
                continue
            inst.stats["adverts_received"] += 1
            if advert.priority == 0:
                inst.stats["priority_zero_received"] += 1
            self.feed(inst, AdvertReceived(advert, _source_address(rx.src)))

    # ---------------------------------------------------------------- links

    async def _probe_loop(self) -> None:
        """Poll the best classic probe: a driver that sends no carrier event is still caught."""
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            for ifname, method in list(self.probe_methods.items()):
                if method == link.NETLINK:
                    continue  # no classic probe works here: events only
                result = link.probe(ifname, method)
                if (
                    result.result == link.UNSUPPORTED
                    or self._probe_seen.get(ifname) == result.result
                ):
                    continue  # unchanged since every instance was told: nothing to do
                self._probe_seen[ifname] = result.result
                reason = f"probe:{method}"
                for inst in list(self.instances.values()):
                    if inst.ifname != ifname:
                        continue
                    down = result.result == link.DOWN
                    if down and reason not in inst.router.faults:
                        self.feed(inst, FaultRaised(reason))
                    elif not down and reason in inst.router.faults:
                        self.feed(inst, FaultCleared(reason))

    # -------------------------------------------------------------- tracking

    def _tracked(self, inst: Instance, result: TrackResult) -> None:
        for reason in sorted(result.faults - inst.router.faults):
            self.feed(inst, FaultRaised(reason))
        for reason in sorted(
            r for r in inst.router.faults if r.startswith("track:") and r not in result.faults
        ):
            self.feed(inst, FaultCleared(reason))
        if result.effective_priority != inst.router.effective_priority:
            self.feed(inst, PriorityChanged(result.effective_priority))

    def _script_result(self, name: str, ok: bool) -> None:
        for inst in list(self.instances.values()):
            if any(t.name == name for t in inst.cfg.track_scripts):
                self._tracked(inst, inst.tracking.set_script(name, ok=ok))

    def _file_result(self, path: str, value: int) -> None:
        for inst in list(self.instances.values()):
            if any(t.path == path for t in inst.cfg.track_files):
                self._tracked(inst, inst.tracking.set_file(path, value=value))

    async def _close_trackers(self) -> None:
        for tracker in self.scripts.values():
            await tracker.close()
        self.scripts.clear()
        if self.files is not None:
            await self.files.close()
            self.files = None

    def _start_trackers(self) -> None:
        specs = {t.name: t for inst in self.instances.values() for t in inst.cfg.track_scripts}
        for name in list(self.scripts):
            if name not in specs or specs[name] != self.scripts[name].spec:
                self._spawn(self.scripts.pop(name).close())
        for name, spec in specs.items():
            if name not in self.scripts:
                tracker = ScriptTracker(spec=spec, report=self._script_result)
                self.scripts[name] = tracker
                tracker.start()
        paths = {t.path for inst in self.instances.values() for t in inst.cfg.track_files}
        if self.files is None and paths:
            self.files = FileTracker(paths=paths, report=self._file_result)
            self.files.poll()
            self.files.start()
        elif self.files is not None:
            self.files.paths = paths
            self.files.poll()

    # ---------------------------------------------------------------- config

    def _apply(self, config: Config, *, previous: Config | None) -> dict[str, list[str]]:
        """Make the running set match ``config``, all or nothing (see :mod:`.reload_plan`).

        What can be built without touching the running set is built first: a
        bad value there refuses the reload with nothing changed. A failure
        while applying (the kernel, a bug) puts the previous definitions back
        and refuses the reload, naming what failed; the runner runs on.
        """
        running = {name: inst.cfg for name, inst in self.instances.items()}
        plan = reload_plan.plan(running, previous, config)
        wanted = {cfg.name: cfg for cfg in config.instances}
        position = {cfg.name: i for i, cfg in enumerate(config.instances)}
        doing = "checking the new definitions"
        undo: list[Callable[[], None]] = []
        self._probe_seen.clear()  # new instances must hear the next probe result
        try:
            for name in plan.changed:  # a bad value refuses before anything moved
                doing = name
                cfg = wanted[name]
                router_params(cfg, primary=self.instances[name].router.params.primary_address)
                Tracking(base_priority=cfg.priority, trackers=trackers_of(cfg))
            fresh = sorted((*plan.added, *plan.recreated), key=position.__getitem__)
            created = []
            for name in fresh:
                doing = name
                created.append(self._new_instance(wanted[name], group=plan.group_of.get(name)))
            # The groups are built again at the end; until then every member is
            # fed on its own, so that one leaving does not pull the others along.
            self.groups = {}
            for name in plan.changed:
                doing = name
                inst = self.instances[name]
                undo.append(functools.partial(self._reconfigure, inst, inst.cfg, group=inst.group))
                self._reconfigure(inst, wanted[name], group=plan.group_of.get(name))
            for name in plan.recreated:
                doing = name
                undo.append(functools.partial(self._restart, self.instances[name].cfg))
                self._remove_instance(name)
            for inst in created:
                doing = inst.name
                undo.append(functools.partial(self._remove_instance, inst.name))
                self._register(inst)
            doing = "building the sync groups"
            self._build_groups(config)
            self._start_trackers()
            for inst in created:
                doing = inst.name
                self._start_instance(inst)
            for name in plan.removed:
                doing = name
                undo.append(functools.partial(self._restart, self.instances[name].cfg))
                self._remove_instance(name)
        except Exception as exc:
            self.counters["reloads_rolled_back"] += 1
            log.exception("reload: %s failed; putting the previous configuration back", doing)
            self._roll_back(undo, previous)
            where = f"instances[{position[doing]}]" if doing in position else ""
            raise ConfigError(
                where,
                f"the reload could not be applied ({doing}: {type(exc).__name__}: {exc}); "
                "the previous configuration runs on",
            ) from exc
        self.config = config
        return plan.report()

    def _roll_back(self, undo: list[Callable[[], None]], previous: Config | None) -> None:
        """Undo a reload's steps, last first; what cannot be undone is logged."""
        self.groups = {}
        for step in reversed(undo):
            try:
                step()
            except Exception:
                self.counters["rollback_errors"] += 1
                log.exception("reload: could not undo a step")
        try:
            self._build_groups(previous or Config())
            self._start_trackers()
        except Exception:
            self.counters["rollback_errors"] += 1
            log.exception("reload: could not rebuild the previous sync groups")

    def _reconfigure(self, inst: Instance, cfg: Any, *, group: str | None) -> None:
        """A new definition of the same virtual router, applied in place (state kept)."""
        old = inst.cfg
        params = router_params(cfg, primary=inst.router.params.primary_address)
        inst.reconfigure(cfg, group=group)
        self._instances_generation += 1  # its virtual addresses may have changed
        event = Reconfigure(
            params, in_sync_group=group is not None, readdress=reload_plan.readdressed(old, cfg)
        )
        inst.execute(inst.router.handle(event, self.loop.time()))
        trackers = trackers_of(cfg)
        result = inst.tracking.reconfigure(base_priority=cfg.priority, trackers=trackers)
        if self.watcher is not None:
            before = {t.interface for t in old.track_interfaces}
            for tracked in cfg.track_interfaces:
                if tracked.interface not in before:  # its state now, not "up until told"
                    state = self.watcher.link(tracked.interface)
                    up = state is not None and state.up and state.carrier
                    result = inst.tracking.set_interface(tracked.interface, up=up)
        self._tracked(inst, result)

    def _restart(self, cfg: Any) -> None:
        """Run ``cfg`` again from Initialize (undoing a removal; its group comes after)."""
        inst = self._new_instance(cfg, group=None)
        self._register(inst)
        self._start_instance(inst)

    def _build_groups(self, config: Config) -> None:
        """The sync groups of ``config`` over the routers as they are now.

        A group holds nothing but its members' routers, so building it again
        changes no state; a group fault of a group a member left is withdrawn.
        """
        group_of = {m: g.name for g in config.sync_groups for m in g.members}
        self.groups = {
            g.name: SyncGroup(g.name, {m: self.instances[m].router for m in g.members})
            for g in config.sync_groups
        }
        self.group_notify = {g.name: g.notify for g in config.sync_groups}
        self._group_words = {g: w for g, w in self._group_words.items() if g in self.group_notify}
        members = {cfg.name for cfg in config.instances}
        for name, inst in self.instances.items():
            inst.group = group_of.get(name)
            if name not in members:
                continue  # about to be removed: not started again on the way out
            mine = f"{GROUP_FAULT_PREFIX}{inst.group}"
            for reason in sorted(inst.router.faults):
                if reason.startswith(GROUP_FAULT_PREFIX) and reason != mine:
                    self.feed(inst, FaultCleared(reason))
        now = self.loop.time()
        for group in self.groups.values():
            self._execute_tagged(group.sync(now))

    def _new_instance(self, cfg: Any, *, group: str | None) -> Instance:
        """An instance of ``cfg``, not running yet (nothing in the kernel or the registry)."""
        return Instance(
            cfg=cfg,
            primary=UNSPECIFIED[int(cfg.family)],
            loop=self.loop,
            io=self,
            feed=self.feed,
            group=group,
        )

    def _register(self, inst: Instance) -> None:
        """Make ``inst`` one of the running set: it hears its adverts from now on."""
        version = inst.ip_version
        self.instances[inst.name] = inst
        self._instances_generation += 1
        self.by_vrid[(inst.socket_ifname, version, inst.cfg.vrid)] = inst
        if inst.socket_ifname != inst.ifname:
            self.heard_on_vmac.add((inst.ifname, version, inst.cfg.vrid))

    def _remove_instance(self, name: str) -> None:
        inst = self.instances.get(name)
        if inst is None:
            return
        self.feed(inst, Shutdown())
        inst.close()
        del self.instances[name]
        self._instances_generation += 1
        key = (inst.socket_ifname, inst.ip_version, inst.cfg.vrid)
        if self.by_vrid.get(key) is inst:
            del self.by_vrid[key]
            self.heard_on_vmac.discard((inst.ifname, inst.ip_version, inst.cfg.vrid))
        if inst.cfg.vmac:
            with contextlib.suppress(VRRPError):
                addresses.delete_vmac(inst.address_ifname)
        in_use = {(i.socket_ifname, i.ip_version) for i in self.instances.values()}
        for sock_key in [k for k in self.sockets if k not in in_use]:
            sock = self.sockets.pop(sock_key)
            self.loop.remove_reader(sock.fileno())
            sock.close()
        in_use_ifnames = {i.address_ifname for i in self.instances.values()}
        for ifname in [name for name in self.announcers if name not in in_use_ifnames]:
            self._close_announcer(ifname)

    async def reload(self) -> dict[str, Any]:
        """Validate the config on disk as a whole, then apply it (or keep the old one)."""
        try:
            config = await load_isolated(self.config_path)
            report = self._apply(config, previous=self.config)
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
        sdnotify.status(self._status())
        return report

    # ------------------------------------------------------- InstanceIo (kernel)

    def send_advert(self, instance: Instance, advert: Advertisement) -> None:
        sock = self.sockets.get((instance.socket_ifname, instance.ip_version))
        if sock is None:
            instance.stats["send_errors"] += 1
            return
        src, messages = instance.wire(advert)
        ttl = instance.send_ttl
        for dst, message in messages:
            try:
                sock.send(message, dst=dst, source=src, ttl=ttl)
            except VRRPError as exc:
                instance.stats["send_errors"] += 1
                log.debug("%s: %s", instance.name, exc)

    def add_addresses(self, instance: Instance, vips: Sequence[IPInterface] | None = None) -> None:
        for vip in instance.virtual_interfaces if vips is None else vips:
            addresses.add_vip(instance.address_ifname, str(vip), vmac=instance.cfg.vmac)

    def remove_addresses(
        self, instance: Instance, vips: Sequence[IPInterface] | None = None
    ) -> None:
        if vips is None and instance.cfg.vmac and instance.ip_version == 6:
            # Leaving Master (all of them): see remove_vmac_addresses. A Master
            # that stays (a reload in place) must not take its VMAC down.
            every = [str(vip) for vip in instance.virtual_interfaces]
            addresses.remove_vmac_addresses(instance.address_ifname, every)
            return
        for vip in instance.virtual_interfaces if vips is None else vips:
            addresses.remove_address(instance.address_ifname, str(vip))

    def _announcer(self, instance: Instance) -> Announcer:
        """The GARP/NA sender of the instance's address interface, opened once."""
        ifname = instance.address_ifname
        announcer = self.announcers.get(ifname)
        if announcer is None:
            mac = (
                mac_bytes(addresses.vmac_address(instance.cfg.vrid, version=instance.ip_version))
                if instance.cfg.vmac
                else None
            )
            announcer = Announcer(ifname=ifname, mac=mac)
            self.announcers[ifname] = announcer
        return announcer

    def _close_announcer(self, ifname: str) -> None:
        announcer = self.announcers.pop(ifname, None)
        if announcer is not None:
            announcer.close()

    def announce(self, instance: Instance) -> None:
        try:
            self._announce_on(self._announcer(instance), instance)
        except NetlinkError:
            # The socket is bound to an interface index: an interface deleted and
            # made again (a VMAC, a re-created link) needs a new one. Once more;
            # called from a timer, so a second failure is counted, never raised.
            self._close_announcer(instance.address_ifname)
            try:
                self._announce_on(self._announcer(instance), instance)
            except VRRPError as exc:
                instance.stats["announce_errors"] += 1
                log.warning("%s: announce on %s: %s", instance.name, instance.address_ifname, exc)

    @staticmethod
    def _announce_on(announcer: Announcer, instance: Instance) -> None:
        for vip in instance.virtual_interfaces:
            announcer.announce(str(vip.ip))

    def transition(self, instance: Instance, transition: Transition) -> None:
        notify = instance.cfg.notify
        stopping = transition.new is State.INIT and not instance.router.enabled
        # keepalived's words: MASTER, BACKUP, FAULT, and STOP for a stopped instance
        word = "STOP" if stopping else transition.new.value
        argv = getattr(notify, word.lower(), None)
        if argv:
            self.hooks.submit_transition(
                instance.name,
                list(argv),
                new_state=word,
                old_state=transition.old.value,
                priority=instance.router.effective_priority,
                cause=transition.cause,
                timeout=notify.timeout,
            )
        if os.environ.get("NOTIFY_SOCKET"):
            # O(instances) per transition: a mass takeover made it O(N²).
            sdnotify.status(self._status())

    # ------------------------------------------------------ control requests

    def _select(self, instance: str | None) -> list[Instance]:
        if instance is None:
            return list(self.instances.values())
        if instance not in self.instances:
            raise ControlError(f"no instance named {instance!r}")
        return [self.instances[instance]]

    def state(self) -> dict[str, Any]:
        now = self.loop.time()
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime": time.time() - self.started,
            "runtime_fail_safe": self.runtime.fail_safe,
            "instances": {
                name: inst.state_dict(now=now, demoted=self.runtime.demotion_for(name))
                for name, inst in sorted(self.instances.items())
            },
        }

    def stats(self) -> dict[str, Any]:
        runner = dict(self.counters)
        for (ifname, version), sock in self.sockets.items():
            for reason, count in sock.drops.items():
                runner[f"socket.{ifname}.v{version}.{reason}"] = count
        return {
            "runner": runner,
            "hooks": self.hooks.stats(),
            "instances": {
                name: dict(sorted(inst.stats.items()))
                for name, inst in sorted(self.instances.items())
            },
        }

    def details(self) -> dict[str, Any]:
        """Per instance, its address family and tracked objects (for vrrp.metrics)."""
        return {name: inst.details() for name, inst in self.instances.items()}

    def history(self, instance: str | None = None, limit: int = 20) -> dict[str, Any]:
        return {
            inst.name: [h.as_dict() for h in list(inst.history)[-limit:]]
            for inst in self._select(instance)
        }

    def _override(self, inst: Instance, demotion: int | None) -> None:
        """Apply a demotion: 1..254 runs at that priority; 0 resigns (see fsm.Resign)."""
        override = None if demotion is None else max(demotion, 1)
        self._tracked(inst, inst.tracking.set_override(override))
        self.feed(inst, Resign(active=demotion == 0))

    def demote(self, instance: str | None = None, priority: int = 0) -> dict[str, Any]:
        if not 0 <= priority <= 254:
            raise ControlError(f"demotion priority must be 0..254, not {priority}")
        done = {}
        for inst in self._select(instance):
            self.runtime.demotions[inst.name] = priority
            self._override(inst, priority)
            done[inst.name] = priority
        self.runtime.save()
        return {"demoted": done}

    def restore(self, instance: str | None = None) -> dict[str, Any]:
        done = []
        for inst in self._select(instance):
            if self.runtime.restore(inst.name):
                done.append(inst.name)
            self._override(inst, None)
        if instance is None:
            self.runtime.end_fail_safe()
        self.runtime.save()
        return {"restored": done}

    def version(self) -> dict[str, Any]:
        return {"version": __version__, "pid": os.getpid()}


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
        try:
            config = load(args.config)
        except ConfigError as exc:
            complain(f"{args.config}: {exc}")
            return 1
        say(
            f"{args.config}: valid ({len(config.instances)} instance(s), "
            f"{len(config.sync_groups)} sync group(s))"
        )
        return 0
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
