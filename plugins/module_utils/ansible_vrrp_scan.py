"""The backend of ``vrrp_scan``: listen, aggregate, check the declared instances.

The declared instances come from the module (the schema's instance items,
validated by :func:`vrrp.config.load_config`) or from the host's config
directory when it exists; they are checked before anything listens, so a
bad declaration fails at once. Listening is :func:`vrrp.linux.scan.listen`,
decoding and the collision verdict :mod:`vrrp.scan_report`. This host's own
addresses (a collision is never our own advert) are read through netlink,
which needs pyroute2; without it the scan still runs and says so in a warning.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from typing import Any

from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_maintenance import (
    local_addresses,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp._deps import (
    MissingLibraryError,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config import (
    InstanceConfig,
    load_config,
    load_dir,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config_build import (
    build_unchecked as build_config,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import scan as linux_scan
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.scan_report import (
    Scan,
    collisions,
)


def declared_instances(
    instances: list[dict[str, Any]] | None,
    config_dir: str | None,
    warnings: list[str] | None = None,
) -> tuple[InstanceConfig, ...]:
    """The instances to check: given, else the config directory's when it exists."""
    if instances is not None:
        try:
            return load_config({"instances": instances}).instances
        except MissingLibraryError as exc:
            if exc.library != "jsonschema":
                raise
            return _unchecked_instances(instances, warnings)
    if config_dir is not None and os.path.isdir(config_dir):
        return load_dir(config_dir).instances
    return ()


def _unchecked_instances(
    instances: list[dict[str, Any]], warnings: list[str] | None
) -> tuple[InstanceConfig, ...]:
    """``instances`` without the schema check, on a host that lacks jsonschema.

    jsonschema is one of the packages the role installs, and ha_pair.yml scans
    before it provisions: a bare host has not got it yet. The playbook's
    vrrp_plan checked the instances against the schema on the controller; the
    engine's own checks still run here, and what they cannot read is an error.
    """
    if warnings is not None:
        warnings.append(
            "the Python library jsonschema is missing: the instances were not checked "
            "against the schema here (failover.vrrp.vrrp_plan checks them on the controller)"
        )
    try:
        return build_config({"instances": instances}).instances
    except VRRPError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise VRRPError(
            "instances: not a valid configuration, and the Python library jsonschema "
            f"that would say why is missing on this host ({type(exc).__name__}: {exc})"
        ) from None


def own_addresses(warnings: list[str]) -> set[str]:
    """This host's addresses; empty, with a warning, when pyroute2 is missing."""
    try:
        return local_addresses()
    except MissingLibraryError:
        warnings.append(
            "the Python library pyroute2 is missing: this host's own addresses are unknown, "
            "so an advert this host sent would be reported as a collision"
        )
        return set()


def _addresses(texts: Iterable[str]) -> set[str]:
    """``peer_addresses`` as the scan writes sources (compressed IPv6); a bad one is named."""
    out = set()
    for text in texts:
        try:
            out.add(str(ipaddress.ip_address(str(text).strip())))
        except ValueError:
            raise VRRPError(f"peer_addresses: {text!r} is not an IP address") from None
    return out


def scan_segment(
    *,
    interfaces: list[str] | None,
    duration: float,
    instances: list[dict[str, Any]] | None,
    config_dir: str | None,
    peer_addresses: Iterable[str] = (),
    listen: Callable[..., linux_scan.Listened] = linux_scan.listen,
    own: Callable[[list[str]], Iterable[str]] = own_addresses,
) -> dict[str, Any]:
    """``vrrp_scan``'s result (without ``changed``); raises VRRPError."""
    warnings: list[str] = []
    declared = declared_instances(instances, config_dir, warnings)
    ours = _addresses(peer_addresses)
    names = linux_scan.up_interfaces() if interfaces is None else interfaces
    if not names:
        why = "no interface is up but the loopback" if interfaces is None else "interfaces is empty"
        raise VRRPError(f"host {socket.gethostname()}: no interface to listen on ({why})")
    scan = Scan()
    listened = listen(names, duration=duration, on_heard=scan.add)
    scan.add_drops(listened.drops)
    routers = scan.routers()
    # An instance can only be checked where a socket heard its interface and family.
    checked = [i for i in declared if f"{i.interface} IPv{i.family}" in listened.listening]
    return {
        "routers": [router.as_dict() for router in routers],
        "collisions": collisions(routers, checked, own_addresses={*own(warnings), *ours}),
        "instances_checked": [inst.name for inst in checked],
        "instances_not_checked": {
            inst.name: f"{inst.interface} IPv{inst.family} was not listened on"
            for inst in declared
            if inst not in checked
        },
        "interfaces": list(dict.fromkeys(names)),
        "listening": listened.listening,
        "skipped": listened.skipped,
        "drops": dict(sorted(scan.drops.items())),
        "duration": duration,
        "warnings": warnings,
    }
