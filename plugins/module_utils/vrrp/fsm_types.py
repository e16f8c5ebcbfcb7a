"""The vocabulary of the state machine: states, timers, parameters, events, actions.

Plain frozen data, shared by :mod:`.fsm` (one virtual router), :mod:`.group`
(sync groups), the runner and the simulated LAN of the tests. See
:mod:`.fsm` for what each event does and which actions it returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Final, Union

from .errors import VRRPError
from .packet import Advertisement
from .priorities import OWNER_PRIORITY

IPAddress = Union[IPv4Address, IPv6Address]


class State(str, enum.Enum):
    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"


class Timer(str, enum.Enum):
    ADVER = "adver"
    MASTER_DOWN = "master_down"
    PREEMPT_DELAY = "preempt_delay"
    # A resigned Master's hold of its addresses after the hand-over (fsm.RESIGN_HOLD).
    RELEASE = "release"


#: Every legal move. Anything else raises :class:`StateError` (a bug, not input).
TRANSITIONS: Final[frozenset[tuple[State, State]]] = frozenset(
    {
        (State.INIT, State.BACKUP),
        (State.INIT, State.MASTER),
        (State.INIT, State.FAULT),
        (State.BACKUP, State.MASTER),
        (State.BACKUP, State.INIT),
        (State.BACKUP, State.FAULT),
        (State.MASTER, State.BACKUP),
        (State.MASTER, State.INIT),
        (State.MASTER, State.FAULT),
        (State.FAULT, State.INIT),
    }
)


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class RouterParams:
    """What one virtual router is configured with (built from the config)."""

    vrid: int
    version: int
    priority: int
    advert_interval_cs: int
    primary_address: IPAddress
    virtual_addresses: tuple[IPAddress, ...]
    preempt: bool = True
    preempt_delay_cs: int = 0
    accept: bool = False
    auth_type: int = 0
    auth_data: bytes = b""
    unicast_peers: tuple[IPAddress, ...] = ()
    # A resigned Master keeps its addresses past its successor's advert until
    # it announced them (fsm.RESIGN_HOLD at most); off for a VMAC, whose frames
    # follow the successor's first advert.
    resign_hold: bool = True

    def __post_init__(self) -> None:
        if self.version not in (2, 3):
            raise VRRPError(f"VRRP version must be 2 or 3, not {self.version}")
        if not 1 <= self.vrid <= 255:
            raise VRRPError(f"VRID must be 1..255, not {self.vrid}")
        if not 1 <= self.priority <= OWNER_PRIORITY:
            raise VRRPError(f"priority must be 1..255, not {self.priority}")
        if self.advert_interval_cs < 1:
            raise VRRPError(f"advert interval must be positive, not {self.advert_interval_cs} cs")
        if not self.virtual_addresses:
            raise VRRPError("a virtual router needs at least one virtual address")


# ------------------------------------------------------------------- events


@dataclass(frozen=True)
class Startup:
    """RFC 9568 §6.4.1: the router is enabled, with what is known of the host then.

    ``faults``: the fault sources already failing (``link``, ``address``,
    ``socket``, ``track:<name>``); ``primary_address``: the source address
    (None keeps the configured one); ``priority``: the effective priority
    (None: the configured priority); ``resigning``: start resigned (a
    persisted maintenance demotion to 0, see :class:`Resign`).
    """

    faults: frozenset[str] = frozenset()
    primary_address: IPAddress | None = None
    priority: int | None = None
    resigning: bool = False


@dataclass(frozen=True)
class Shutdown:
    """The router is disabled (runner stop or instance removed)."""


@dataclass(frozen=True)
class AdvertReceived:
    """A decoded advertisement for this VRID, from ``src``."""

    advert: Advertisement
    src: IPAddress


@dataclass(frozen=True)
class TimerExpired:
    timer: Timer


@dataclass(frozen=True)
class FaultRaised:
    """A fault source (``link``, ``address``, ``track:<name>``, ``group:<name>``) failed."""

    reason: str


@dataclass(frozen=True)
class FaultCleared:
    reason: str


@dataclass(frozen=True)
class PrimaryAddressChanged:
    """The interface's primary address (the advert source) is now ``address``.

    RFC 9568 §5.1.1.1 / §5.1.2.1: adverts leave from the primary IPv4 address
    or the link-local IPv6 address of the interface; when the host renumbers,
    the router follows at once.
    """

    address: IPAddress


@dataclass(frozen=True)
class PriorityChanged:
    """The effective priority changed (tracking, maintenance demotion)."""

    priority: int


@dataclass(frozen=True)
class GroupMaster:
    """The sync group lets this member become Master."""

    cause: str


@dataclass(frozen=True)
class GroupBackup:
    """The sync group pulls this member back to Backup."""

    cause: str


@dataclass(frozen=True)
class Resign:
    """Maintenance: hand Mastership over without a gap, or take that back.

    A resigning Master keeps its addresses but advertises priority 0 at every
    Adver_Timer (RFC 9568 §6.4.3 lets a Backup take over after Skew_Time on
    such an advert, whatever its preempt setting); it steps down when the new
    Master's first advertisement arrives. With nobody to take over it keeps
    serving: make before break. When every router resigns one still serves:
    a resigning Backup does not take over from a resigning Master, and of two
    resigning Masters the higher primary address stays.
    """

    active: bool


@dataclass(frozen=True)
class Reconfigure:
    """A reload changed this virtual router's definition in place.

    ``params`` replaces the configured parameters. VRID and version stay (a
    change of either makes another virtual router: the runner re-creates it),
    and so does the source address, which the runner observes rather than
    configures. State and timers are kept: a Master adds and removes virtual
    addresses that came or went (``readdress``: addresses whose kernel form
    changed, a new prefix length, put in again), announces the new ones and
    advertises the new definition at once. ``in_sync_group``: whether the
    router is a sync-group member from now on.

    The priority is not taken from ``params``: the effective priority is
    derived by tracking from the configured one and arrives as
    :class:`PriorityChanged`.
    """

    params: RouterParams
    in_sync_group: bool = False
    readdress: tuple[IPAddress, ...] = ()


@dataclass(frozen=True)
class SuccessorAnnounced:
    """Another node announced ``addresses`` on the instance's interface.

    A gratuitous ARP (request or reply, sender IP one of them) or an
    unsolicited neighbour advertisement (target one of them) from a MAC not
    ours: the runner listens while the router awaits its successor
    (``VirtualRouter.awaits_successor``). A resigned Master holding its
    addresses (fsm.RESIGN_HOLD) lets them go once every advertised one was
    announced; heard just before the successor's advert, it is remembered.
    """

    addresses: tuple[IPAddress, ...]


Event = Union[
    Startup,
    Shutdown,
    AdvertReceived,
    TimerExpired,
    FaultRaised,
    FaultCleared,
    PrimaryAddressChanged,
    PriorityChanged,
    GroupMaster,
    GroupBackup,
    Resign,
    Reconfigure,
    SuccessorAnnounced,
]


# ------------------------------------------------------------------ actions


@dataclass(frozen=True)
class SendAdvert:
    advert: Advertisement


@dataclass(frozen=True)
class AddAddresses:
    """Install the virtual addresses (Master); ``addresses``: only these."""

    addresses: tuple[IPAddress, ...] | None = None


@dataclass(frozen=True)
class RemoveAddresses:
    """Withdraw the virtual addresses (leaving Master); ``addresses``: only these
    (a Master that stays Master, announcing the others on)."""

    addresses: tuple[IPAddress, ...] | None = None


@dataclass(frozen=True)
class Announce:
    """Gratuitous ARP / unsolicited NA for the virtual addresses.

    ``refresh`` is False on becoming Master (the runner applies the configured
    delay and repeat) and True for a re-announcement while Master.
    """

    refresh: bool = False


@dataclass(frozen=True)
class ArmTimer:
    timer: Timer
    at: float


@dataclass(frozen=True)
class CancelTimer:
    timer: Timer


@dataclass(frozen=True)
class Transition:
    old: State
    new: State
    cause: str
    at: float


@dataclass(frozen=True)
class Drop:
    """An advertisement failed a check of the configured instance."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Anomaly:
    """Worth a log line and a counter, but the advertisement is still used."""

    kind: str
    detail: str


@dataclass(frozen=True)
class RequestMaster:
    """A sync-group member is ready to be Master and asks its group."""

    cause: str


Action = Union[
    SendAdvert,
    AddAddresses,
    RemoveAddresses,
    Announce,
    ArmTimer,
    CancelTimer,
    Transition,
    Drop,
    Anomaly,
    RequestMaster,
]
