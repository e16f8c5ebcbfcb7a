"""A small rtnetlink transport: stdlib ``AF_NETLINK`` sockets, pyroute2's codec.

Why not ``pyroute2.IPRoute`` itself: since 0.8 its synchronous API drives an
asyncio event loop of its own (``run_until_complete``). Called from a coroutine
or a callback of the runner's loop it raises ``RuntimeError: This event loop is
already running``; 0.7 had a plain blocking socket. The message classes
(``ifinfmsg``, ``ifaddrmsg``) did not change between 0.7.2 and 0.9.7: they
encode byte for byte the same and decode to the same ``get_attr`` answers.
So we keep pyroute2 for what is stable (the codec) and own the socket, which
gives the same behaviour under both releases, inside or outside an event loop,
and a real ``fileno()`` plus a visible ``ENOBUFS`` for the watcher.

Differences found between the releases (for whoever reaches for ``IPRoute``):
``IPRoute`` methods are coroutines wrapped by a private loop in 0.9
(``AsyncIPRoute`` is the native class); ``get_links()`` / ``get_addr()``
return tuples in 0.9 and lists in 0.7; ``msg.get('ifname')`` (short names)
works in both, ``msg.get_attr('IFLA_IFNAME')`` is the spelling used here.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import ipaddress
import os
import socket
import struct
import sys
import traceback
from collections.abc import Sequence
from typing import Any, Final

from .._deps import MissingLibraryError
from ..errors import NetlinkError


def _codec_without_package_init() -> None:
    """Let pyroute2's codec load without running ``pyroute2/__init__.py``.

    That ``__init__`` imports every part of the library (IPRoute, NDB with
    sqlite3, IPDB, nftables, wireless, process pools, ...): 24 MiB of a
    runner's resident memory, where the four message classes below take 4.6.
    The package goes into ``sys.modules`` with its path but bare; it runs its
    ``__init__`` the first time someone asks it for a name it has not got
    (a module ``__getattr__``, PEP 562) that is not one of its submodules, so
    code that wants the whole library still gets it. Nothing happens when
    pyroute2 is imported already or is not installed (the import below then
    fails as before).
    """
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    loader = spec.loader
    package = importlib.util.module_from_spec(spec)

    def whole(name: str) -> Any:
        if importlib.util.find_spec(f"pyroute2.{name}") is not None:
            # ``from pyroute2 import config`` in the codec: a submodule.
            return importlib.import_module(f"pyroute2.{name}")
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        return getattr(package, name)

    package.__dict__["__getattr__"] = whole
    sys.modules["pyroute2"] = package


_codec_without_package_init()

try:
    from pyroute2.netlink.rtnl.fibmsg import fibmsg  # type: ignore[import-untyped]
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # type: ignore[import-untyped]
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # type: ignore[import-untyped]
    from pyroute2.netlink.rtnl.rtmsg import rtmsg  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - exercised by ansible-test's import sanity
    fibmsg = None
    ifaddrmsg = None
    ifinfmsg = None
    rtmsg = None
    PYROUTE2_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    PYROUTE2_IMPORT_ERROR = None

NETLINK_ROUTE: Final = 0
NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
NLM_F_REQUEST: Final = 0x01
NLM_F_MULTI: Final = 0x02
NLM_F_ACK: Final = 0x04
NLM_F_DUMP_INTR: Final = 0x10
NLM_F_REPLACE: Final = 0x100
NLM_F_EXCL: Final = 0x200
NLM_F_CREATE: Final = 0x400
NLM_F_DUMP: Final = 0x300

RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_GETLINK: Final = 18
RTM_SETLINK: Final = 19
RTM_NEWADDR: Final = 20
RTM_DELADDR: Final = 21
RTM_GETADDR: Final = 22
RTM_NEWROUTE: Final = 24
RTM_DELROUTE: Final = 25
RTM_GETROUTE: Final = 26
RTM_NEWRULE: Final = 32
RTM_DELRULE: Final = 33

RTMGRP_LINK: Final = 0x1
RTMGRP_IPV4_IFADDR: Final = 0x10
RTMGRP_IPV6_IFADDR: Final = 0x100

NLMSG_HEADER: Final = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_RCVBUF: Final = 1 << 16
# struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type.
_RTM_TYPE_OFFSET: Final = NLMSG_HEADER.size + 7
# Requests of a batch sent before reading their acknowledgements: each answer
# (an error one carries the request back) takes about a kilobyte of the
# socket's receive buffer (2 x _RCVBUF), and an answer that does not fit is
# lost (ENOBUFS), so a batch goes out in chunks well below that.
BATCH_CHUNK: Final = 32
_DUMP_RETRIES: Final = 5


def require_pyroute2() -> None:
    """Raise :class:`MissingLibraryError` when pyroute2 (the message codec) is missing.

    The guarded import lives here rather than in ``_deps`` because only this
    module touches pyroute2; the error is the same one ``_deps`` raises, so an
    Ansible module answers it with ``missing_required_lib('pyroute2')``.
    """
    if PYROUTE2_IMPORT_ERROR is not None:
        raise MissingLibraryError("pyroute2", PYROUTE2_IMPORT_ERROR)


def new_link_msg() -> Any:
    """An empty ifinfmsg (RTM_*LINK body) to fill and send."""
    require_pyroute2()
    return ifinfmsg()


def new_addr_msg() -> Any:
    """An empty ifaddrmsg (RTM_*ADDR body) to fill and send."""
    require_pyroute2()
    return ifaddrmsg()


def new_route_msg() -> Any:
    """An empty rtmsg (RTM_*ROUTE body) to fill and send."""
    require_pyroute2()
    return rtmsg()


def new_rule_msg() -> Any:
    """An empty fibmsg (RTM_*RULE body) to fill and send."""
    require_pyroute2()
    return fibmsg()


def open_socket(*, groups: int = 0) -> socket.socket:
    """A NETLINK_ROUTE socket, bound to ``groups`` (0: requests only)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        sock.bind((0, groups))
    except OSError:
        sock.close()
        raise
    return sock


