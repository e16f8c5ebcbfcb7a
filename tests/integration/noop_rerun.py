"""Time the no-op rerun of ``playbooks/ha_pair.yml`` with 1, 10 and 100 instances.

Two lab hosts (r1 priority 150, r2 100); for each size the pair is provisioned
(``vrrp_exclusive``: the previous size's instances go), then the same play runs
again and is timed: what a user pays for "nothing to do". Run as root from
``tests/``::

    python -m integration.noop_rerun            # sizes 1 10 100
    python -m integration.noop_rerun 1 10       # other sizes

Prints one line per size (provision seconds, rerun seconds, changed count of
the rerun) and writes them to ``build/noop-rerun.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from integration.hosts import HostLab
from integration.rootfs import ensure_rootfs
from lab import REPO_ROOT, unique_prefix

PLAYBOOK = REPO_ROOT / "playbooks" / "ha_pair.yml"


def instances(count: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"i{k}",
            "interface": "eth0",
            "vrid": k,
            "priority": "{{ lab_priority | int }}",
            "preempt": False,
            "virtual_addresses": [f"198.51.100.{k}/24"],
        }
        for k in range(1, count + 1)
    ]


def main(sizes: list[int]) -> int:
    fs = ensure_rootfs()
    figures: dict[str, Any] = {}
    with HostLab(prefix=unique_prefix(), rootfs=fs.path) as lab:
        lab.add_hosts({"r1": "192.0.2.11/24", "r2": "192.0.2.12/24"})
        lab.write_inventory(host_vars={"r1": {"lab_priority": 150}, "r2": {"lab_priority": 100}})
        for size in sizes:
            extra = {
                # the group's name before and after the playbooks agreed on one
                "vrrp_pair_hosts": "routers",
                "vrrp_hosts": "routers",
                "vrrp_exclusive": True,
                "vrrp_instances": instances(size),
            }
            first = lab.playbook(PLAYBOOK, extra_vars=extra)
            if first.returncode != 0:
                print(first.output[-4000:])
                return 1
            again = lab.playbook(PLAYBOOK, extra_vars=extra)
            if again.returncode != 0:
                print(again.output[-4000:])
                return 1
            figures[str(size)] = {
                "provision_s": round(first.seconds, 2),
                "noop_rerun_s": round(again.seconds, 2),
                "noop_rerun_changed": again.changed(),
            }
            line = (
                f"{size:>4} instances: provision {first.seconds:6.1f} s, "
                f"no-op rerun {again.seconds:6.1f} s, changed={again.changed()}"
            )
            print(line, flush=True)
    out = REPO_ROOT / "build" / "noop-rerun.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main([int(a) for a in sys.argv[1:]] or [1, 10, 100]))
