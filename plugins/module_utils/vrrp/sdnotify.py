"""systemd's notify protocol (sd_notify(3)), without libsystemd.

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET``: a filesystem path or,
starting with ``@``, a Linux abstract socket name. Each message is one
datagram of ``KEY=VALUE`` lines. Outside systemd every call is a cheap no-op
returning False, so the runner calls these unconditionally.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("failover-vrrp.sdnotify")


def _address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]  # abstract namespace: leading NUL, no file
    if value.startswith("/"):
        return value
    return None  # vsock:… and other transports are not ours to speak


def notify(message: str) -> bool:
    """Send ``message`` to ``$NOTIFY_SOCKET``; False when not under systemd or on error."""
    target = os.environ.get("NOTIFY_SOCKET", "")
    if not target:
        return False
    address = _address(target)
    if address is None:
        log.debug("NOTIFY_SOCKET %r: unsupported address", target)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.debug("sd_notify to %s failed: %s", target, exc)
        return False
    return True


def _one_line(text: str) -> str:
    return " ".join(text.split())


def ready(status: str | None = None) -> bool:
    """Startup finished (``READY=1``), with an optional status line."""
    message = "READY=1"
    if status:
        message += f"\nSTATUS={_one_line(status)}"
    return notify(message)


def status(text: str) -> bool:
    """A one-line status shown by ``systemctl status``."""
    return notify(f"STATUS={_one_line(text)}")


def watchdog() -> bool:
    """Keep-alive for ``WatchdogSec=``."""
    return notify("WATCHDOG=1")


def stopping() -> bool:
    """Shutdown began (``STOPPING=1``)."""
    return notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """The watchdog period in seconds, or None when no watchdog is asked of us.

    From ``WATCHDOG_USEC``; if ``WATCHDOG_PID`` is set it must be our pid
    (sd_watchdog_enabled(3)). Ping at half this period.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid is not None:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    return value / 1_000_000
