"""A fake rtnetlink for address requests: a table of addresses, answers as the kernel's.

Each request is answered as the kernel does (0, EEXIST, EADDRNOTAVAIL, EPERM
for an address in ``refuse``; a route lookup: local for an address in the
table, once ``late`` lookups of it have found it not local yet), several
answers per read; a send or receive can be made to fail at any point
(``fail_send_at`` / ``fail_recv_at``: the count of socket operations across
every socket of the kernel).
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from vrrp.linux import netlink

INDEXES = {"eth0": 2, "eth1": 3}


class FakeRtnetlink:
    """One request/ack netlink socket onto a shared table of addresses."""

    def __init__(self, kernel: FakeKernel) -> None:
        self.kernel = kernel
        self.queue: list[bytes] = []
        self.closed = False
        self.max_pending = 0

    def settimeout(self, timeout: float) -> None:
        pass

    def setsockopt(self, *args: Any) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def send(self, data: bytes) -> int:
        if self.closed:
            raise OSError(errno.EBADF, "closed")
        self.kernel.ops += 1
        if self.kernel.ops == self.kernel.fail_send_at:
            raise OSError(errno.ENOBUFS, "No buffer space available")
        _length, msg_type, _flags, seq, _pid = netlink.NLMSG_HEADER.unpack_from(data)
        if msg_type == netlink.RTM_GETROUTE:
            return self._route(data, seq)
        msg = netlink.decode(msg_type, data)
        key = (int(msg["index"]), msg.get_attr("IFA_LOCAL"), int(msg["prefixlen"]))
        code = 0
        if key[1] in self.kernel.refuse:
            code = errno.EPERM
        elif msg_type == netlink.RTM_NEWADDR:
            if key in self.kernel.table:
                code = errno.EEXIST
            else:
                self.kernel.table.add(key)
        elif key in self.kernel.table:
            self.kernel.table.discard(key)
        else:
            code = errno.EADDRNOTAVAIL
        body = struct.pack("=i", -code) + data[:16]
        self.queue.append(
            struct.pack("=IHHII", 16 + len(body), netlink.NLMSG_ERROR, 0, seq, 0) + body
        )
        self.max_pending = max(self.max_pending, len(self.queue))
        return len(data)

    def _route(self, data: bytes, seq: int) -> int:
        """``ip route get``: local (RTN_LOCAL) for an address in the table, else unicast."""
        msg = netlink.rtmsg(data)
        msg.decode()
        dst = msg.get_attr("RTA_DST")
        here = any(ip == dst for _index, ip, _length in self.kernel.table)
        if here and self.kernel.late.get(dst, 0) > 0:  # its DAD work has not run yet
            self.kernel.late[dst] -= 1
            here = False
        self.kernel.route_lookups.append(dst)
        rtmsg = struct.pack("=BBBBBBBBI", msg["family"], msg["dst_len"], 0, 0, 254, 0, 0,
                            2 if here else 1, 0)  # fmt: skip
        self.queue.append(
            struct.pack("=IHHII", 16 + len(rtmsg), netlink.RTM_NEWROUTE, 0, seq, 0) + rtmsg
        )
        return len(data)

    def recv(self, size: int) -> bytes:
        self.kernel.ops += 1
        if self.kernel.ops == self.kernel.fail_recv_at or not self.queue:
            raise OSError(errno.EAGAIN, "timed out")
        # Several answers in one read, as the kernel gives them.
        out, self.queue = b"".join(self.queue[:3]), self.queue[3:]
        return out


class FakeKernel:
    def __init__(self) -> None:
        self.table: set[tuple[int, str, int]] = set()
        self.refuse: set[str] = set()
        self.route_lookups: list[str] = []  # RTM_GETROUTE destinations, in order
        self.late: dict[str, int] = {}  # address: lookups that find it not local yet
        self.sockets: list[FakeRtnetlink] = []
        self.ops = 0
        self.fail_send_at = -1
        self.fail_recv_at = -1

    def open(self, *, groups: int = 0) -> FakeRtnetlink:
        sock = FakeRtnetlink(self)
        self.sockets.append(sock)
        return sock
