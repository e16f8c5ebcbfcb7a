"""The failover.vrrp.unicast_peers filter over real hostvars and gathered facts.

A controller run (``ansible-playbook`` in a subprocess, both hosts this machine
over the local connection): the same expression as the role's
``vrrp_instances_applied``; a host of the group that is not in the play has no
facts, and the failure names it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modules_harness import COLLECTIONS_PATH

PLAYBOOK = """
- name: Fill unicast peers
  hosts: pair
  gather_facts: false
  vars:
    web: {name: web, interface: lo, vrid: 51, virtual_addresses: [192.0.2.100/24]}
  tasks:
    - name: Gather the network facts
      ansible.builtin.setup:
        gather_subset: ["!all", "!min", "network"]
    - name: Peers from the pair
      ansible.builtin.copy:
        dest: "{{ out }}/{{ inventory_hostname }}.json"
        mode: "0600"
        content: >-
          {{ [web | combine({'unicast_peers_from': 'pair'})]
             | failover.vrrp.unicast_peers(hostvars, groups, inventory_hostname) | to_json }}
    - name: Peers from a group with a host outside the play
      ansible.builtin.debug:
        msg: >-
          {{ [web | combine({'unicast_peers_from': 'far'})]
             | failover.vrrp.unicast_peers(hostvars, groups, inventory_hostname) }}
      ignore_errors: true
"""


def test_filter_over_hostvars(tmp_path: Path) -> None:
    local = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    (tmp_path / "hosts.ini").write_text(f"[pair]\nr1 {local}\nr2 {local}\n[far]\nr1\nr3 {local}\n")
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH,
        ANSIBLE_HOME=str(tmp_path / "home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_CONFIG=str(tmp_path / "none.cfg"),
    )
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", "hosts.ini", "play.yml", "-e", f"out={tmp_path}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for host in ("r1", "r2"):
        (inst,) = json.loads((tmp_path / f"{host}.json").read_text())
        assert inst["unicast_peers"] == ["127.0.0.1"] and inst["unicast_source"] == "127.0.0.1"
        assert "unicast_peers_from" not in inst
    assert (
        "host r1: instance web: unicast_peers_from: far: host r3 has no gathered network facts"
    ) in proc.stdout, proc.stdout[-3000:]
    assert "ignored=1" in proc.stdout
