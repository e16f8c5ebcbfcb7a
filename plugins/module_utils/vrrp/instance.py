"""The runtime of one configured virtual router inside the runner.

An :class:`Instance` joins the pure parts (the state machine, its tracking)
with what the runner owns for it: the asyncio timers the state machine arms,
counters, the transition history and the announcement schedule. It carries
out the actions the core returns through an :class:`InstanceIo`, the runner's
narrow door to the kernel, so that this module itself touches nothing.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv6Interface
from typing import Any, Final, Protocol, Union

from .errors import VRRPError
from .fsm import (
    Action,
    AddAddresses,
    Announce,
    Anomaly,
    ArmTimer,
    CancelTimer,
    Drop,
    Event,
    IPAddress,
    RemoveAddresses,
    RequestMaster,
    RouterParams,
    SendAdvert,
    State,
    Timer,
    TimerExpired,
    Transition,
    VirtualRouter,
)
from .packet import (
    CHECKSUM_PSEUDO_HEADER,
    VRRP_MCAST_V4,
    VRRP_MCAST_V6,
    Advertisement,
    encode,
)
from .tracking import Tracker, Tracking, TrackKind

log = logging.getLogger("failover-vrrp")

IPInterface = Union[IPv4Interface, IPv6Interface]
HISTORY_LENGTH: Final = 64


class InstanceIo(Protocol):
    """What an instance needs from the kernel (implemented by the runner)."""

    def send_advert(self, instance: Instance, advert: Advertisement) -> None: ...

    def add_addresses(self, instance: Instance) -> None: ...

    def remove_addresses(self, instance: Instance) -> None: ...

    def announce(self, instance: Instance) -> None: ...

    def transition(self, instance: Instance, transition: Transition) -> None: ...


@dataclass(frozen=True)
class HistoryEntry:
    old: str
    new: str
    cause: str
    time: float  # wall clock (Unix time)

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.old, "to": self.new, "cause": self.cause, "time": self.time}


def wall_time(loop_time: float, now: float) -> float:
    """Unix time of the loop instant ``loop_time``, seen at loop instant ``now``."""
    return time.time() - (now - loop_time)


def trackers_of(cfg: Any) -> list[Tracker]:
    """The tracked objects of an instance config."""
    trackers = [Tracker(TrackKind.INTERFACE, t.interface, t.weight) for t in cfg.track_interfaces]
    trackers += [Tracker(TrackKind.FILE, t.path, t.weight) for t in cfg.track_files]
    trackers += [Tracker(TrackKind.SCRIPT, t.name, t.weight) for t in cfg.track_scripts]
    return trackers


def router_params(cfg: Any, *, primary: IPAddress) -> RouterParams:
    """The state machine's parameters for an instance config."""
    auth_type, auth_data = 0, b""
    if cfg.authentication is not None:
        auth_type, auth_data = 1, cfg.authentication.password.encode()
    return RouterParams(
        vrid=cfg.vrid,
        version=cfg.version,
        priority=cfg.priority,
        advert_interval_cs=cfg.advert_interval_cs,
        primary_address=primary,
        virtual_addresses=tuple(vip.ip for vip in cfg.virtual_addresses),
        preempt=cfg.preempt,
        preempt_delay_cs=round(cfg.preempt_delay * 100),
        accept=cfg.accept,
        auth_type=auth_type,
        auth_data=auth_data,
        unicast_peers=tuple(cfg.unicast_peers),
    )


