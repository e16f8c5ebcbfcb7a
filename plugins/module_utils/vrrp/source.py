"""The address an instance advertises from (its primary address).

Pure: the interface's addresses in, one of them out. The runner asks the
kernel for the candidates and calls :func:`primary_address` at start and on
every address change (see ``HostFollower._primary_for`` in :mod:`.follow`).

- A configured ``unicast_source`` is used as it is.
- IPv4: the interface's first address that is not a virtual address.
- IPv6: the link-local address (RFC 9568 §5.1.2.1), for multicast and for
  unicast peers named by link-local addresses. Unicast peers named by global
  (or unique local) addresses get our global address on the interface
  instead, the one sharing the longest prefix with the first such peer
  (RFC 6724 §5 rules 2 and 8: matching scope, then longest matching prefix).
  The peer names us by that address and drops adverts from any other source
  as a stranger's: sending from the link-local address made two such routers
  both Master for good. keepalived sends from the link-local address and
  accepts any source unless ``check_unicast_src`` is set; we keep checking
  the source, so it has to be the address the peer knows.

No fitting address: None, and the runner holds the instance in the
``address`` fault until one appears.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final, Union

IPAddress = Union[IPv4Address, IPv6Address]
# The source of an instance that has none yet, and the address its socket binds to.
UNSPECIFIED: Final = {4: ip_address("0.0.0.0"), 6: ip_address("::")}  # noqa: S104

# The runner asks at every address change, for every instance on the
# interface, over all its addresses (VIPs included: hundreds on a big host):
# the few distinct addresses are parsed once.
_parse = lru_cache(maxsize=4096)(ip_address)


def _common_prefix_length(a: IPAddress, b: IPAddress) -> int:
    return a.max_prefixlen - (int(a) ^ int(b)).bit_length()


def global_peer(peers: Iterable[IPAddress]) -> IPAddress | None:
    """The first IPv6 unicast peer that is not link-local, if any."""
    return next((p for p in peers if p.version == 6 and not p.is_link_local), None)


def primary_address(
    *,
    candidates: Sequence[str],
    version: int,
    virtual_addresses: frozenset[IPAddress],
    unicast_source: IPAddress | None,
    unicast_peers: Sequence[IPAddress],
) -> str | None:
    """The source of an instance's adverts among ``candidates`` (see the module doc).

    ``candidates`` are the interface's addresses in the kernel's order; the
    first fitting one wins, or for a global peer the one sharing the longest
    prefix with it (the first of equals).
    """
    if unicast_source is not None:
        return str(unicast_source)
    peer = global_peer(unicast_peers) if version == 6 else None
    best: str | None = None
    best_length = -1
    for text in candidates:
        ip = _parse(text)
        if ip.version != version or ip in virtual_addresses:
            continue
        if peer is None:
            if version == 4 or ip.is_link_local:
                return text
            continue
        if ip.is_link_local or ip.is_multicast:
            continue
        length = _common_prefix_length(ip, peer)
        if length > best_length:
            best, best_length = text, length
    return best
