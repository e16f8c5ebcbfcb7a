"""Debian's keepalived as the interoperability peer, run inside a lab router.

``render_config`` writes a keepalived.conf for one or more VRRP instances;
``Keepalived`` starts it in a router namespace through ``Lab.popen`` (so the lab
stops it at teardown), reads its state and stops it by PID. Every file it
writes (config, the parent / VRRP-child / checker / BFD pid files) lives in its
own temporary directory, so several keepalived run side by side on one host.
"""

from __future__ import annotations

import re
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Any, Final

from .core import Lab, Router
from .netns import ensure_tool

KEEPALIVED: Final = "keepalived"
_STATE_RE: Final = re.compile(r"\((?P<name>[^)]+)\) Entering (?P<state>[A-Z]+) STATE")


def ensure_keepalived() -> str:
    """Path of the keepalived binary; installs Debian's package when missing."""
    return ensure_tool(KEEPALIVED, "keepalived")


@dataclass
class KeepalivedInstance:
    """One ``vrrp_instance`` block. The family follows the virtual addresses."""

    vrid: int
    priority: int
    virtual_addresses: list[str]
    version: int = 3
    advert_interval: float = 1.0
    interface: str = "eth0"
    name: str | None = None
    unicast_source: str | None = None
    unicast_peers: list[str] = field(default_factory=list)
    auth_pass: str | None = None
    nopreempt: bool = False
    preempt_delay: float | None = None
    extra_lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.version not in (2, 3):
            raise ValueError(f"VRRP version {self.version}: 2 or 3")
        if not 1 <= self.vrid <= 255 or not 1 <= self.priority <= 255:
            raise ValueError("vrid and priority are 1..255")
        if self.version == 2 and self.ipv6:
            raise ValueError("VRRPv2 is IPv4 only (RFC 3768)")
        if self.auth_pass is not None and self.version != 2:
            raise ValueError("authentication exists only in VRRPv2 (RFC 3768 §5.3.6)")

    @property
    def instance_name(self) -> str:
        return self.name or f"VI_{self.vrid}"

    @property
    def ipv6(self) -> bool:
        return bool(self.virtual_addresses) and ":" in self.virtual_addresses[0]

    def vips(self) -> list[str]:
        """The virtual addresses without prefix length."""
        return [a.split("/", maxsplit=1)[0] for a in self.virtual_addresses]

    def render(self) -> str:
        lines = [
            f"vrrp_instance {self.instance_name} {{",
            "    state BACKUP",  # nopreempt needs BACKUP; the election decides the rest
            f"    interface {self.interface}",
            f"    virtual_router_id {self.vrid}",
            f"    priority {self.priority}",
            f"    advert_int {self.advert_interval:g}",
            f"    version {self.version}",
        ]
        if self.ipv6:
            lines.append("    native_ipv6")
        if self.nopreempt:
            lines.append("    nopreempt")
        if self.preempt_delay is not None:
            lines.append(f"    preempt_delay {self.preempt_delay:g}")
        if self.auth_pass is not None:
            lines += [
                "    authentication {",
                "        auth_type PASS",
                f"        auth_pass {self.auth_pass}",
                "    }",
            ]
        if self.unicast_source is not None:
            lines.append(f"    unicast_src_ip {self.unicast_source}")
        if self.unicast_peers:
            lines += ["    unicast_peer {", *(f"        {p}" for p in self.unicast_peers), "    }"]
        lines.append("    virtual_ipaddress {")
        lines += [f"        {a} dev {self.interface}" for a in self.virtual_addresses]
        lines.append("    }")
        lines += [f"    {line}" for line in self.extra_lines]
        lines.append("}")
        return "\n".join(lines) + "\n"


def render_config(instances: list[KeepalivedInstance], *, router_id: str) -> str:
    """A whole keepalived.conf. ``vrrp_strict`` stays off (it would refuse
    unicast peers and v2 authentication, and add firewall rules)."""
    head = [
        "global_defs {",
        f"    router_id {router_id}",
        "}",
        "",
    ]
    return "\n".join(head) + "\n".join(i.render() for i in instances)


