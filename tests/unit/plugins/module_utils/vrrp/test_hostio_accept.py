"""KernelIo's accept-mode bookkeeping: which held VIPs the nftables table drops, and when nft runs.

The table itself is the kernel's (tests/netns/test_runner_accept.py); here
``accept_filter.apply`` / ``current`` and the address calls are recorded.
"""

from __future__ import annotations

import asyncio
from ipaddress import ip_address
from typing import Any

import pytest

from support.fakeinstance import fake_instance
from vrrp import hostio
from vrrp.config import load_instance
from vrrp.errors import NetlinkError


def inst(name: str, vip: str, **fields: Any) -> Any:
    return fake_instance(name, 1, vip, **fields)


@pytest.fixture
def kernel(monkeypatch: Any) -> tuple[hostio.KernelIo, list[Any]]:
    log: list[Any] = []

    def change(op: str) -> Any:
        def apply(self: Any, changes: Any, *, wait: bool = True) -> list[bool]:
            log.extend((op, str(c.address)) for c in changes)
            return [True] * len(changes)

        return apply

    monkeypatch.setattr(hostio.AddressChannel, "add", change("add"))
    monkeypatch.setattr(hostio.AddressChannel, "remove", change("rm"))
    monkeypatch.setattr(
        hostio.accept_filter, "apply", lambda addrs: log.append(("nft", sorted(map(str, addrs))))
    )
    loop = asyncio.new_event_loop()
    yield hostio.KernelIo(loop=loop, on_datagrams=lambda key: None), log
    loop.close()


def test_the_drop_comes_before_the_addresses_and_goes_after(kernel: Any) -> None:
    io, log = kernel
    strict = inst("s", "192.0.2.1/24", accept=False)
    io.add_addresses(strict)
    io.remove_addresses(strict)
    assert log == [("nft", ["192.0.2.1"]), ("add", "192.0.2.1/24"), ("rm", "192.0.2.1/24"),
                   ("nft", [])]  # fmt: skip


def test_only_non_owners_with_accept_off_are_dropped_and_nft_runs_on_change_only(
    kernel: Any,
) -> None:
    io, log = kernel
    io.add_addresses(inst("a", "192.0.2.2/24"))  # accept on (default)
    io.add_addresses(inst("o", "192.0.2.3/24", accept=False, priority=255))  # owner
    assert not [e for e in log if e[0] == "nft"]
    strict = inst("s", "192.0.2.4/24", accept=False)
    io.add_addresses(strict)
    io.add_addresses(strict)  # the same again (a retry): no second nft run
    assert [e for e in log if e[0] == "nft"] == [("nft", ["192.0.2.4"])]


def test_a_reload_that_turns_accept_off_is_applied_by_a_sync(kernel: Any) -> None:
    io, log = kernel
    master = inst("m", "192.0.2.5/24")
    io.add_addresses(master)
    master.cfg = load_instance(
        {**master.cfg.to_dict(), "accept": False}
    )  # Instance.reconfigure swaps cfg
    io.sync_accept_filter()
    assert log[-1] == ("nft", ["192.0.2.5"])


def test_a_failed_write_is_tried_again_and_a_changed_table_put_back(
    kernel: Any, monkeypatch: Any
) -> None:
    io, log = kernel

    def refuse(addrs: Any) -> None:
        raise NetlinkError("nftables: nft refused the table: no")

    monkeypatch.setattr(hostio.accept_filter, "apply", refuse)
    strict = inst("s", "192.0.2.6/24", accept=False)
    io.add_addresses(strict)
    assert ("add", "192.0.2.6/24") in log  # the addresses are taken all the same
    monkeypatch.setattr(
        hostio.accept_filter, "apply", lambda addrs: log.append(("nft", sorted(map(str, addrs))))
    )
    monkeypatch.setattr(hostio.accept_filter, "current", lambda: None)  # flushed
    assert io.verify_accept_filter() is False
    assert log[-1] == ("nft", ["192.0.2.6"])
    monkeypatch.setattr(
        hostio.accept_filter, "current", lambda: frozenset({ip_address("192.0.2.6")})
    )
    assert io.verify_accept_filter() is True


def test_a_takeover_of_instances_that_do_not_drop_looks_at_no_other_instance(
    kernel: Any, monkeypatch: Any
) -> None:
    """The table is worked out again only when it may change: an instance that
    drops, or a table left unknown by a failed write (tried again then)."""
    io, log = kernel
    looked: list[int] = []
    to_drop = io._to_drop
    monkeypatch.setattr(io, "_to_drop", lambda: looked.append(1) or to_drop())
    for n in range(1, 51):
        io.add_addresses(inst(f"a{n}", f"198.51.100.{n}/24"))  # accept on: no drop
    io.remove_addresses(inst("a1", "198.51.100.1/24"))
    assert looked == []
    strict = inst("s", "192.0.2.7/24", accept=False)
    io.add_addresses(strict)
    assert len(looked) == 1 and log[-2] == ("nft", ["192.0.2.7"])

    def refuse(addrs: Any) -> None:
        raise NetlinkError("nftables: nft refused the table: no")

    monkeypatch.setattr(hostio.accept_filter, "apply", refuse)
    io.remove_addresses(strict)  # the write fails: the table is unknown
    monkeypatch.setattr(
        hostio.accept_filter, "apply", lambda addrs: log.append(("nft", sorted(map(str, addrs))))
    )
    io.add_addresses(inst("a60", "198.51.100.60/24"))
    assert log[-2] == ("nft", [])  # an instance that does not drop: the write again
