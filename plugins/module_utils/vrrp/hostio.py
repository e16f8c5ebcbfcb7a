"""The host's kernel as the daemon sees it: one protocol, one real implementation.

:class:`HostIo` is everything the daemon asks of the kernel for its
instances: the pool of VRRP sockets (one per interface and IP version, read
by the event loop), the GARP/NA announcers (one per address interface), the
virtual addresses and VMAC interfaces, interface indexes, the usable
addresses of an interface and the classic link probes. :class:`KernelIo`
does it with :mod:`.linux`; unit tests drive the daemon over a fake.
Nothing here decides: which socket an instance needs, when to renew it and
what a failure means for the state machine are the caller's.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from ipaddress import ip_address
from typing import Protocol

from .config_types import InstanceConfig
from .errors import NetlinkError, VRRPError
from .fsm import SuccessorAnnounced
from .held import Held, address_options, raise_errors
from .instance import Instance, InstanceKernelIo, IPInterface
from .linux import accept_filter, addresses, link
from .linux.address_channel import AddressChange, AddressChannel, new_ipv6
from .linux.announce import Announcer, interface_mac, mac_bytes
from .linux.announce_watch import AnnounceWatch
from .linux.local_wait import LocalWaiter
from .linux.sockets import Received, VrrpSocket
from .linux.vmac_socket import VmacSocket
from .packet import Advertisement
from .source import UNSPECIFIED, IPAddress

log = logging.getLogger("failover-vrrp")

SocketKey = tuple[str, int]  # (interface, IP version)


def kernel_index(ifname: str) -> int | None:
    """The ifindex ``ifname`` has in the kernel now (None: no such interface)."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return None


class HostIo(InstanceKernelIo, Protocol):
    """What the daemon needs from the host's kernel (see the module docstring):
    an instance's own I/O (:class:`~.instance.InstanceKernelIo`) and the rest."""

    def open_announcer(self, instance: Instance) -> None: ...

    # ---- interfaces and their addresses
    def kernel_index(self, ifname: str) -> int | None: ...

    def usable_addresses(self, ifname: str, version: int) -> list[str]: ...

    def put_back(self, ifname: str, address: str, *, vmac: bool) -> bool: ...

    def create_vmac(self, instance: Instance, *, ours: int | None = None) -> None: ...

    def delete_vmac(self, instance: Instance) -> None: ...

    # ---- the socket pool
    def listening(self, key: SocketKey) -> bool: ...

    def listen(self, key: SocketKey, *, vmac_vrid: int | None) -> None: ...

    def receive(self, key: SocketKey) -> Iterable[Received]: ...

    def detach(self, ifname: str) -> None: ...

    def release_unused(self, *, keys: set[SocketKey], ifnames: set[str]) -> None: ...

    def socket_drops(self) -> dict[str, int]: ...

    # ---- classic link probes
    def best_probe(self, ifname: str) -> str | None: ...

    def probe(self, ifname: str, method: str) -> str: ...

    # ---- accept mode (RFC 9568 §6.4.3): the drop of packets to held VIPs
    def reset_accept_filter(self) -> None: ...

    def sync_accept_filter(self) -> None: ...

    def verify_accept_filter(self) -> bool: ...

    # ---- at stop
    def close(self) -> None: ...


