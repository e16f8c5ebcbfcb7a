"""The Ansible face of the engine, by concern (this file re-exports them for
code that imports the former single module):

- :mod:`ansible_vrrp_argspec`: argument specs derived from the schema;
- :mod:`ansible_vrrp_errors`: the error bridge (``fail_from_error``);
- :mod:`ansible_vrrp_runner`: runner queries (facts, selection, waits);
- :mod:`ansible_vrrp_probes`: the link probes of ``vrrp_link_probe``;
- :mod:`ansible_vrrp_maintenance`: demote and restore for ``vrrp_maintenance``;
- :mod:`ansible_vrrp_verdicts`: "converged", "exactly one MASTER".

Only these files, the other ``ansible_vrrp_*`` backends and the modules import
``ansible``; the engine package ``vrrp`` never does.
"""

from __future__ import annotations

from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_argspec import (
    DEFAULT_CONFIG_DIR,
    fragment_spec,
    required_when_present,
    schema_object,
    schema_spec,
    without_none,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_errors import (
    BECOME_HINT,
    fail_from_error,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_maintenance import (
    handed_over,
    local_addresses,
    maintain,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_probes import (
    PROBE_METHODS,
    host_interfaces,
    probe_links,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_runner import (
    DEFAULT_SOCKET,
    POLL_INTERVAL,
    STATES,
    SelectionError,
    Verdict,
    WaitTimeoutError,
    describe,
    gather_facts,
    select,
    wait_for_instances,
)

__all__ = [
    "BECOME_HINT",
    "DEFAULT_CONFIG_DIR",
    "DEFAULT_SOCKET",
    "POLL_INTERVAL",
    "PROBE_METHODS",
    "STATES",
    "SelectionError",
    "Verdict",
    "WaitTimeoutError",
    "describe",
    "fail_from_error",
    "fragment_spec",
    "gather_facts",
    "handed_over",
    "host_interfaces",
    "local_addresses",
    "maintain",
    "probe_links",
    "required_when_present",
    "schema_object",
    "schema_spec",
    "select",
    "wait_for_instances",
    "without_none",
]
