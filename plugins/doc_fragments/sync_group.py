# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The keys of one sync group (schema C($defs/sync_group))."""

    DOCUMENTATION = r"""
options:
  name:
    description:
      - The sync group's name; also its file name C(NAME.json). Up to 64 characters from
        C(A-Z a-z 0-9 _ . -), starting with a letter or digit.
    type: str
    required: true
  description:
    description: Free text for people (at most 256 characters).
    type: str
  members:
    description:
      - Names of the member instances; an instance belongs to one sync group at most.
      - Required when O(state=present).
    type: list
    elements: str
"""