class Keepalived:
    """A keepalived (VRRP subsystem only) in a lab router, in the foreground."""

    def __init__(self, lab: Lab, router: Router, instances: list[KeepalivedInstance]) -> None:
        if not instances:
            raise ValueError("keepalived needs at least one instance")
        self.lab = lab
        self.router = router
        self.instances = instances
        self.dir = lab.tmpdir / f"keepalived-{router.name}-{id(self):x}"
        self.dir.mkdir(parents=True)
        self.config_path = self.dir / "keepalived.conf"
        self.pid_path = self.dir / "keepalived.pid"
        self.vrrp_pid_path = self.dir / "vrrp.pid"
        self.proc: subprocess.Popen[Any] | None = None

    def argv(self) -> list[str]:
        return [
            ensure_keepalived(),
            "--use-file", str(self.config_path),
            "--vrrp",
            "--dont-fork", "--log-console", "--log-detail", "--no-syslog",
            "--dont-respawn",
            "--pid", str(self.pid_path),
            "--vrrp_pid", str(self.vrrp_pid_path),
            "--checkers_pid", str(self.dir / "checkers.pid"),
            "--bfd_pid", str(self.dir / "bfd.pid"),
        ]  # fmt: skip

    def start(self) -> Keepalived:
        if self.proc is not None:
            raise RuntimeError("keepalived already started")
        self.config_path.write_text(render_config(self.instances, router_id=self.router.ns))
        self.proc = self.lab.popen(self.router, self.argv())
        self.lab.wait_for(
            lambda: (
                self._vrrp_child_pid() is not None
                or self.proc is None
                or self.proc.poll() is not None
            ),
            timeout=10.0,
            what=f"keepalived VRRP child in {self.router.ns}",
        )
        if self.proc.poll() is not None:
            raise RuntimeError(f"keepalived exited {self.proc.returncode}:\n{self.log()}")
        return self

    def _vrrp_child_pid(self) -> int | None:
        try:
            text = self.vrrp_pid_path.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("keepalived not started")
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return "" if self.proc is None else self.lab.log_of(self.proc)

    def states(self) -> dict[str, str]:
        """The last state each instance logged (``MASTER``, ``BACKUP``, ``FAULT``)."""
        out: dict[str, str] = {}
        for match in _STATE_RE.finditer(self.log()):
            out[match["name"]] = match["state"]
        return out

    def state(self, instance: KeepalivedInstance | None = None) -> str | None:
        inst = instance or self.instances[0]
        return self.states().get(inst.instance_name)

    def has_vips(self, instance: KeepalivedInstance | None = None) -> bool:
        """All of the instance's virtual addresses are on the interface (``ip -j addr``)."""
        inst = instance or self.instances[0]
        present = set(self.lab.addresses(self.router))
        return all(v in present for v in inst.vips())

    def has_no_vips(self, instance: KeepalivedInstance | None = None) -> bool:
        inst = instance or self.instances[0]
        present = set(self.lab.addresses(self.router))
        return not any(v in present for v in inst.vips())

    def wait_master(self, timeout: float = 10.0) -> None:
        """Until it logged MASTER and every VIP of every instance is on the interface."""
        self.lab.wait_for(
            lambda: all(self.state(i) == "MASTER" and self.has_vips(i) for i in self.instances),
            timeout=timeout,
            what=f"keepalived MASTER with VIPs in {self.router.ns}",
        )

    def wait_backup(self, timeout: float = 10.0) -> None:
        self.lab.wait_for(
            lambda: all(self.state(i) == "BACKUP" and self.has_no_vips(i) for i in self.instances),
            timeout=timeout,
            what=f"keepalived BACKUP without VIPs in {self.router.ns}",
        )

    def stop(self, timeout: float = 5.0) -> int:
        """Graceful: SIGTERM (keepalived sends priority-0 adverts), wait, then SIGKILL."""
        if self.proc is None:
            raise RuntimeError("keepalived not started")
        return self.lab.stop(self.proc, timeout=timeout)

    def kill(self) -> None:
        """Hard failure: SIGKILL to keepalived and its VRRP child, no goodbye adverts."""
        if self.proc is None:
            raise RuntimeError("keepalived not started")
        self.lab.kill(self.proc, signal.SIGKILL)
        self.proc.wait(timeout=5)


def start_keepalived(lab: Lab, router: Router, *instances: KeepalivedInstance) -> Keepalived:
    """Render, start and return a keepalived for ``instances`` inside ``router``."""
    return Keepalived(lab, router, list(instances)).start()
