"""Version of the failover.vrrp engine (kept equal to galaxy.yml's version)."""

from __future__ import annotations

from typing import Final

__version__: Final = "0.1.0"
