"""What a MASTER holds beyond its advertised addresses, put into the kernel.

The virtual addresses with options (another interface, a label, a scope, a
broadcast address), the addresses held but not advertised, the virtual
routes and the virtual rules of an instance (:mod:`vrrp.config_routes`),
translated into :mod:`vrrp.linux` calls. They follow the core's address
actions (:class:`~vrrp.hostio.KernelIo`): installed after the VIPs when the
instance becomes MASTER (routes may name a VIP as their source), removed
before them when it leaves MASTER (FAULT, BACKUP, stop, removal), and brought
to the new definition by a reload that keeps a MASTER.

Each item is tried whatever became of the one before; the refusals are
gathered into one :class:`~vrrp.errors.NetlinkError` that names every item
and the kernel's reason, which the instance counts, logs and tries again at
the advert rhythm (the same path as its VIPs).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from .config_routes import HeldAddress, VirtualRoute, VirtualRule
from .config_types import InstanceConfig
from .errors import NetlinkError, VRRPError
from .linux import addresses, routes
from .schema_routes import SCOPES

T = TypeVar("T")


def address_options(held: HeldAddress | None) -> addresses.AddressOptions | None:
    if held is None or not held.has_options:
        return None
    return addresses.AddressOptions(
        label=held.label,
        scope=None if held.scope is None else SCOPES[held.scope],
        broadcast=None if held.broadcast is None else str(held.broadcast),
    )


def kernel_route(route: VirtualRoute, *, ifname: str) -> routes.Route:
    """The kernel's form; a unicast route with neither via nor dev goes out ``ifname``."""
    dev = route.dev
    if dev is None and route.via is None and route.type == "unicast":
        dev = ifname
    return routes.Route(
        to=route.to,
        table=route.table_id,
        type=route.type,
        via=None if route.via is None else str(route.via),
        dev=dev,
        src=None if route.src is None else str(route.src),
        metric=route.metric,
        scope=None if route.scope is None else SCOPES[route.scope],
    )


def kernel_rule(rule: VirtualRule) -> routes.Rule:
    return routes.Rule(
        family=rule.family,
        table=rule.table_id,
        from_=rule.from_,
        to=rule.to,
        priority=rule.priority,
        fwmark=rule.fwmark,
        fwmask=rule.fwmask,
    )


def each(items: Iterable[T], apply: Callable[[T], object], errors: list[str]) -> None:
    """``apply`` every item; a refusal goes to ``errors`` and the next is tried."""
    for item in items:
        try:
            apply(item)
        except VRRPError as exc:
            errors.append(str(exc))


def raise_errors(errors: Sequence[str]) -> None:
    if errors:
        raise NetlinkError("; ".join(errors))


class Held:
    """The kernel side of one definition's held items; ``ifname``: the address interface."""

    def __init__(self, cfg: InstanceConfig, *, ifname: str) -> None:
        self.ifname = ifname
        self.excluded = cfg.virtual_addresses_excluded
        self.routes = tuple(kernel_route(r, ifname=ifname) for r in cfg.virtual_routes)
        self.rules = tuple(kernel_rule(r) for r in cfg.virtual_rules)

    def _add_address(self, held: HeldAddress) -> None:
        addresses.add_address(
            held.dev or self.ifname, str(held.address), options=address_options(held)
        )

    def _remove_address(self, held: HeldAddress) -> None:
        try:
            addresses.remove_address(held.dev or self.ifname, str(held.address))
        except NetlinkError:
            try:
                socket.if_nametoindex(held.dev or self.ifname)
            except OSError:
                return  # its interface is gone, and the address with it
            raise

    def install(self, errors: list[str]) -> None:
        """Excluded addresses, then routes (a source may be one of them), then rules."""
        each(self.excluded, self._add_address, errors)
        each(self.routes, routes.add_route, errors)
        each(self.rules, routes.add_rule, errors)

    def withdraw(self, errors: list[str]) -> None:
        each(self.rules, routes.remove_rule, errors)
        each(self.routes, routes.remove_route, errors)
        each(self.excluded, self._remove_address, errors)

    def update(self, old: Held, errors: list[str]) -> None:
        """From ``old`` to this one on a MASTER that stays: what left, then what came."""
        each([r for r in old.rules if r not in self.rules], routes.remove_rule, errors)
        each([r for r in old.routes if r not in self.routes], routes.remove_route, errors)
        gone = [h for h in old.excluded if h not in self.excluded]
        each(gone, old._remove_address, errors)
        each([h for h in self.excluded if h not in old.excluded], self._add_address, errors)
        each([r for r in self.routes if r not in old.routes], routes.add_route, errors)
        each([r for r in self.rules if r not in old.rules], routes.add_rule, errors)
