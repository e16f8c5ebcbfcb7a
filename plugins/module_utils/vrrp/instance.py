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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv6Interface, ip_address
from typing import Any, Final, Protocol, TypeVar, Union

from .config_routes import HeldAddress
from .config_types import InstanceConfig
from .errors import VRRPError
from .fsm import (
    Action,
    AddAddresses,
    AdvertReceived,
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
from .loop_timers import LoopTimers
from .packet import (
    CHECKSUM_PSEUDO_HEADER,
    VRRP_MCAST_V4,
    VRRP_MCAST_V6,
    VRRP_TTL,
    Advertisement,
    encode,
)
from .tracking import Tracker, Tracking, TrackKind

log = logging.getLogger("failover-vrrp")

IPInterface = Union[IPv4Interface, IPv6Interface]
HISTORY_LENGTH: Final = 64
# When a unicast Backup introduces itself (Instance._introduce), as fractions
# of its Master_Down_Interval: three unsolicited NAs at most (RFC 4861 §7.2.6),
# all well before the timer; the first may be lost (a bridge port that
# forwards a moment after our end of the link is up).
INTRODUCTIONS: Final = (0.0, 1 / 8, 1 / 3)


class InstanceKernelIo(Protocol):
    """The kernel half of :class:`InstanceIo` (what hostio.HostIo provides)."""

    def send_advert(self, instance: Instance, advert: Advertisement) -> None: ...

    def add_addresses(
        self, instance: Instance, vips: Sequence[IPInterface] | None = None, *, wait: bool = True
    ) -> None: ...

    def when_local(self, instance: Instance, callback: Callable[[], None]) -> bool: ...

    def wait_local(self, instance: Instance) -> None: ...

    def remove_addresses(
        self, instance: Instance, vips: Sequence[IPInterface] | None = None
    ) -> None: ...

    def announce(self, instance: Instance) -> None: ...

    def announce_source(self, instance: Instance) -> None: ...

    def update_held(self, instance: Instance, old: InstanceConfig) -> None: ...

    def withdraw_held(self, instance: Instance, old: InstanceConfig) -> None: ...

    def watch_announcements(self, instance: Instance, *, on: bool) -> None: ...


class InstanceIo(InstanceKernelIo, Protocol):
    """What an instance needs from the host (implemented by the fleet: HostIo and Notifier)."""

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


def trackers_of(cfg: InstanceConfig) -> list[Tracker]:
    """The tracked objects of an instance config."""
    trackers = [Tracker(TrackKind.INTERFACE, t.interface, t.weight) for t in cfg.track_interfaces]
    trackers += [Tracker(TrackKind.FILE, t.path, t.weight) for t in cfg.track_files]
    trackers += [Tracker(TrackKind.SCRIPT, t.name, t.weight) for t in cfg.track_scripts]
    return trackers


T = TypeVar("T")


def records_last(items: Iterable[T], action_of: Callable[[T], Action]) -> list[T]:
    """``items`` in their order, but those whose action is a Transition last (in
    theirs): a new Master takes its VIPs, announces them and advertises before
    the record (history, counters, log line, hooks, state, metrics)."""
    return sorted(items, key=lambda item: isinstance(action_of(item), Transition))


Step = tuple["Instance", Action]


class Continuation:
    """The rest of an action list, held back until the new IPv6 VIPs its
    instances added are local (:meth:`InstanceKernelIo.when_local`): their
    announcements, adverts and records, in their order, and ``then``.

    Every instance with a step here runs its own at once, before anything
    else it is given (:meth:`Instance.settle`): no action of an instance is
    reordered or lost. The other instances' steps (a sync group's members)
    wait on, and ``then`` comes after them all: an event for one member never
    makes another announce VIPs that are not local yet.
    """

    def __init__(self, then: Callable[[], None] | None) -> None:
        self.steps: list[Step] = []
        self.then = then
        self.waits = 0  # when_local callbacks still to come
        self.done = False
        # id() of the instances whose new VIPs are waited for; the others
        # here (a sync group's) only have their records held back.
        self.held: set[int] = set()

    def hold(self) -> None:
        for inst, _action in self.steps:
            inst._continuation = self

    def awaits_local(self, inst: Instance) -> bool:
        """Whether new VIPs of ``inst`` are not local yet (not only its records wait)."""
        return id(inst) in self.held

    def arrived(self) -> None:
        """One instance's new VIPs are local (or the cap passed)."""
        self.waits -= 1
        if self.waits <= 0:
            self.run()

    def run(self) -> None:
        if self.done:
            return
        self.done = True
        for inst, _action in self.steps:
            if inst._continuation is self:
                inst._continuation = None
        carry_out(self.steps, then=self.then)

    def drop(self, inst: Instance) -> list[Step]:
        """``inst``'s steps leave (it is closed, or carries them out itself); the
        others' stay. Returns them."""
        mine = [step for step in self.steps if step[0] is inst]
        self.steps = [step for step in self.steps if step[0] is not inst]
        inst._continuation = None
        return mine


def carry_out(
    steps: Sequence[Step], *, then: Callable[[], None] | None = None, defer: bool = True
) -> None:
    """Carry out each ``(instance, action)`` in order (Transitions already last,
    :func:`records_last`), then call ``then``.

    An instance's new IPv6 VIPs must be local before it announces them
    (:mod:`.linux.local_wait`); with ``defer``, the wait does not block: the
    rest of that instance's steps, and every Transition and ``then`` (records
    stay last and in order), wait in a :class:`Continuation` while the other
    instances' steps go on. One burst, one wait. ``defer`` False (an instance
    settling its own steps at once) adds with the blocking wait as before.
    """
    rest = Continuation(then)
    held = rest.held  # id() of the instances waiting
    for inst, action in steps:
        inst.settle()  # what an older batch holds back of it comes first
        if id(inst) in held or (held and isinstance(action, Transition)):
            rest.steps.append((inst, action))
            continue
        added = inst._carry_out(action, defer=defer)
        if added and inst.io.when_local(inst, rest.arrived):
            held.add(id(inst))
            rest.waits += 1
    if held:
        rest.hold()
    elif then is not None:
        then()


def router_params(cfg: InstanceConfig, *, primary: IPAddress) -> RouterParams:
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
        resign_hold=not cfg.vmac,
    )