class Instance:
    """One configured virtual router at run time."""

    def __init__(
        self,
        *,
        cfg: Any,
        primary: IPAddress,
        loop: asyncio.AbstractEventLoop,
        io: InstanceIo,
        feed: Callable[[Instance, Event], None],
        group: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.name: str = cfg.name
        self.loop = loop
        self.io = io
        self.feed = feed
        self.group = group
        self.router = VirtualRouter(
            router_params(cfg, primary=primary), in_sync_group=group is not None
        )
        self.tracking = Tracking(base_priority=cfg.priority, trackers=trackers_of(cfg))
        self.stats: collections.Counter[str] = collections.Counter()
        self.history: collections.deque[HistoryEntry] = collections.deque(maxlen=HISTORY_LENGTH)
        self.link_probe = "netlink"
        self._timers: dict[Timer, asyncio.TimerHandle] = {}
        self._announce_handles: list[asyncio.TimerHandle] = []
        # wire(): the last advert sent and its messages (a Master sends the
        # same one every interval until its priority or source changes).
        self._wire_key: tuple[Advertisement, IPAddress] | None = None
        self._wire: tuple[str, tuple[tuple[str, bytes], ...]] = ("", ())

    # -- facts ---------------------------------------------------------------

    @property
    def ifname(self) -> str:
        return str(self.cfg.interface)

    @property
    def address_ifname(self) -> str:
        """Where the virtual addresses live: the VMAC interface or the interface."""
        if self.cfg.vmac:
            return str(self.cfg.vmac_interface or f"vrrp.{self.cfg.vrid}")
        return self.ifname

    @property
    def socket_ifname(self) -> str:
        """Where adverts are sent and heard: the VMAC (RFC 9568 §7.3) or the interface.

        A VMAC instance with unicast peers stays on the interface: unicast
        adverts come to the parent's MAC, never to the VMAC.
        """
        if self.cfg.vmac and not self.cfg.unicast_peers:
            return self.address_ifname
        return self.ifname

    @property
    def ip_version(self) -> int:
        return int(self.cfg.family)

    @property
    def virtual_interfaces(self) -> Sequence[IPInterface]:
        return tuple(self.cfg.virtual_addresses)

    def state_dict(self, *, now: float, demoted: int | None) -> dict[str, Any]:
        router = self.router
        return {
            "state": router.state.value,
            "priority": self.cfg.priority,
            "effective_priority": router.effective_priority,
            "master": None if router.master_address is None else str(router.master_address),
            "master_priority": router.master_priority,
            "preempt": self.cfg.preempt,
            "preempt_delay": self.cfg.preempt_delay,
            "advert_interval": self.cfg.advert_interval_cs / 100,
            "master_advert_interval": router.master_adver_interval_cs / 100,
            "since": wall_time(router.since, now),
            "vrid": self.cfg.vrid,
            "version": self.cfg.version,
            "interface": self.ifname,
            "virtual_addresses": [str(vip) for vip in self.cfg.virtual_addresses],
            "link_probe": self.link_probe,
            "faults": sorted(router.faults),
            "demoted": demoted,
            "group": self.group,
        }

    # -- the wire ---------------------------------------------------------------

    def wire(self, advert: Advertisement) -> tuple[str, tuple[tuple[str, bytes], ...]]:
        """``(source, ((destination, message), ...))`` to send ``advert``.

        The destinations are the unicast peers, or the VRRP multicast group.
        Encoded once per advert and source address, then reused: a Master
        sends the same advert every interval. Raises
        :class:`~vrrp.errors.PacketError` for an advert that cannot be
        encoded (nothing is cached then).
        """
        primary = self.router.params.primary_address
        key = (advert, primary)
        if key != self._wire_key:
            src = str(primary)
            cfg = self.cfg
            peers = [str(p) for p in cfg.unicast_peers] or [
                VRRP_MCAST_V4 if self.ip_version == 4 else VRRP_MCAST_V6
            ]
            form = cfg.checksum_form
            if form is None and advert.version == 3 and self.ip_version == 4:
                # keepalived (2.2.7 in Debian 12) and FRR send, and keepalived
                # requires, the IPv4 pseudo-header form by default; decode takes both.
                form = CHECKSUM_PSEUDO_HEADER
            messages = tuple(
                (dst, encode(advert, src=src, dst=dst, checksum_form=form)) for dst in peers
            )
            self._wire, self._wire_key = (src, messages), key
        return self._wire

    # -- carrying out actions -----------------------------------------------------

    def execute(self, actions: Sequence[Action]) -> None:
        for action in actions:
            try:
                self._execute(action)
            except VRRPError as exc:
                # The kernel refused (interface gone, address clash): count it
                # and keep the rhythm; the link watcher reports the cause.
                self.stats[f"io_error.{type(action).__name__}"] += 1
                log.warning("%s: %s failed: %s", self.name, type(action).__name__, exc)

    def _execute(self, action: Action) -> None:  # noqa: PLR0912
        if isinstance(action, SendAdvert):
            self.stats["adverts_sent"] += 1
            if action.advert.priority == 0:
                self.stats["priority_zero_sent"] += 1
            self.io.send_advert(self, action.advert)
        elif isinstance(action, ArmTimer):
            old = self._timers.pop(action.timer, None)
            if old is not None:
                old.cancel()
            self._timers[action.timer] = self.loop.call_at(action.at, self._expire, action.timer)
        elif isinstance(action, CancelTimer):
            handle = self._timers.pop(action.timer, None)
            if handle is not None:
                handle.cancel()
        elif isinstance(action, Drop):
            self.stats[f"drop.{action.reason}"] += 1
            log.debug("%s: dropped advertisement: %s", self.name, action.detail)
        elif isinstance(action, Anomaly):
            self.stats[action.kind] += 1
            if (
                self.stats[action.kind] in (1, 10, 100, 1000)
                or self.stats[action.kind] % 10000 == 0
            ):
                log.warning(
                    "%s: %s: %s (seen %d times)",
                    self.name,
                    action.kind,
                    action.detail,
                    self.stats[action.kind],
                )
        elif isinstance(action, AddAddresses):
            self.io.add_addresses(self)
        elif isinstance(action, RemoveAddresses):
            self._cancel_announcements()
            self.io.remove_addresses(self)
        elif isinstance(action, Announce):
            self._schedule_announcements(refresh=action.refresh)
        elif isinstance(action, Transition):
            self._record(action)
        elif isinstance(action, RequestMaster):
            self.stats["group_requests"] += 1

    def _expire(self, timer: Timer) -> None:
        self._timers.pop(timer, None)
        self.feed(self, TimerExpired(timer))

    def _record(self, transition: Transition) -> None:
        self.stats[f"became_{transition.new.value.lower()}"] += 1
        entry = HistoryEntry(
            transition.old.value,
            transition.new.value,
            transition.cause,
            wall_time(transition.at, self.loop.time()),
        )
        self.history.append(entry)
        log.info(
            "%s (VRID %d on %s): %s -> %s: %s",
            self.name,
            self.cfg.vrid,
            self.ifname,
            transition.old.value,
            transition.new.value,
            transition.cause,
        )
        self.io.transition(self, transition)

    # -- gratuitous ARP / unsolicited NA -----------------------------------------

    def _later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        now = self.loop.time()
        self._announce_handles = [
            h for h in self._announce_handles if h.when() > now and not h.cancelled()
        ]
        self._announce_handles.append(self.loop.call_later(delay, callback, *args))

    def _announce_now(self, count: int, interval: float) -> None:
        if self.router.state is not State.MASTER:
            return
        self.io.announce(self)
        self.stats["announcements"] += 1
        if count > 1:
            self._later(interval, self._announce_now, count - 1, interval)

    def _schedule_announcements(self, *, refresh: bool) -> None:
        garp = self.cfg.garp
        if refresh:
            self._announce_now(garp.refresh_repeat, garp.interval)
            return
        self._cancel_announcements()
        self._announce_now(garp.repeat, garp.interval)
        if garp.delay > 0:
            # keepalived's garp_master_delay: a second burst once the
            # neighbours' caches have settled.
            self._later(garp.delay, self._announce_now, garp.repeat, garp.interval)
        if garp.refresh > 0:
            self._later(garp.refresh, self._refresh)

    def _refresh(self) -> None:
        if self.router.state is not State.MASTER:
            return
        garp = self.cfg.garp
        self._announce_now(garp.refresh_repeat, garp.interval)
        self._later(garp.refresh, self._refresh)

    def _cancel_announcements(self) -> None:
        for handle in self._announce_handles:
            handle.cancel()
        self._announce_handles.clear()

    def close(self) -> None:
        """Cancel every timer this instance owns (after its Shutdown)."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._cancel_announcements()
