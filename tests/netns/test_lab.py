"""The lab itself: it builds, connects, signals carrier loss fast and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from lab import Lab, Router, netns_list, sweep, unique_prefix


def _ns_of_prefix(prefix: str) -> list[str]:
    return [ns for ns in netns_list() if ns.startswith(prefix + "-")]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_builds_routers_on_a_bridge_and_tears_down() -> None:
    prefix = unique_prefix()
    with Lab(prefix=prefix) as lab:
        r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
        r2 = lab.add_router("r2", v4="192.0.2.12/24")
        assert sorted(_ns_of_prefix(prefix)) == [f"{prefix}-r1", f"{prefix}-r2", f"{prefix}-sw"]
        assert (r1.ns, r1.ifname, r1.bridge_port) == (f"{prefix}-r1", "eth0", "p-r1")
        assert (r1.v4, r1.v6, r2.v6) == ("192.0.2.11", "2001:db8::11", None)
        assert r1.v6_ll is not None
        assert r1.v6_ll.startswith("fe80::")

        link = lab.link(r1)
        assert link["ifindex"] == r1.ifindex
        assert link["address"] == r1.mac
        assert "LOWER_UP" in link["flags"]
        # Distinct ifindexes on the two ends, or carrier events are batched ~1 s.
        assert r1.ifindex != r1.bridge_port_ifindex
        assert link["link_index"] == r1.bridge_port_ifindex

        ports = lab.ip_json(lab.switch_ns, "link", "show", "master", "br0")
        assert sorted(p["ifname"] for p in ports) == ["p-r1", "p-r2"]
        assert lab.ip_json(lab.switch_ns, "link", "show", "dev", "br0")[0]["operstate"] == "UP"
        bridge = lab.ip_json(lab.switch_ns, "-d", "link", "show", "dev", "br0")[0]
        assert bridge["linkinfo"]["info_data"]["mcast_snooping"] == 0
        assert lab.run(r1, ["sysctl", "-n", "net.ipv6.conf.eth0.accept_dad"]).stdout.strip() == "0"
        lo = lab.ip_json(r1, "link", "show", "dev", "lo")[0]
        assert "UP" in lo["flags"]
        # The root namespace has none of our links.
        root_links = subprocess.run(
            ["ip", "-o", "link"], capture_output=True, text=True, check=True
        )
        assert "p-r1" not in root_links.stdout
        proc = lab.popen(r1, ["sleep", "60"])
        assert proc.poll() is None
    assert _ns_of_prefix(prefix) == []
    assert proc.poll() is not None
    assert not _pid_alive(proc.pid)


def test_teardown_when_the_body_raises() -> None:
    prefix = unique_prefix()
    with pytest.raises(RuntimeError, match="boom"), Lab(prefix=prefix) as lab:
        r1 = lab.add_router("r1", v4="192.0.2.11/24")
        # A process that ignores SIGTERM: teardown must fall back to SIGKILL.
        proc = lab.popen(r1, ["sh", "-c", "trap '' TERM; sleep 60"])
        children = ["ps", "-o", "comm=", "--ppid", str(proc.pid)]
        lab.wait_for(lambda: "sleep" in lab.run(r1, children).stdout, what="the shell's child")
        raise RuntimeError("boom")
    assert _ns_of_prefix(prefix) == []
    assert proc.returncode == -signal.SIGKILL


def test_sweep_removes_leftovers_of_a_crashed_run() -> None:
    prefix = unique_prefix()
    # A child process builds a lab and dies by SIGKILL: no teardown runs.
    code = (
        "import os, signal\n"
        "from lab import Lab\n"
        f"lab = Lab(prefix={prefix!r}); lab.open(); r = lab.add_router('r1', v4='192.0.2.11/24')\n"
        "lab.popen(r, ['sleep', '60'])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code], env=env, check=False, timeout=30)
    assert sorted(_ns_of_prefix(prefix)) == [f"{prefix}-r1", f"{prefix}-sw"]
    removed = sweep(prefix)
    assert sorted(removed) == [f"{prefix}-r1", f"{prefix}-sw"]
    assert _ns_of_prefix(prefix) == []


def test_sigterm_tears_the_lab_down() -> None:
    prefix = unique_prefix()
    code = (
        "import sys, time\n"
        "from lab import Lab\n"
        f"lab = Lab(prefix={prefix!r}); lab.open(); r = lab.add_router('r1', v4='192.0.2.11/24')\n"
        "p = lab.popen(r, ['sleep', '60'])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        sleeper = int(child.stdout.readline())
        assert _pid_alive(sleeper)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=15) == 128 + signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert _ns_of_prefix(prefix) == []
    assert not _pid_alive(sleeper)


def test_atexit_tears_the_lab_down() -> None:
    prefix = unique_prefix()
    code = (
        "from lab import Lab\n"
        f"lab = Lab(prefix={prefix!r}); lab.open(); r = lab.add_router('r1', v4='192.0.2.11/24')\n"
        "lab.popen(r, ['sleep', '60'])\n"
        "raise SystemExit(3)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    assert (
        subprocess.run([sys.executable, "-c", code], env=env, check=False, timeout=30).returncode
        == 3
    )
    assert _ns_of_prefix(prefix) == []


def _ping(lab: Lab, src: Router, dst: str) -> subprocess.CompletedProcess[str]:
    return lab.run(src, ["ping", "-n", "-c", "1", "-W", "2", dst])


def test_routers_ping_each_other_v4_and_v6(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v4="198.51.100.12/24", v6="2001:db8::12/64")
    lab.run(r1, ["ip", "addr", "add", "198.51.100.11/24", "dev", "eth0"], check=True)
    pairs = [(r1, r2.v4), (r2, "198.51.100.11"), (r1, r2.v6), (r2, r1.v6), (r1, f"{r2.v6_ll}%eth0")]
    for src, dst in pairs:
        assert dst is not None
        result = _ping(lab, src, dst)
        assert result.returncode == 0, f"{src.name} -> {dst}: {result.stdout}{result.stderr}"
        assert " 0% packet loss" in result.stdout
    neigh = lab.ip_json(r1, "neigh", "show", "dev", "eth0")
    assert r2.mac in {n.get("lladdr") for n in neigh}


def test_port_down_is_carrier_loss_inside_the_router_within_100ms(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    assert "NO-CARRIER" not in lab.link(r1)["flags"]
    start = time.monotonic()
    lab.set_port(r1, up=False)

    def carrier_lost() -> dict[str, Any] | None:
        link = lab.link(r1)
        return link if "NO-CARRIER" in link["flags"] and link["operstate"] == "DOWN" else None

    link = lab.wait_for(
        carrier_lost,
        timeout=2.0,
        interval=0.002,
        what="NO-CARRIER on r1 eth0",
    )
    elapsed = time.monotonic() - start
    # The lab's promise is the urgent path (a few ms), not the kernel's
    # non-urgent one (about a second, see tests/lab/README.md); a loaded box
    # may take a few hundred ms to schedule the poller.
    assert elapsed < 0.5, f"carrier loss seen after {elapsed * 1000:.1f} ms"
    assert link is not None
    assert "UP" in link["flags"]  # still administratively up: only the carrier went

    start = time.monotonic()
    lab.set_port(r1, up=True)
    lab.wait_for(
        lambda: lab.link(r1)["operstate"] == "UP", timeout=2.0, interval=0.002, what="carrier back"
    )
    assert time.monotonic() - start < 0.5


def test_set_link_takes_the_routers_own_interface_down(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    lab.set_link(r1, up=False)
    link = lab.link(r1)
    assert "UP" not in link["flags"]
    assert link["operstate"] == "DOWN"
    # The peer's bridge port sees r1's end down as carrier loss on its side.
    port = lab.ip_json(lab.switch_ns, "link", "show", "dev", r1.bridge_port)[0]
    assert "NO-CARRIER" in port["flags"]
    assert _ping(lab, r2, "192.0.2.11").returncode != 0
    lab.set_link(r1, up=True)
    lab.wait_for(
        lambda: _ping(lab, r2, "192.0.2.11").returncode == 0, timeout=5, what="r1 reachable again"
    )


def test_python_runs_inside_the_namespace_with_the_engine_importable(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    code = "import vrrp, lab, socket; print(socket.if_nametoindex('eth0'))"
    proc = lab.python(r1, ["-c", code])
    assert proc.wait(timeout=30) == 0, lab.log_of(proc)
    assert lab.log_of(proc).strip() == str(r1.ifindex)


def test_wait_for_names_what_it_waited_for(lab: Lab) -> None:
    with pytest.raises(TimeoutError, match="the impossible"):
        lab.wait_for(lambda: False, timeout=0.05, what="the impossible")
    assert lab.wait_for(lambda: 42, what="a value") == 42