class Instance:
    """One configured virtual router at run time."""

    def __init__(
        self,
        *,
        cfg: InstanceConfig,
        primary: IPAddress,
        loop: asyncio.AbstractEventLoop,
        io: InstanceIo,
        feed: Callable[[Instance, Event], None],
        group: str | None = None,
    ) -> None:
        self.cfg = cfg
        # Made here and at reconfigure (reload work), not at the first state
        # read: 510 digests are 30-60 ms, which a scrape's first slice would pay.
        self._digest: tuple[InstanceConfig, str] = (cfg, cfg.digest())
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
        self._timers = LoopTimers(loop, self._expire)
        self._announce_handles: list[asyncio.TimerHandle] = []
        self._introductions: list[asyncio.TimerHandle] = []
        # Virtual addresses the kernel refused to add (or remove): tried again
        # at the advert rhythm until the kernel matches the core's state.
        self._address_pending: type[AddAddresses | RemoveAddresses] | None = None
        self._address_retry: asyncio.TimerHandle | None = None
        # wire(): the last advert sent and its messages (a Master sends the
        # same one every interval until its priority or source changes).
        self._wire_key: tuple[Advertisement, IPAddress] | None = None
        self._wire: tuple[str, tuple[tuple[str, bytes], ...]] = ("", ())
        # Virtual addresses of the definition before the last reload in place:
        # a Master told to remove one finds its prefix length here.
        self._retired: dict[IPAddress, IPInterface] = {}
        self._previous: InstanceConfig | None = None  # the definition before a reload
        # The last datagram decoded for this instance, (payload, src, dst, TTL),
        # and its event: the fleet decodes the same datagram once.
        self.last_heard: tuple[tuple[bytes, str, str, int], AdvertReceived] | None = None
        # Whether the host listens for our successor's gratuitous ARP / NA
        # (the core's awaits_successor, followed after every list of actions).
        self._watching = False
        # What this instance still has to carry out once its new IPv6 VIPs are local.
        self._continuation: Continuation | None = None

    def reconfigure(self, cfg: InstanceConfig, *, group: str | None) -> None:
        """Run on with a new definition of the same virtual router (a reload in place).

        Only what this object owns changes here: the definition, the group
        name, the cached wire form, the GARP refresh schedule. The runner then
        feeds the core its :class:`~vrrp.fsm_types.Reconfigure` and the new
        tracking result; the router's state and timers are the core's.
        """
        self.settle()  # what the old definition still had to announce
        old, self.cfg, self.group = self.cfg, cfg, group
        self._previous = old
        self._digest = (cfg, cfg.digest())
        self._retired = {vip.ip: vip for vip in old.virtual_addresses}
        self._wire_key = None  # peers or checksum form may have changed
        self.last_heard = None  # decoded under the old unicast_ttl
        # A listener for the old VIPs: the next actions open one for the new
        # ones if the core still awaits its successor.
        self._watch_announcements(False)
        if cfg.garp != old.garp and self.router.state is State.MASTER:
            # The refresh chain runs on the old period: start it again.
            self._cancel_announcements()
            if cfg.garp.refresh > 0:
                self._later(cfg.garp.refresh, self._refresh)

    def _interfaces(
        self, addresses: Sequence[IPAddress] | None, *, retired: bool
    ) -> Sequence[IPInterface] | None:
        """The configured forms of ``addresses`` (None: all); ``retired`` looks
        in the definition before the last reload first."""
        if addresses is None:
            return None
        current = {vip.ip: vip for vip in self.cfg.virtual_addresses}
        first, second = (self._retired, current) if retired else (current, self._retired)
        return tuple(first[ip] if ip in first else second[ip] for ip in addresses)

    def update_held(self, old: InstanceConfig, *, released: bool = False) -> None:
        """After a reload in place: a Master brings what it holds beyond its VIPs
        (routes, rules, excluded addresses, address options) to the new
        definition. Run after the core handled the Reconfigure, on the state it
        left; a refusal is counted, logged and tried again like the VIPs'.

        ``released``: the reload ended a resigned Master's hold (fsm.RESIGN_HOLD;
        the core dropped the old definition's VIPs): what it held beyond them
        goes too, as ``old`` had it (no timer is left to drop it later)."""
        if released:
            try:
                self.io.withdraw_held(self, old)
            except Exception as exc:  # counted and logged; a BACKUP retries nothing
                self._io_failed("WithdrawHeld", exc)
            return
        if self.router.state is not State.MASTER or old == self.cfg:
            return
        try:
            self.io.update_held(self, old)
        except Exception as exc:  # counted, logged, tried again
            self._io_failed("UpdateHeld", exc)
            self._address_pending = AddAddresses
            self._retry_addresses_later()

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
    def send_ttl(self) -> int | None:
        """The TTL / hop limit of our adverts when not the socket's 255 (``unicast_ttl``)."""
        ttl = int(self.cfg.unicast_ttl)
        return ttl if self.cfg.unicast_peers and ttl != VRRP_TTL else None

    @property
    def any_unicast_ttl(self) -> bool:
        """Whether unicast adverts for this instance are taken with any TTL (keepalived's way)."""
        return bool(self.cfg.unicast_peers) and int(self.cfg.unicast_ttl) < VRRP_TTL

    @property
    def ip_version(self) -> int:
        return int(self.cfg.family)

    @property
    def virtual_interfaces(self) -> Sequence[IPInterface]:
        return tuple(self.cfg.virtual_addresses)

    def held_vip(self, vip: IPInterface, *, retired: bool = False) -> HeldAddress | None:
        """The options ``vip`` is added with; ``retired``: as the definition before
        the last reload had it, when it was there (to remove what was added)."""
        if retired and self._previous is not None and vip.ip in self._retired:
            return self._previous.held_vip(self._retired[vip.ip])
        return self.cfg.held_vip(vip)

    def vip_ifname(self, vip: IPInterface) -> str | None:
        """The other interface ``vip`` lives on (its ``dev``), or None."""
        held = self.cfg.held_vip(vip)
        dev = None if held is None else held.dev
        return None if dev in (None, self.address_ifname) else dev

    def held_here(self) -> list[str]:
        """The addresses a Master holds on its address interface: VIPs, excluded ones."""
        here = [str(v.ip) for v in self.virtual_interfaces if self.vip_ifname(v) is None]
        here += [
            str(h.address.ip)
            for h in self.cfg.virtual_addresses_excluded
            if h.dev in (None, self.address_ifname)
        ]
        return here

    def held_elsewhere(self) -> list[tuple[str, str]]:
        """``(interface, address)`` a Master holds on other interfaces (their ``dev``)."""
        out: list[tuple[str, str]] = []
        for vip in self.virtual_interfaces:
            dev = self.vip_ifname(vip)
            if dev is not None:
                out.append((dev, str(vip.ip)))
        out += [
            (h.dev, str(h.address.ip))
            for h in self.cfg.virtual_addresses_excluded
            if h.dev is not None and h.dev != self.address_ifname
        ]
        return out

    def held_ips_on(self, ifname: str) -> list[IPAddress]:
        """Every address this instance holds (as Master) on ``ifname``: never a source."""
        ips = [ip_address(a) for i, a in self.held_elsewhere() if i == ifname]
        if ifname == self.address_ifname:
            ips += [ip_address(a) for a in self.held_here()]
        return ips

    @property
    def config_digest(self) -> str:
        """The definition's digest (``InstanceConfig.digest``), made once per definition."""
        if self._digest[0] is not self.cfg:  # never: __init__ and reconfigure set both
            self._digest = (self.cfg, self.cfg.digest())
        return self._digest[1]

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
            "vmac_interface": self.address_ifname if self.cfg.vmac else None,
            # VIPs declared on another interface (their ``dev``): address -> interface.
            "vip_interfaces": {
                str(vip.ip): dev
                for vip in self.virtual_interfaces
                if (dev := self.vip_ifname(vip)) is not None
            },
            "config_digest": self.config_digest,
            "releasing": router.releasing,
        }

    def details(self) -> dict[str, Any]:
        """What metrics add to :meth:`state_dict`: the family, the tracked objects' values."""
        return {
            "family": self.ip_version,
            "trackers": [
                {"kind": t.kind.value, "name": t.name, "weight": t.weight, "value": value}
                for t, value in self.tracking.statuses()
            ],
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
        """Carry out every action, whatever happens to the one before.

        Any exception of one action (the kernel refused: interface gone,
        address clash; netlink out of file descriptors; a bug) is counted as
        ``io_error.<Action>`` and logged, and the next action is carried out
        all the same: a Master that could not take its addresses still
        announces, advertises and arms its Adver timer, so it keeps its rhythm
        and the peer does not take over in a half-done state. Virtual addresses
        the kernel refused are tried again (:meth:`_retry_addresses`).

        A Transition is recorded (history, counters, log line, the notifier's
        hooks, state and metrics) after the list's other actions: a new Master
        takes its VIPs, announces them and advertises first, and the traffic
        does not wait for the record. Transitions keep their order.

        New IPv6 VIPs are announced once local: the rest waits on the loop
        (:func:`carry_out`), and is carried out at once, first, when the
        instance is given anything else.
        """
        # A Backup's every advert is one ArmTimer: nothing to reorder.
        ordered = actions if len(actions) < 2 else records_last(actions, lambda action: action)
        carry_out([(self, action) for action in ordered])
        self.follow_successor_watch()

    def follow_successor_watch(self) -> None:
        """After a list of actions: listen for the successor's announcements
        exactly while the core awaits them (``VirtualRouter.awaits_successor``)."""
        self._watch_announcements(self.router.awaits_successor)

    def settle(self) -> None:
        """Carry out at once what this instance has waiting for new IPv6 VIPs to
        be local (:class:`Continuation`), once its own are (a short wait on
        the spot): anything it does next comes after."""
        pending = self._continuation
        if pending is None:
            return
        if pending.awaits_local(self):
            # Its NA must still follow its VIPs (LOCAL_WAIT at most, on the loop).
            try:
                self.io.wait_local(self)
            except Exception as exc:  # the wait is the best we can do: go on
                self._io_failed("WaitLocal", exc)
        # Its own steps only: the other members' wait on for their VIPs.
        carry_out(pending.drop(self), defer=False)
        if not pending.steps:
            pending.run()  # nothing left to wait with: ``then`` now

    def _carry_out(self, action: Action, *, defer: bool) -> bool:
        """One action of :meth:`execute`; True: it added VIPs without waiting
        for the new IPv6 ones to be local (``defer``)."""
        try:
            self._execute(action, defer=defer)
        except Exception as exc:  # any failure must spare the rest
            self._io_failed(type(action).__name__, exc)
            if isinstance(action, (AddAddresses, RemoveAddresses)):
                self._address_pending = type(action)
                self._retry_addresses_later()
        else:
            if isinstance(action, (AddAddresses, RemoveAddresses)):
                self._cancel_address_retry()
        return defer and isinstance(action, AddAddresses)

    def _watch_announcements(self, wanted: bool) -> None:
        """Listen for the successor's announcements while the core awaits them
        (fsm.SuccessorAnnounced); a listener that cannot open is counted and
        logged: the hold's fixed bound still ends it."""
        if wanted == self._watching:
            return
        self._watching = wanted
        try:
            self.io.watch_announcements(self, on=wanted)
        except Exception as exc:  # the bound (fsm.RESIGN_HOLD) still applies
            self._io_failed("WatchAnnouncements", exc)

    def master_down_moved(self, at: float) -> None:
        """Carry out ``ArmTimer(MASTER_DOWN, at)`` (``VirtualRouter.heard_again``'s deadline)."""
        self.settle()  # a takeover's rest, if any, comes first (none in Backup)
        self._timers.arm(Timer.MASTER_DOWN, at)

    def _io_failed(self, what: str, exc: Exception) -> None:
        key = f"io_error.{what}"
        self.stats[key] += 1
        count = self.stats[key]
        if count <= 10 or count in (100, 1000) or count % 10000 == 0:
            # A VRRPError is an expected refusal with a clear message; anything
            # else is a surprise and gets its traceback.
            log.warning(
                "%s: %s failed (%d times): %s: %s",
                self.name,
                what,
                count,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, VRRPError),
            )

    # -- virtual addresses the kernel refused -------------------------------------

    def _retry_addresses_later(self) -> None:
        """Try the refused address change again after one Advertisement_Interval.

        Chosen over raising a fault: a fault needs this same retry to clear,
        and the errors seen (EMFILE, ENOBUFS, ENOMEM from netlink) pass by
        themselves; a fault would also hand the addresses to a peer that may
        not exist. The Master keeps advertising meanwhile (its peer must not
        take over into a split), the failures are counted and logged, and the
        addresses are taken and announced one interval after the kernel
        accepts again.
        """
        if self._address_retry is None:
            delay = self.router.params.advert_interval_cs / 100
            self._address_retry = self.loop.call_later(delay, self._retry_addresses)

    def _retry_addresses(self) -> None:
        self._address_retry = None
        self.settle()
        pending, master = self._address_pending, self.router.state is State.MASTER
        if pending is None or (pending is AddAddresses) != master:
            # The state moved on since (the core's own actions for the new
            # state were carried out): nothing left to put right.
            self._address_pending = None
            return
        self.stats["address_retries"] += 1
        try:
            if master:
                self.io.add_addresses(self)
            else:
                self.io.remove_addresses(self)
        except Exception as exc:  # counted, logged, tried again
            self._io_failed(pending.__name__, exc)
            self._retry_addresses_later()
            return
        self._address_pending = None
        log.warning(
            "%s: virtual addresses %s after %d retries",
            self.name,
            "added" if master else "removed",
            self.stats["address_retries"],
        )
        if master:
            # The link heard of addresses this host did not hold yet: again.
            self._schedule_announcements(refresh=False)

    def _cancel_address_retry(self) -> None:
        self._address_pending = None
        if self._address_retry is not None:
            self._address_retry.cancel()
            self._address_retry = None

    def _execute(self, action: Action, *, defer: bool = False) -> None:  # noqa: PLR0912
        if isinstance(action, ArmTimer):  # first: a Backup's every advert
            self._timers.arm(action.timer, action.at)
        elif isinstance(action, SendAdvert):
            self.stats["adverts_sent"] += 1
            if action.advert.priority == 0:
                self.stats["priority_zero_sent"] += 1
            self.io.send_advert(self, action.advert)
        elif isinstance(action, CancelTimer):
            self._timers.cancel(action.timer)
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
            vips = self._interfaces(action.addresses, retired=False)
            self.io.add_addresses(self, vips, wait=not defer)
        elif isinstance(action, RemoveAddresses):
            if action.addresses is None:  # leaving Master: nothing more to announce
                self._cancel_announcements()
            self.io.remove_addresses(self, self._interfaces(action.addresses, retired=True))
        elif isinstance(action, Announce):
            self._schedule_announcements(refresh=action.refresh)
        elif isinstance(action, Transition):
            if action.old is State.MASTER:
                # A resigned Master may hold its addresses a moment longer
                # (fsm.RESIGN_HOLD), but it announces them no more.
                self._cancel_announcements()
            self._record(action)
            if action.old is State.INIT and action.new is State.BACKUP and self.cfg.unicast_peers:
                self._introduce()
        elif isinstance(action, RequestMaster):
            self.stats["group_requests"] += 1

    def _introduce(self) -> None:
        """Entering Backup (at start, back from FAULT) with unicast peers: a
        gratuitous ARP / unsolicited NA for our own source address, at each
        of :data:`INTRODUCTIONS` while still Backup.

        A peer that is Master sends its adverts to our address; while its
        kernel resolves that address (ARP / NS retried every second, 3 s in
        all) they wait there, longer than our Master_Down_Interval at a short
        interval: we would take over beside it. Our announcement completes
        that resolution at once (an existing entry takes the address it
        carries); a failure is counted, the timer still decides.
        """
        self._cancel_introductions()
        mdi = self.router.master_down_interval
        self._introduce_now()
        for fraction in INTRODUCTIONS[1:]:
            self._introductions.append(self.loop.call_later(fraction * mdi, self._introduce_now))

    def _introduce_now(self) -> None:
        if self.router.state is not State.BACKUP:
            return
        try:
            self.io.announce_source(self)
        except Exception as exc:  # the election goes on without it
            self._io_failed("AnnounceSource", exc)

    def _cancel_introductions(self) -> None:
        for handle in self._introductions:
            handle.cancel()
        self._introductions.clear()

    def _expire(self, timer: Timer) -> None:
        self.feed(self, TimerExpired(timer))

    def _record(self, transition: Transition) -> None:
        self.stats[f"became_{transition.new.value.lower()}"] += 1
        self.stats[f"transition.{transition.old.value}.{transition.new.value}"] += 1
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
        """One GARP / NA round, then the rest of the burst.

        Each round is independent: a failure (interface gone for a moment, a
        re-created VMAC) is counted and logged, and the burst, the delayed
        burst and the refresh go on; nothing here may escape to the loop.
        """
        if self.router.state is not State.MASTER:
            return
        if self._continuation is not None and self._continuation.awaits_local(self):
            # New IPv6 VIPs are not local yet: the pending Announce restarts
            # the burst once they are; this round would move traffic too early.
            # (A sync group member whose only held steps are its records
            # announces on: its own VIPs are local.)
            return
        try:
            self.io.announce(self)
        except Exception as exc:  # one round must not cancel the others
            self._io_failed("Announce", exc)
        else:
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
        """Cancel every timer this instance owns (after its Shutdown), and drop
        what it still had to carry out."""
        if self._continuation is not None:
            self._continuation.drop(self)
        self._timers.close()
        self._cancel_announcements()
        self._cancel_introductions()
        self._cancel_address_retry()
        self._watch_announcements(False)
