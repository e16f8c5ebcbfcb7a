"""One VRRP virtual router: the state machine of RFC 9568 §6 and RFC 3768 §6.

Sans-IO: :meth:`VirtualRouter.handle` takes an event and the current time (a
monotonic float in seconds, supplied by the caller) and returns the list of
actions the caller must carry out, in order. Nothing here reads a clock, opens
a socket or sleeps; the runner and the simulated LAN of the tests drive the very
same object.

States are those of the RFC (Initialize, Backup, Master) plus Fault, as in
keepalived's design: a router whose link is down, whose interface lost its
address, or one of whose weight-0 trackers failed, neither sends nor answers
for the virtual addresses until every fault is cleared; it then re-enters
Initialize and starts again (RFC 9568 §6.4.1).

Events (one handler each): :class:`Startup`, :class:`Shutdown`,
:class:`AdvertReceived`, :class:`TimerExpired` (``adver``, ``master_down``,
``preempt_delay``), :class:`FaultRaised` / :class:`FaultCleared`,
:class:`PriorityChanged`, :class:`PrimaryAddressChanged`, the sync-group pair
:class:`GroupMaster` / :class:`GroupBackup`, :class:`Resign` (maintenance),
:class:`SuccessorAnnounced` (another node's gratuitous ARP / NA of our VIPs)
and :class:`Reconfigure` (a reload that changes the definition in place).

Actions: :class:`SendAdvert`, :class:`AddAddresses`, :class:`RemoveAddresses`,
:class:`Announce` (gratuitous ARP / unsolicited NA), :class:`ArmTimer`,
:class:`CancelTimer`, :class:`Transition` (for logs, notify hooks and sync
groups), :class:`Drop` (a counted receive drop), :class:`Anomaly` (log-only
with a counter) and :class:`RequestMaster` (sync-group members ask the group
before they take over).

Beyond the RFC text, following keepalived where the RFC is silent:

- A Master that hears a lower-priority advertisement answers at once with its
  own and re-announces its addresses, so a peer that came up late or was cut
  off learns who the Master is within one round trip.
- ``preempt_delay``: a Backup that hears a lower-priority Master first accepts
  it for ``preempt_delay`` seconds, then takes over; once the delay is over it
  discards lower adverts until it is Master (a sync group may refuse at first).
- A healed split brain: a Master that steps down for a better Master (not a
  handover it asked for) sends one priority-0 advert as it leaves, and a
  Master that hears priority 0 re-announces its addresses besides answering
  (§6.4.3), so the link's neighbour caches reach the winner within one
  interval whichever Master heard the other first. A Backup ignores a
  priority-0 advert from a rival of the live Master it follows.
- Maintenance (:class:`Resign`): a resigning router never preempts; as a
  Backup it gives a priority-0 sender one more Advertisement_Interval (a
  resigning Master keeps serving; handing over between two resigning
  routers gains nothing); two resigning Masters keep the higher primary
  address. Whatever resigns, one router serves. A resigning Master that
  hears its successor's advertisement goes Backup at once (it sends nothing
  more) but keeps the addresses until the successor has announced every one
  (:class:`SuccessorAnnounced`), :data:`RESIGN_HOLD` at most (the
  ``release`` timer): keepalived advertises before it takes the addresses
  and sends its gratuitous ARP, and a datagram the link still sent to us in
  that gap must find the address here, not a host that just let it go.
- The address owner uses every advertisement it receives (RFC 9568 erratum
  8298: log-only, counted as the ``owner`` anomaly), so that two owners elect
  one Master by primary address and an owner answers a priority-0 advert.
- Leaving Master for Fault sends a priority-0 advertisement when it can, so the
  Backup takes over after Skew_Time instead of Master_Down_Interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Final

from .errors import StateError, VRRPError
from .fsm_types import (
    TRANSITIONS,
    Action,
    AddAddresses,
    AdvertReceived,
    Announce,
    Anomaly,
    ArmTimer,
    CancelTimer,
    Drop,
    Event,
    FaultCleared,
    FaultRaised,
    GroupBackup,
    GroupMaster,
    IPAddress,
    PrimaryAddressChanged,
    PriorityChanged,
    Reconfigure,
    RemoveAddresses,
    RequestMaster,
    Resign,
    RouterParams,
    SendAdvert,
    Shutdown,
    Startup,
    State,
    SuccessorAnnounced,
    Timer,
    TimerExpired,
    Transition,
)
from .packet import Advertisement
from .priorities import OWNER_PRIORITY, STOP_PRIORITY

# The vocabulary lives in fsm_types; importing it from here keeps working.
__all__ = [
    "OWNER_PRIORITY",
    "RESIGN_HOLD",
    "STOP_PRIORITY",
    "TIMER_TOLERANCE",
    "TRANSITIONS",
    "Action",
    "AddAddresses",
    "AdvertReceived",
    "Announce",
    "Anomaly",
    "ArmTimer",
    "CancelTimer",
    "Drop",
    "Event",
    "FaultCleared",
    "FaultRaised",
    "GroupBackup",
    "GroupMaster",
    "IPAddress",
    "PrimaryAddressChanged",
    "PriorityChanged",
    "Reconfigure",
    "RemoveAddresses",
    "RequestMaster",
    "Resign",
    "RouterParams",
    "SendAdvert",
    "Shutdown",
    "Startup",
    "State",
    "SuccessorAnnounced",
    "Timer",
    "TimerExpired",
    "Transition",
    "VirtualRouter",
    "master_down_interval",
    "outranks",
    "skew_time",
]

# An asyncio timer may fire a hair before its deadline (loop clock resolution);
# an expiry this close to the deadline counts as on time.
TIMER_TOLERANCE: Final = 0.001

# How long at most a resigned Master keeps its addresses after its successor's
# first advertisement (issue 13). keepalived sends that advert BEFORE it adds
# the addresses and sends its gratuitous ARP (vrrp_state_goto_master, then
# vrrp_state_become_master): 0.1 to 1 ms later with Debian 12's 2.2.7, 0.1 to
# 2.7 ms with Debian 13's 2.3.3 on a loaded host (captured in the successor,
# tests/netns/test_resign_to_keepalived.py); until then the link's ARP
# caches still send here. The hold ends as soon as the successor has
# announced every advertised address (SuccessorAnnounced: the runner hears its
# gratuitous ARP / unsolicited NA), so this bound only counts when that is
# never heard (a lost frame, a successor that does not announce) or comes
# late (a keepalived descheduled between its advert and its ARP). Only then
# does our kernel answer ARP / NS for addresses the successor holds (a host
# asking for the first time may pick us): before the successor's ARP our
# answer is the right one, and its ARP, when it comes, corrects the caches.
# 0.2 s (50 ms before the hold ended early): it covers a successor stalled 75
# times its slowest measured gap; what it costs, ARP answers for 0.2 s instead
# of 0.05 s, is paid only when the announcement is never heard.
# Our own runner takes the addresses and announces them before it advertises:
# the hold ends at its advert.
# Not with a VMAC (RouterParams.resign_hold): the frames follow the virtual
# MAC, which the bridge moves to the successor on its first advert; holding
# gains nothing there, and an ARP answer we sent from the VMAC meanwhile would
# pull the MAC back to us until the successor's next advert.
RESIGN_HOLD: Final = 0.2


def skew_time(*, version: int, priority: int, master_adver_interval_cs: int) -> float:
    """Skew_Time in seconds, exact (RFC 9568 §6.1, RFC 3768 §6.1)."""
    if version == 2:
        return (256 - priority) / 256
    return (256 - priority) * master_adver_interval_cs / 25600


def master_down_interval(*, version: int, priority: int, master_adver_interval_cs: int) -> float:
    """Master_Down_Interval in seconds: 3 × the interval + Skew_Time."""
    skew = skew_time(
        version=version, priority=priority, master_adver_interval_cs=master_adver_interval_cs
    )
    return 3 * master_adver_interval_cs / 100 + skew


def outranks(
    *, priority: int, address: IPAddress, rival_priority: int, rival_address: IPAddress
) -> bool:
    """Whether a Master advertising ``priority`` from ``address`` wins over a rival.

    RFC 9568 §6.4.3: a Master steps down for a higher priority, or for an
    equal one from a higher primary address. The address owner (255) outranks
    everyone; two owners are ordered by address (erratum 8298). The one
    comparison of claims: :meth:`VirtualRouter._master_receive` and the
    controller's first-election staging (:mod:`.first_election`) both use it.
    """
    return priority > rival_priority or (
        priority == rival_priority and int(address) > int(rival_address)
    )


# ------------------------------------------------------------------- router


@dataclass
class VirtualRouter:
    """The state machine of one virtual router; see the module docstring."""

    params: RouterParams
    state: State = State.INIT
    effective_priority: int = field(default=0)
    master_adver_interval_cs: int = field(default=0)
    master_address: IPAddress | None = None
    master_priority: int | None = None
    in_sync_group: bool = False
    wants_master: bool = False
    faults: set[str] = field(default_factory=set)
    timers: dict[Timer, float] = field(default_factory=dict)
    preempt_deadline: float | None = None
    enabled: bool = False
    resigning: bool = False
    since: float = 0.0
    # Our VIPs another node announced while we await our successor
    # (address -> when heard): see _on_successor_announced.
    announced: dict[IPAddress, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.effective_priority:
            self.effective_priority = self.params.priority
        if not self.master_adver_interval_cs:
            self.master_adver_interval_cs = self.params.advert_interval_cs
        self._derive()
        self._handlers: dict[type, Callable[[Any, float], list[Action]]] = {
            Startup: self._on_startup,
            Shutdown: self._on_shutdown,
            AdvertReceived: self._on_advert,
            TimerExpired: self._on_timer,
            FaultRaised: self._on_fault_raised,
            FaultCleared: self._on_fault_cleared,
            PriorityChanged: self._on_priority_changed,
            PrimaryAddressChanged: self._on_primary_address_changed,
            GroupMaster: self._on_group_master,
            GroupBackup: self._on_group_backup,
            Resign: self._on_resign,
            Reconfigure: self._on_reconfigure,
            SuccessorAnnounced: self._on_successor_announced,
        }

    def _derive(self) -> None:
        """Values computed once from ``params`` (again when they change)."""
        # The last advert event that passed _check with the VIPs matching:
        # a Backup hears the same one (the runner reuses the event object of
        # an equal datagram) every interval. Valid for these params only.
        self._accepted: AdvertReceived | None = None
        self._mdi_key: tuple[int, int] | None = None
        self._mdi = 0.0
        self._vip_set = frozenset(self.params.virtual_addresses)
        # RFC 3768 §5.3.10: the password travels as 8 bytes, zero padded.
        self._auth_wire = (
            self.params.auth_data.ljust(8, b"\0")[:8] if self.params.auth_type else b""
        )

    # -- derived values (computed, never stored twice) -----------------------

    @property
    def skew_time(self) -> float:
        return skew_time(
            version=self.params.version,
            priority=self.effective_priority,
            master_adver_interval_cs=self.master_adver_interval_cs,
        )

    @property
    def master_down_interval(self) -> float:
        # Computed again when an input moves (the version is fixed per router):
        # a Backup asks on every advert it hears.
        key = (self.effective_priority, self.master_adver_interval_cs)
        if key != self._mdi_key:
            self._mdi_key = key
            self._mdi = master_down_interval(
                version=self.params.version,
                priority=self.effective_priority,
                master_adver_interval_cs=self.master_adver_interval_cs,
            )
        return self._mdi

    @property
    def is_owner(self) -> bool:
        return self.effective_priority == OWNER_PRIORITY

    @property
    def releasing(self) -> bool:
        """A resigned Master, Backup now, that still holds its addresses (until its
        successor announced them, :data:`RESIGN_HOLD` at most)."""
        return Timer.RELEASE in self.timers

    @property
    def awaits_successor(self) -> bool:
        """Whether another node's gratuitous ARP / NA for our VIPs matters now:
        a resigning Master that would hold (the runner listens from here) or a
        releasing Backup (see :class:`SuccessorAnnounced`)."""
        return self.releasing or (
            self.enabled
            and self.state is State.MASTER
            and self.resigning
            and self.params.resign_hold
        )

    def advertisement(self, priority: int | None = None) -> Advertisement:
        """The advertisement this router sends now (``priority`` overrides)."""
        if priority is None:
            priority = STOP_PRIORITY if self.resigning else self.effective_priority
        return Advertisement(
            version=self.params.version,
            vrid=self.params.vrid,
            priority=priority,
            interval_cs=self.params.advert_interval_cs,
            addresses=self.params.virtual_addresses,
            auth_type=self.params.auth_type,
            auth_data=self._auth_wire,
        )

    # -- entry point ----------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Action]:
        """Feed one event at time ``now``; return the actions to carry out."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise StateError(f"unknown event {event!r}")
        actions = handler(event, now)
        if self.announced and not self.awaits_successor:
            self.announced.clear()  # one rule: remembered only while it matters
        return actions

    # -- helpers ----------------------------------------------------------------

    def _move(self, new: State, cause: str, now: float, actions: list[Action]) -> None:
        if (self.state, new) not in TRANSITIONS:
            raise StateError(f"illegal transition {self.state.value} -> {new.value} ({cause})")
        actions.append(Transition(self.state, new, cause, now))
        self.state = new
        self.since = now
        self.wants_master = False

    def _arm(self, timer: Timer, at: float, actions: list[Action]) -> None:
        self.timers[timer] = at
        actions.append(ArmTimer(timer, at))

    def _advertise(self, now: float, actions: list[Action], *, refresh: bool = False) -> None:
        """Send the advertisement of now and re-arm the Adver_Timer (RFC 9568 §6.4.3);
        ``refresh``: re-announce the addresses too (a Master answering a rival)."""
        actions.append(SendAdvert(self.advertisement()))
        if refresh:
            actions.append(Announce(refresh=True))
        self._arm(Timer.ADVER, now + self.params.advert_interval_cs / 100, actions)

    def _cancel(self, timer: Timer, actions: list[Action]) -> None:
        if self.timers.pop(timer, None) is not None:
            actions.append(CancelTimer(timer))

    def _cancel_all(self, actions: list[Action]) -> None:
        for timer in list(self.timers):
            self._cancel(timer, actions)
        self.preempt_deadline = None

    def _become_master(self, cause: str, now: float, actions: list[Action]) -> None:
        """RFC 9568 §6.4.1 / §6.4.2: take the addresses, announce them, advertise.

        The RFC lists the advert before the gratuitous ARP / unsolicited NA and
        leaves the addresses to the implementation. A Master that hands over
        (priority 0, or preempted) drops its addresses as soon as it hears this
        advert, so the new Master takes them and moves the link's neighbour
        caches to itself first, and advertises right after, in the same step
        (keepalived's order). Advert first left a window, a few milliseconds
        when the runner was slow between the two, in which neither host
        answered for a VIP: 4 handovers in 20 lost datagrams at 1000/s.
        """
        self._cancel(Timer.MASTER_DOWN, actions)
        self._cancel(Timer.PREEMPT_DELAY, actions)
        self._cancel(Timer.RELEASE, actions)  # still held: AddAddresses keeps them
        self.preempt_deadline = None
        self._move(State.MASTER, cause, now, actions)
        self.master_address = self.params.primary_address
        self.master_priority = self.effective_priority
        actions.append(AddAddresses())
        actions.append(Announce())
        self._advertise(now, actions)

    def _become_backup(
        self, cause: str, now: float, actions: list[Action], *, hold: bool = False
    ) -> None:
        """Leave Master (or Initialize) for Backup; ``hold``: a resigned Master keeps
        its addresses for :data:`RESIGN_HOLD` (the ``release`` timer drops them)."""
        was_master = self.state is State.MASTER
        self._cancel(Timer.ADVER, actions)
        self._move(State.BACKUP, cause, now, actions)
        if was_master and hold and not self._all_announced(since=now - RESIGN_HOLD):
            self._arm(Timer.RELEASE, now + RESIGN_HOLD, actions)
        elif was_master:
            actions.append(RemoveAddresses())
            if self.master_address == self.params.primary_address:
                # Pulled down (sync group): we follow nobody yet.
                self.master_address = None
                self.master_priority = None
        self._arm(Timer.MASTER_DOWN, now + self.master_down_interval, actions)

    def _release(self, actions: list[Action], *, only_vips: bool = False) -> None:
        """Drop now what a resigned Master still holds (if it does), as leaving
        Master drops it; ``only_vips``: just the virtual addresses (a reload
        changes the definition the rest belongs to)."""
        if self.timers.pop(Timer.RELEASE, None) is not None:
            actions.append(CancelTimer(Timer.RELEASE))
            actions.append(RemoveAddresses(self.params.virtual_addresses if only_vips else None))

    def _all_announced(self, *, since: float = float("-inf")) -> bool:
        """Whether another node announced every advertised VIP (heard at ``since`` or later)."""
        return all(vip in self.announced and self.announced[vip] >= since for vip in self._vip_set)

    def _want_master(self, cause: str, now: float, actions: list[Action]) -> None:
        """Take over now, or, in a sync group, ask the group first."""
        if not self.in_sync_group:
            self._become_master(cause, now, actions)
            return
        self.wants_master = True
        actions.append(RequestMaster(cause))
        # Until the group answers, keep watching as a Backup would.
        self._arm(Timer.MASTER_DOWN, now + self.master_down_interval, actions)

    def _start(self, cause: str, now: float, actions: list[Action]) -> None:
        """RFC 9568 §6.4.1: leave Initialize."""
        if self.faults:
            self._move(
                State.FAULT, f"{cause}; fault: {', '.join(sorted(self.faults))}", now, actions
            )
            return
        self.master_adver_interval_cs = self.params.advert_interval_cs
        self.master_address = None
        self.master_priority = None
        if self.is_owner:
            self._become_master(f"{cause}; address owner", now, actions)
        else:
            self._become_backup(cause, now, actions)

    # -- handlers -----------------------------------------------------------------

    def _on_startup(self, event: Startup, now: float) -> list[Action]:
        actions: list[Action] = []
        if self.enabled:
            return actions
        if event.priority is not None and not 1 <= event.priority <= OWNER_PRIORITY:
            raise VRRPError(f"effective priority must be 1..255, not {event.priority}")
        self._set_primary(event.primary_address)
        if event.priority is not None:
            self.effective_priority = event.priority
        self.faults.update(event.faults)
        self.resigning = event.resigning
        self.enabled = True
        self._start("startup", now, actions)
        return actions

    def _on_shutdown(self, event: Shutdown, now: float) -> list[Action]:
        actions: list[Action] = []
        if not self.enabled:
            return actions
        self.enabled = False
        was_master = self.state is State.MASTER
        self._release(actions)
        self._cancel_all(actions)
        if was_master:
            # RFC 9568 §6.4.3: a priority-0 advertisement lets a Backup take
            # over after Skew_Time.
            actions.append(SendAdvert(self.advertisement(STOP_PRIORITY)))
            actions.append(RemoveAddresses())
        if self.state is not State.INIT:
            self._move(State.INIT, "shutdown", now, actions)
        return actions

    def _on_fault_raised(self, event: FaultRaised, now: float) -> list[Action]:
        reason = event.reason
        actions: list[Action] = []
        self.faults.add(reason)
        if not self.enabled or self.state in (State.FAULT, State.INIT):
            return actions
        was_master = self.state is State.MASTER
        self._release(actions)
        self._cancel_all(actions)
        if was_master:
            actions.append(SendAdvert(self.advertisement(STOP_PRIORITY)))
            actions.append(RemoveAddresses())
        self._move(State.FAULT, f"fault: {reason}", now, actions)
        return actions

    def _on_fault_cleared(self, event: FaultCleared, now: float) -> list[Action]:
        reason = event.reason
        actions: list[Action] = []
        if reason not in self.faults:
            return actions
        self.faults.discard(reason)
        if self.faults or not self.enabled or self.state is not State.FAULT:
            return actions
        self._move(State.INIT, f"fault cleared: {reason}", now, actions)
        self._start(f"recovered from {reason}", now, actions)
        return actions

    def _on_priority_changed(self, event: PriorityChanged, now: float) -> list[Action]:
        priority = event.priority
        if not 1 <= priority <= OWNER_PRIORITY:
            raise VRRPError(f"effective priority must be 1..255, not {priority}")
        actions: list[Action] = []
        if priority == self.effective_priority:
            return actions
        self.effective_priority = priority
        if self.state is State.MASTER:
            # Tell the Backups at once rather than at the next Adver_Timer.
            self.master_priority = priority
            self._advertise(now, actions)
        elif (
            self.state is State.BACKUP
            and self.preempt_deadline is not None
            and self.master_priority is not None
            and self.master_priority >= priority
        ):
            # The Master is no longer worse than us: nothing to preempt.
            self.preempt_deadline = None
            self._cancel(Timer.PREEMPT_DELAY, actions)
        return actions

    def _set_primary(self, address: IPAddress | None) -> bool:
        if address is None or address == self.params.primary_address:
            return False
        if address.version != self.params.primary_address.version:
            raise VRRPError(
                f"primary address {address} is not of the router's family "
                f"({self.params.primary_address})"
            )
        self.params = replace(self.params, primary_address=address)
        self._accepted = None  # the own-address check changed
        return True

    def _on_primary_address_changed(self, event: PrimaryAddressChanged, now: float) -> list[Action]:
        actions: list[Action] = []
        if not self._set_primary(event.address):
            return actions
        if self.state is State.MASTER:
            # Adverts from the old source are refused by the kernel (or heard
            # from an address that is no longer ours): advertise from the new
            # one at once and restart the Adver_Timer from there.
            self.master_address = event.address
            actions.append(SendAdvert(self.advertisement()))
            self._arm(Timer.ADVER, now + self.params.advert_interval_cs / 100, actions)
        return actions

    def _on_timer(self, event: TimerExpired, now: float) -> list[Action]:
        timer = event.timer
        actions: list[Action] = []
        deadline = self.timers.get(timer)
        if deadline is None or now < deadline - TIMER_TOLERANCE:
            return actions  # cancelled or re-armed since: a stale expiry
        del self.timers[timer]
        if timer is Timer.RELEASE:
            # The hand-over is RESIGN_HOLD old and the successor's announcement
            # was not heard: the bound.
            actions.append(RemoveAddresses())
        elif timer is Timer.ADVER and self.state is State.MASTER:
            # RFC 9568 §6.4.3
            self._advertise(now, actions)
        elif timer is Timer.MASTER_DOWN and self.state is State.BACKUP:
            # RFC 9568 §6.4.2
            self._want_master("master down timer expired", now, actions)
        elif timer is Timer.PREEMPT_DELAY and self.state is State.BACKUP:
            if self.master_priority is not None and self._preempts(self.master_priority):
                # The deadline stays (in the past): lower adverts are discarded
                # from now on, so a sync group that refuses this request finds
                # the member still wanting Master when the others' delays end
                # (keepalived keeps its expired preempt time the same way).
                self._want_master("preempt delay over", now, actions)
            else:
                self.preempt_deadline = None
        return actions

    def _on_group_master(self, event: GroupMaster, now: float) -> list[Action]:
        cause = event.cause
        actions: list[Action] = []
        if self.state is State.BACKUP:
            self._become_master(f"sync group: {cause}", now, actions)
        return actions

    def _on_group_backup(self, event: GroupBackup, now: float) -> list[Action]:
        cause = event.cause
        actions: list[Action] = []
        if self.state is State.MASTER:
            # As in _step_down: our rival for this VRID (the peer host's
            # member) may never hear from us otherwise; on priority 0 it
            # re-announces, or takes over after Skew_Time if it is a Backup.
            actions.append(SendAdvert(self.advertisement(STOP_PRIORITY)))
            self._become_backup(f"sync group: {cause}", now, actions)
        elif self.state is State.BACKUP:
            self.wants_master = False
        return actions

    def _on_resign(self, event: Resign, now: float) -> list[Action]:
        actions: list[Action] = []
        if event.active == self.resigning:
            return actions
        self.resigning = event.active
        if self.state is State.MASTER:
            self._advertise(now, actions)
        return actions

    def _on_successor_announced(self, event: SuccessorAnnounced, now: float) -> list[Action]:
        """Another node announced some of our VIPs (its gratuitous ARP / NA).

        A releasing Backup lets its addresses go once EVERY advertised VIP was
        announced: keepalived and our runner announce all of them in one burst
        right after taking them, so waiting for the last costs microseconds,
        while releasing at the first would drop the others in the very gap the
        hold covers. Heard while still a resigning Master (our runner announces
        before it advertises), it is remembered: the advert that follows
        within :data:`RESIGN_HOLD` hands over without a hold.
        """
        actions: list[Action] = []
        if not self.awaits_successor:
            return actions
        for address in event.addresses:
            if address in self._vip_set:
                self.announced[address] = now
        if self.releasing and self._all_announced():
            self._release(actions)
        return actions

    def _on_reconfigure(self, event: Reconfigure, now: float) -> list[Action]:
        old = self.params
        new = replace(event.params, primary_address=old.primary_address)
        if (new.vrid, new.version) != (old.vrid, old.version):
            raise StateError(
                f"VRID {old.vrid} v{old.version}: a reload to VRID {new.vrid} "
                f"v{new.version} makes another virtual router, not a change in place"
            )
        actions: list[Action] = []
        self._release(actions, only_vips=True)  # those of the old definition
        self.announced.clear()  # of the old definition's VIPs
        before = self.advertisement()
        self.params = new
        self._derive()
        self.in_sync_group = event.in_sync_group
        if not event.in_sync_group:
            self.wants_master = False  # nobody left to ask: the timer decides
        if self.preempt_deadline is not None and (
            not new.preempt or new.preempt_delay_cs != old.preempt_delay_cs
        ):
            # A delay begun under the old settings: the next advert of a
            # lower-priority Master starts one under the new ones.
            self.preempt_deadline = None
            self._cancel(Timer.PREEMPT_DELAY, actions)
        if self.state is State.BACKUP and new.version == 2:
            # RFC 3768: every router of a VRID is configured with one interval.
            self.master_adver_interval_cs = new.advert_interval_cs
        if self.state is not State.MASTER:
            return actions
        self.master_adver_interval_cs = new.advert_interval_cs
        again = frozenset(event.readdress) & self._vip_set
        had = frozenset(old.virtual_addresses)
        gone = tuple(a for a in old.virtual_addresses if a not in self._vip_set or a in again)
        came = tuple(a for a in new.virtual_addresses if a not in had or a in again)
        if gone:
            actions.append(RemoveAddresses(gone))
        if came:
            actions.append(AddAddresses(came))
            actions.append(Announce())
        if self.advertisement() != before:
            # Tell the Backups at once rather than at the next Adver_Timer.
            self._advertise(now, actions)
        return actions

    # -- receiving ----------------------------------------------------------------

    def _check(self, advert: Advertisement, src: IPAddress) -> Action | None:  # noqa: PLR0911
        """Receive checks of the configured instance (RFC 9568 §7.1, RFC 3768 §7.1)."""
        params = self.params
        if advert.vrid != params.vrid:
            return Drop("vrid", f"VRID {advert.vrid}, configured {params.vrid}")
        if advert.version != params.version:
            return Drop("version", f"version {advert.version}, configured {params.version}")
        if params.unicast_peers and src not in params.unicast_peers:
            return Drop("peer", f"{src} is not a configured unicast peer")
        if src == params.primary_address:
            return Drop("own_address", f"advertisement from our own address {src}")
        if params.version == 2:
            if advert.auth_type != params.auth_type:
                return Drop("auth", f"auth type {advert.auth_type}, configured {params.auth_type}")
            if params.auth_type and advert.auth_data != self._auth_wire:
                return Drop("auth", "authentication data mismatch")
            if advert.interval_cs != params.advert_interval_cs:
                return Drop(
                    "interval",
                    f"advert interval {advert.interval_cs / 100:g}s, "
                    f"configured {params.advert_interval_cs / 100:g}s",
                )
        return None

    def _on_advert(self, event: AdvertReceived, now: float) -> list[Action]:
        advert, src = event.advert, event.src
        actions: list[Action] = []
        if self.state not in (State.BACKUP, State.MASTER):
            return actions
        if event is not self._accepted:  # else: checked under these params, VIPs matching
            drop = self._check(advert, src)
            if drop is not None:
                actions.append(drop)
                return actions
            if advert.addresses == self.params.virtual_addresses or (
                frozenset(advert.addresses) == self._vip_set
            ):
                self._accepted = event
            else:
                # RFC 9568 §7.1 lets a receiver verify the address list; a
                # mismatch is a misconfiguration to report, not a reason to flap.
                actions.append(
                    Anomaly(
                        "address_mismatch",
                        f"{src} advertises {', '.join(map(str, advert.addresses))}",
                    )
                )
        if self.effective_priority == OWNER_PRIORITY:  # is_owner, inline: every advert
            # RFC 9568 erratum 8298: log-only. Another Master for our VRID
            # (a second owner, or a router that cannot hear us) must still be
            # resolved, so the advert is used like any other (keepalived too).
            actions.append(
                Anomaly("owner", f"we own the addresses; priority {advert.priority} from {src}")
            )
        if self.state is State.BACKUP:
            self._backup_receive(advert, src, now, actions)
        else:
            self._master_receive(advert, src, now, actions)
        return actions

    def heard_again(self, event: AdvertReceived, now: float) -> float | None:
        """:meth:`handle` for the advert a Backup hears every interval, without the action list.

        For the event this router last accepted (the runner hands over the
        same object for an equal datagram), when hearing it only follows the
        Master and moves the Master_Down_Timer (RFC 9568 §6.4.2): does exactly
        what ``handle`` does and returns the timer's new deadline, the one
        ``ArmTimer`` that ``handle`` would return. None when anything else
        could follow (another state, an owner, priority 0, a preemption or
        its delay in play): nothing changed, the caller uses ``handle``.
        """
        if (
            event is not self._accepted
            or self.state is not State.BACKUP
            or self.preempt_deadline is not None
            or self.effective_priority == OWNER_PRIORITY
        ):
            return None
        advert = event.advert
        if advert.priority == STOP_PRIORITY or (
            self.params.preempt and self._preempts(advert.priority)
        ):
            return None
        self.wants_master = False
        self._learn_master(advert, event.src)
        at = self.timers[Timer.MASTER_DOWN] = now + self.master_down_interval
        return at

    def _learn_master(self, advert: Advertisement, src: IPAddress) -> None:
        self.master_address = src
        self.master_priority = advert.priority
        if self.params.version == 3:
            # RFC 9568 §6.4.2: Master_Adver_Interval follows the Master.
            self.master_adver_interval_cs = advert.interval_cs

    def _preempts(self, priority: int) -> bool:
        """Whether we would take over from a Master advertising ``priority``.

        A resigning router never preempts: it advertises priority 0 when Master.
        """
        return not self.resigning and priority < self.effective_priority

    def _backup_receive(
        self, advert: Advertisement, src: IPAddress, now: float, actions: list[Action]
    ) -> None:
        """RFC 9568 §6.4.2, Backup state, ADVERTISEMENT received."""
        if advert.priority == STOP_PRIORITY:
            self._hear_stop(advert, src, now, actions)
            return
        lower = self._preempts(advert.priority)
        if lower and self.params.preempt:
            if self.params.preempt_delay_cs <= 0:
                return  # discard: the Master_Down_Timer lets us preempt
            if self.preempt_deadline is None:
                self.preempt_deadline = now + self.params.preempt_delay_cs / 100
                self._arm(Timer.PREEMPT_DELAY, self.preempt_deadline, actions)
            elif now >= self.preempt_deadline:
                return  # the delay is over: discard
        elif self.preempt_deadline is not None:
            self.preempt_deadline = None
            self._cancel(Timer.PREEMPT_DELAY, actions)
        self.wants_master = False
        self._learn_master(advert, src)
        self._arm(Timer.MASTER_DOWN, now + self.master_down_interval, actions)

    def _hear_stop(
        self, advert: Advertisement, src: IPAddress, now: float, actions: list[Action]
    ) -> None:
        """A Backup hears priority 0: its Master stops, resigns, or leaves a split brain.

        RFC 9568 §6.4.2: take over after Skew_Time. Three refinements:

        - It only ever brings the takeover forward: a Master_Down_Timer due
          sooner stays (a rival's leaving advert must not delay a preemption).
        - A priority-0 advert from another router than the live Master we
          follow is a rival leaving (a healed split brain): our Master answers
          it at once (§6.4.3), so it does not shorten our timer.
        - A resigning router gives the sender one more Advertisement_Interval:
          a resigning Master keeps sending priority 0 and keeps serving, and
          handing over to another resigning router gains nothing; a Master
          that stopped stays silent, and we take over after it.
        """
        if self.master_priority and self.master_address not in (None, src):
            return
        self.master_address = src
        self.master_priority = STOP_PRIORITY
        if self.resigning:
            self._arm(Timer.MASTER_DOWN, now + advert.interval_cs / 100 + self.skew_time, actions)
            return
        due = self.timers.get(Timer.MASTER_DOWN)
        if due is None or now + self.skew_time < due:
            self._arm(Timer.MASTER_DOWN, now + self.skew_time, actions)

    def _step_down(
        self, cause: str, advert: Advertisement, src: IPAddress, now: float, actions: list[Action]
    ) -> None:
        """Leave Master for a rival we did not hand over to (a split brain, a tie).

        One priority-0 advert goes out as we leave: the rival may never hear
        us otherwise (we heard it first), and on this advert it re-announces
        the addresses, so that neighbour caches that still point here move to
        it within one interval. A Backup that follows the rival ignores it
        (:meth:`_hear_stop`).
        """
        actions.append(SendAdvert(self.advertisement(STOP_PRIORITY)))
        self._learn_master(advert, src)
        self._become_backup(cause, now, actions)
        if advert.priority == STOP_PRIORITY:
            self._hear_stop(advert, src, now, actions)

    def _master_receive(
        self, advert: Advertisement, src: IPAddress, now: float, actions: list[Action]
    ) -> None:
        """RFC 9568 §6.4.3, Master state, ADVERTISEMENT received."""
        higher_address = int(src) > int(self.params.primary_address)
        if advert.priority == STOP_PRIORITY:
            if self.resigning and higher_address:
                # Every Master resigns, yet one must serve: the higher primary
                # address does, as for equal priorities.
                self._step_down(
                    f"resigning, as is {src} (higher address)", advert, src, now, actions
                )
                return
            # Another router held the addresses too (it stops, resigns or
            # leaves a split brain): advertise at once (§6.4.3) and re-announce.
            self._advertise(now, actions, refresh=True)
            return
        if self.resigning:
            # Whoever advertises now took over: hand over (make before break).
            self._learn_master(advert, src)
            self._become_backup(f"resigned to {src}", now, actions, hold=self.params.resign_hold)
            return
        ours = self.effective_priority
        if outranks(
            priority=advert.priority,
            address=src,
            rival_priority=ours,
            rival_address=self.params.primary_address,
        ):
            cause = (
                f"higher priority {advert.priority} from {src}"
                if advert.priority > ours
                else f"equal priority {ours} from higher address {src}"
            )
            self._step_down(cause, advert, src, now, actions)
            return
        # A lower-priority router believes it is Master: answer at once and
        # re-announce (keepalived does the same; see the module docstring).
        actions.append(Anomaly("lower_priority_master", f"priority {advert.priority} from {src}"))
        self._advertise(now, actions, refresh=True)
