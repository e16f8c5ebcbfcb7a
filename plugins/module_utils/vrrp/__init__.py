"""failover.vrrp engine: a VRRP router (RFC 9568, RFC 3768) in plain Python.

The package never imports ``ansible`` and imports its own modules relatively,
so the same files run inside an Ansible module, in the runner daemon and under
pytest (``PYTHONPATH=plugins/module_utils python3 -c 'import vrrp'``).
"""

from __future__ import annotations

__version__ = "0.1.0"
