# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vrrp_plan action: the election planner on the controller (no host contacted)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_plan import (
    ARGUMENT_SPEC,
    failing,
    host_input,
    summary,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.plan import make_plan


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        hostvars = task_vars.get("hostvars") or {}
        names = params["hosts"]
        if names is None:
            names = list(task_vars.get("ansible_play_hosts_all") or [])
        unknown = [name for name in names if name not in hostvars]
        if unknown:
            raise AnsibleActionFail(f"not inventory hosts: {', '.join(unknown)}")
        groups = task_vars.get("groups") or {}

        def facts_of(host: str) -> Any:
            facts = hostvars[host].get("ansible_facts") if host in hostvars else None
            return facts if isinstance(facts, dict) else None

        try:
            inputs = [
                host_input(name, hostvars[name], params, groups_of=groups, facts_of=facts_of)
                for name in names
            ]
            plan = make_plan(inputs)
        except (VRRPError, ValueError) as exc:
            raise AnsibleActionFail(str(exc)) from None
        result.update(plan)
        result["summary"] = summary(plan["vrids"])
        result["changed"] = False
        problems = failing(plan["findings"], params["fail_on"])
        if problems:
            result["failed"] = True
            result["msg"] = "the plan has findings: " + "; ".join(problems)
        return result
