"""Priority bounds (RFC 9568 §5.2.4, §6.1), each defined once.

A pure module with no imports, so that the control socket (shipped to the
Ansible modules) checks a demotion against the very bound the runner uses.
"""

from __future__ import annotations

from typing import Final

OWNER_PRIORITY: Final = 255  # the address owner, always Master while up
STOP_PRIORITY: Final = 0  # the "I am leaving" advert (RFC 9568 §6.4.3)
MIN_PRIORITY: Final = 1
MAX_BACKUP_PRIORITY: Final = 254
# A runtime demotion (maintenance) is a priority of 1..254 to run at, or 0:
# resign (advertise priority 0 while still Master until a peer takes over,
# then stay Backup at priority 1). 255 is the address owner, not a demotion.
MIN_DEMOTION: Final = 0
MAX_DEMOTION: Final = MAX_BACKUP_PRIORITY
