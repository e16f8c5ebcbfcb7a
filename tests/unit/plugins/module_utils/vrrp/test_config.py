"""Valid configurations load to the expected typed objects (vrrp.config)."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface
from pathlib import Path
from typing import Any

import pytest

from vrrp.config import (
    Authentication,
    Config,
    Garp,
    InstanceConfig,
    Notify,
    SyncGroupConfig,
    TrackFile,
    TrackInterface,
    TrackScript,
    load_config,
    load_file,
    load_instance,
    load_sync_group,
)

FIXTURES = Path(__file__).parent / "config_fixtures"


def minimal(**overrides: Any) -> dict[str, Any]:
    instance: dict[str, Any] = {
        "name": "vr1",
        "interface": "eth0",
        "vrid": 1,
        "virtual_addresses": ["192.0.2.1/24"],
    }
    instance.update(overrides)
    return instance


def test_minimal_instance_gets_every_default() -> None:
    inst = load_instance(minimal())
    assert inst == InstanceConfig(
        name="vr1",
        interface="eth0",
        vrid=1,
        priority=100,
        version=3,
        advert_interval_cs=100,
        virtual_addresses=(IPv4Interface("192.0.2.1/24"),),
        family=4,
        preempt=True,
        preempt_delay=0.0,
        accept=True,
        unicast_source=None,
        unicast_peers=(),
        vmac=False,
        vmac_interface=None,
        track_interfaces=(),
        track_files=(),
        track_scripts=(),
        garp=Garp(delay=5.0, repeat=5, refresh=0.0, refresh_repeat=1, interval=0.0),
        notify=Notify(master=None, backup=None, fault=None, stop=None, timeout=10.0),
        authentication=None,
        checksum_form="pseudo_header",
    )
    assert inst.advert_interval == 1.0
    assert not inst.owner


def test_empty_config_is_valid() -> None:
    assert load_config({}) == Config(instances=(), sync_groups=())
    assert load_config({"instances": [], "sync_groups": []}) == Config()


def test_every_feature_from_the_full_fixture() -> None:
    config = load_file(FIXTURES / "full.yml")
    web4, web6, legacy = config.instances
    assert web4 == InstanceConfig(
        name="web-v4",
        interface="eth0",
        vrid=51,
        priority=150,
        version=3,
        advert_interval_cs=50,
        virtual_addresses=(IPv4Interface("192.0.2.10/24"), IPv4Interface("192.0.2.11/32")),
        family=4,
        preempt=True,
        preempt_delay=2.5,
        accept=True,
        unicast_source=IPv4Address("192.0.2.2"),
        unicast_peers=(IPv4Address("192.0.2.3"), IPv4Address("192.0.2.4")),
        vmac=True,
        vmac_interface="vrrp.51",
        track_interfaces=(
            TrackInterface(interface="eth1", weight=-20),
            TrackInterface(interface="eth2", weight=0),
        ),
        track_files=(TrackFile(path="/run/failover-vrrp/web.weight", weight=5),),
        track_scripts=(
            TrackScript(
                name="haproxy",
                argv=("/usr/bin/pgrep", "-x", "haproxy"),
                interval=2.0,
                timeout=1.0,
                rise=2,
                fall=3,
                weight=10,
            ),
        ),
        garp=Garp(delay=3.0, repeat=2, refresh=60.0, refresh_repeat=2, interval=0.001),
        notify=Notify(
            master=("/usr/local/bin/vrrp-notify", "master"),
            backup=("/usr/local/bin/vrrp-notify", "backup"),
            fault=("/usr/local/bin/vrrp-notify", "fault"),
            stop=("/usr/local/bin/vrrp-notify", "stop"),
            timeout=5.0,
        ),
        authentication=None,
        checksum_form="rfc9568",
        description="front VIPs, IPv4",
    )
    assert web4.description == "front VIPs, IPv4"
    assert web6.family == 6
    assert web6.virtual_addresses == (
        IPv6Interface("fe80::51/64"),
        IPv6Interface("2001:db8::10/64"),
    )
    assert web6.vmac_interface == "web6"
    assert web6.checksum_form is None  # IPv6 has one checksum form
    assert legacy.version == 2
    assert legacy.advert_interval_cs == 300
    assert legacy.owner
    assert not legacy.preempt
    assert legacy.checksum_form is None
    assert legacy.authentication == Authentication(type="pass", password="s3cret")
    assert config.sync_groups == (
        SyncGroupConfig(
            name="web",
            members=("web-v4", "web-v6"),
            notify=Notify(
                master=("/usr/local/bin/group-notify", "master"),
                backup=None,
                fault=None,
                stop=None,
                timeout=10.0,
            ),
            description="both families move together",
        ),
    )
    assert config.instance("web-v6") is web6
    assert config.sync_group_of("web-v6") is config.sync_groups[0]
    assert config.sync_group_of("legacy") is None
    with pytest.raises(KeyError):
        config.instance("nope")


def test_password_never_in_repr() -> None:
    inst = load_instance(
        minimal(version=2, authentication={"password": "s3cret"}, advert_interval=1)
    )
    assert inst.authentication == Authentication(type="pass", password="s3cret")
    assert "s3cret" not in repr(inst)


@pytest.mark.parametrize(
    ("seconds", "centiseconds"),
    [(0.01, 1), (0.07, 7), (0.29, 29), (1, 100), (1.0, 100), (40.95, 4095), (12.34, 1234)],
)
def test_v3_interval_in_centiseconds(seconds: float, centiseconds: int) -> None:
    assert load_instance(minimal(advert_interval=seconds)).advert_interval_cs == centiseconds


def test_v2_interval_whole_seconds() -> None:
    assert load_instance(minimal(version=2, advert_interval=255)).advert_interval_cs == 25500
    assert load_instance(minimal(version=2, advert_interval=2.0)).advert_interval_cs == 200


def test_vmac_default_names_per_family() -> None:
    assert load_instance(minimal(vmac=True, vrid=9)).vmac_interface == "vrrp.9"
    v6 = load_instance(minimal(vmac=True, vrid=9, virtual_addresses=["fe80::9"]))
    assert v6.vmac_interface == "vrrp6.9"
    assert v6.virtual_addresses == (IPv6Interface("fe80::9/128"),)


def test_track_script_timeout_defaults_to_interval() -> None:
    inst = load_instance(
        minimal(track_scripts=[{"name": "chk", "argv": ["/bin/true"], "interval": 3}])
    )
    assert inst.track_scripts == (
        TrackScript(
            name="chk", argv=("/bin/true",), interval=3.0, timeout=3.0, rise=1, fall=1, weight=0
        ),
    )


def test_equality_means_same_definition() -> None:
    base = load_instance(minimal())
    assert load_instance(minimal(priority=100, advert_interval=1.0, preempt=True)) == base
    assert load_instance(minimal(virtual_addresses=["192.0.2.1/24"], description="x")) == base
    assert load_instance(minimal(priority=101)) != base
    assert load_instance(minimal(virtual_addresses=["192.0.2.1/25"])) != base
    assert hash(load_instance(minimal())) == hash(base)


def test_integral_floats_are_integers() -> None:
    inst = load_instance(minimal(vrid=5.0, priority=200.0))
    assert inst.vrid == 5
    assert isinstance(inst.vrid, int) and not isinstance(inst.vrid, bool)
    assert isinstance(inst.priority, int) and not isinstance(inst.priority, bool)


def test_to_dict_is_canonical_and_round_trips() -> None:
    config = load_file(FIXTURES / "full.yml")
    for inst in config.instances:
        as_dict = inst.to_dict()
        assert json.loads(json.dumps(as_dict)) == as_dict
        again = load_instance(as_dict)
        assert again == inst
        assert again.description == inst.description
        assert again.to_dict() == as_dict
    web4 = config.instances[0].to_dict()
    assert list(web4)[:6] == ["name", "description", "interface", "vrid", "priority", "version"]
    assert web4["virtual_addresses"] == ["192.0.2.10/24", "192.0.2.11/32"]
    assert web4["advert_interval"] == 0.5
    assert web4["track_interfaces"][1] == {"interface": "eth2", "weight": 0}
    assert web4["garp"] == {
        "delay": 3,
        "repeat": 2,
        "refresh": 60,
        "refresh_repeat": 2,
        "interval": 0.001,
    }
    assert "authentication" not in web4
    legacy = config.instances[2].to_dict()
    assert legacy["authentication"] == {"type": "pass", "password": "s3cret"}
    assert "checksum_form" not in legacy
    assert load_config(config.to_dict()) == config


def test_sync_group_alone() -> None:
    group = load_sync_group({"name": "g", "members": ["a", "b"]})
    assert group.members == ("a", "b")
    assert group.notify.timeout == 10.0
    assert group.to_dict() == {
        "name": "g",
        "description": "",
        "members": ["a", "b"],
        "notify": {"timeout": 10},
    }


def test_same_vrid_on_other_interface_or_family_is_fine() -> None:
    config = load_config(
        {
            "instances": [
                minimal(name="a"),
                minimal(name="b", interface="eth1"),
                minimal(name="c", virtual_addresses=["fe80::1/64"]),
            ]
        }
    )
    assert [i.vrid for i in config.instances] == [1, 1, 1]


def test_mapping_that_is_not_a_dict() -> None:
    from types import MappingProxyType

    assert load_config(MappingProxyType({"instances": [minimal()]})).instances[0].name == "vr1"
