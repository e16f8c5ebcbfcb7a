"""Our runner inside a lab router: config files, start/stop, control requests."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from vrrp.control import request
from vrrp.errors import ControlError

from .core import Lab, Router

_N = 0

# How late a loaded, shared 2-core box may run a timer or deliver a packet.
# It bounds "it happened eventually", never a protocol margin: a test asserts
# what the protocol promises (no takeover: a gap below the Backup's
# Master_Down_Interval; Skew_Time, not Master_Down_Interval; no state change)
# and adds LATE only to an upper bound that stands for "soon".
LATE: Final = 1.0


def skew_time(priority: int, interval: float = 0.1) -> float:
    """RFC 9568 §6.1: ((256 - Priority) × Master_Adver_Interval) / 256."""
    return (256 - priority) * interval / 256


def master_down_interval(priority: int, interval: float = 0.1) -> float:
    """RFC 9568 §6.1: 3 × Master_Adver_Interval + Skew_Time of a Backup at ``priority``.

    A Master's adverts as seen by that Backup may be late by anything below
    this without a takeover: the bound for "no gap" in the advert rhythm.
    """
    return 3 * interval + skew_time(priority, interval)


class RunnerProc:
    """One `vrrp.runner` process in a lab router, with its own directories."""

    def __init__(self, lab: Lab, router: Router, config: dict[str, Any], *, tag: str = "") -> None:
        global _N  # noqa: PLW0603
        _N += 1
        self.lab = lab
        self.router = router
        self.base = lab.tmpdir / f"runner-{router.name}{tag}-{_N}"
        self.state_dir = self.base / "run"
        self.lib_dir = self.base / "lib"
        self.config_path = self.base / "config.json"
        self.base.mkdir(parents=True)
        self.write_config(config)
        self.proc: subprocess.Popen[Any] | None = None

    @property
    def socket(self) -> str:
        return str(self.state_dir / "control.sock")

    def write_config(self, config: dict[str, Any]) -> None:
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2))
        os.replace(tmp, self.config_path)

    def start(self, *extra: str, wait: bool = True, read_only: Sequence[str] = ()) -> RunnerProc:
        """Run it (``read_only``: paths it sees read-only, see ``Lab.python``)."""
        self.proc = self.lab.python(
            self.router,
            [
                "-m",
                "vrrp.runner",
                "--config",
                str(self.config_path),
                "--state-dir",
                str(self.state_dir),
                "--lib-dir",
                str(self.lib_dir),
                "--log-level",
                "debug",
                *extra,
            ],
            read_only=read_only,
        )
        if wait:
            self.lab.wait_for(
                lambda: self._alive() and self._answers(),
                timeout=10,
                what=f"runner in {self.router.name} to answer\n{self.log()}",
            )
        return self

    def _answers(self) -> bool:
        """The control socket exists and serves (not only bound: also listening)."""
        if not Path(self.socket).exists():
            return False
        try:
            return bool(self.request("version").get("ok"))
        except ControlError:
            return False

    def _alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"runner in {self.router.name} exited: {self.log()}")
        return True

    def log(self) -> str:
        return self.lab.log_of(self.proc) if self.proc is not None else ""

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        return request(self.socket, {"cmd": cmd, **args}, timeout=5.0)

    def result(self, cmd: str, **args: Any) -> Any:
        response = self.request(cmd, **args)
        if not response.get("ok"):
            raise RuntimeError(f"{cmd} refused: {response}")
        return response["result"]

    def state_of(self, instance: str) -> str:
        return str(self.result("state")["instances"][instance]["state"])

    def kill(self) -> None:
        if self.proc is not None:
            self.lab.kill(self.proc)
            self.proc.wait()

    def stop(self) -> int:
        if self.proc is None:
            return 0
        return self.lab.stop(self.proc, timeout=10)


# --- helpers for the scenario tests (tests/netns/test_runner_*.py) ---------------


def single_instance(
    name: str,
    *,
    vrid: int,
    priority: int,
    vips: list[str],
    interval: float = 0.1,
    **extra: Any,
) -> dict[str, Any]:
    """A whole runner config with one instance on eth0 (``extra`` adds schema keys)."""
    cfg: dict[str, Any] = {
        "name": name,
        "interface": "eth0",
        "vrid": vrid,
        "priority": priority,
        "advert_interval": interval,
        "virtual_addresses": vips,
    }
    cfg.update(extra)
    return {"instances": [cfg], "sync_groups": []}


def instance_state(runner: RunnerProc, name: str) -> dict[str, Any]:
    """``state`` of one instance over the control socket (state, master, priorities, ...)."""
    return dict(runner.result("state")["instances"][name])


def neighbour(lab: Lab, target: Router, address: str) -> dict[str, Any] | None:
    """The neighbour cache entry for ``address`` on ``target``'s eth0 (``ip -j neigh``)."""
    for entry in lab.ip_json(target, "neigh", "show", "to", address, "dev", target.ifname):
        if entry.get("dst") == address:
            return entry
    return None


def neighbour_mac(lab: Lab, target: Router, address: str) -> str | None:
    """The link-layer address ``target`` holds for ``address`` (None: none or FAILED)."""
    entry = neighbour(lab, target, address)
    if entry is None or "lladdr" not in entry:
        return None
    return str(entry["lladdr"]).lower()


