"""Instance.state_dict(): the facts the runner reports for one instance.

Playbooks decide from these facts whether a Backup will stay Backup (preempt
off, or a master it cannot preempt), so the preempt settings are reported as
configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

import pytest

from vrrp.config import load_config
from vrrp.instance import Instance


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def make(loop: asyncio.AbstractEventLoop, **fields: Any) -> Instance:
    obj = {"name": "web", "interface": "eth0", "vrid": 51, "virtual_addresses": ["192.0.2.100/24"]}
    obj.update(fields)
    cfg = load_config({"instances": [obj]}).instances[0]
    return Instance(
        cfg=cfg,
        primary=ip_address("192.0.2.11"),
        loop=loop,
        io=None,  # type: ignore[arg-type]
        feed=lambda i, e: None,
    )


def test_state_dict_reports_the_configured_preempt_settings(
    loop: asyncio.AbstractEventLoop,
) -> None:
    state = make(loop, priority=150, preempt=True, preempt_delay=2).state_dict(
        now=loop.time(), demoted=None
    )
    assert state["preempt"] is True
    assert state["preempt_delay"] == 2.0
    assert state["priority"] == state["effective_priority"] == 150
    assert state["master"] is None and state["master_priority"] is None
    assert state["demoted"] is None


def test_state_dict_preempt_off_and_schema_defaults(loop: asyncio.AbstractEventLoop) -> None:
    off = make(loop, preempt=False).state_dict(now=loop.time(), demoted=1)
    assert off["preempt"] is False
    assert off["demoted"] == 1
    default = make(loop).state_dict(now=loop.time(), demoted=None)
    # The schema's defaults: preempt on, no delay.
    assert default["preempt"] is True
    assert default["preempt_delay"] == 0.0


def test_state_dict_fields(loop: asyncio.AbstractEventLoop) -> None:
    """The field set the modules document (vrrp_state RETURN) and playbooks use."""
    state = make(loop).state_dict(now=loop.time(), demoted=None)
    assert set(state) == {
        "state",
        "priority",
        "effective_priority",
        "master",
        "master_priority",
        "preempt",
        "preempt_delay",
        "advert_interval",
        "master_advert_interval",
        "since",
        "vrid",
        "version",
        "interface",
        "virtual_addresses",
        "link_probe",
        "faults",
        "demoted",
        "group",
        "vmac_interface",
        "vip_interfaces",
        "config_digest",
        "releasing",
    }


def test_config_digest_follows_the_definition(loop: asyncio.AbstractEventLoop) -> None:
    """vrrp_state compares it with the fragment on disk (vrrp.drift): a reload in
    place must report the new definition's digest; a description alone is no change."""
    inst = make(loop, priority=100)
    assert inst.state_dict(now=loop.time(), demoted=None)["config_digest"] == inst.cfg.digest()
    obj = {"name": "web", "interface": "eth0", "vrid": 51, "virtual_addresses": ["192.0.2.100/24"]}
    new = load_config({"instances": [{**obj, "priority": 200}]}).instances[0]
    inst.reconfigure(new, group=None)
    assert inst.state_dict(now=loop.time(), demoted=None)["config_digest"] == new.digest()
    described = load_config({"instances": [{**obj, "priority": 200, "description": "x"}]})
    assert described.instances[0].digest() == new.digest() != make(loop).cfg.digest()
