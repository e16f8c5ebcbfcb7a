"""Waiting on the loop, not on a sleep, until new IPv6 VIPs are local.

A new Master announces its VIPs right after adding them. Linux makes a NODAD
IPv6 address local (its RTN_LOCAL route) only when the DAD work has run on a
workqueue after the netlink ACK; an unsolicited NA sent before moves traffic
here that the kernel then drops (Ip6InAddrErrors). :func:`.addresses.wait_until_all_local`
waits for that with ``time.sleep``: on the loop thread, a takeover of
hundreds of IPv6 instances added those waits up to a second (issue 14 §5).

One :class:`LocalWaiter` serves the whole runner: every pending address of
every takeover is looked at together, one RTM_GETROUTE each, from a single
``loop.call_later`` chain on one socket of its own; each caller's callback
runs once its addresses are local, have no route at all, or
:data:`.addresses.LOCAL_WAIT` passed since it asked. A callback is never
called from :meth:`LocalWaiter.wait` itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from ..errors import NetlinkError
from . import netlink
from .addresses import LOCAL_WAIT, IPInterface, look_again, route_lookups

log = logging.getLogger("failover-vrrp")

# Between two looks: the loop's own granularity (its epoll waits whole ms).
LOCAL_POLL: Final = 0.001


@dataclass(eq=False)
class _Waiting:
    lookups: list[tuple[str, int]]  # (address, ifindex or 0) not local yet
    deadline: float  # loop time
    callback: Callable[[], None]


class LocalWaiter:
    """See the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._waiting: list[_Waiting] = []
        self._handle: asyncio.TimerHandle | None = None
        self._rtnl: netlink.Rtnl | None = None

    def wait(
        self, targets: Sequence[tuple[str, str | IPInterface]], callback: Callable[[], None]
    ) -> bool:
        """Call ``callback`` from the loop once every ``(ifname, address)`` is local
        (or the cap passed); False, and no call, when there is nothing to look at."""
        lookups = [lookup for _at, lookup in route_lookups(targets)]
        if not lookups:
            return False
        self._waiting.append(_Waiting(lookups, self.loop.time() + LOCAL_WAIT, callback))
        if self._handle is None:
            self._handle = self.loop.call_later(LOCAL_POLL, self._poll)
        return True

    def close(self) -> None:
        """At stop: nothing more is looked at or called back."""
        self._waiting.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._close_socket()

    def _close_socket(self) -> None:
        if self._rtnl is not None:
            self._rtnl.close()
            self._rtnl = None

    def _poll(self) -> None:
        self._handle = None
        now = self.loop.time()
        kinds: dict[tuple[str, int], int | None] = {}  # one look per address and poll
        done: list[_Waiting] = []
        keep: list[_Waiting] = []
        try:
            if self._rtnl is None:
                self._rtnl = netlink.Rtnl()
            for entry in self._waiting:
                still = []
                for lookup in entry.lookups:
                    if lookup not in kinds:
                        kinds[lookup] = self._rtnl.route_type(lookup[0], ifindex=lookup[1])
                    if look_again(kinds[lookup]):
                        still.append(lookup)
                entry.lookups = still
                (done if not still or now >= entry.deadline else keep).append(entry)
        except (NetlinkError, OSError) as exc:
            # The adds stand; the wait was the best we could do: announce now.
            log.debug("waiting for new IPv6 addresses to be local: %s", exc)
            self._close_socket()
            done, keep = list(self._waiting), []
        self._waiting = keep
        if self._waiting:
            self._handle = self.loop.call_later(LOCAL_POLL, self._poll)
        else:
            self._close_socket()
        for entry in done:
            try:
                entry.callback()
            except Exception:  # one instance's continuation must spare the others
                log.exception("after new IPv6 addresses became local")
