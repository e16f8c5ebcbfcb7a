# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``failover.vrrp.unicast_peers`` filter (documented in unicast_peers.yml)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_unicast import (
    UnicastPeersError,
    fill,
)


def unicast_peers(instances: Any, hostvars: Any, groups: Any, host: Any) -> list[dict[str, Any]]:
    """``instances`` with ``unicast_peers_from: GROUP`` turned into peers and source."""
    if not isinstance(instances, list):
        raise AnsibleFilterError(
            f"unicast_peers expects a list of instances, got {type(instances).__name__}"
        )
    if not isinstance(groups, Mapping) or not isinstance(host, str):
        raise AnsibleFilterError("unicast_peers: pass hostvars, groups and inventory_hostname")

    def facts_of(name: str) -> Mapping[str, Any] | None:
        try:
            facts = hostvars[name].get("ansible_facts")
        except KeyError:
            return None
        return facts if isinstance(facts, Mapping) else None

    try:
        return fill(instances, host=host, groups=groups, facts_of=facts_of)
    except UnicastPeersError as exc:
        raise AnsibleFilterError(f"host {host}: {exc}") from exc


class FilterModule:
    """The collection's filters."""

    def filters(self) -> dict[str, Any]:
        return {"unicast_peers": unicast_peers}
