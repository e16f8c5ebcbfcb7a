"""What a LAN peer can make the codec hold: the decoded-address cache.

A router hears the same few address lists again and again, so decoded lists
are cached; a hostile peer sends distinct valid adverts of 255 addresses
instead. The cache must stay small in bytes whatever it is sent, and keep
serving the steady case.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address

import pytest

from vrrp import packet
from vrrp.packet import VRRP_MCAST_V4, VRRP_MCAST_V6, Advertisement, decode, encode

BUDGET = 1 << 20  # bytes the cache may hold, both families together
SRC4, SRC6 = "192.0.2.9", "fe80::9"


def hostile(family: int, count: int, size: int = 255) -> Iterator[bytes]:
    """``count`` distinct valid v3 adverts of ``size`` addresses each."""
    for n in range(count):
        if family == 4:
            base = int(IPv4Address("198.51.100.0")) + n * 256
            addrs: tuple[IPv4Address | IPv6Address, ...] = tuple(
                IPv4Address(base + i) for i in range(size)
            )
            src, dst = SRC4, VRRP_MCAST_V4
        else:
            base = int(IPv6Address("2001:db8::")) + (n << 16)
            addrs = tuple(IPv6Address(base + i) for i in range(size))
            src, dst = SRC6, VRRP_MCAST_V6
        advert = Advertisement(version=3, vrid=1, priority=100, interval_cs=100, addresses=addrs)
        yield encode(advert, src=src, dst=dst)


def held_after(messages: list[tuple[bytes, str, str]]) -> int:
    """Bytes still allocated once every message was decoded and dropped."""
    for cache in packet._ADDRESS_CACHE.values():
        cache.clear()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for message, src, dst in messages:
            decode(message, src=src, dst=dst, ttl=255)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("family", [4, 6])
def test_distinct_hostile_adverts_hold_little_memory(family: int) -> None:
    src, dst = (SRC4, VRRP_MCAST_V4) if family == 4 else (SRC6, VRRP_MCAST_V6)
    messages = [(m, src, dst) for m in hostile(family, 300)]
    held = held_after(messages)
    assert held <= BUDGET, f"{held / 2**20:.1f} MiB held by 300 distinct adverts"


def test_many_small_distinct_adverts_hold_little_memory() -> None:
    messages = [(m, SRC4, VRRP_MCAST_V4) for m in hostile(4, 3000, size=1)]
    messages += [(m, SRC6, VRRP_MCAST_V6) for m in hostile(6, 3000, size=1)]
    assert held_after(messages) <= BUDGET


def test_both_families_together_stay_in_the_budget() -> None:
    messages = [(m, SRC4, VRRP_MCAST_V4) for m in hostile(4, 150)]
    messages += [(m, SRC6, VRRP_MCAST_V6) for m in hostile(6, 150)]
    assert held_after(messages) <= BUDGET


def test_the_steady_case_is_served_from_the_cache() -> None:
    # A few peers sending the same advert: decoded once, then the same tuple.
    adverts = list(hostile(4, 3))
    first = [decode(m, src=SRC4, dst=VRRP_MCAST_V4, ttl=255).addresses for m in adverts]
    for _round in range(3):
        again = [decode(m, src=SRC4, dst=VRRP_MCAST_V4, ttl=255).addresses for m in adverts]
        assert all(a is b for a, b in zip(first, again))
