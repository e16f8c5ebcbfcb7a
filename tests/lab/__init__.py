"""The network-namespace lab: routers on a bridge, keepalived peers, captures.

See ``lab.core`` for the layout and the teardown guarantees.
"""

from __future__ import annotations

from .core import BRIDGE, REPO_ROOT, ROUTER_IFNAME, Lab, Router
from .netns import SESSION_PREFIX, netns_list, sweep, unique_prefix, wait_for

__all__ = [
    "BRIDGE",
    "REPO_ROOT",
    "ROUTER_IFNAME",
    "SESSION_PREFIX",
    "Lab",
    "Router",
    "netns_list",
    "sweep",
    "unique_prefix",
    "wait_for",
]
