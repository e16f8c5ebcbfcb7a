"""Virtual addresses added and removed in batches over one netlink socket kept open.

A backup taking over hundreds of virtual routers at once adds a VIP per
router (or several): :func:`.addresses.add_address` opens a socket, sends one
request and waits for its acknowledgement each time. An
:class:`AddressChannel` keeps one socket and sends the requests of a batch
(every VIP of an instance) before reading their acknowledgements.

Each change keeps its own result, as :mod:`.addresses` gives it: True (done),
False (no change: there already, or gone already) or the
:class:`~vrrp.errors.NetlinkError` naming the address and the kernel's reason.
A change whose answer never came (the socket failed or timed out) is an error
too, never taken for done; the socket is then dropped and the next batch
opens a new one.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

from ..errors import NetlinkError
from . import netlink
from .addresses import (
    VMAC_ROUTE_METRIC,
    AddressOptions,
    IPInterface,
    _addr_msg,
    _parse_interface,
    ifname_to_index,
    wait_until_all_local,
)

Result = Union[bool, NetlinkError]


@dataclass(frozen=True)
class AddressChange:
    """One address on one interface, as :func:`.addresses.add_address` takes it."""

    ifname: str
    address: str | IPInterface  # "192.0.2.1/24"; no length means /32 or /128
    route_metric: int | None = None
    options: AddressOptions | None = None

    @classmethod
    def vip(
        cls,
        ifname: str,
        address: str | IPInterface,
        *,
        vmac: bool,
        options: AddressOptions | None = None,
    ) -> AddressChange:
        """A virtual address: on a VMAC its prefix route always loses to the
        parent's (:data:`.addresses.VMAC_ROUTE_METRIC`)."""
        metric = VMAC_ROUTE_METRIC if vmac else None
        return cls(ifname=ifname, address=address, route_metric=metric, options=options)


class AddressChannel:
    """One rtnetlink socket for address changes, opened at first use (see the module docstring)."""

    def __init__(self) -> None:
        self._rtnl: netlink.Rtnl | None = None

    def close(self) -> None:
        if self._rtnl is not None:
            self._rtnl.close()
            self._rtnl = None

    def add(self, changes: Sequence[AddressChange], *, wait: bool = True) -> list[Result]:
        """Add each address; True: added, False: it was there (EEXIST).

        A new IPv6 address is announced right after, so the NA moves the
        traffic here: with ``wait``, the batch's new IPv6 addresses are waited
        for, together, until the kernel delivers each to this host (one
        :data:`.addresses.LOCAL_WAIT` for the batch at most, a workqueue's
        delay after the ACK). Without, the caller waits on the loop
        (:func:`new_ipv6`, :class:`.local_wait.LocalWaiter`).
        """
        results = self._apply(changes, add=True)
        new6 = new_ipv6(changes, results)
        if new6 and wait:
            try:
                wait_until_all_local(new6, rtnl=self._rtnl)
            except (NetlinkError, OSError):
                self.close()  # the adds stand; the wait was the best we could do
        return results

    def remove(self, changes: Sequence[AddressChange]) -> list[Result]:
        """Remove each address; True: removed, False: it was not there."""
        return self._apply(changes, add=False)

    def _apply(self, changes: Sequence[AddressChange], *, add: bool) -> list[Result]:
        results: list[Result | None] = [None] * len(changes)
        batch: list[tuple[Any, int, int]] = []
        sent: list[tuple[int, IPInterface]] = []  # (position in changes, address)
        indexes: dict[str, int] = {}  # one lookup per interface and batch
        for at, change in enumerate(changes):
            iface = change.address
            try:
                if isinstance(iface, str):
                    iface = _parse_interface(iface)
                ifindex = indexes.get(change.ifname)
                if ifindex is None:
                    ifindex = indexes[change.ifname] = ifname_to_index(change.ifname)
            except NetlinkError as exc:
                results[at] = exc
                continue
            if add:
                msg = _addr_msg(
                    ifindex,
                    iface,
                    nodad=True,
                    route_metric=change.route_metric,
                    options=change.options,
                )
                batch.append((msg, netlink.RTM_NEWADDR, netlink.NLM_F_CREATE | netlink.NLM_F_EXCL))
            else:
                batch.append((_addr_msg(ifindex, iface, nodad=False), netlink.RTM_DELADDR, 0))
            sent.append((at, iface))
        for (at, iface), answer in zip(sent, self._send(batch)):
            results[at] = _result(changes[at].ifname, iface, answer, add=add)
        return [r if r is not None else NetlinkError("no answer") for r in results]

    def _send(self, batch: list[tuple[Any, int, int]]) -> list[int | NetlinkError]:
        if not batch:
            return []
        try:
            if self._rtnl is None:
                self._rtnl = netlink.Rtnl()
            answers = self._rtnl.request_many(batch)
        except Exception as exc:  # an encoding error, no socket: nothing known
            self.close()
            failure = exc if isinstance(exc, NetlinkError) else NetlinkError(f"netlink: {exc}")
            return [failure] * len(batch)
        if any(isinstance(answer, NetlinkError) for answer in answers):
            self.close()  # answers may still be on their way: a new socket next time
        return answers


def _result(ifname: str, iface: IPInterface, answer: int | NetlinkError, *, add: bool) -> Result:
    """What :func:`.addresses.add_address` / ``remove_address`` return or raise for ``answer``."""
    what = f"add {iface} on {ifname}" if add else f"remove {iface} from {ifname}"
    if isinstance(answer, NetlinkError):
        return NetlinkError(f"{what}: {answer}")
    if add and answer == errno.EEXIST:
        return False
    if not add and answer in (errno.EADDRNOTAVAIL, errno.ENOENT):
        return False
    if answer:
        return NetlinkError(f"{what}: {os.strerror(answer)}")
    return True


def new_ipv6(
    changes: Sequence[AddressChange], results: Sequence[Result]
) -> list[tuple[str, IPInterface]]:
    """The ``(ifname, address)`` of the IPv6 addresses ``results`` says were added."""
    return [
        (change.ifname, _interface(change.address))
        for change, result in zip(changes, results)
        if result is True and _interface(change.address).version == 6
    ]


def _interface(address: str | IPInterface) -> IPInterface:
    return _parse_interface(address) if isinstance(address, str) else address
