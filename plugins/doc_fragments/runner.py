# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Where the runner listens (DOCUMENTATION) and reads its config (FILES)."""

    DOCUMENTATION = r"""
options:
  control_socket:
    description:
      - The runner's control socket (a root-only UNIX socket).
    type: path
    default: /run/failover-vrrp/control.sock
"""

    FILES = r"""
options:
  config_dir:
    description:
      - The runner's configuration directory; fragments go to its C(instances.d) and
        C(sync_groups.d) subdirectories, created when missing.
    type: path
    default: /etc/failover-vrrp
  reload:
    description:
      - Ask the runner to reload after a change. If it refuses the new configuration, the
        previous file is restored and the module fails with the runner's error.
      - With V(false) the file is only written; the runner reads it at its next reload or start.
    type: bool
    default: true
"""
