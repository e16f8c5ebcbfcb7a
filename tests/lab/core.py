"""Routers as network namespaces on one bridge, built and torn down by the tests.

Layout of one lab with prefix ``P``::

    netns P-sw:  br0 ── p-r1 ─┐        (the switch: bridge and the bridge-side veth ends)
                      ── p-r2 ─┼─┐
    netns P-r1:  eth0 ────────┘ │      (a router: the other veth end, renamed eth0)
    netns P-r2:  eth0 ──────────┘

Nothing is created in the root namespace: the veth pair is made inside the switch
namespace and the router end is moved out. Both ends must get different ifindexes:
the kernel's linkwatch treats a carrier change as urgent only when a device's
ifindex differs from its iflink (its peer's ifindex); equal ones are batched and
arrive about a second late (net/core/link_watch.c, ``linkwatch_urgent_event``).
Making the pair inside one namespace gives two different ifindexes, and a move
keeps the ifindex when it is free in the target namespace.

Teardown is guaranteed three ways: the context manager, an ``atexit`` hook and a
SIGTERM handler over a module-level registry of open labs. ``sweep(prefix)``
removes what a crashed run with the same prefix left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, TypeVar, Union

from .netns import kill_ns_processes, run_cmd, sweep, wait_for

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
BRIDGE: Final = "br0"
ROUTER_IFNAME: Final = "eth0"
IFNAMSIZ: Final = 15  # usable characters of a Linux interface name

_PREFIX_RE: Final = re.compile(r"^[a-z][a-z0-9]{1,9}$")
_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9]{0,9}$")
_TERM_GRACE_S: Final = 3.0

T = TypeVar("T")


@dataclass
class Router:
    """One router namespace with its single lab interface ``eth0``.

    ``v4`` / ``v6`` are plain addresses (``"192.0.2.11"``); ``v4_cidr`` /
    ``v6_cidr`` carry the prefix length as given. ``v6_ll`` is eth0's
    link-local address (the source of VRRPv3 IPv6 adverts, RFC 9568 §5.1.2.1).
    """

    name: str
    ns: str
    ifname: str
    mac: str
    ifindex: int
    bridge_port: str
    bridge_port_ifindex: int
    v4_cidr: str | None = None
    v6_cidr: str | None = None
    v6_ll: str | None = None

    @property
    def v4(self) -> str | None:
        return None if self.v4_cidr is None else self.v4_cidr.split("/")[0]

    @property
    def v6(self) -> str | None:
        return None if self.v6_cidr is None else self.v6_cidr.split("/")[0]


Target = Union[Router, str]  # a router or a namespace name (e.g. ``lab.switch_ns``)


def _ns_of(target: Target) -> str:
    return target.ns if isinstance(target, Router) else target


# --- the registry of open labs: teardown on exit and on SIGTERM -----------------

_open_labs: list[Lab] = []
_registry_lock = threading.Lock()
_hooks_installed = False
_previous_sigterm: Any = None


def _close_all() -> None:
    with _registry_lock:
        labs = list(_open_labs)
    for lab in reversed(labs):
        lab.close()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _close_all()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    raise SystemExit(128 + signum)


def _install_hooks() -> None:
    global _hooks_installed, _previous_sigterm  # noqa: PLW0603 - process-wide, installed once
    if _hooks_installed:
        return
    atexit.register(_close_all)
    if threading.current_thread() is threading.main_thread():
        _previous_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
    _hooks_installed = True


class Lab:
    """A switch namespace with bridge ``br0`` and routers attached to it.

    Use as a context manager; every namespace, link and process it made is gone
    after ``close()``, which is idempotent.
    """

    def __init__(self, prefix: str) -> None:
        if not _PREFIX_RE.match(prefix):
            raise ValueError(
                f"lab prefix {prefix!r}: 2-10 characters [a-z0-9], starting with a letter"
            )
        self.prefix = prefix
        self.switch_ns = f"{prefix}-sw"
        self.bridge = BRIDGE
        self.routers: dict[str, Router] = {}
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"lab-{prefix}-"))
        self._namespaces: list[str] = []
        self._procs: list[subprocess.Popen[Any]] = []
        self._logs: dict[int, Path] = {}
        self._closed = False
        self._built = False

    # --- lifecycle ----------------------------------------------------------

    def __enter__(self) -> Lab:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Create the switch namespace and its bridge (idempotent)."""
        if self._built:
            return
        if self._closed:
            raise RuntimeError(f"lab {self.prefix} is closed")
        _install_hooks()
        with _registry_lock:
            _open_labs.append(self)
        self._built = True
        stale = sweep(self.prefix)
        if stale:
            print(f"lab {self.prefix}: removed leftovers {stale}", file=sys.stderr)
        self._add_ns(self.switch_ns)
        sw = self.switch_ns
        # The bridge needs no addresses; without IPv6 it sends no MLD/RS of its own.
        self._sysctl(
            sw, {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
        )
        self._ip(sw, "link", "add", BRIDGE, "type", "bridge",
                 "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0")  # fmt: skip
        self._ip(sw, "link", "set", BRIDGE, "up")

    def close(self) -> None:
        """Stop tracked processes (SIGTERM, then SIGKILL), delete the namespaces."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stop_all()
        finally:
            for ns in reversed(self._namespaces):
                kill_ns_processes(ns)
                run_cmd(["ip", "netns", "del", ns], check=False)
            sweep(self.prefix)
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            with _registry_lock:
                if self in _open_labs:
                    _open_labs.remove(self)

    @property
    def closed(self) -> bool:
        return self._closed

    # --- topology -------------------------------------------------------------

    def add_router(
        self,
        name: str,
        *,
        v4: str | None = None,
        v6: str | None = None,
        mac: str | None = None,
    ) -> Router:
        """A router namespace ``{prefix}-{name}`` whose ``eth0`` is a port of ``br0``."""
        self.open()
        if not _NAME_RE.match(name) or name == "sw":
            raise ValueError(f"router name {name!r}: 1-10 characters [a-z0-9], not 'sw'")
        if name in self.routers:
            raise ValueError(f"router {name!r} exists")
        ns = f"{self.prefix}-{name}"
        port, tmp = f"p-{name}", f"t-{name}"
        sw = self.switch_ns
        self._add_ns(ns)
        # Before eth0 arrives, so the new interface inherits them from "default".
        self._sysctl(ns, {
            "net.ipv6.conf.all.accept_dad": "0",
            "net.ipv6.conf.default.accept_dad": "0",
            "net.ipv6.conf.all.dad_transmits": "0",
            "net.ipv6.conf.default.dad_transmits": "0",
        })  # fmt: skip
        # Both ends made here get distinct ifindexes (see the module docstring).
        self._ip(sw, "link", "add", port, "type", "veth", "peer", "name", tmp)
        self._ip(sw, "link", "set", tmp, "netns", ns)
        self._ip(ns, "link", "set", tmp, "name", ROUTER_IFNAME)
        if mac is not None:
            self._ip(ns, "link", "set", ROUTER_IFNAME, "address", mac)
        self._sysctl(ns, {f"net.ipv6.conf.{ROUTER_IFNAME}.accept_dad": "0"})
        self._ip(sw, "link", "set", port, "master", BRIDGE)
        self._ip(sw, "link", "set", port, "up")
        if v4 is not None:
            self._ip(ns, "addr", "add", v4, "dev", ROUTER_IFNAME)
        if v6 is not None:
            self._ip(ns, "-6", "addr", "add", v6, "dev", ROUTER_IFNAME, "nodad")
        self._ip(ns, "link", "set", ROUTER_IFNAME, "up")

        link = self.ip_json(ns, "link", "show", "dev", ROUTER_IFNAME)[0]
        port_link = self.ip_json(sw, "link", "show", "dev", port)[0]
        if link["ifindex"] == port_link["ifindex"]:
            raise RuntimeError(
                f"veth ends of {name} share ifindex {link['ifindex']}: carrier events would lag"
            )
        router = Router(
            name=name,
            ns=ns,
            ifname=ROUTER_IFNAME,
            mac=str(link["address"]),
            ifindex=int(link["ifindex"]),
            bridge_port=port,
            bridge_port_ifindex=int(port_link["ifindex"]),
            v4_cidr=v4,
            v6_cidr=v6,
        )
        router.v6_ll = self.wait_for(
            lambda: self._link_local(router), timeout=5.0, what=f"link-local address on {ns} eth0"
        )
        self.routers[name] = router
        return router

    def _link_local(self, router: Router) -> str | None:
        for iface in self.ip_json(router, "-6", "addr", "show", "dev", router.ifname):
            for addr in iface.get("addr_info", []):
                if addr.get("scope") == "link" and "tentative" not in addr:
                    return str(addr["local"])
        return None

    def delete_link(self, router: Router) -> None:
        """Delete the router's ``eth0`` (and its bridge-side end): the interface is gone."""
        self._ip(self.switch_ns, "link", "del", router.bridge_port)
        self.wait_for(
            lambda: ROUTER_IFNAME not in {i["ifname"] for i in self.ip_json(router, "link")},
            timeout=5.0,
            what=f"{router.ns} eth0 gone",
        )

    def make_link(self, router: Router, *, new_mac: bool = False) -> None:
        """(Re-)create the router's ``eth0`` as ``add_router`` did, with a new ifindex.

        What a VLAN or bond deleted and made again (it keeps its MAC, that of
        its parent), or an interface that appears after the runner started,
        looks like; ``new_mac`` gives it a fresh random MAC instead (the
        peers' neighbour caches then point at the old one for a while). The
        router's addresses (``v4_cidr``, ``v6_cidr``) are put back;
        ``ifindex``, ``mac`` and ``v6_ll`` are updated.
        """
        ns, sw = router.ns, self.switch_ns
        port, tmp = router.bridge_port, f"t-{router.name}"
        self._ip(sw, "link", "add", port, "type", "veth", "peer", "name", tmp)
        self._ip(sw, "link", "set", tmp, "netns", ns)
        self._ip(ns, "link", "set", tmp, "name", ROUTER_IFNAME)
        if not new_mac:
            self._ip(ns, "link", "set", ROUTER_IFNAME, "address", router.mac)
        self._sysctl(ns, {f"net.ipv6.conf.{ROUTER_IFNAME}.accept_dad": "0"})
        self._ip(sw, "link", "set", port, "master", BRIDGE)
        self._ip(sw, "link", "set", port, "up")
        if router.v4_cidr is not None:
            self._ip(ns, "addr", "add", router.v4_cidr, "dev", ROUTER_IFNAME)
        if router.v6_cidr is not None:
            self._ip(ns, "-6", "addr", "add", router.v6_cidr, "dev", ROUTER_IFNAME, "nodad")
        self._ip(ns, "link", "set", ROUTER_IFNAME, "up")
        link = self.ip_json(ns, "link", "show", "dev", ROUTER_IFNAME)[0]
        port_link = self.ip_json(sw, "link", "show", "dev", port)[0]
        router.ifindex, router.mac = int(link["ifindex"]), str(link["address"])
        router.bridge_port_ifindex = int(port_link["ifindex"])
        router.v6_ll = self.wait_for(
            lambda: self._link_local(router), timeout=5.0, what=f"link-local address on {ns} eth0"
        )

    def recreate_link(self, router: Router, *, new_mac: bool = False) -> int:
        """Delete the router's ``eth0`` and make it again; returns the old ifindex."""
        old = router.ifindex
        self.delete_link(router)
        self.make_link(router, new_mac=new_mac)
        if router.ifindex == old:
            raise RuntimeError(f"re-created eth0 of {router.name} kept ifindex {old}")
        return old

    def set_port(self, router: Router, *, up: bool) -> None:
        """Bridge-side veth end up/down: carrier loss (NO-CARRIER) as seen inside ``router``."""
        self._ip(self.switch_ns, "link", "set", router.bridge_port, "up" if up else "down")

    def set_link(self, router: Router, *, up: bool) -> None:
        """The router's own ``eth0`` administratively up/down."""
        self._ip(router.ns, "link", "set", router.ifname, "up" if up else "down")

    # --- commands and processes ---------------------------------------------

    def run(
        self,
        target: Target,
        argv: Sequence[str],
        *,
        check: bool = False,
        timeout: float = 30.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace and wait; output captured as text."""
        return run_cmd(["ip", "netns", "exec", _ns_of(target), *argv], check=check, timeout=timeout)

    def popen(self, target: Target, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside the namespace; stopped at teardown by PID.

        ``ip netns exec`` execs in place, so the PID is the program's own. It gets
        its own session, so teardown can end it with any children it forked by
        signalling that process group. Without ``stdout``/``stderr`` in
        ``kwargs``, both go to a log file (``log_of(proc)``).
        """
        if self._closed:
            raise RuntimeError(f"lab {self.prefix} is closed")
        ns = _ns_of(target)
        log_path: Path | None = None
        if "stdout" not in kwargs and "stderr" not in kwargs:
            log_path = self.tmpdir / f"{ns}-{len(self._procs)}.log"
            kwargs["stdout"] = log_path.open("wb")
            kwargs["stderr"] = subprocess.STDOUT
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("start_new_session", True)
        try:
            proc: subprocess.Popen[Any] = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv], **kwargs
            )
        finally:
            if log_path is not None:
                kwargs["stdout"].close()
        self._procs.append(proc)
        if log_path is not None:
            self._logs[proc.pid] = log_path
        return proc

    def python(
        self,
        target: Target,
        args: Sequence[str],
        *,
        read_only: Sequence[str] = (),
        **kwargs: Any,
    ) -> subprocess.Popen[Any]:
        """This interpreter inside the namespace, with the engine and tests importable.

        ``read_only``: paths bind-mounted read-only for this process alone
        (``/proc/sys/net``: what systemd-nspawn with a private network gives
        its services). ``ip netns exec`` runs it in a mount namespace of its
        own whose changes do not reach the host; :func:`remount` turns them
        writable again. The program is exec'd, so its PID is still ours.
        """
        env = dict(kwargs.pop("env", None) or os.environ)
        paths = [str(REPO_ROOT / "plugins" / "module_utils"), str(REPO_ROOT / "tests")]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env.setdefault("PYTHONUNBUFFERED", "1")
        argv = [sys.executable, *args]
        if read_only:
            mounts = [
                f"mount --bind {q} {q} && mount -o remount,bind,ro {q}"
                for q in map(shlex.quote, read_only)
            ]
            argv = ["sh", "-c", " && ".join([*mounts, 'exec "$@"']), "sh", *argv]
        return self.popen(target, argv, env=env, **kwargs)

    def remount(self, proc: subprocess.Popen[Any], path: str, *, read_only: bool) -> None:
        """Turn a ``python(read_only=...)`` mount of ``proc`` read-only or writable."""
        flag = "ro" if read_only else "rw"
        argv = ["nsenter", "-t", str(proc.pid), "-m", "mount", "-o", f"remount,bind,{flag}", path]
        run_cmd(argv, check=True, timeout=10)

    def log_of(self, proc: subprocess.Popen[Any]) -> str:
        """What a ``popen`` process without explicit stdout/stderr has written so far."""
        path = self._logs.get(proc.pid)
        if path is None:
            raise KeyError(f"process {proc.pid} has no lab log")
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def logs(self) -> dict[str, str]:
        """Every lab log by ``"{argv0} (pid N)"`` (for failure reports)."""
        out: dict[str, str] = {}
        for proc in self._procs:
            if proc.pid in self._logs:
                args = proc.args if isinstance(proc.args, list) else [str(proc.args)]
                label = " ".join(str(a) for a in args[3:6])
                out[f"{label} (pid {proc.pid})"] = self.log_of(proc)
        return out

    def kill(self, proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
        """Signal a lab process and what it forked (its process group, by PID)."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def stop(self, proc: subprocess.Popen[Any], *, timeout: float = _TERM_GRACE_S) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; returns the exit status."""
        self.kill(proc, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc, signal.SIGKILL)
            return proc.wait()

    def _stop_all(self) -> None:
        running = [p for p in self._procs if p.poll() is None]
        for proc in running:
            self.kill(proc, signal.SIGTERM)
        deadline = time.monotonic() + _TERM_GRACE_S
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(proc, signal.SIGKILL)
                proc.wait()
        for proc in self._procs:
            # Children left in the group after their leader exited.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    # --- queries --------------------------------------------------------------

    def ip_json(self, target: Target, *args: str) -> list[dict[str, Any]]:
        """``ip -j ARGS`` inside the namespace, decoded."""
        out = run_cmd(["ip", "-n", _ns_of(target), "-j", *args]).stdout.strip()
        return list(json.loads(out)) if out else []

    def link(self, router: Router) -> dict[str, Any]:
        """``ip -j link show dev eth0`` inside the router."""
        return self.ip_json(router, "link", "show", "dev", router.ifname)[0]

    def addresses(self, router: Router) -> list[str]:
        """Every address on the router's eth0, without prefix length."""
        out: list[str] = []
        for iface in self.ip_json(router, "addr", "show", "dev", router.ifname):
            out.extend(str(a["local"]) for a in iface.get("addr_info", []))
        return out

    def has_address(self, router: Router, address: str) -> bool:
        return address.split("/", maxsplit=1)[0] in self.addresses(router)

    def wait_for(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = 5.0,
        interval: float = 0.01,
        what: str = "condition",
    ) -> T:
        """Poll until ``predicate()`` is truthy and return that value."""
        return wait_for(predicate, timeout=timeout, interval=interval, what=what)

    # --- internals ------------------------------------------------------------

    def _add_ns(self, ns: str) -> None:
        run_cmd(["ip", "netns", "add", ns])
        self._namespaces.append(ns)
        self._ip(ns, "link", "set", "lo", "up")

    def _ip(self, ns: str, *args: str) -> None:
        run_cmd(["ip", "-n", ns, *args])

    def _sysctl(self, ns: str, values: dict[str, str]) -> None:
        argv = ["sysctl", "-q", "-w"] + [f"{k}={v}" for k, v in values.items()]
        self.run(ns, argv, check=True)
