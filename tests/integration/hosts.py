"""Lab hosts that boot a real systemd, reached over SSH the way Ansible reaches hosts.

Layout of one ``HostLab`` with prefix ``P`` (built on ``lab.Lab``)::

    netns P-sw:   br0 ─┬─ p-ctl ── netns P-ctl: eth0 192.0.2.2   the controller
                       ├─ p-r1  ── netns P-r1:  eth0 192.0.2.11  ← systemd-nspawn --boot
                       └─ p-r2  ── netns P-r2:  eth0 192.0.2.12  ← systemd-nspawn --boot

Each host is ``systemd-nspawn --boot`` (systemd as PID 1) joined to its router
namespace with ``--network-namespace-path``. Its root is an overlayfs over the
cached Debian tree (``integration.rootfs``): the tree stays read-only, and each
host writes only to its own upper directory. There is no systemd on the machine
running the lab, so nspawn runs with ``--register=no --keep-unit`` (no machined,
no scope unit) and reports readiness over our own ``NOTIFY_SOCKET``
(``--notify-ready=yes``: READY=1 when the container's systemd finished booting).

The controller namespace runs ``ssh`` and ``ansible-playbook`` with a key the
lab generates; every host has a fresh ed25519 host key written before it boots,
which the controller's ``known_hosts`` carries: SSH checks host keys strictly.

Teardown, also on failure (context manager, plus ``lab.Lab``'s atexit/SIGTERM
hooks for the namespaces): SIGTERM to each nspawn (it asks the container's
systemd to power off), SIGKILL to the container's init after a grace period,
overlays unmounted, namespaces deleted, work directory removed. ``sweep_hosts``
does the same for what a crashed run with the same prefix left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from integration.rootfs import CACHE_DIR, REPO_MOUNT, repo_of
from lab import REPO_ROOT, Lab, Router, sweep
from lab.netns import ensure_tool, wait_for

WORK_ROOT: Final = Path(os.environ.get("FAILOVER_VRRP_LAB_WORK", "/var/tmp/failover-vrrp-lab"))
CONTROLLER_V4: Final = "192.0.2.2/24"
BOOT_TIMEOUT_S: Final = 60.0
POWEROFF_GRACE_S: Final = 20.0
VENV_BIN: Final = REPO_ROOT / ".venv" / "bin"

_TASK_RE: Final = re.compile(r"^TASK \[(?P<task>.*)\] \*+$")
_RESULT_RE: Final = re.compile(
    r"^(?P<status>ok|changed|skipping|failed|fatal): \[(?P<host>[^\]]+)\]"
)
_RECAP_RE: Final = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)\s+"
    r"skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.MULTILINE,
)


@dataclass
class Host:
    """One booted lab host: a router namespace with a systemd container in it."""

    name: str
    router: Router
    machine: str
    workdir: Path
    tree: Path = field(default=Path("/"), repr=False)  # the cached tree under its overlay
    nspawn: subprocess.Popen[bytes] | None = None
    init_pid: int | None = None
    boot_seconds: float | None = None
    ssh_seconds: float | None = None
    host_key: str = ""
    notify: socket.socket | None = field(default=None, repr=False)
    started: float = field(default=0.0, repr=False)

    @property
    def address(self) -> str:
        if self.router.v4 is None:
            raise ValueError(f"host {self.name} has no IPv4 address")
        return self.router.v4

    @property
    def root(self) -> Path:
        return self.workdir / "merged"

    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"


@dataclass
class PlaybookRun:
    """One ``ansible-playbook`` run: exit status, output, per-host recap, wall time."""

    returncode: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    def changed(self) -> int:
        return sum(counts["changed"] for counts in self.recap.values())

    def failed(self) -> int:
        return sum(counts["failed"] + counts["unreachable"] for counts in self.recap.values())

    def warnings(self) -> list[str]:
        """Ansible's ``[WARNING]`` and ``[DEPRECATION WARNING]`` lines: what a user would see."""
        return [line for line in self.output.splitlines() if "WARNING]" in line]


