# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``failover.vrrp.fleet_verdict`` filter (documented in fleet_verdict.yml).

The verdict of ``failover.vrrp.vrrp_state`` with ``fleet``, computed on the
controller without a module call: the playbooks report it, they do not decide it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_verdicts import (
    fleet_verdict as verdict_of,
)


def fleet_verdict(fleet: Any, instances: Iterable[str] | None = None) -> dict[str, Any]:
    """Exactly one MASTER per instance and per VRID across the hosts of ``fleet``."""
    if not isinstance(fleet, (dict, list)):
        raise AnsibleFilterError(
            "fleet_verdict expects {host: vrrp facts} or a looped vrrp_state task's results, "
            f"got {type(fleet).__name__}"
        )
    if instances is not None and not isinstance(instances, list):
        raise AnsibleFilterError("fleet_verdict: instances must be a list of instance names")
    return verdict_of(fleet, instances)


class FilterModule:
    """The collection's verdict filter."""

    def filters(self) -> dict[str, Any]:
        return {"fleet_verdict": fleet_verdict}
