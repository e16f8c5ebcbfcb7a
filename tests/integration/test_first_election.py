"""The first election of new VRIDs honours priority, with preempt off.

With preempt off, whoever starts a VRID first wins it and keeps it. The
``pair`` fixture's hosts (fresh for this module) get 50 instances from nothing
through ``ha_pair.yml``: priorities alternate (odd VRIDs: r1 150, r2 100; even
VRIDs: the reverse), so each host has the better claim on half of them; the
first 25 advertise every 1 s, the last 25 every 0.1 s. Every VRID's MASTER must
be the host with the better claim.

Adversarial timing, on purpose: r2 is a slow host. Its Python interpreter (an
inventory setting) starts every ``vrrp_config`` module 2 s late, so without
staging r1 starts every VRID well before r2 and wins all 50 (seen: all 25
even VRIDs MASTER on r1).
"""

from __future__ import annotations

from typing import Any

from integration.conftest import TIMINGS
from integration.hosts import HostLab
from integration.installed import playbook_fqcn

COUNT = 50
SLOW_PYTHON = "/usr/local/bin/lab-slow-python3"
# Pipelined modules come on stdin; the module's name is in the AnsiballZ wrapper.
SLOW_SCRIPT = """#!/usr/bin/python3
import subprocess, sys, time
if sys.argv[1:]:
    sys.exit(subprocess.call(["/usr/bin/python3", *sys.argv[1:]]))
data = sys.stdin.buffer.read()
if b"plugins.modules.vrrp_config'" in data:
    time.sleep(2)
sys.exit(subprocess.run(["/usr/bin/python3"], input=data).returncode)
"""


def _instance(vrid: int) -> dict[str, Any]:
    # Odd VRIDs: the inventory's priority (r1 150, r2 100); even: the reverse.
    priority = "{{ lab_priority | int }}" if vrid % 2 else "{{ 250 - lab_priority | int }}"
    return {
        "name": f"v{vrid}",
        "interface": "eth0",
        "vrid": vrid,
        "priority": priority,
        "preempt": False,
        "advert_interval": 1.0 if vrid <= COUNT // 2 else 0.1,
        "virtual_addresses": [f"198.51.100.{vrid}/32"],
    }


VARS: dict[str, Any] = {
    "vrrp_hosts": "routers",
    "vrrp_exclusive": True,
    "vrrp_instances": [_instance(vrid) for vrid in range(1, COUNT + 1)],
}


def test_each_new_vrid_is_first_won_by_the_better_claim(pair: HostLab) -> None:
    slow = pair.hosts["r2"].root / SLOW_PYTHON.lstrip("/")
    slow.write_text(SLOW_SCRIPT)
    slow.chmod(0o755)
    pair.write_inventory(
        host_vars={
            "r1": {"lab_priority": 150},
            "r2": {"lab_priority": 100, "ansible_python_interpreter": SLOW_PYTHON},
        }
    )
    run = pair.playbook(playbook_fqcn("ha_pair.yml"), extra_vars=VARS)
    TIMINGS[f"playbook ha_pair.yml, {COUNT} new VRIDs, preempt off, slow r2"] = run.seconds
    assert run.returncode == 0, run.output[-6000:]
    vrids = ", ".join(str(vrid) for vrid in range(1, COUNT + 1))
    assert f"starting first: {vrids} on r1, r2, then the others" in run.output, run.output[-6000:]
    states = {name: pair.runner_state(host)["instances"] for name, host in pair.hosts.items()}
    masters = {
        vrid: sorted(h for h in states if states[h][f"v{vrid}"]["state"] == "MASTER")
        for vrid in range(1, COUNT + 1)
    }
    expected = {vrid: ["r1" if vrid % 2 else "r2"] for vrid in masters}
    wrong = {vrid: got for vrid, got in masters.items() if got != expected[vrid]}
    assert not wrong, f"VRID: MASTER(s) not the better claim: {wrong}"