def split_messages(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """Cut a netlink buffer into ``(type, flags, seq, whole message)``.

    Stops at the first header that does not fit: a truncated tail is dropped,
    never an exception.
    """
    out = []
    offset = 0
    while offset + NLMSG_HEADER.size <= len(data):
        length, msg_type, flags, seq, _pid = NLMSG_HEADER.unpack_from(data, offset)
        if length < NLMSG_HEADER.size or offset + length > len(data):
            break
        out.append((msg_type, flags, seq, data[offset : offset + length]))
        offset += (length + 3) & ~3
    return out


def error_code(message: bytes) -> int:
    """The errno of an NLMSG_ERROR message (0 for an ACK)."""
    if len(message) < NLMSG_HEADER.size + 4:
        return errno.EPROTO
    (code,) = struct.unpack_from("=i", message, NLMSG_HEADER.size)
    return -int(code)


def decode(msg_type: int, message: bytes) -> Any:
    """Decode an RTM_*LINK / RTM_*ADDR message with pyroute2's classes (or None)."""
    require_pyroute2()
    if msg_type in (RTM_NEWLINK, RTM_DELLINK):
        msg = ifinfmsg(message)
    elif msg_type in (RTM_NEWADDR, RTM_DELADDR):
        msg = ifaddrmsg(message)
    else:
        return None
    msg.decode()
    return msg


class Rtnl:
    """A request/response rtnetlink channel (blocking, with a timeout).

    Requests to rtnetlink are answered synchronously by the kernel, so a call
    takes tens of microseconds and is safe to make from the runner's loop.
    """

    def __init__(self, *, timeout: float = 2.0) -> None:
        require_pyroute2()
        self._sock = open_socket()
        self._sock.settimeout(timeout)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        self._seq = int.from_bytes(os.urandom(2), "big")

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    def _send(self, msg: Any, *, msg_type: int, flags: int) -> int:
        seq = self._next_seq()
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = flags
        msg["header"]["sequence_number"] = seq
        msg.encode()
        try:
            self._sock.send(msg.data)
        except OSError as exc:
            raise NetlinkError(f"netlink send: {errno.errorcode.get(exc.errno or 0, exc)}") from exc
        return seq

    def _recv(self) -> bytes:
        try:
            return self._sock.recv(_RCVBUF)
        except OSError as exc:
            raise NetlinkError(f"netlink receive: {exc}") from exc

    def request(self, msg: Any, *, msg_type: int, flags: int = 0) -> int:
        """Send one request with NLM_F_ACK; return 0 or the kernel's errno.

        Only errors that are part of the caller's logic (EEXIST,
        EADDRNOTAVAIL, ENODEV, ...) come back as a value; the caller decides.
        """
        seq = self._send(msg, msg_type=msg_type, flags=NLM_F_REQUEST | NLM_F_ACK | flags)
        while True:
            for rtype, _flags, rseq, message in split_messages(self._recv()):
                if rseq == seq and rtype == NLMSG_ERROR:
                    return error_code(message)

    def request_many(self, batch: Sequence[tuple[Any, int, int]]) -> list[int | NetlinkError]:
        """Send each ``(msg, msg_type, flags)`` with NLM_F_ACK; the answer of each, in order.

        Up to :data:`BATCH_CHUNK` requests go out before their acknowledgements
        are read (the kernel carries out each one as it is sent). An answer is
        0 or the kernel's errno, as :meth:`request`; a request left without
        one (the socket failed, timed out, or a request was never sent after
        such a failure) gets the :class:`~vrrp.errors.NetlinkError` that
        stopped the batch: the caller must not take it for done, and should
        not use this channel again.
        """
        answers: list[int | NetlinkError] = []
        for start in range(0, len(batch), BATCH_CHUNK):
            sent: list[int] = []
            codes: dict[int, int] = {}
            try:
                for msg, msg_type, flags in batch[start : start + BATCH_CHUNK]:
                    ack = NLM_F_REQUEST | NLM_F_ACK | flags
                    sent.append(self._send(msg, msg_type=msg_type, flags=ack))
                self._read_acks(set(sent), codes)
            except NetlinkError as exc:
                answers += [codes.get(seq, exc) for seq in sent]
                return answers + [exc] * (len(batch) - len(answers))
            answers += [codes[seq] for seq in sent]
        return answers

    def _read_acks(self, waiting: set[int], codes: dict[int, int]) -> None:
        """Read until every request in ``waiting`` has its answer in ``codes``."""
        while waiting:
            for rtype, _flags, rseq, message in split_messages(self._recv()):
                if rtype == NLMSG_ERROR and rseq in waiting:
                    codes[rseq] = error_code(message)
                    waiting.discard(rseq)

    def dump(self, msg: Any, *, msg_type: int) -> list[Any]:
        """A full dump (RTM_GETLINK / RTM_GETADDR), retried when interrupted."""
        for _attempt in range(_DUMP_RETRIES):
            seq = self._send(msg, msg_type=msg_type, flags=NLM_F_REQUEST | NLM_F_DUMP)
            out: list[Any] = []
            interrupted = False
            done = False
            while not done:
                for rtype, rflags, rseq, message in split_messages(self._recv()):
                    if rseq != seq:
                        continue
                    if rflags & NLM_F_DUMP_INTR:
                        interrupted = True
                    if rtype == NLMSG_DONE:
                        done = True
                        break
                    if rtype == NLMSG_ERROR:
                        code = error_code(message)
                        raise NetlinkError(f"netlink dump: {os.strerror(code)}")
                    decoded = decode(rtype, message)
                    if decoded is not None:
                        out.append(decoded)
            if not interrupted:
                return out
        raise NetlinkError(f"netlink dump interrupted {_DUMP_RETRIES} times in a row")

    def links(self) -> list[Any]:
        """Every link of the current network namespace (ifinfmsg)."""
        msg = new_link_msg()
        msg["family"] = socket.AF_UNSPEC
        return self.dump(msg, msg_type=RTM_GETLINK)

    def route_type(self, address: str, *, ifindex: int = 0) -> int | None:
        """The type (``RTN_*``) of the route the kernel takes to ``address``, as
        ``ip route get`` asks it (RTM_GETROUTE); None when there is none.

        ``ifindex`` is the outgoing interface, needed for a link-local address.
        RTN_LOCAL means a packet to ``address`` is delivered to this host.
        """
        ip = ipaddress.ip_address(address)
        msg = new_route_msg()
        msg["family"] = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        msg["dst_len"] = ip.max_prefixlen
        msg["attrs"] = [("RTA_DST", str(ip))]
        if ifindex:
            msg["attrs"].append(("RTA_OIF", ifindex))
        seq = self._send(msg, msg_type=RTM_GETROUTE, flags=NLM_F_REQUEST)
        while True:
            for rtype, _flags, rseq, message in split_messages(self._recv()):
                if rseq != seq:
                    continue
                if rtype == NLMSG_ERROR:
                    return None  # ENETUNREACH and the like: no route
                if rtype == RTM_NEWROUTE and len(message) > _RTM_TYPE_OFFSET:
                    return message[_RTM_TYPE_OFFSET]

    def addresses(self, family: int = socket.AF_UNSPEC) -> list[Any]:
        """Every address of the current network namespace (ifaddrmsg)."""
        msg = new_addr_msg()
        msg["family"] = family
        return self.dump(msg, msg_type=RTM_GETADDR)
