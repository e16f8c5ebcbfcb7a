"""``vrrp_state``'s drift: read the host's links, addresses and configuration directory.

The verdict is :func:`vrrp.drift.verdict` (pure); this file only reads what it
judges: the kernel through netlink (pyroute2, as the runner), the fragments
through :func:`vrrp.config.load_dir`. What cannot be read is left unjudged
with a warning, never guessed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ansible_collections.failover.vrrp.plugins.module_utils.vrrp._deps import (
    MissingLibraryError,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config import Config, load_dir
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.drift import (
    HostAddress,
    HostLink,
    HostView,
    verdict,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import (
    addresses,
    netlink,
)

_IFF_UP = 0x1


def host_view() -> HostView:
    """The host's links and addresses, from the kernel of this namespace."""
    with netlink.Rtnl() as rtnl:
        link_msgs = rtnl.links()
        addr_msgs = rtnl.addresses()
    links: dict[str, HostLink] = {}
    names: dict[int, str] = {}
    for msg in link_msgs:
        name = msg.get_attr("IFLA_IFNAME")
        if name is None:
            continue
        names[int(msg["index"])] = name
        links[name] = HostLink(
            name=name,
            mac=str(msg.get_attr("IFLA_ADDRESS") or ""),
            up=bool(int(msg["flags"]) & _IFF_UP),
        )
    found = []
    for msg in addr_msgs:
        addr = addresses.address_from_message(msg)
        if addr is None or addr.ifindex not in names:
            continue
        found.append(
            HostAddress(
                ifname=names[addr.ifindex], interface=addr.interface, dadfailed=addr.dadfailed
            )
        )
    return HostView(addresses=tuple(found), links=links)


def add_drift(
    facts: dict[str, Any],
    *,
    config_dir: str | None,
    warnings: list[str],
    read_host: Callable[[], HostView] = host_view,
    read_dir: Callable[[str], Config] = load_dir,
) -> None:
    """Put ``drift`` on each instance of ``facts``, and ``drift`` / ``drift_count`` at the top."""
    host: HostView | None = None
    try:
        host = read_host()
    except MissingLibraryError:
        warnings.append(
            "the Python library pyroute2 is missing: virtual addresses and VMACs were not"
            " checked for drift"
        )
    except VRRPError as exc:
        warnings.append(f"the host's addresses could not be read, not checked for drift: {exc}")
    declared: Config | None = None
    config_error = None
    if config_dir is not None and os.path.isdir(config_dir):
        try:
            declared = read_dir(config_dir)
        except MissingLibraryError as exc:
            warnings.append(f"the configuration directory was not checked for drift: {exc}")
        except VRRPError as exc:
            config_error = f"the configuration directory {config_dir} cannot be loaded: {exc}"
    per, host_items = verdict(facts, declared=declared, config_error=config_error, host=host)
    for name, instance in facts["instances"].items():
        instance["drift"] = per.get(name, [])
    facts["drift"] = host_items
    facts["drift_count"] = len(host_items) + sum(len(items) for items in per.values())
