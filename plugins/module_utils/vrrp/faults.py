"""Fault reasons: the names of what holds a virtual router in FAULT, defined once.

A router is in FAULT while any reason is raised (:class:`~vrrp.fsm.FaultRaised`).
The host's own: ``link`` (its interface down), ``address`` (no usable advert
source), ``socket`` (not listening on the interface as it is now); a classic
link probe's ``probe:<method>``; a tracker's ``track:<kind>:<name>``; a sync
group's ``group:<name>`` (another member's fault); a VMAC that cannot be set
up as configured, ``vmac:<the kernel's error>`` (a sysctl refused, a foreign
interface of its name).
"""

from __future__ import annotations

from typing import Final

LINK: Final = "link"
ADDRESS: Final = "address"
SOCKET: Final = "socket"
# What a router on an interface that does not exist (yet) starts with.
NO_INTERFACE: Final = frozenset((LINK, ADDRESS, SOCKET))

PROBE_PREFIX: Final = "probe:"
TRACK_PREFIX: Final = "track:"
GROUP_PREFIX: Final = "group:"
VMAC_PREFIX: Final = "vmac:"


def probe(method: str) -> str:
    """The fault of a classic link probe (``ethtool``, ``mii``…) that says down."""
    return f"{PROBE_PREFIX}{method}"


def track(kind: str, name: str) -> str:
    """The fault of a tracker (``kind``: interface, script, file)."""
    return f"{TRACK_PREFIX}{kind}:{name}"


def group(name: str) -> str:
    """The fault a sync group puts on its members while one of them is in FAULT."""
    return f"{GROUP_PREFIX}{name}"


def vmac(error: str) -> str:
    """The fault of a VMAC interface the kernel would not set up: ``error`` names why."""
    return f"{VMAC_PREFIX}{error}"
