"""The VMAC interfaces of the runner's instances, and the fault while one is not usable.

A VMAC instance (RFC 9568 §7.3) serves its virtual addresses on a macvlan
with the virtual router MAC, usable only as
:func:`~.linux.addresses.create_vmac` leaves it: ours (that MAC, on the
instance's interface), its sysctls written, up. When the kernel refuses a
step (``/proc/sys/net`` read-only, as systemd-nspawn with a private network
mounts it; an interface of that name that is not the VMAC), the instance
cannot serve its addresses: it is in FAULT with ``vmac:<the error>``
(:func:`.faults.vmac`), so its peer is the one Master. Without that, the
macvlan stayed down while the instance became Master beside its peer.

Nothing tells the runner when the cause goes away (a remount, an interface
deleted by its owner), so a failed set-up is tried again: at the link
events of the interface and of the VMAC, at every reload, and on a timer,
1 s after the failure, then doubling up to 30 s. A passing failure clears
within a second or two; one that stays costs a link dump per instance at
most every 30 s. An interface set up once is not touched again while it
keeps its ifindex (the link events of hundreds of VMACs must stay cheap).

A VMAC of ours that another program sets down, or gives another MAC (an
operator's ``ip link set``, a network manager), is put back at once, like a
VIP removed from a Master (:meth:`~.follow.HostFollower._restore_vips`):
down, a Master's VIP answers to nobody while it still claims MASTER, and a
Backup no longer hears its Master's adverts (they arrive on the macvlan,
see :mod:`.linux.vmac_socket`) and takes the VIP beside it. It is made as
:func:`~.linux.addresses.create_vmac` leaves it (the MAC, the sysctls, up)
and counted (``vmac_restored``); when that fails the instance is in FAULT
(``vmac:<the error>``) and the set-up is retried as above. keepalived only
follows such a VMAC (its instance goes FAULT until someone sets it up
again), which leaves a single router down for good after a stray command.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from . import faults
from .errors import VRRPError
from .hostio import HostIo
from .instance import Instance
from .linux.addresses import vmac_address
from .linux.watch import LinkChanged

log = logging.getLogger("failover-vrrp")

RETRY_FIRST: Final = 1.0
RETRY_MAX: Final = 30.0


class VmacKeeper:
    """Which VMAC interfaces are set up, which instances fail theirs, and the retry timer.

    ``retry`` is called with the names of the failing instances when the
    timer fires (the follower opens their sockets again, see
    :meth:`~.follow.HostFollower._relisten`).
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        io: HostIo,
        retry: Callable[[list[str]], None],
    ) -> None:
        self.loop = loop
        self.io = io
        self._retry = retry
        self._ready: dict[str, int] = {}  # VMAC name -> the ifindex it was set up on
        # VMAC name -> the ifindex of the one we made or adopted: ours to put back.
        self._ours: dict[str, int] = {}
        self.failing: dict[str, str] = {}  # instance name -> its fault reason
        self._delay = RETRY_FIRST
        self._timer: asyncio.TimerHandle | None = None

    def set_up(self, inst: Instance) -> bool:
        """Make ``inst``'s VMAC usable unless it is already; True when it was (re)made now.

        A failure is kept as ``failing[inst.name]`` (logged when new) and
        tried again later; a success forgets it.
        """
        name = inst.address_ifname
        index = self.io.kernel_index(name)
        if index is not None and self._ready.get(name) == index:
            return False
        self._ready.pop(name, None)
        try:
            self.io.create_vmac(inst, ours=self._ours.get(name))
        except (VRRPError, OSError) as exc:  # OSError: no netlink socket (EMFILE)
            self._failed(inst, exc)
            return False
        index = self.io.kernel_index(name)
        if index is not None:
            self._ready[name] = self._ours[name] = index
        if self.failing.pop(inst.name, None) is not None:
            log.warning("%s: VMAC %s set up on %s", inst.name, name, inst.ifname)
        else:
            log.info("%s: VMAC %s made on %s", inst.name, name, inst.ifname)
        return True

    def disturbed(self, inst: Instance, state: LinkChanged | None) -> str | None:
        """What another program did to ``inst``'s VMAC (set up by us), now in ``state``.

        None when it is as we left it, or not ours to keep: never set up,
        or gone or made again (:meth:`set_up` handles those).
        """
        name = inst.address_ifname
        index = self._ready.get(name)
        if state is None or index is None or state.ifindex != index:
            return None
        mac = vmac_address(inst.cfg.vrid, version=inst.ip_version)
        if not state.up:
            what = "was set down"
        elif state.mac and state.mac != mac:
            what = f"had its MAC changed to {state.mac}"
        else:
            return None  # as we left it (the common case: no syscall)
        return what if self.io.kernel_index(name) == index else None

    def put_back(self, inst: Instance) -> bool:
        """Make ``inst``'s VMAC (the one we set up) usable again; False: a fault now."""
        name = inst.address_ifname
        index = self._ready.pop(name, None)
        try:
            self.io.create_vmac(inst, ours=index)
        except (VRRPError, OSError) as exc:
            self._failed(inst, exc)  # set_up retries it, still ours
            return False
        if index is not None:
            self._ready[name] = index
        inst.stats["vmac_restored"] += 1
        return True

    def forget(self, inst: Instance) -> None:
        """``inst`` is removed: its VMAC is deleted (or not ours) and nothing is retried."""
        self.failing.pop(inst.name, None)
        self._ready.pop(inst.address_ifname, None)
        self._ours.pop(inst.address_ifname, None)

    def retry_now(self) -> None:
        """Try every failed set-up again at once (a reload), the backoff from the start."""
        self._cancel()
        self._delay = RETRY_FIRST
        if self.failing:
            self._retry(sorted(self.failing))
        if self.failing:
            self._schedule()

    def close(self) -> None:
        self._cancel()

    def _failed(self, inst: Instance, exc: Exception) -> None:
        reason = faults.vmac(str(exc))
        if self.failing.get(inst.name) != reason:
            inst.stats["vmac_errors"] += 1
            log.error("%s: VMAC %s: %s: instance in FAULT", inst.name, inst.address_ifname, exc)
        self.failing[inst.name] = reason
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(self._delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._delay = min(self._delay * 2, RETRY_MAX)
        try:
            self._retry(sorted(self.failing))
        except Exception:  # a bug must not end the retries (nor reach the loop)
            log.exception("VMAC retry failed")
        if self.failing:
            self._schedule()
        else:
            self._delay = RETRY_FIRST

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
