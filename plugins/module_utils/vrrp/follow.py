"""How the runner follows the host's interfaces and addresses (a mixin of the Fleet).

Netlink link and address events become core events, and what the runner
opened on an interface follows that interface as it is now:

- A VRRP socket, its multicast membership, a VMAC's packet socket and an
  announcer belong to one ifindex. An interface deleted and made again (a
  VLAN or bond re-made), renamed, or one that appears after the runner
  started, gets them renewed, and a VMAC whose parent came back (or that was
  deleted by hand) is made again. The instance is in FAULT (``socket``) from
  the moment they are stale until they are open on the interface as it is,
  so it listens again BEFORE it may become Master: a deaf Backup would take
  the virtual addresses beside the real Master for good. A VMAC that cannot
  be set up as configured also holds it in FAULT (``vmac:<error>``, see
  :mod:`.vmacs`) until a retry succeeds.
- The advert source (RFC 9568 §5.1.1.1, §5.1.2.1) is re-chosen on every
  address change: a usable (not tentative, not DAD-failed) non-virtual
  address, the current one while it stays; none is FAULT (``address``).
- A virtual address that another program removes from a Master (an
  ``ip addr flush``, NetworkManager) is put back and announced again.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections import Counter
from ipaddress import ip_address
from typing import Any

from . import faults
from .control_api import override_of, resigns
from .errors import VRRPError
from .fsm import Event, FaultCleared, FaultRaised, PrimaryAddressChanged, Startup, State
from .hostio import HostIo
from .instance import Instance
from .linux import link
from .linux.watch import AddressChanged, LinkChanged, LinkWatcher, Resynced
from .persist import RuntimeState
from .source import UNSPECIFIED, IPAddress, primary_address
from .tracking import TrackResult
from .vmacs import VmacKeeper

log = logging.getLogger("failover-vrrp")


def _no_source(inst: Instance) -> str:
    """Why ``inst`` has no advert source, for the log."""
    chosen = inst.cfg.multicast_source
    if chosen is not None:
        return f"multicast_source {chosen} is not a usable address of {inst.ifname}"
    return f"no usable IPv{inst.ip_version} source address on {inst.ifname}"


class HostFollower:
    """Link, address, probe and start-up handling of the :class:`~vrrp.fleet.Fleet`."""

    # Provided by the Fleet.
    instances: dict[str, Instance]
    io: HostIo
    watcher: LinkWatcher | None
    counters: Counter[str]
    probe_methods: dict[str, str]
    runtime: RuntimeState
    _address_view: dict[tuple[str, int], list[str]] | None
    # _virtual_addresses_on(): VIPs per interface, for this set of instances
    _instances_generation: int
    _vips_generation: int
    _vips_on: dict[str, frozenset[IPAddress]]
    # ifname -> the ifindex the sockets and announcer on it were opened for.
    _attached: dict[str, int]
    _probe_seen: dict[str, str]  # ifname -> last probe result acted on
    vmacs: VmacKeeper

    def feed(self, inst: Instance, event: Event) -> None:
        raise NotImplementedError

    def tracked(self, inst: Instance, result: TrackResult) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------- events

    def on_netlink(self) -> None:
        if self.watcher is None:
            return
        try:
            events = self.watcher.read()
        except VRRPError as exc:
            log.warning("netlink: %s; resynchronising", exc)
            events = self.watcher.resync()
        address_ifnames: set[str] = set()
        removed: set[tuple[str, str]] = set()
        links: set[str] = set()
        with self._one_address_view():
            for event in events:
                if isinstance(event, LinkChanged):
                    links.add(event.ifname)
                    self._link_changed(event.ifname, up=event.up and event.carrier)
                elif isinstance(event, AddressChanged):
                    if not self._is_virtual(event.ifname, event.address):
                        address_ifnames.add(event.ifname)
                    if not event.added:
                        removed.add((event.ifname, event.address))
                elif isinstance(event, Resynced):
                    self.counters["netlink_resyncs"] += 1
                    self._resync_links()
            if address_ifnames:
                self._addresses_changed(address_ifnames)
            self._keep_vmacs(links)
        if removed:
            # After the source check: a flush that took the primary too faults
            # the instance (item "address"), which then needs no VIP back.
            self._restore_vips(removed)

    @contextlib.contextmanager
    def _one_address_view(self) -> Any:
        """One address dump per interface and family for a whole batch of events.

        A host taking over N virtual routers adds their VIPs (N events), and a
        dump per event per instance made that O(N²) dumps (510 instances:
        minutes of CPU). A dump decodes every address of the host into
        pyroute2 messages, which hold reference cycles and reach the oldest
        garbage collector generation: left there, a takeover of 510 instances
        grew the runner by 7 MiB for good. So they are collected at once (a
        few milliseconds, once per batch, only when a dump was made).
        """
        if self._address_view is not None:
            yield
            return
        view: dict[tuple[str, int], list[str]] = {}
        self._address_view = view
        try:
            yield
        finally:
            self._address_view = None
            if view:
                gc.collect()

    def _link_changed(self, ifname: str, *, up: bool) -> None:
        if up:
            self._reinstall_held(ifname)
        for inst in list(self.instances.values()):
            names = (inst.ifname, inst.socket_ifname, inst.address_ifname)
            if ifname in names and self._relisten(inst):
                # A new interface: its addresses are not the old one's.
                self._drop_view(inst.ifname)
                self._check_primary(inst)
            if inst.ifname == ifname:
                self.feed(inst, FaultCleared(faults.LINK) if up else FaultRaised(faults.LINK))
            if any(t.interface == ifname for t in inst.cfg.track_interfaces):
                self.tracked(inst, inst.tracking.set_interface(ifname, up=up))

    def _resync_links(self) -> None:
        if self.watcher is None:
            return
        for inst in list(self.instances.values()):
            self._relisten(inst)
        for ifname in {inst.ifname for inst in self.instances.values()}:
            state = self.watcher.link(ifname)
            self._link_changed(ifname, up=state is not None and state.up and state.carrier)
        for inst in list(self.instances.values()):
            self._check_primary(inst)

    def _addresses_changed(self, ifnames: set[str]) -> None:
        """Re-check every instance's source once per batch of address events."""
        with self._one_address_view():
            for ifname in ifnames:
                self._drop_view(ifname)
            for inst in list(self.instances.values()):
                if inst.ifname in ifnames:
                    self._check_primary(inst)

    # --------------------------------------------------- classic link probes

    def probe_links(self) -> None:
        """Poll the best classic probe: a driver that sends no carrier event is still caught."""
        for ifname, method in list(self.probe_methods.items()):
            if method == link.NETLINK:
                continue  # no classic probe works here: events only
            result = self.io.probe(ifname, method)
            if result not in (link.UP, link.DOWN) or self._probe_seen.get(ifname) == result:
                continue  # no reading (unsupported, denied), or unchanged since told
            self._probe_seen[ifname] = result
            reason = faults.probe(method)
            for inst in list(self.instances.values()):
                if inst.ifname != ifname:
                    continue
                down = result == link.DOWN
                if down and reason not in inst.router.faults:
                    self.feed(inst, FaultRaised(reason))
                elif not down and reason in inst.router.faults:
                    self.feed(inst, FaultCleared(reason))

    # ---------------------------------------------------- the advert source

    def _primary_for(self, inst: Instance) -> str | None:
        """The source adverts leave from: the configured one, else the current one
        while it is still usable and fits, else the first usable address that
        fits (see :mod:`.source`: IPv4, IPv6 link-local, or for global IPv6
        unicast peers a global address of theirs), never anyone's VIP."""
        cfg = inst.cfg
        if cfg.unicast_source is not None:
            return str(cfg.unicast_source)
        if cfg.multicast_source is not None:
            # Chosen by the user, and only while the interface holds it.
            chosen = str(cfg.multicast_source)
            return (
                chosen
                if chosen in self._interface_addresses(inst.ifname, 6 if ":" in chosen else 4)
                else None
            )
        vips = self._virtual_addresses_on(inst.ifname)
        if inst.address_ifname != inst.ifname:  # VMAC: its VIPs live there; never a source
            vips = vips | frozenset(vip.ip for vip in inst.virtual_interfaces)
        candidates = self._interface_addresses(inst.ifname, inst.ip_version)
        choose = functools.partial(
            primary_address,
            version=inst.ip_version,
            virtual_addresses=vips,
            unicast_source=None,
            unicast_peers=tuple(cfg.unicast_peers),
        )
        current = str(inst.router.params.primary_address)
        if current in candidates and choose(candidates=[current]) == current:
            return current
        return choose(candidates=candidates)

    def _is_virtual(self, ifname: str, address: str) -> bool:
        """A VIP on ``ifname``: never a source, so its change re-checks none
        (a takeover of N instances would otherwise dump the addresses N times)."""
        try:
            return ip_address(address) in self._virtual_addresses_on(ifname)
        except ValueError:
            return False

    def _virtual_addresses_on(self, ifname: str) -> frozenset[IPAddress]:
        """Every instance's VIPs that live on ``ifname``: never anyone's source.

        The kernel lists a newer IPv6 address before the older ones of its
        scope, so a Master's link-local VIP comes before the interface's own
        link-local address. Built once per interface until the set of
        instances changes (asked per instance at every address change).
        """
        if self._vips_generation != self._instances_generation:
            self._vips_on.clear()
            self._vips_generation = self._instances_generation
        vips = self._vips_on.get(ifname)
        if vips is None:
            vips = frozenset(
                ip for inst in self.instances.values() for ip in inst.held_ips_on(ifname)
            )
            self._vips_on[ifname] = vips
        return vips

    def _interface_addresses(self, ifname: str, version: int) -> list[str]:
        """The interface's usable addresses of one family (IPv6: global ones
        too, for global unicast peers), in the kernel's order."""
        view = self._address_view
        if view is not None and (ifname, version) in view:
            return view[(ifname, version)]
        found = self.io.usable_addresses(ifname, version)
        if view is not None:
            view[(ifname, version)] = found
        return found

    def _drop_view(self, ifname: str) -> None:
        if self._address_view is not None:
            for version in (4, 6):
                self._address_view.pop((ifname, version), None)

    def _check_primary(self, inst: Instance) -> None:
        """An instance needs a usable source address (see :meth:`_primary_for`)."""
        try:
            primary = self._primary_for(inst)
        except VRRPError:
            primary = None
        if primary is None:
            if faults.ADDRESS not in inst.router.faults:
                log.warning("%s: %s: instance in FAULT", inst.name, _no_source(inst))
            self.feed(inst, FaultRaised(faults.ADDRESS))
            return
        new, old = ip_address(primary), inst.router.params.primary_address
        if new != old:
            if old != UNSPECIFIED[inst.ip_version]:
                inst.stats["primary_address_changes"] += 1
                log.warning("%s: advert source is now %s (was %s)", inst.name, new, old)
            self.feed(inst, PrimaryAddressChanged(new))
        self.feed(inst, FaultCleared(faults.ADDRESS))

    # --------------------------------------------- sockets on the interface

    def _relisten(self, inst: Instance) -> bool:
        """Hear on ``inst``'s interfaces as they are now; True when anything was renewed.

        Stale (renewed) or impossible: the ``socket`` fault is raised first,
        so a Master steps down (its priority-0 advert leaves by the new
        socket) and comes back through Initialize.
        """
        ok, renewed = self._listen(inst)
        vmac = self.vmacs.failing.get(inst.name)
        if vmac is not None:
            self.feed(inst, FaultRaised(vmac))
        if renewed or not ok:
            self.feed(inst, FaultRaised(faults.SOCKET))
        # Raised first, cleared after: no gap out of FAULT; the VMAC's last,
        # so that leaving FAULT names it.
        if ok:
            self.feed(inst, FaultCleared(faults.SOCKET))
        for reason in sorted(inst.router.faults):
            if reason.startswith(faults.VMAC_PREFIX) and reason != vmac:
                self.feed(inst, FaultCleared(reason))
        return renewed

    def _keep_vmacs(self, ifnames: set[str]) -> None:
        """Put back our VMACs among ``ifnames`` that another program set down or re-MACed.

        Judged on the link as it is after the whole batch (the watcher's
        view), not on each event: the runner's own down-and-up (see
        ``remove_vmac_addresses``) is no disturbance. A Master gets its
        VIPs back (IPv6 ones leave with the link) and announces them.
        Nothing to walk for a batch without link events (a takeover's own
        address events: a walk of every instance per batch was O(N²)).
        """
        if not ifnames:
            return
        for inst in list(self.instances.values()):
            name = inst.address_ifname
            if name not in ifnames or not inst.cfg.vmac or self.watcher is None:
                continue
            what = self.vmacs.disturbed(inst, self.watcher.link(name))
            if what is None:
                continue
            was = inst.router.state.name
            said = f"{inst.name}: VMAC {name} {what} by another program while {was}"
            if not self.vmacs.put_back(inst):
                log.warning("%s", said)  # the keeper logs why it cannot be put back
                self.feed(inst, FaultRaised(self.vmacs.failing[inst.name]))
                continue
            log.warning("%s: put back", said)
            if inst.router.state is not State.MASTER:
                continue
            try:
                self.io.add_addresses(inst)
                self.io.announce(inst)
            except VRRPError as exc:
                inst.stats["io_error.restore"] += 1
                log.warning("%s: VMAC %s put back: %s", inst.name, name, exc)

    def _retry_vmacs(self, names: list[str]) -> None:
        """Set up the VMACs that failed again (:class:`~.vmacs.VmacKeeper`'s timer)."""
        for name in names:
            inst = self.instances.get(name)
            if inst is None:
                self.vmacs.failing.pop(name, None)
            elif self._relisten(inst):
                self._drop_view(inst.ifname)
                self._check_primary(inst)

    def _listen(self, inst: Instance) -> tuple[bool, bool]:
        """Open what ``inst`` needs on its interfaces as they are: (listening, renewed)."""
        names = (inst.ifname, inst.socket_ifname, inst.address_ifname)
        renewed = False
        for name in dict.fromkeys(names):
            was = self._attached.get(name)
            if was is not None and was != self.io.kernel_index(name):
                self._detach(name)
                renewed = True
        parent = self.io.kernel_index(inst.ifname)
        if parent is None:
            return False, renewed
        if inst.ifname not in self.probe_methods:
            with contextlib.suppress(VRRPError, OSError):
                self.probe_methods[inst.ifname] = self.io.best_probe(inst.ifname) or "netlink"
        inst.link_probe = self.probe_methods.get(inst.ifname, "netlink")
        version = inst.ip_version
        try:
            if inst.cfg.vmac:
                # Before the socket: a VMAC socket binds to it, and it must be up.
                renewed = self.vmacs.set_up(inst) or renewed
                if inst.name in self.vmacs.failing:
                    return False, renewed
            key = (inst.socket_ifname, version)
            if not self.io.listening(key):
                vmac_vrid = inst.cfg.vrid if inst.socket_ifname != inst.ifname else None
                self.io.listen(key, vmac_vrid=vmac_vrid)
                renewed = True
        except VRRPError as exc:
            log.error("%s: %s", inst.name, exc)
            return False, renewed
        for name in names:
            index = self.io.kernel_index(name)
            if index is None:
                return False, renewed
            self._attached[name] = index
        return True, renewed

    def _detach(self, ifname: str) -> None:
        """Close what was opened on ``ifname``'s old ifindex."""
        self.io.detach(ifname)
        self._attached.pop(ifname, None)
        log.info("%s: gone or made again: its VRRP sockets are renewed", ifname)

    # -------------------------------------------------------------- start-up

    def _start_instance(self, inst: Instance) -> None:
        """Initial faults from the kernel's view, then Startup (RFC 9568 §6.4.1)."""
        ifname = inst.ifname
        raised: set[str] = set()
        primary: str | None = None
        state = self.watcher.link(ifname) if self.watcher else None
        if state is None or self.io.kernel_index(ifname) is None:
            raised.update(faults.NO_INTERFACE)
            log.warning("%s: interface %s does not exist: instance in FAULT", inst.name, ifname)
        else:
            if not (state.up and state.carrier):
                raised.add(faults.LINK)
            with contextlib.suppress(VRRPError):
                primary = self._primary_for(inst)
            if primary is None:
                raised.add(faults.ADDRESS)
                log.warning("%s: %s yet: instance in FAULT", inst.name, _no_source(inst))
            if not self._listen(inst)[0]:
                raised.add(faults.SOCKET)
            vmac = self.vmacs.failing.get(inst.name)
            if vmac is not None:
                raised.add(vmac)
            # Opened now, not at the first takeover, where it cost a few ms
            # between taking the addresses and telling the link (tried again then).
            with contextlib.suppress(VRRPError):
                self.io.open_announcer(inst)
            if not inst.cfg.owner:
                # VIPs left by a runner that died (SIGKILL, crash) would make
                # this Backup answer ARP/ND for them (RFC 9568 §6.4.2, "MUST
                # NOT"): start without them, as keepalived does.
                with contextlib.suppress(VRRPError):
                    self.io.remove_addresses(inst)
        demoted = self.runtime.demotion_for(inst.name)
        result = inst.tracking.set_override(override_of(demoted))
        self.feed(
            inst,
            Startup(
                faults=frozenset(raised | result.faults),
                primary_address=None if primary is None else ip_address(primary),
                priority=result.effective_priority,
                resigning=resigns(demoted),
            ),
        )

    # ------------------------------------------------ virtual addresses kept

    def _restore_vips(self, removed: set[tuple[str, str]]) -> None:
        """Put back a Master's virtual addresses that another program removed."""
        for inst in list(self.instances.values()):
            if inst.router.state is not State.MASTER:
                continue  # we removed them ourselves, leaving Master
            here = inst.address_ifname
            lost = [v for v in inst.virtual_interfaces if (here, str(v.ip)) in removed]
            if not lost or not self._link_usable(here):
                continue  # a link going down takes them; the link fault follows
            restored = []
            for vip in lost:
                try:
                    if inst.cfg.held_vip(vip) is not None:
                        self.io.add_addresses(inst, [vip])  # with its label, scope, broadcast
                        restored.append(str(vip))
                    elif self.io.put_back(inst.address_ifname, str(vip), vmac=inst.cfg.vmac):
                        restored.append(str(vip))
                except VRRPError as exc:
                    inst.stats["io_error.restore"] += 1
                    log.warning("%s: cannot put back %s: %s", inst.name, vip, exc)
            if not restored:
                continue
            inst.stats["vip_restored"] += len(restored)
            log.warning(
                "%s: %s removed from %s by another program while MASTER: put back",
                inst.name,
                ", ".join(restored),
                inst.address_ifname,
            )
            try:
                self.io.announce(inst)
            except VRRPError as exc:
                log.warning("%s: announce after putting back: %s", inst.name, exc)

    def _reinstall_held(self, ifname: str) -> None:
        """An interface came (back) up: a Master installs again what the kernel
        dropped with it (routes through it, addresses on it); idempotent."""
        for inst in list(self.instances.values()):
            cfg = inst.cfg
            held = cfg.virtual_routes or cfg.virtual_rules or cfg.virtual_addresses_excluded
            if inst.router.state is not State.MASTER or not (held or cfg.vip_options):
                continue
            try:
                self.io.add_addresses(inst)
            except VRRPError as exc:
                inst.stats["io_error.reinstall"] += 1
                log.warning("%s: %s up again: %s", inst.name, ifname, exc)

    def _link_usable(self, ifname: str) -> bool:
        state = self.watcher.link(ifname) if self.watcher else None
        return state is not None and state.up and state.carrier