def ping(lab: Lab, source: Router, address: str, *, timeout: float = 1.0) -> bool:
    """One echo request from ``source`` to ``address`` (``%eth0`` added for link-local)."""
    dst = f"{address}%{source.ifname}" if address.lower().startswith("fe80:") else address
    family = "-6" if ":" in address else "-4"
    argv = ["ping", family, "-n", "-c", "1", "-W", f"{timeout:g}", dst]
    return lab.run(source, argv, timeout=timeout + 5).returncode == 0


# --- helpers for the runner scenario tests (tests/netns/test_runner_*.py) --------


def vrrp_instance(
    name: str,
    *,
    vrid: int,
    priority: int,
    vips: list[str],
    interface: str = "eth0",
    interval: float = 0.1,
    **extra: Any,
) -> dict[str, Any]:
    """One instance of a runner config (keys as in the schema)."""
    cfg: dict[str, Any] = {
        "name": name,
        "interface": interface,
        "vrid": vrid,
        "priority": priority,
        "advert_interval": interval,
        "virtual_addresses": list(vips),
    }
    cfg.update(extra)
    return cfg


def runner_config(
    *instances: dict[str, Any], sync_groups: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A whole runner config from instance dicts (and sync groups)."""
    return {"instances": list(instances), "sync_groups": list(sync_groups or [])}


def add_second_link(
    lab: Lab, router: Router, *, v4: str, ifname: str = "eth1", bridge: str = "br1"
) -> str:
    """A second LAN: ``router``'s ``ifname`` on bridge ``bridge`` in the switch namespace.

    Built like ``Lab.add_router`` builds eth0 (the pair made in the switch
    namespace, so both ends get their own ifindex). Returns the bridge-side
    port name, for ``set_second_port``. Removed with the lab's namespaces.
    """
    sw = lab.switch_ns
    if bridge not in {link["ifname"] for link in lab.ip_json(sw, "link", "show")}:
        for argv in (
            ["ip", "link", "add", bridge, "type", "bridge", "stp_state", "0",
             "forward_delay", "0", "mcast_snooping", "0"],
            ["ip", "link", "set", bridge, "up"],
        ):  # fmt: skip
            lab.run(sw, argv, check=True)
    port, tmp = f"q-{router.name}", f"u-{router.name}"
    for target, argv in (
        (sw, ["ip", "link", "add", port, "type", "veth", "peer", "name", tmp]),
        (sw, ["ip", "link", "set", tmp, "netns", router.ns]),
        (router.ns, ["ip", "link", "set", tmp, "name", ifname]),
        (sw, ["ip", "link", "set", port, "master", bridge]),
        (sw, ["ip", "link", "set", port, "up"]),
        (router.ns, ["ip", "addr", "add", v4, "dev", ifname]),
        (router.ns, ["ip", "link", "set", ifname, "up"]),
    ):
        lab.run(target, argv, check=True)
    return port


def set_second_port(lab: Lab, port: str, *, up: bool) -> None:
    """Bridge-side end of a second link up/down: carrier loss inside the router."""
    lab.run(lab.switch_ns, ["ip", "link", "set", port, "up" if up else "down"], check=True)


def wait_state(proc: RunnerProc, instance: str, state: str, *, timeout: float = 5.0) -> None:
    """Wait until ``instance`` in ``proc`` reports ``state``."""
    proc.lab.wait_for(
        lambda: proc.state_of(instance) == state,
        timeout=timeout,
        what=f"{instance} {state} in {proc.router.name}",
    )


def moves(proc: RunnerProc, instance: str) -> list[tuple[str, str]]:
    """``instance``'s transition history as (from, to) pairs, oldest first."""
    return [(h["from"], h["to"]) for h in proc.result("history", limit=64)[instance]]


def stats_of(proc: RunnerProc, instance: str) -> dict[str, int]:
    """The per-instance counters of ``stats``."""
    return dict(proc.result("stats")["instances"][instance])


def adverts_of(packets: list[dict[str, Any]], *, src: str, vrid: int) -> list[dict[str, Any]]:
    """The captured adverts (``lab.capture`` dicts) from ``src`` for ``vrid``."""
    return [p for p in packets if p["src"] == src and p["vrid"] == vrid]


def largest_gap(packets: list[dict[str, Any]]) -> float:
    """The longest time between two consecutive packets (0 for fewer than two)."""
    times = sorted(p["time"] for p in packets)
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def check_our_adverts(
    packets: list[dict[str, Any]], *, sources: set[str], form: str = "pseudo_header"
) -> int:
    """Every advert from ``sources`` as tshark judged it: TTL 255, checksum good in ``form``.

    ``form`` is ``lab.capture``'s ``checksum_form``: our VRRPv3 IPv4 default is
    ``"pseudo_header"`` (what keepalived sends and requires), ``"rfc9568"``
    with ``checksum_form: rfc9568``, ``"v2"`` / ``"ipv6"`` for those. Returns
    how many adverts there were.
    """
    ours = [p for p in packets if p["src"] in sources]
    for packet in ours:
        if packet["checksum_form"] != form:
            raise AssertionError(f"advert not good in the {form} checksum form: {packet}")
        if packet["ttl"] != 255:  # RFC 9568 §5.1.1.3
            raise AssertionError(f"advert with TTL {packet['ttl']}: {packet}")
    return len(ours)
