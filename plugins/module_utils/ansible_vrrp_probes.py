"""The link probes for ``vrrp_link_probe``: which methods work per interface,
which one the runner polls, and the verdict on the required ones (unsupported,
or denied to a login without root)."""

from __future__ import annotations

import socket
from typing import Any, Final

from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_runner import (
    SelectionError,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import link, netlink

PROBE_METHODS: Final = (link.NETLINK, *link.METHODS)
_IFF_LOOPBACK: Final = 0x8


def _is_loopback(ifname: str) -> bool:
    try:
        with open(f"/sys/class/net/{ifname}/flags", encoding="ascii") as handle:
            return bool(int(handle.read().strip(), 16) & _IFF_LOOPBACK)
    except (OSError, ValueError):
        return ifname == "lo"


def host_interfaces() -> list[str]:
    """Every interface of this host but the loopback, sorted by name."""
    return sorted(name for _index, name in socket.if_nameindex() if not _is_loopback(name))


def probe_links(names: list[str] | None, required: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Per interface, which probes work and which the runner polls; the unmet requirements.

    Netlink events need pyroute2 (the runner's codec): without it netlink is
    reported unsupported, and requiring it raises ``MissingLibraryError``.
    """
    host = socket.gethostname()
    if names is None:
        names = host_interfaces()
    for name in names:
        try:
            socket.if_nametoindex(name)
        except OSError:
            raise SelectionError(f"interface {name!r} does not exist on host {host}") from None
    if link.NETLINK in required:
        netlink.require_pyroute2()
    reports: dict[str, Any] = {}
    problems: list[str] = []
    for name in dict.fromkeys(names):
        report: dict[str, Any] = link.probe_report(name).as_dict()
        methods: dict[str, Any] = report["methods"]
        if netlink.PYROUTE2_IMPORT_ERROR is not None:
            methods[link.NETLINK] = {
                "supported": False,
                "result": link.UNSUPPORTED,
                "detail": "the Python library pyroute2 is not installed",
            }
        reports[name] = {"methods": methods, "best": report["best"]}
        for method in required:
            if methods[method]["result"] == link.DENIED:
                problems.append(
                    f"host {host}, interface {name}: link probe {method!r} needs root "
                    f"(CAP_NET_ADMIN; the kernel answered {methods[method]['detail'].split(':')[0]}"
                    "): run the task with become: true"
                )
            elif not methods[method]["supported"]:
                detail = methods[method]["detail"]
                problems.append(
                    f"host {host}, interface {name}: link probe {method!r} is unsupported"
                    + (f" ({detail})" if detail else "")
                )
    return reports, problems
