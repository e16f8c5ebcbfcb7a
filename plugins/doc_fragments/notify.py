# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The O(notify) option, shared by instances and sync groups (schema C($defs/notify))."""

    DOCUMENTATION = r"""
options:
  notify:
    description:
      - Programs run on state changes, each an argv list run without a shell, killed after
        O(notify.timeout) seconds.
      - The argv is followed by keepalived's C(TYPE NAME STATE PRIORITY) (C(INSTANCE) and the
        effective priority for an instance; C(GROUP) and C(0) for a sync group), and the
        environment carries C(VRRP_TYPE), C(VRRP_INSTANCE), C(VRRP_STATE), C(VRRP_OLD_STATE),
        C(VRRP_CAUSE) and C(VRRP_PRIORITY).
      - A sync group's programs run once per change of the group's state, not once per member;
        MASTER, BACKUP or FAULT when every member is in that state, STOP when the runner stops
        them.
    type: dict
    suboptions:
      master:
        description: Run on entering MASTER.
        type: list
        elements: str
      backup:
        description: Run on entering BACKUP.
        type: list
        elements: str
      fault:
        description: Run on entering FAULT.
        type: list
        elements: str
      stop:
        description: Run when the instance (or every member of the group) stops.
        type: list
        elements: str
      timeout:
        description:
          - Seconds a notify program may run before it is killed (0.01 to 3600, default 10).
        type: float
"""
