"""The running set: every instance and sync group, and how a reload is applied to it.

A :class:`Fleet` holds the instances (each a state machine with its timers,
see :mod:`.instance`), the sync groups over their routers, the advert
dispatch table (interface, version, VRID) and the trackers. It applies a
reload as :mod:`.reload_plan` plans it, all or nothing: what can be built
without touching the running set is built first; a failure while applying
puts the previous definitions back. It follows the host's links and
addresses (:class:`~vrrp.follow.HostFollower`) and carries out its
instances' actions through a :class:`~vrrp.hostio.HostIo` (the kernel, or a
fake in unit tests) and the :class:`~vrrp.notifier.Notifier`. Every change
of a router's state is an event given to the reactor's ``feed``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from ipaddress import ip_address
from typing import Any, Final

from . import faults, reload_plan
from .config import Config
from .config_types import InstanceConfig
from .errors import ConfigError, PacketError, VRRPError
from .follow import HostFollower
from .fsm import (
    AdvertReceived,
    Event,
    FaultCleared,
    FaultRaised,
    PriorityChanged,
    Reconfigure,
    Shutdown,
    Transition,
)
from .group import SyncGroup
from .hostio import HostIo, SocketKey
from .instance import Instance, IPInterface, router_params, trackers_of
from .notifier import Notifier
from .packet import Advertisement, decode
from .persist import RuntimeState
from .source import UNSPECIFIED, IPAddress
from .tracking import Tracking, TrackResult
from .trackio import FileTracker, ScriptTracker
from .vmacs import VmacKeeper

log = logging.getLogger("failover-vrrp")

# The source of every advert heard, parsed once per address (the same few
# peers send every interval); bounded, as a stranger may send from anywhere.
_source_address: Final = functools.lru_cache(maxsize=1024)(ip_address)

Tagged = Sequence[tuple[str, Any]]  # (member, action) from a sync group


def core_error(counters: Counter[str], name: str, event: Event, exc: VRRPError) -> None:
    """Count and log a bug in the core met on ``event``: it must not take the
    host's other routers (or the rest of a batch of datagrams) down with it."""
    counters["core_errors"] += 1
    log.exception("%s: %s while handling %r: %s", name, type(exc).__name__, event, exc)