class KernelIo:
    """:class:`HostIo` on Linux; its sockets are read by ``loop``, calling ``on_datagrams``."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        on_datagrams: Callable[[SocketKey], None],
    ) -> None:
        self.loop = loop
        self._on_datagrams = on_datagrams
        self.sockets: dict[SocketKey, VrrpSocket] = {}
        self.announcers: dict[str, Announcer] = {}
        # Accept mode: the VIPs each instance holds now (as Master), and what
        # the nftables table drops (None: not known, put right at the next sync).
        self._held: dict[str, tuple[Instance, frozenset[IPAddress]]] = {}
        self._dropped: frozenset[IPAddress] | None = frozenset()
        # Every VIP added or removed goes through one netlink socket kept open,
        # an instance's VIPs as one batch (the mass takeover, issue 14 §5).
        self._vips = AddressChannel()
        # Listeners for a successor's gratuitous ARP / NA, by instance name.
        self._watches: dict[str, list[AnnounceWatch]] = {}
        # A takeover's new IPv6 VIPs not known local yet (added without the
        # wait), until when_local hands them to the one loop-side waiter.
        self._unready: dict[str, list[tuple[str, IPInterface]]] = {}
        self._local = LocalWaiter(loop)
        # Those the waiter waits for now, by instance: wait_local waits for
        # them on the spot (an instance given something else meanwhile).
        self._waited: dict[str, list[tuple[str, IPInterface]]] = {}

    def close(self) -> None:
        """At stop: close what stays open between calls (the address channel, the waiter)."""
        self._vips.close()
        self._local.close()
        for watches in self._watches.values():
            self._close_watches(watches)
        self._watches.clear()

    # ------------------------------------- a successor's announcements (issue 13)

    def watch_announcements(self, instance: Instance, *, on: bool) -> None:
        """Open (``on``) or close the instance's listeners for another node's
        gratuitous ARP / NA of its VIPs: one on each interface its VIPs live
        on (a VIP with a ``dev`` is announced there), for the VIPs on it, all
        or none. Each one heard is fed as :class:`~.fsm_types.SuccessorAnnounced`."""
        self._close_watches(self._watches.pop(instance.name, []))
        if not on:
            return
        by_ifname: dict[str, list[IPAddress]] = {}
        for vip in instance.virtual_interfaces:
            ifname = instance.vip_ifname(vip) or instance.address_ifname
            by_ifname.setdefault(ifname, []).append(vip.ip)
        opened: list[AnnounceWatch] = []
        try:
            for ifname, addresses in by_ifname.items():
                opened.append(
                    AnnounceWatch(
                        ifname=ifname,
                        version=instance.ip_version,
                        own_mac=interface_mac(ifname),
                        addresses=addresses,
                    )
                )
        except Exception:
            self._close_watches(opened, registered=False)
            raise
        for watch in opened:
            self.loop.add_reader(watch.fileno(), self._on_announcements, instance, watch)
        self._watches[instance.name] = opened

    def _close_watches(self, watches: list[AnnounceWatch], *, registered: bool = True) -> None:
        for watch in watches:
            if registered:
                self.loop.remove_reader(watch.fileno())
            watch.close()

    @staticmethod
    def _on_announcements(instance: Instance, watch: AnnounceWatch) -> None:
        own, ignored = watch.own, watch.ignored
        found = watch.read()
        instance.stats["announce_watch.own"] += watch.own - own
        instance.stats["announce_watch.ignored"] += watch.ignored - ignored
        if found:
            instance.stats["announce_watch.heard"] += len(found)
            instance.feed(instance, SuccessorAnnounced(tuple(found)))

    # ------------------------------------------------------ an instance's I/O

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

    def add_addresses(
        self, instance: Instance, vips: Sequence[IPInterface] | None = None, *, wait: bool = True
    ) -> None:
        """The VIPs (None: all of them, then what the Master holds beyond them, see
        :mod:`.held`); every item is tried, the refusals raised together.

        ``wait``: until the new IPv6 VIPs are local (a blocking wait, at most
        LOCAL_WAIT); without, :meth:`when_local` waits for them on the loop."""
        chosen = instance.virtual_interfaces if vips is None else vips
        # The drop first (accept off): no moment where the kernel accepts for them.
        _unused, held = self._held.get(instance.name, (instance, frozenset()))
        self._held[instance.name] = (instance, held | {vip.ip for vip in chosen})
        self._sync_for(instance)
        errors: list[str] = []
        self._change_vips(instance, chosen, add=True, retired=False, errors=errors, wait=wait)
        if vips is None:
            Held(instance.cfg, ifname=instance.address_ifname).install(errors)
        raise_errors(errors)

    def _change_vips(
        self,
        instance: Instance,
        vips: Sequence[IPInterface],
        *,
        add: bool,
        retired: bool,
        errors: list[str],
        wait: bool = True,
    ) -> None:
        """Add (or remove) ``vips`` in one batch; each refusal to ``errors``, in order."""
        changes = []
        for vip in vips:
            options = instance.held_vip(vip, retired=retired)
            ifname = (options and options.dev) or instance.address_ifname
            vmac = instance.cfg.vmac and ifname == instance.address_ifname
            opts = address_options(options) if add else None
            changes.append(AddressChange.vip(ifname, vip, vmac=vmac, options=opts))
        results = self._vips.add(changes, wait=wait) if add else self._vips.remove(changes)
        if add and not wait:
            self._unready.setdefault(instance.name, []).extend(new_ipv6(changes, results))
        errors += [str(result) for result in results if isinstance(result, VRRPError)]

    def when_local(self, instance: Instance, callback: Callable[[], None]) -> bool:
        """After ``add_addresses(wait=False)``: call ``callback`` from the loop once
        the IPv6 VIPs it added are local (or LOCAL_WAIT passed); False, and no
        call, when nothing is left to wait for."""
        name = instance.name
        targets = self._unready.pop(name, [])
        if not targets:
            return False

        def arrived() -> None:
            if self._waited.get(name) is targets:
                del self._waited[name]
            callback()

        if not self._local.wait(targets, arrived):
            return False
        self._waited[name] = targets
        return True

    def wait_local(self, instance: Instance) -> None:
        """What :meth:`when_local` waits for on the loop, waited for now (blocking,
        LOCAL_WAIT at most): the instance carries out its held-back NA at once."""
        targets = self._waited.pop(instance.name, None)
        if targets:
            addresses.wait_until_all_local(targets)

    def remove_addresses(
        self, instance: Instance, vips: Sequence[IPInterface] | None = None
    ) -> None:
        try:
            self._remove_addresses(instance, vips)
        finally:
            if vips is None:
                self._held.pop(instance.name, None)
            elif instance.name in self._held:
                _unused, held = self._held[instance.name]
                self._held[instance.name] = (instance, held - {vip.ip for vip in vips})
            self._sync_for(instance)

    def _sync_for(self, instance: Instance) -> None:
        """:meth:`sync_accept_filter` after ``instance``'s VIPs came or went.

        The VIPs of an instance that does not drop cannot change the table, so
        nothing is looked at then (a takeover of N instances would otherwise
        go over every held VIP N times), unless the table is not known: a
        write that failed is tried again at the next change. A reload that
        changes what drops syncs itself (``Runner.reload``).
        """
        if instance.cfg.drops_for_vips or self._dropped is None:
            self.sync_accept_filter()

    def _remove_addresses(self, instance: Instance, vips: Sequence[IPInterface] | None) -> None:
        errors: list[str] = []
        if vips is None:
            Held(instance.cfg, ifname=instance.address_ifname).withdraw(errors)
        elsewhere = [v for v in instance.virtual_interfaces if instance.vip_ifname(v) is not None]
        if vips is None and instance.cfg.vmac and instance.ip_version == 6:
            # Leaving Master (all of them): see remove_vmac_addresses. A Master
            # that stays (a reload in place) must not take its VMAC down.
            every = [str(v) for v in instance.virtual_interfaces if v not in elsewhere]
            addresses.remove_vmac_addresses(instance.address_ifname, every)
            vips = elsewhere
        # Named VIPs come from a reload in place: as the old definition placed them.
        retired = vips is not None and vips is not elsewhere
        chosen = instance.virtual_interfaces if vips is None else vips
        self._change_vips(instance, chosen, add=False, retired=retired, errors=errors)
        raise_errors(errors)

    def withdraw_held(self, instance: Instance, old: InstanceConfig) -> None:
        """Withdraw what ``old`` held beyond the VIPs (a reload ended a resign hold)."""
        errors: list[str] = []
        Held(old, ifname=instance.address_ifname).withdraw(errors)
        raise_errors(errors)

    def update_held(self, instance: Instance, old: InstanceConfig) -> None:
        """A reload kept this Master: bring what it holds beyond the core's VIP
        set from ``old`` to its new definition (options of VIPs that stay too)."""
        errors: list[str] = []
        ifname = instance.address_ifname
        Held(instance.cfg, ifname=ifname).update(Held(old, ifname=ifname), errors)
        before = {vip.ip: vip for vip in old.virtual_addresses}
        for vip in instance.virtual_interfaces:
            if before.get(vip.ip) == vip and old.held_vip(vip) != instance.cfg.held_vip(vip):
                self._change_vips(instance, [vip], add=False, retired=True, errors=errors)
                self._change_vips(instance, [vip], add=True, retired=False, errors=errors)
        raise_errors(errors)

    # ------------------------------------------------------ accept mode

    def _to_drop(self) -> frozenset[IPAddress]:
        """The VIPs held by instances that, as Master, must not accept for them."""
        return frozenset(
            ip for inst, held in self._held.values() if inst.cfg.drops_for_vips for ip in held
        )

    def reset_accept_filter(self) -> None:
        """At start and stop: no table (one a killed runner left is stale)."""
        self._held.clear()
        self._dropped = None
        if accept_filter.nft_program() is None:
            self._dropped = frozenset()  # nothing was ever made here without nft
            return
        self.sync_accept_filter()

    def sync_accept_filter(self) -> None:
        """Make the table drop what :meth:`_to_drop` says (nft only when that changed).

        A failure is logged and leaves the table unknown: the next sync or
        :meth:`verify_accept_filter` writes it again. The addresses are taken
        all the same: a Master without its VIPs would black-hole the traffic.
        """
        wanted = self._to_drop()
        if wanted == self._dropped:
            return
        try:
            accept_filter.apply(wanted)
        except VRRPError as exc:
            self._dropped = None
            log.error("accept mode: %s", exc)
            return
        self._dropped = wanted
        if wanted:
            log.debug("accept mode: dropping packets to %s", ", ".join(map(str, sorted(wanted))))

    def verify_accept_filter(self) -> bool:
        """Whether the table is still as written; if not (flushed, edited), write it again."""
        wanted = self._to_drop()
        if not wanted and self._dropped == frozenset():
            return True
        try:
            found = accept_filter.current()
        except VRRPError:
            found = None
        if found == wanted or (found is None and not wanted):
            self._dropped = wanted
            return True
        log.warning(
            "accept mode: nftables table %s %s was changed or removed by another program: put back",
            accept_filter.FAMILY,
            accept_filter.TABLE,
        )
        self._dropped = None
        self.sync_accept_filter()
        return False

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

    def open_announcer(self, instance: Instance) -> None:
        self._announcer(instance)

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

        for ifname, ip in instance.held_elsewhere():
            # VIPs and excluded addresses on another interface (its own MAC).
            try:
                announcer = self.announcers.get(ifname) or Announcer(ifname=ifname)
                self.announcers[ifname] = announcer
                announcer.announce(ip)
            except VRRPError as exc:
                self._close_announcer(ifname)
                instance.stats["announce_errors"] += 1
                log.debug("%s: announce %s on %s: %s", instance.name, ip, ifname, exc)

    def announce_source(self, instance: Instance) -> None:
        """One gratuitous ARP / unsolicited NA for the instance's own source
        address, from its interface's own MAC (``Instance._introduce``)."""
        source = instance.router.params.primary_address
        router = source.version == 6 and addresses.ipv6_forwarding(instance.ifname)
        with Announcer(ifname=instance.ifname) as announcer:
            announcer.announce_own(str(source), router=router)

    @staticmethod
    def _announce_on(announcer: Announcer, instance: Instance) -> None:
        for ip in instance.held_here():
            announcer.announce(ip)

    # ------------------------------------------------ interfaces, addresses

    def kernel_index(self, ifname: str) -> int | None:
        return kernel_index(ifname)

    def usable_addresses(self, ifname: str, version: int) -> list[str]:
        found = []
        for addr in addresses.list_addresses(ifname):
            ip = ip_address(addr.ip)
            if ip.version != version or not addr.usable:
                continue  # the kernel refuses to send from a tentative address
            found.append(str(ip))
        return found

    def put_back(self, ifname: str, address: str, *, vmac: bool) -> bool:
        (result,) = self._vips.add([AddressChange.vip(ifname, address, vmac=vmac)])
        if isinstance(result, VRRPError):
            raise result
        return result

    def create_vmac(self, instance: Instance, *, ours: int | None = None) -> None:
        addresses.create_vmac(
            ifname=instance.ifname,
            vmac_ifname=instance.address_ifname,
            vrid=instance.cfg.vrid,
            version=instance.ip_version,
            ours=ours,
        )

    def delete_vmac(self, instance: Instance) -> None:
        """Delete ``instance``'s VMAC; an interface of its name that is not (someone's) stays."""
        try:
            addresses.delete_vmac(
                instance.address_ifname,
                ifname=instance.ifname,
                vrid=instance.cfg.vrid,
                version=instance.ip_version,
            )
        except VRRPError as exc:
            log.debug("%s: VMAC not deleted: %s", instance.name, exc)

    # ------------------------------------------------------- the socket pool

    def listening(self, key: SocketKey) -> bool:
        return key in self.sockets

    def listen(self, key: SocketKey, *, vmac_vrid: int | None) -> None:
        if key in self.sockets:
            return
        ifname, version = key
        source = str(UNSPECIFIED[version])
        sock: VrrpSocket
        if vmac_vrid is not None:
            sock = VmacSocket(ifname=ifname, version=version, vrid=vmac_vrid, source=source)
        else:
            sock = VrrpSocket(ifname=ifname, version=version, source=source)
        self.sockets[key] = sock
        self.loop.add_reader(sock.fileno(), self._on_datagrams, key)

    def receive(self, key: SocketKey) -> Iterable[Received]:
        sock = self.sockets.get(key)
        return () if sock is None else sock.receive()

    def _close_socket(self, key: SocketKey) -> None:
        sock = self.sockets.pop(key)
        self.loop.remove_reader(sock.fileno())
        sock.close()

    def detach(self, ifname: str) -> None:
        """Close what was opened on ``ifname``'s old ifindex."""
        for key in [k for k in self.sockets if k[0] == ifname]:
            self._close_socket(key)
        self._close_announcer(ifname)

    def release_unused(self, *, keys: set[SocketKey], ifnames: set[str]) -> None:
        """Close the sockets not in ``keys`` and the announcers not on ``ifnames``."""
        for key in [k for k in self.sockets if k not in keys]:
            self._close_socket(key)
        for ifname in [name for name in self.announcers if name not in ifnames]:
            self._close_announcer(ifname)

    def socket_drops(self) -> dict[str, int]:
        """What each VRRP socket dropped before decoding, by reason."""
        return {
            f"socket.{ifname}.v{version}.{reason}": count
            for (ifname, version), sock in self.sockets.items()
            for reason, count in sock.drops.items()
        }

    # -------------------------------------------------------------- probes

    def best_probe(self, ifname: str) -> str | None:
        return link.probe_report(ifname).best

    def probe(self, ifname: str, method: str) -> str:
        return link.probe(ifname, method).result
