"""Instance.wire(): the messages of an advert, encoded once and reused until it changes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

import pytest

from vrrp import instance as instance_module
from vrrp.config import load_config
from vrrp.errors import PacketError
from vrrp.instance import Instance
from vrrp.packet import (
    CHECKSUM_PSEUDO_HEADER,
    CHECKSUM_RFC9568,
    VRRP_MCAST_V4,
    VRRP_MCAST_V6,
    Advertisement,
    decode,
    encode,
)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def make(loop: asyncio.AbstractEventLoop, primary: str, **fields: Any) -> Instance:
    obj = {"name": "a", "interface": "eth0", "vrid": 7, "virtual_addresses": ["192.0.2.100"]}
    obj.update(fields)
    cfg = load_config({"instances": [obj]}).instances[0]
    return Instance(
        cfg=cfg,
        primary=ip_address(primary),
        loop=loop,
        io=None,
        feed=lambda i, e: None,  # type: ignore[arg-type]
    )


def count_encodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def counting(advert: Advertisement, *, src: str, dst: str, checksum_form: str | None) -> bytes:
        calls.append(dst)
        return encode(advert, src=src, dst=dst, checksum_form=checksum_form)

    monkeypatch.setattr(instance_module, "encode", counting)
    return calls


def test_multicast_v3_ipv4_uses_the_pseudo_header_form(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = make(loop, "192.0.2.11")
    calls = count_encodes(monkeypatch)
    advert = inst.router.advertisement()
    src, messages = inst.wire(advert)
    assert src == "192.0.2.11"
    assert [dst for dst, _m in messages] == [VRRP_MCAST_V4]
    expected = encode(advert, src=src, dst=VRRP_MCAST_V4, checksum_form=CHECKSUM_PSEUDO_HEADER)
    assert messages[0][1] == expected
    heard = decode(messages[0][1], src=src, dst=VRRP_MCAST_V4, ttl=255)
    assert heard.checksum_form == CHECKSUM_PSEUDO_HEADER
    # The same advert again: the same messages, not encoded again.
    assert inst.wire(dataclasses.replace(advert)) == (src, messages)
    assert calls == [VRRP_MCAST_V4]


def test_a_changed_advert_or_source_is_encoded_again(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = make(loop, "192.0.2.11")
    calls = count_encodes(monkeypatch)
    advert = inst.router.advertisement()
    first = inst.wire(advert)
    zero = dataclasses.replace(advert, priority=0)
    src, messages = inst.wire(zero)
    assert decode(messages[0][1], src=src, dst=VRRP_MCAST_V4, ttl=255).priority == 0
    inst.router.params = dataclasses.replace(
        inst.router.params, primary_address=ip_address("192.0.2.12")
    )
    src, messages = inst.wire(zero)
    assert src == "192.0.2.12"
    assert messages[0][1] == encode(
        zero, src="192.0.2.12", dst=VRRP_MCAST_V4, checksum_form=CHECKSUM_PSEUDO_HEADER
    )
    assert len(calls) == 3
    assert inst.wire(advert) != first  # the source changed since
    assert len(calls) == 4


def test_unicast_peers_and_configured_form(loop: asyncio.AbstractEventLoop) -> None:
    inst = make(
        loop,
        "192.0.2.11",
        unicast_peers=["192.0.2.12", "192.0.2.13"],
        checksum_form=CHECKSUM_RFC9568,
    )
    advert = inst.router.advertisement()
    src, messages = inst.wire(advert)
    assert [dst for dst, _m in messages] == ["192.0.2.12", "192.0.2.13"]
    for dst, message in messages:
        assert message == encode(advert, src=src, dst=dst, checksum_form=CHECKSUM_RFC9568)


def test_ipv6_goes_to_the_ipv6_group(loop: asyncio.AbstractEventLoop) -> None:
    inst = make(loop, "fe80::1", virtual_addresses=["fe80::100", "2001:db8::100"])
    advert = inst.router.advertisement()
    src, messages = inst.wire(advert)
    assert (src, [dst for dst, _m in messages]) == ("fe80::1", [VRRP_MCAST_V6])
    assert decode(messages[0][1], src=src, dst=VRRP_MCAST_V6, ttl=255) == dataclasses.replace(
        advert, checksum_form=CHECKSUM_RFC9568
    )


def test_an_advert_that_cannot_be_encoded_is_not_cached(loop: asyncio.AbstractEventLoop) -> None:
    inst = make(loop, "192.0.2.11")
    good = inst.router.advertisement()
    inst.wire(good)
    bad = dataclasses.replace(good, interval_cs=0)
    for _attempt in range(2):
        with pytest.raises(PacketError):
            inst.wire(bad)
    assert inst.wire(good)[1][0][1] == encode(
        good, src="192.0.2.11", dst=VRRP_MCAST_V4, checksum_form=CHECKSUM_PSEUDO_HEADER
    )