class Fleet(HostFollower):
    """The instances and sync groups of the runner (see the module docstring)."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        instances: dict[str, Instance],
        io: HostIo,
        notifier: Notifier,
        runtime: RuntimeState,
        counters: Counter[str],
        feed: Callable[[Instance, Event], None],
        execute_tagged: Callable[[Tagged], None],
    ) -> None:
        self.loop = loop
        self.io = io
        self.notifier = notifier
        self.runtime = runtime
        self.counters = counters
        self._feed = feed
        self._execute_tagged = execute_tagged
        self.config = Config(instances=(), sync_groups=())
        self.instances = instances  # shared with the notifier and the control API
        self.groups: dict[str, SyncGroup] = {}
        # _virtual_addresses_on(): VIPs per interface, for this set of instances
        self._instances_generation = 0
        self._vips_generation = -1
        self._vips_on: dict[str, frozenset[IPAddress]] = {}
        self.by_vrid: dict[tuple[str, int, int], Instance] = {}
        # (parent, version, vrid) of VMAC instances: their adverts are heard on
        # the VMAC; a copy the parent's socket also gets is no stranger's.
        self.heard_on_vmac: set[tuple[str, int, int]] = set()
        self.scripts: dict[str, ScriptTracker] = {}
        self.files: FileTracker | None = None
        self.watcher = None
        self.probe_methods: dict[str, str] = {}
        self._address_view: dict[tuple[str, int], list[str]] | None = None
        self._attached: dict[str, int] = {}
        self._probe_seen: dict[str, str] = {}  # ifname -> last probe result acted on
        self._background: set[asyncio.Future[Any]] = set()
        self.vmacs = VmacKeeper(loop=loop, io=io, retry=self._retry_vmacs)

    def feed(self, inst: Instance, event: Event) -> None:
        self._feed(inst, event)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -------------------------------------------------------------- receive

    def on_datagrams(self, key: SocketKey) -> None:
        """Decode what a VRRP socket heard and feed each advert to its instance."""
        ifname, version = key
        feed = self._feed  # self.feed's target, one call less per advert
        clock = self.loop.time
        for rx in self.io.receive(key):
            payload = rx.payload
            if len(payload) < 2:
                self.counters["drop.length"] += 1
                continue
            inst = self.by_vrid.get((ifname, version, payload[1]))
            if inst is None:
                if (ifname, version, payload[1]) not in self.heard_on_vmac:
                    self.counters["drop.unknown_vrid"] += 1
                continue
            # A Master sends the same advert every interval: decoded once, the
            # event reused while the datagram is the same (decode is a pure
            # function of these; a refused one is decoded, and counted, again).
            # The core recognises the event it already checked.
            heard = (payload, rx.src, rx.dst, rx.ttl)
            last = inst.last_heard
            if last is not None and last[0] == heard:
                event = last[1]
            else:
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
                event = AdvertReceived(advert, _source_address(rx.src))
                inst.last_heard = (heard, event)
            inst.stats["adverts_received"] += 1
            if event.advert.priority == 0:
                inst.stats["priority_zero_received"] += 1
            elif inst.group is None:
                # The advert a Backup hears every interval: the core moves its
                # Master_Down_Timer without building an action list (what
                # feed() would do, a sync group's member aside).
                try:
                    at = inst.router.heard_again(event, clock())
                except VRRPError as exc:  # handle() below is the reference
                    core_error(self.counters, inst.name, event, exc)
                    at = None
                if at is not None:
                    inst.master_down_moved(at)
                    continue
            feed(inst, event)

    # -------------------------------------------------------------- tracking

    def tracked(self, inst: Instance, result: TrackResult) -> None:
        for reason in sorted(result.faults - inst.router.faults):
            self.feed(inst, FaultRaised(reason))
        for reason in sorted(
            r
            for r in inst.router.faults
            if r.startswith(faults.TRACK_PREFIX) and r not in result.faults
        ):
            self.feed(inst, FaultCleared(reason))
        if result.effective_priority != inst.router.effective_priority:
            self.feed(inst, PriorityChanged(result.effective_priority))

    def _script_result(self, name: str, ok: bool) -> None:
        for inst in list(self.instances.values()):
            if any(t.name == name for t in inst.cfg.track_scripts):
                self.tracked(inst, inst.tracking.set_script(name, ok=ok))

    def _file_result(self, path: str, value: int) -> None:
        for inst in list(self.instances.values()):
            if any(t.path == path for t in inst.cfg.track_files):
                self.tracked(inst, inst.tracking.set_file(path, value=value))

    async def close_trackers(self) -> None:
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

    # ---------------------------------------------------------------- reload

    def apply(self, config: Config, *, previous: Config | None) -> dict[str, list[str]]:
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
                self.remove_instance(name)
            for inst in created:
                doing = inst.name
                undo.append(functools.partial(self.remove_instance, inst.name))
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
                self.remove_instance(name)
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
        self.vmacs.retry_now()  # a reload is the user's "try again"
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

    def _reconfigure(self, inst: Instance, cfg: InstanceConfig, *, group: str | None) -> None:
        """A new definition of the same virtual router, applied in place (state kept)."""
        old = inst.cfg
        params = router_params(cfg, primary=inst.router.params.primary_address)
        inst.reconfigure(cfg, group=group)
        self._instances_generation += 1  # its virtual addresses may have changed
        event = Reconfigure(
            params, in_sync_group=group is not None, readdress=reload_plan.readdressed(old, cfg)
        )
        releasing = inst.router.releasing
        inst.execute(inst.router.handle(event, self.loop.time()))
        inst.update_held(old, released=releasing and not inst.router.releasing)
        trackers = trackers_of(cfg)
        result = inst.tracking.reconfigure(base_priority=cfg.priority, trackers=trackers)
        if self.watcher is not None:
            before = {t.interface for t in old.track_interfaces}
            for tracked in cfg.track_interfaces:
                if tracked.interface not in before:  # its state now, not "up until told"
                    state = self.watcher.link(tracked.interface)
                    up = state is not None and state.up and state.carrier
                    result = inst.tracking.set_interface(tracked.interface, up=up)
        self.tracked(inst, result)

    def _restart(self, cfg: InstanceConfig) -> None:
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
        self.notifier.set_groups(config.sync_groups)
        members = {cfg.name for cfg in config.instances}
        for name, inst in self.instances.items():
            inst.group = group_of.get(name)
            if name not in members:
                continue  # about to be removed: not started again on the way out
            mine = faults.group(inst.group) if inst.group else None
            for reason in sorted(inst.router.faults):
                if reason.startswith(faults.GROUP_PREFIX) and reason != mine:
                    self.feed(inst, FaultCleared(reason))
        now = self.loop.time()
        for group in self.groups.values():
            self._execute_tagged(group.sync(now))

    def _new_instance(self, cfg: InstanceConfig, *, group: str | None) -> Instance:
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

    def remove_instance(self, name: str) -> None:
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
            self.io.delete_vmac(inst)
            self.vmacs.forget(inst)
        self.io.release_unused(
            keys={(i.socket_ifname, i.ip_version) for i in self.instances.values()},
            ifnames={i.address_ifname for i in self.instances.values()},
        )

    # ------------------------------------------- InstanceIo (to HostIo, Notifier)

    def send_advert(self, instance: Instance, advert: Advertisement) -> None:
        self.io.send_advert(instance, advert)

    def add_addresses(
        self, instance: Instance, vips: Sequence[IPInterface] | None = None, *, wait: bool = True
    ) -> None:
        self.io.add_addresses(instance, vips, wait=wait)

    def when_local(self, instance: Instance, callback: Callable[[], None]) -> bool:
        return self.io.when_local(instance, callback)

    def wait_local(self, instance: Instance) -> None:
        self.io.wait_local(instance)

    def remove_addresses(
        self, instance: Instance, vips: Sequence[IPInterface] | None = None
    ) -> None:
        self.io.remove_addresses(instance, vips)

    def announce(self, instance: Instance) -> None:
        self.io.announce(instance)

    def announce_source(self, instance: Instance) -> None:
        self.io.announce_source(instance)

    def update_held(self, instance: Instance, old: InstanceConfig) -> None:
        self.io.update_held(instance, old)

    def withdraw_held(self, instance: Instance, old: InstanceConfig) -> None:
        self.io.withdraw_held(instance, old)

    def watch_announcements(self, instance: Instance, *, on: bool) -> None:
        self.io.watch_announcements(instance, on=on)

    def transition(self, instance: Instance, transition: Transition) -> None:
        self.notifier.transition(instance, transition)
