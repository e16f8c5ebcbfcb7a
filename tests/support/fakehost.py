"""A fake :class:`vrrp.hostio.HostIo`: the daemon's kernel, in memory.

It records what the daemon asked (virtual addresses, open sockets,
announcements, adverts sent) and can be told to fail: ``fail_on`` names an
interface whose address dump fails (a NetlinkError: the instance starts in
FAULT) and on which no socket can be opened (EMFILE: an OSError, not a
VRRPError). ``interfaces`` maps the names that exist to their ifindex.

VMAC interfaces behave as ``linux.addresses`` makes them: one made gets a
new ifindex; ``vmac_error`` (a message) fails the set-up after the macvlan
was made (a sysctl the kernel refused: it stays, down); an interface of the
VMAC's name that the fake did not make is refused ("not the VMAC") and never
deleted. ``vmac_down`` holds the VMACs another program set down; a set-up
that succeeds sets it up again.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable, Sequence

from vrrp.config_types import InstanceConfig
from vrrp.errors import NetlinkError
from vrrp.hostio import SocketKey
from vrrp.instance import Instance, IPInterface
from vrrp.linux.sockets import Received
from vrrp.packet import Advertisement

PRIMARIES = {"eth0": "192.0.2.11", "eth1": "198.51.100.11"}


class FakeHost:
    def __init__(self, interfaces: dict[str, int] | None = None) -> None:
        self.interfaces = {"eth0": 2, "eth1": 3} if interfaces is None else interfaces
        self.vips: set[tuple[str, str]] = set()
        self.held_updates: list[tuple[str, InstanceConfig]] = []
        self.held_withdrawn: list[tuple[str, InstanceConfig]] = []
        self.closed = False
        self.fail_on: str | None = None
        self.sockets: set[SocketKey] = set()
        self.announced: list[tuple[str, str]] = []
        self.introduced: list[tuple[str, str]] = []  # announce_source: (ifname, address)
        self.watching: set[str] = set()  # instances listening for a successor's GARP / NA
        self.sent: list[tuple[str, Advertisement]] = []
        self.vmacs: set[str] = set()  # VMAC interfaces made (ours)
        self.vmac_error: str | None = None
        self.vmac_tries = 0
        self.vmac_ready: dict[str, int] = {}  # VMAC -> the ifindex its set-up succeeded on
        self.vmac_down: set[str] = set()  # VMACs set down by another program
        # The classic link probe every interface supports (None: none), and
        # what it says per interface (default "up").
        self.probe_method: str | None = None
        self.link: dict[str, str] = {}
        self.accept_filter_syncs = 0

    # an instance's own I/O
    def send_advert(self, instance: Instance, advert: Advertisement) -> None:
        if (instance.socket_ifname, instance.ip_version) not in self.sockets:
            instance.stats["send_errors"] += 1
            return
        self.sent.append((instance.name, advert))

    def add_addresses(
        self, instance: Instance, vips: Sequence[IPInterface] | None = None, *, wait: bool = True
    ) -> None:
        for vip in instance.virtual_interfaces if vips is None else vips:
            self.vips.add((instance.address_ifname, str(vip)))

    def when_local(self, instance: Instance, callback: Callable[[], None]) -> bool:
        return False  # every address is local at once here

    def wait_local(self, instance: Instance) -> None:
        pass

    def remove_addresses(
        self, instance: Instance, vips: Sequence[IPInterface] | None = None
    ) -> None:
        for vip in instance.virtual_interfaces if vips is None else vips:
            self.vips.discard((instance.address_ifname, str(vip)))

    def update_held(self, instance: Instance, old: InstanceConfig) -> None:
        self.held_updates.append((instance.name, old))

    def withdraw_held(self, instance: Instance, old: InstanceConfig) -> None:
        self.held_withdrawn.append((instance.name, old))

    def watch_announcements(self, instance: Instance, *, on: bool) -> None:
        """Listening for a successor's GARP / NA: the instance names in ``watching``."""
        if on:
            self.watching.add(instance.name)
        else:
            self.watching.discard(instance.name)

    def announce(self, instance: Instance) -> None:
        self.announced += [
            (instance.address_ifname, str(v.ip)) for v in instance.virtual_interfaces
        ]

    def announce_source(self, instance: Instance) -> None:
        self.introduced.append((instance.ifname, str(instance.router.params.primary_address)))

    def open_announcer(self, instance: Instance) -> None:
        pass

    # interfaces and their addresses
    def kernel_index(self, ifname: str) -> int | None:
        return self.interfaces.get(ifname)

    def usable_addresses(self, ifname: str, version: int) -> list[str]:
        if ifname == self.fail_on:
            raise NetlinkError(f"dump addresses of {ifname}: No buffer space available")
        if version != 4:
            return []
        found = [PRIMARIES[ifname]] if ifname in PRIMARIES else []
        return found + [vip.split("/")[0] for dev, vip in self.vips if dev == ifname]

    def put_back(self, ifname: str, address: str, *, vmac: bool) -> bool:
        added = (ifname, address) not in self.vips
        self.vips.add((ifname, address))
        return added

    def create_vmac(self, instance: Instance, *, ours: int | None = None) -> None:
        self.vmac_tries += 1
        name = instance.address_ifname
        if name in self.interfaces and name not in self.vmacs:
            raise NetlinkError(
                f"{name} exists but is not the VMAC on {instance.ifname}: refusing to touch it"
            )
        if name not in self.interfaces:
            self.interfaces[name] = max(self.interfaces.values(), default=1) + 1
            self.vmacs.add(name)
        self.vmac_ready.pop(name, None)
        if self.vmac_error is not None:
            raise NetlinkError(self.vmac_error)
        self.vmac_ready[name] = self.interfaces[name]
        self.vmac_down.discard(name)

    def delete_vmac(self, instance: Instance) -> None:
        name = instance.address_ifname
        if name in self.vmacs:
            self.vmacs.discard(name)
            self.interfaces.pop(name, None)

    # the socket pool
    def listening(self, key: SocketKey) -> bool:
        return key in self.sockets

    def listen(self, key: SocketKey, *, vmac_vrid: int | None) -> None:
        if key[0] == self.fail_on:
            raise OSError(errno.EMFILE, "Too many open files")
        self.sockets.add(key)

    def receive(self, key: SocketKey) -> Iterable[Received]:
        return ()

    def detach(self, ifname: str) -> None:
        self.sockets = {k for k in self.sockets if k[0] != ifname}

    def release_unused(self, *, keys: set[SocketKey], ifnames: set[str]) -> None:
        self.sockets &= keys

    def socket_drops(self) -> dict[str, int]:
        return {}

    # classic link probes
    def best_probe(self, ifname: str) -> str | None:
        return self.probe_method

    def probe(self, ifname: str, method: str) -> str:
        return self.link.get(ifname, "up") if method == self.probe_method else "unsupported"

    # accept mode: the fleet and the runner call these; the table itself is
    # the kernel's (tests/netns/test_runner_accept.py)
    def reset_accept_filter(self) -> None:
        self.accept_filter_syncs = 0

    def sync_accept_filter(self) -> None:
        self.accept_filter_syncs += 1

    def verify_accept_filter(self) -> bool:
        return True

    # at stop
    def close(self) -> None:
        self.closed = True