@dataclass
class AdhocRun:
    """One ad hoc ``ansible`` run: exit status, output, each host's status and result."""

    returncode: int
    output: str
    seconds: float
    status: dict[str, str] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


_ADHOC_RE: Final = re.compile(
    r"^(?P<host>\S+) \| (?P<status>SUCCESS|CHANGED|FAILED!|UNREACHABLE!)(?: \| rc=-?\d+)? => ",
    re.MULTILINE,
)


def parse_adhoc(output: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The ``HOST | STATUS => {json}`` results of ad hoc ``ansible`` output, by host."""
    decoder = json.JSONDecoder()
    status: dict[str, str] = {}
    results: dict[str, dict[str, Any]] = {}
    for match in _ADHOC_RE.finditer(output):
        with contextlib.suppress(ValueError):
            result, _end = decoder.raw_decode(output, match.end())
            if isinstance(result, dict):
                status[match.group("host")] = match.group("status").rstrip("!")
                results[match.group("host")] = result
    return status, results


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP lines of ``ansible-playbook`` output, by host."""
    recap: dict[str, dict[str, int]] = {}
    tail = output.rsplit("PLAY RECAP", 1)[-1] if "PLAY RECAP" in output else ""
    for match in _RECAP_RE.finditer(tail):
        counts = {k: int(v) for k, v in match.groupdict().items() if k != "host"}
        recap[match.group("host")] = counts
    return recap


class HostLab:
    """A lab of systemd hosts and one controller, torn down on exit."""

    def __init__(
        self,
        *,
        prefix: str,
        rootfs: Path | Sequence[Path],
        collections_path: Path | None = None,
    ) -> None:
        """``rootfs``: the cached tree every host boots, or one tree per host in the
        order they are added, cycling (a mixed lab: ``LabTrees.paths``).
        ``collections_path``: where the collection was installed from its tarball
        (``integration.installed``); ``None`` runs the checkout through a link."""
        self.prefix = prefix
        self.trees: tuple[Path, ...] = (rootfs,) if isinstance(rootfs, Path) else tuple(rootfs)
        if not self.trees:
            raise ValueError("HostLab needs at least one rootfs tree")
        self.collections_path = collections_path
        self.lab = Lab(prefix=prefix)
        self.workdir = WORK_ROOT / prefix
        self.hosts: dict[str, Host] = {}
        self.controller: Router | None = None
        self._closed = False

    # --- lifecycle ------------------------------------------------------------

    def __enter__(self) -> HostLab:
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
        ensure_tool("systemd-nspawn", "systemd-container")
        ensure_tool("ssh", "openssh-client")
        sweep_stale()
        sweep_hosts(self.prefix)
        self.workdir.mkdir(parents=True, mode=0o700)
        (self.workdir / "owner.pid").write_text(f"{os.getpid()}\n")
        self.lab.open()
        self.controller = self.lab.add_router("ctl", v4=CONTROLLER_V4)
        key = self.workdir / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lab-{self.prefix}",
             "-f", str(key)],
            check=True, capture_output=True,
        )  # fmt: skip
        (self.workdir / "known_hosts").touch(mode=0o600)
        if self.collections_path is None:
            collections = self.workdir / "collections" / "ansible_collections" / "failover"
            collections.mkdir(parents=True)
            (collections / "vrrp").symlink_to(REPO_ROOT)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._poweroff(list(self.hosts.values()))
        finally:
            for host in self.hosts.values():
                _unmount(host.root)
            self.lab.close()
            sweep_hosts(self.prefix)

    # --- hosts ------------------------------------------------------------------

    def add_hosts(self, spec: Mapping[str, str]) -> list[Host]:
        """Create and boot hosts ``{name: "192.0.2.11/24"}`` side by side; return them."""
        hosts = [self._prepare(name, v4) for name, v4 in spec.items()]
        for host in hosts:
            self._start(host)
        for host in hosts:
            self._wait_booted(host)
        for host in hosts:
            self._wait_ssh(host)
        return hosts

    def _prepare(self, name: str, v4: str) -> Host:
        router = self.lab.add_router(name, v4=v4)
        host = Host(
            name=name,
            router=router,
            machine=f"{self.prefix}-{name}",
            workdir=self.workdir / "hosts" / name,
            tree=self.trees[len(self.hosts) % len(self.trees)],
        )
        self.hosts[name] = host
        upper, work = host.workdir / "upper", host.workdir / "work"
        for path in (upper, work, host.root):
            path.mkdir(parents=True)
        subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={host.tree},upperdir={upper},workdir={work}", str(host.root)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        root = host.root
        (root / "etc" / "hostname").write_text(name + "\n")
        ssh_dir = root / "root" / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        pub = (self.workdir / "id_ed25519.pub").read_text()
        (ssh_dir / "authorized_keys").write_text(pub)
        os.chmod(ssh_dir / "authorized_keys", 0o600)
        host_key = root / "etc" / "ssh" / "ssh_host_ed25519_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}",
             "-f", str(host_key)],
            check=True, capture_output=True,
        )  # fmt: skip
        host.host_key = " ".join(host_key.with_suffix(".pub").read_text().split()[:2])
        with (self.workdir / "known_hosts").open("a") as known:
            known.write(f"{host.address} {host.host_key}\n")
        return host

    def _start(self, host: Host) -> None:
        notify_path = host.workdir / "notify.sock"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        notify.bind(str(notify_path))
        # /proc/sys/net writable as on a real host: nspawn leaves it read-only
        # with --network-namespace-path; Debian 12's systemd hid that (its
        # ProtectKernelTunables= mounts a fresh procfs), Debian 13's binds the
        # container's, so a VMAC's sysctls failed there (EROFS).
        host_env = dict(
            os.environ, NOTIFY_SOCKET=str(notify_path), SYSTEMD_NSPAWN_API_VFS_WRITABLE="network"
        )
        argv = [
            "systemd-nspawn",
            "--quiet",
            "--boot",
            f"--directory={host.root}",
            f"--machine={host.machine}",
            f"--hostname={host.name}",
            f"--network-namespace-path=/run/netns/{host.router.ns}",
            # No systemd on the machine that runs the lab: no machined to
            # register with, no manager to ask for a scope unit.
            "--register=no",
            "--keep-unit",
            "--private-users=no",
            # nspawn 252 drops CAP_NET_ADMIN for a namespace it did not make.
            "--capability=CAP_NET_ADMIN",
            "--notify-ready=yes",
            "--console=read-only",
            "--link-journal=no",
            "--resolv-conf=off",
            "--timezone=off",
        ]
        repo = repo_of(host.tree)
        if repo.is_dir():
            # The local apt repository (the engine's dependencies): the host's only source.
            argv.append(f"--bind-ro={repo}:{REPO_MOUNT}")
        started = time.monotonic()
        with host.console_log.open("wb") as log:
            host.nspawn = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=host_env,
                start_new_session=True,
            )
        host.notify, host.started = notify, started

    def _wait_booted(self, host: Host) -> None:
        notify, started = host.notify, host.started
        if notify is None:
            raise RuntimeError(f"{host.name} was not started")
        deadline = started + BOOT_TIMEOUT_S
        try:
            while True:
                if host.nspawn is not None and host.nspawn.poll() is not None:
                    raise RuntimeError(
                        f"nspawn of {host.name} exited ({host.nspawn.returncode}):\n"
                        + self.console(host)[-3000:]
                    )
                notify.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
                with contextlib.suppress(TimeoutError):
                    message = notify.recv(4096).decode(errors="replace")
                    if "READY=1" in message.split("\n"):
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{host.name} did not finish booting within {BOOT_TIMEOUT_S:g} s:\n"
                        + self.console(host)[-3000:]
                    )
        finally:
            notify.close()
            host.notify = None
        host.boot_seconds = time.monotonic() - started
        host.init_pid = _container_init(host)

    def _wait_ssh(self, host: Host) -> None:
        started = time.monotonic()
        wait_for(
            lambda: self.ssh(host, ["true"], timeout=10).returncode == 0,
            timeout=30.0,
            interval=0.2,
            what=f"ssh root@{host.address} ({host.name})",
        )
        host.ssh_seconds = time.monotonic() - started

    def console(self, host: Host) -> str:
        try:
            return host.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _poweroff(self, hosts: Sequence[Host]) -> None:
        running = [h for h in hosts if h.nspawn is not None and h.nspawn.poll() is None]
        for host in running:
            if host.nspawn is not None:
                # nspawn turns SIGTERM into SIGRTMIN+3 for the container's systemd: poweroff.
                with contextlib.suppress(ProcessLookupError):
                    host.nspawn.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + POWEROFF_GRACE_S
        for host in running:
            if host.nspawn is None:
                continue
            try:
                host.nspawn.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Killing a PID namespace's init kills every process in it.
                if host.init_pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(host.init_pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    host.nspawn.kill()
                host.nspawn.wait(timeout=10)

    def poweroff(self, host: Host) -> None:
        """Shut one host down (orderly, then by force)."""
        self._poweroff([host])

    # --- reaching the hosts -------------------------------------------------------

    def ssh_argv(self, host: Host) -> list[str]:
        return [
            "ssh",
            "-i", str(self.workdir / "id_ed25519"),
            "-o", f"UserKnownHostsFile={self.workdir / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5",
            "-o", "LogLevel=ERROR",
            f"root@{host.address}",
        ]  # fmt: skip

    def ssh(
        self, host: Host, argv: Sequence[str], *, timeout: float = 60.0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on ``host`` over SSH from the controller namespace."""
        if self.controller is None:
            raise RuntimeError("lab is not open")
        command = " ".join(shlex.quote(a) for a in argv)
        try:
            return self.lab.run(
                self.controller, [*self.ssh_argv(host), command], check=check, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, 255, "", f"timed out after {timeout} s")

    def write_inventory(
        self,
        *,
        host_vars: Mapping[str, Mapping[str, Any]] | None = None,
        group_vars: Mapping[str, Any] | None = None,
        user: str = "root",
    ) -> Path:
        """An INI inventory of every host (group ``routers``) with the SSH settings.

        ``group_vars`` are scalars set for the group (what a user keeps in
        group_vars); ``user`` is the SSH login (see :meth:`add_sudo_user`).
        """
        ssh_args = (
            f"-o UserKnownHostsFile={self.workdir / 'known_hosts'} -o StrictHostKeyChecking=yes"
        )
        lines = ["[routers]"]
        for host in self.hosts.values():
            extra = " ".join(
                f"{k}={v}" for k, v in sorted((host_vars or {}).get(host.name, {}).items())
            )
            lines.append(f"{host.name} ansible_host={host.address} {extra}".rstrip())
        lines += [
            "",
            "[routers:vars]",
            *(f"{k}={v}" for k, v in sorted((group_vars or {}).items())),
            f"ansible_user={user}",
            f"ansible_ssh_private_key_file={self.workdir / 'id_ed25519'}",
            f"ansible_ssh_common_args='{ssh_args}'",
            "ansible_python_interpreter=/usr/bin/python3",
        ]
        path = self.workdir / "inventory.ini"
        path.write_text("\n".join(lines) + "\n")
        return path

    def ansible_env(self) -> dict[str, str]:
        home = self.workdir / "ansible"
        home.mkdir(exist_ok=True)
        config = self.workdir / "ansible.cfg"  # none of the machine's or the user's
        config.write_text("[defaults]\nforks = 10\n")
        return dict(
            os.environ,
            PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            ANSIBLE_HOME=str(home),
            ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
            **self._collection_env(),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_SSH_CONTROL_PATH_DIR=str(home / "cp"),
            ANSIBLE_PIPELINING="1",
            ANSIBLE_CONFIG=str(config),
        )

    def _collection_env(self) -> dict[str, str]:
        """Where Ansible finds failover.vrrp: only the installed tarball, or the checkout."""
        if self.collections_path is not None:
            # Nothing from the checkout: no roles path, no collections on sys.path.
            return {
                "ANSIBLE_COLLECTIONS_PATH": str(self.collections_path),
                "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
                "ANSIBLE_ROLES_PATH": str(self.workdir / "no-roles"),
            }
        return {
            "ANSIBLE_COLLECTIONS_PATH": str(self.workdir / "collections"),
            "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
        }

    def playbook(
        self,
        playbook: Path | str,
        *,
        extra_vars: Mapping[str, Any] | None = None,
        args: Iterable[str] = (),
        timeout: float = 900.0,
    ) -> PlaybookRun:
        """``ansible-playbook`` from the controller namespace against every host.

        ``playbook``: a path, or a collection playbook by FQCN (``failover.vrrp.ha_pair``).
        """
        argv = self.playbook_argv(playbook, extra_vars=extra_vars)
        proc, seconds = self._controller_run([*argv, *args], timeout)
        return PlaybookRun(
            returncode=proc.returncode,
            output=proc.stdout + proc.stderr,
            seconds=seconds,
            recap=parse_recap(proc.stdout),
        )

    def playbook_argv(
        self, playbook: Path | str, *, extra_vars: Mapping[str, Any] | None = None
    ) -> list[str]:
        """The ``ansible-playbook`` command line against the lab's inventory."""
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(self._inventory()), str(playbook)]
        if extra_vars:
            argv += ["--extra-vars", json.dumps(dict(extra_vars))]
        return argv

    def in_controller(self, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run in the controller namespace (with :meth:`ansible_env`)."""
        if self.controller is None:
            raise RuntimeError("lab is not open")
        return ["ip", "netns", "exec", self.controller.ns, *argv]

    def _inventory(self) -> Path:
        inventory = self.workdir / "inventory.ini"
        if not inventory.exists():
            self.write_inventory()
        return inventory

    def _controller_run(
        self, argv: Sequence[str], timeout: float
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        """``argv`` in the controller namespace with the lab's Ansible settings, timed."""
        started = time.monotonic()
        proc = subprocess.run(
            self.in_controller(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.ansible_env(),
            check=False,
        )
        return proc, time.monotonic() - started

    def adhoc(
        self,
        pattern: str,
        module: str,
        args: Mapping[str, Any] | None = None,
        *,
        options: Iterable[str] = (),
        timeout: float = 300.0,
    ) -> AdhocRun:
        """Ad hoc ``ansible PATTERN -m MODULE -a JSON`` from the controller namespace."""
        argv = [str(VENV_BIN / "ansible"), "-i", str(self._inventory()), pattern, "-m", module]
        if args:
            argv += ["-a", json.dumps(dict(args))]
        proc, seconds = self._controller_run([*argv, *options], timeout)
        status, results = parse_adhoc(proc.stdout)
        return AdhocRun(
            returncode=proc.returncode,
            output=proc.stdout + proc.stderr,
            seconds=seconds,
            status=status,
            results=results,
        )

    def on(self, host: Host, *argv: str, check: bool = True) -> str:
        """``argv`` on ``host`` over SSH; its stdout (a failure raises with the output)."""
        proc = self.ssh(host, list(argv))
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{host.name}: {' '.join(argv)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc.stdout

    def add_sudo_user(self, user: str = "lab") -> None:
        """On every host, a login ``user`` (the lab's key) with password-less sudo.

        The cached tree has no sudo: its Debian 12 package (this machine's
        mirror, cached beside the tree) is installed into each host's overlay.
        """
        deb = ensure_deb("sudo")
        script = (
            f"dpkg -i /var/tmp/{deb.name} >/dev/null && rm /var/tmp/{deb.name}"
            f" && useradd --create-home --shell /bin/bash {user}"
            f" && install -d -m 0700 -o {user} -g {user} /home/{user}/.ssh"
            f" && install -m 0600 -o {user} -g {user} /root/.ssh/authorized_keys /home/{user}/.ssh/"
            f" && echo '{user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{user}"
            f" && chmod 0440 /etc/sudoers.d/{user}"
        )
        for host in self.hosts.values():
            shutil.copy(deb, host.root / "var" / "tmp" / deb.name)
            self.on(host, "sh", "-c", script)

    def runner_state(self, host: Host) -> dict[str, Any]:
        """The runner's ``state`` answer on ``host`` (the role's ``failover-vrrp-ctl``)."""
        return dict(json.loads(self.on(host, "failover-vrrp-ctl", "state", "--json")))


def ensure_deb(package: str) -> Path:
    """``package``'s .deb from this machine's apt sources, cached under the lab's cache."""
    debs = CACHE_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        subprocess.run(
            ["apt-get", "download", "-q", package],
            cwd=debs, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        raise RuntimeError(f"apt-get download {package} left no .deb in {debs}")
    return found[-1]


def task_events(output: str) -> list[tuple[str, str, str]]:
    """``(task, host, status)`` for every task result line of a playbook's output."""
    found: list[tuple[str, str, str]] = []
    task = ""
    for line in output.splitlines():
        if m := _TASK_RE.match(line):
            task = m.group("task")
        elif m := _RESULT_RE.match(line):
            found.append((task, m.group("host"), m.group("status")))
    return found


def _container_init(host: Host) -> int | None:
    """The host PID of the container's PID 1: nspawn's child once the container runs."""
    if host.nspawn is None:
        return None
    pid = host.nspawn.pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return None
    for child in children:
        with contextlib.suppress(FileNotFoundError):
            if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                return int(child)
    return None


def _mounts_under(path: Path) -> list[Path]:
    prefix = str(path).rstrip("/") + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4].replace("\\040", " ")
        if target.startswith(prefix) or target == str(path):
            found.append(Path(target))
    return sorted(found, key=lambda p: len(str(p)), reverse=True)


def _unmount(path: Path) -> None:
    for target in _mounts_under(path):
        proc = subprocess.run(["umount", str(target)], capture_output=True, check=False)
        if proc.returncode != 0:
            subprocess.run(["umount", "--lazy", str(target)], capture_output=True, check=False)


def sweep_hosts(prefix: str) -> None:
    """Remove what a run with ``prefix`` left: containers, overlays, namespaces, files.

    The containers' processes all live in the lab's namespaces, so deleting those
    (``lab.sweep``, which kills what runs inside first) ends them, and nspawn
    with them.
    """
    sweep(prefix)
    workdir = WORK_ROOT / prefix
    # nspawn itself runs in the root namespace; it exits once its container's
    # init is gone. Wait for that, then make sure by PID.
    pids = _nspawn_pids(workdir)
    deadline = time.monotonic() + 5.0
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = [pid for pid in pids if _alive(pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _unmount(workdir)
    if not _mounts_under(workdir):
        shutil.rmtree(workdir, ignore_errors=True)


def _nspawn_pids(workdir: Path) -> list[int]:
    """PIDs of the systemd-nspawn processes that boot a tree under ``workdir``."""
    marker = f"--directory={workdir}/".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"systemd-nspawn") and any(a.startswith(marker) for a in argv):
            pids.append(int(proc.name))
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Sweep the labs of runs that died without tearing down (their owner PID is gone).

    Returns the prefixes swept. A killed test run leaves its containers running
    in its namespaces and its overlays mounted; the next run cleans them up.
    """
    swept: list[str] = []
    if not WORK_ROOT.is_dir():
        return swept
    for workdir in sorted(WORK_ROOT.iterdir()):
        try:
            owner = int((workdir / "owner.pid").read_text())
        except (FileNotFoundError, ValueError):
            owner = 0
        if owner and _alive(owner):
            continue
        sweep_hosts(workdir.name)
        swept.append(workdir.name)
    return swept
