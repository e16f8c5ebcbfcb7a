"""The runner loads pyroute2's codec, not the whole library (its memory, issue 14 §5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyroute2")

MODULE_UTILS = Path(__file__).resolve().parents[6] / "plugins" / "module_utils"

PROBE = """
import json, sys
import vrrp.linux.netlink as netlink
codec_only = sorted(m for m in ("pyroute2.iproute", "pyroute2.ndb", "sqlite3", "unittest.mock")
                    if m in sys.modules)
import pyroute2
whole = pyroute2.IPRoute.__name__
print(json.dumps({"loaded": codec_only, "whole": whole,
                  "codec": netlink.ifinfmsg.__name__}))
"""


def test_the_codec_loads_without_the_rest_of_pyroute2_which_stays_reachable() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PYTHONPATH": str(MODULE_UTILS)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = json.loads(out.stdout)
    assert found == {"loaded": [], "whole": "IPRoute", "codec": "ifinfmsg"}
