"""Every config rule: the exact JSON path and the rule in plain words."""

from __future__ import annotations

from typing import Any

import pytest

from vrrp.config import load_config, load_instance
from vrrp.errors import ConfigError
from vrrp.schema import validate_instance, validate_sync_group

NAME_RULE = (
    "a name starts with a letter or digit and has at most 64 characters "
    "from A-Z, a-z, 0-9, '_', '.', '-'"
)


def inst(**overrides: Any) -> dict[str, Any]:
    instance: dict[str, Any] = {
        "name": "vr1",
        "interface": "eth0",
        "vrid": 1,
        "virtual_addresses": ["192.0.2.1/24"],
    }
    instance.update(overrides)
    return {key: value for key, value in instance.items() if value is not DROP}


DROP: Any = object()
V6 = ["fe80::1/64", "2001:db8::1/64"]


def one(**overrides: Any) -> dict[str, Any]:
    return {"instances": [inst(**overrides)]}


def error_of(data: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(data)
    return info.value


# (config, path, exact rule)
SCHEMA_CASES: list[tuple[Any, str, str]] = [
    ([], "", "expected an object, got a list []"),
    ({"instance": []}, "instance", "unknown key 'instance'; did you mean 'instances'?"),
    (one(priorty=5), "instances[0].priorty", "unknown key 'priorty'; did you mean 'priority'?"),
    (one(vrid=DROP), "instances[0]", "the required key 'vrid' is missing"),
    (one(vrid=0), "instances[0].vrid", "must be at least 1, got 0"),
    (one(vrid=256), "instances[0].vrid", "must be at most 255, got 256"),
    (one(vrid="1"), "instances[0].vrid", 'expected an integer, got a string "1"'),
    (one(vrid=True), "instances[0].vrid", "expected an integer, got a boolean true"),
    (one(vrid=1.5), "instances[0].vrid", "expected an integer, got a number 1.5"),
    (one(priority=0), "instances[0].priority", "must be at least 1, got 0"),
    (one(version=4), "instances[0].version", "must be one of 2, 3; got 4"),
    (one(name="-x"), "instances[0].name", NAME_RULE + '; got "-x"'),
    (one(name="a" * 65), "instances[0].name", NAME_RULE + f'; got "{"a" * 56}...'),
    (
        one(interface="eth0:1"),
        "instances[0].interface",
        "an interface name has 1 to 15 characters, none of them '/', ':', white space "
        "or a control character, "
        "and is not '.' or '..'; got \"eth0:1\"",
    ),
    (
        one(interface="a-very-long-name"),
        "instances[0].interface",
        "an interface name has 1 to 15 characters, none of them '/', ':', white space "
        "or a control character, "
        "and is not '.' or '..'; got \"a-very-long-name\"",
    ),
    (
        one(virtual_addresses=[]),
        "instances[0].virtual_addresses",
        "needs at least 1 item(s), got 0",
    ),
    (
        one(virtual_addresses=["192.0.2.1 "]),
        "instances[0].virtual_addresses[0]",
        'an address is written ADDR or ADDR/PREFIX, e.g. 192.0.2.10/24; got "192.0.2.1 "',
    ),
    (
        one(virtual_addresses=["192.0.2.1", "192.0.2.1"]),
        "instances[0].virtual_addresses[1]",
        '"192.0.2.1" is listed twice',
    ),
    (
        one(version=2, advert_interval=0.5),
        "instances[0].advert_interval",
        "VRRP version 2 advertises in whole seconds from 1 to 255 (RFC 3768 §5.3.7); got 0.5",
    ),
    (
        one(version=2, advert_interval=1.5),
        "instances[0].advert_interval",
        "VRRP version 2 advertises in whole seconds from 1 to 255 (RFC 3768 §5.3.7); got 1.5",
    ),
    (
        one(advert_interval=41),
        "instances[0].advert_interval",
        "VRRP version 3 advertises every 0.01 to 40.95 seconds (RFC 9568 §5.2.7); got 41",
    ),
    (
        one(advert_interval=0.001),
        "instances[0].advert_interval",
        "must be at least 0.01, got 0.001",
    ),
    (
        one(version=2, advert_interval=1, checksum_form="rfc9568"),
        "instances[0].checksum_form",
        "checksum_form applies to VRRP version 3 over IPv4 only",
    ),
    (
        one(checksum_form="v2"),
        "instances[0].checksum_form",
        'must be one of "rfc9568", "pseudo_header"; got "v2"',
    ),
    (
        one(authentication={"password": "s3cret"}),
        "instances[0].authentication",
        "authentication exists in VRRP version 2 only (RFC 9568 §9 removed it); "
        "set version: 2 or drop it",
    ),
    (
        one(version=2, authentication={"password": "much-too-long"}),
        "instances[0].authentication.password",
        "a password has 1 to 8 printable ASCII characters",
    ),
    (
        one(version=2, authentication="s3cret"),
        "instances[0].authentication",
        "invalid value (type)",
    ),
    (
        one(version=2, authentication={"type": "ah", "password": "x"}),
        "instances[0].authentication.type",
        'must be one of "pass"; got "ah"',
    ),
    (one(vmac_interface="vip0"), "instances[0]", "vmac_interface is only used with vmac: true"),
    (
        one(vmac_interface="vip0", vmac=False),
        "instances[0].vmac",
        "vmac_interface is only used with vmac: true; got false",
    ),
    (
        one(track_interfaces=[{"interface": "eth1", "weight": 254}]),
        "instances[0].track_interfaces[0].weight",
        "must be at most 253, got 254",
    ),
    (
        one(track_interfaces=[{"interface": "eth1", "weight": -254}]),
        "instances[0].track_interfaces[0].weight",
        "must be at least -253, got -254",
    ),
    (
        one(track_files=[{"path": "run/x"}]),
        "instances[0].track_files[0].path",
        'a tracked file is named by an absolute path without control characters; got "run/x"',
    ),
    (
        one(track_scripts=[{"name": "chk", "argv": []}]),
        "instances[0].track_scripts[0].argv",
        "needs at least 1 item(s), got 0",
    ),
    (
        one(track_scripts=[{"name": "chk", "argv": [""]}]),
        "instances[0].track_scripts[0].argv[0]",
        'must have at least 1 character(s), got ""',
    ),
    (
        one(track_scripts=[{"name": "chk"}]),
        "instances[0].track_scripts[0]",
        "the required key 'argv' is missing",
    ),
    (
        one(track_scripts=[{"name": "chk", "argv": ["/bin/true"], "interval": 0}]),
        "instances[0].track_scripts[0].interval",
        "must be at least 0.01, got 0",
    ),
    (one(garp={"repeat": 0}), "instances[0].garp.repeat", "must be at least 1, got 0"),
    (one(notify={"timeout": 0}), "instances[0].notify.timeout", "must be at least 0.01, got 0"),
    (
        one(notify={"mastr": ["/bin/true"]}),
        "instances[0].notify.mastr",
        "unknown key 'mastr'; did you mean 'master'?",
    ),
    (
        one(notify={"master": "/bin/true"}),
        "instances[0].notify.master",
        'expected a list, got a string "/bin/true"',
    ),
    (one(preempt="yes"), "instances[0].preempt", 'expected a boolean, got a string "yes"'),
    (one(preempt_delay=1001), "instances[0].preempt_delay", "must be at most 1000, got 1001"),
    (
        one(description="x" * 257),
        "instances[0].description",
        "must have at most 256 characters, got 257",
    ),
    (
        one(preempt_delay=float("nan")),
        "instances[0].preempt_delay",
        "must be a finite number, got NaN or infinity",
    ),
    (
        one(unicast_peers=["192.0.2.2", "192.0.2.2"]),
        "instances[0].unicast_peers[1]",
        '"192.0.2.2" is listed twice',
    ),
    (
        one(unicast_source="192.0.2.2/24"),
        "instances[0].unicast_source",
        'an IPv4 or IPv6 address without prefix length is expected; got "192.0.2.2/24"',
    ),
    (
        {"sync_groups": [{"name": "g", "members": []}]},
        "sync_groups[0].members",
        "needs at least 1 item(s), got 0",
    ),
    (
        {"sync_groups": [{"name": "g", "members": ["a b"]}]},
        "sync_groups[0].members[0]",
        NAME_RULE + '; got "a b"',
    ),
    ({"sync_groups": [{"name": "g"}]}, "sync_groups[0]", "the required key 'members' is missing"),
    ({"instances": {}}, "instances", "expected a list, got an object {}"),
    ({"instances": [None]}, "instances[0]", "expected an object, got null null"),
]

CODE_CASES: list[tuple[Any, str, str]] = [
    (
        one(virtual_addresses=["192.0.2.300"]),
        "instances[0].virtual_addresses[0]",
        'not a valid ADDR or ADDR/PREFIX: "192.0.2.300"',
    ),
    (
        one(virtual_addresses=["192.0.2.1/33"]),
        "instances[0].virtual_addresses[0]",
        'not a valid ADDR or ADDR/PREFIX: "192.0.2.1/33"',
    ),
    (
        one(virtual_addresses=["224.0.0.5"]),
        "instances[0].virtual_addresses[0]",
        'must be a unicast address, got "224.0.0.5"',
    ),
    (
        one(virtual_addresses=["192.0.2.1", "fe80::1"]),
        "instances[0].virtual_addresses[1]",
        'all virtual addresses must be of one family: "fe80::1" is IPv6, the first one is IPv4',
    ),
    (
        one(virtual_addresses=["192.0.2.1/24", "192.0.2.1/32"]),
        "instances[0].virtual_addresses[1]",
        '"192.0.2.1/32" repeats virtual_addresses[0]',
    ),
    (
        one(virtual_addresses=["2001:db8::1/64", "fe80::1/64"]),
        "instances[0].virtual_addresses[0]",
        "the first IPv6 virtual address must be the virtual router's link-local address, "
        'in fe80::/10 (RFC 9568 §5.2.9); got "2001:db8::1/64"',
    ),
    (
        one(version=2, advert_interval=1, virtual_addresses=V6),
        "instances[0].version",
        "VRRP version 2 carries IPv4 only (RFC 3768); IPv6 needs version 3",
    ),
    (
        one(virtual_addresses=V6, checksum_form="rfc9568"),
        "instances[0].checksum_form",
        "checksum_form applies to VRRP version 3 over IPv4 only; this instance is IPv6",
    ),
    (
        one(advert_interval=0.015),
        "instances[0].advert_interval",
        "must be a multiple of 0.01 seconds (centiseconds), got 0.015",
    ),
    (
        one(unicast_source="2001:db8::2"),
        "instances[0].unicast_source",
        'IPv6 address "2001:db8::2" for an IPv4 instance',
    ),
    (
        one(unicast_source="192.0.2.256"),
        "instances[0].unicast_source",
        'not a valid IPv4 or IPv6 address: "192.0.2.256"',
    ),
    (
        one(unicast_source="0.0.0.0"),
        "instances[0].unicast_source",
        'must be a unicast address, got "0.0.0.0"',
    ),
    (
        one(unicast_peers=["192.0.2.2", "2001:db8::3"]),
        "instances[0].unicast_peers[1]",
        'IPv6 peer "2001:db8::3" for an IPv4 instance',
    ),
    (
        one(virtual_addresses=V6, unicast_peers=["2001:db8::2", "2001:DB8::2"]),
        "instances[0].unicast_peers[1]",
        '"2001:DB8::2" repeats unicast_peers[0]',
    ),
    (
        one(unicast_source="192.0.2.2", unicast_peers=["192.0.2.2"]),
        "instances[0].unicast_peers[0]",
        '"192.0.2.2" is this router\'s own unicast_source',
    ),
    (
        one(vmac=True, vmac_interface="eth0"),
        "instances[0].vmac_interface",
        'the VMAC interface must differ from interface "eth0"',
    ),
    (
        one(track_interfaces=[{"interface": "eth1"}, {"interface": "eth1", "weight": 3}]),
        "instances[0].track_interfaces[1].interface",
        'interface "eth1" is listed twice',
    ),
    (
        one(track_files=[{"path": "/a"}, {"path": "/a"}]),
        "instances[0].track_files[1].path",
        'file "/a" is listed twice',
    ),
    (
        one(
            track_scripts=[
                {"name": "chk", "argv": ["/bin/true"]},
                {"name": "chk", "argv": ["/bin/false"]},
            ]
        ),
        "instances[0].track_scripts[1].name",
        'script "chk" is listed twice',
    ),
    (
        {"instances": [inst(), inst(vrid=2)]},
        "instances[1].name",
        'the instance name "vr1" is used twice (first at instances[0])',
    ),
    (
        {"instances": [inst(name="a"), inst(name="b", virtual_addresses=["192.0.2.9"])]},
        "instances[1].vrid",
        'VRID 1 is already used on eth0 for IPv4 by instance "a"',
    ),
    (
        {
            "instances": [
                inst(name="a", vmac=True),
                inst(name="b", interface="eth1", vmac=True),
            ]
        },
        "instances[1].vmac_interface",
        'the VMAC interface "vrrp.1" is already used by instance "a"; '
        "set a distinct vmac_interface",
    ),
    (
        {
            "instances": [inst(name="web")],
            "sync_groups": [{"name": "g", "members": ["web", "wbe"]}],
        },
        "sync_groups[0].members[1]",
        'no instance is named "wbe"; did you mean "web"?',
    ),
    (
        {"instances": [inst(name="web")], "sync_groups": [{"name": "g", "members": ["zzz"]}]},
        "sync_groups[0].members[0]",
        'no instance is named "zzz"',
    ),
    (
        {
            "instances": [inst(name="a"), inst(name="b", vrid=2)],
            "sync_groups": [
                {"name": "g1", "members": ["a"]},
                {"name": "g2", "members": ["b", "a"]},
            ],
        },
        "sync_groups[1].members[1]",
        'instance "a" is already a member of sync group "g1"; an instance belongs to one '
        "group at most",
    ),
    (
        {
            "instances": [inst(name="a"), inst(name="b", vrid=2)],
            "sync_groups": [{"name": "g", "members": ["a"]}, {"name": "g", "members": ["b"]}],
        },
        "sync_groups[1].name",
        'the sync group name "g" is used twice (first at sync_groups[0])',
    ),
]


@pytest.mark.parametrize(("data", "path", "rule"), SCHEMA_CASES + CODE_CASES)
def test_rule(data: Any, path: str, rule: str) -> None:
    error = error_of(data)
    assert (error.path, error.rule) == (path, rule)
    assert str(error) == f"{path or '<config>'}: {rule}"


def test_unknown_key_far_from_any_lists_the_allowed_keys() -> None:
    error = error_of(one(zzzzzz=1))
    assert error.path == "instances[0].zzzzzz"
    assert error.rule.startswith("unknown key 'zzzzzz'; allowed: name, description, interface,")


def test_password_never_in_an_error() -> None:
    for auth in ({"password": "much-too-long"}, {"password": 12345678}, {"password": "é"}):
        error = error_of(one(version=2, authentication=auth))
        assert str(auth["password"]) not in str(error)


def test_odd_key_is_quoted_in_the_path() -> None:
    error = error_of(one(**{"bad key": 1}))
    assert error.path == 'instances[0]["bad key"]'
    assert error.rule.startswith("unknown key 'bad key'; allowed: name, description,")


def test_non_string_keys_and_odd_values() -> None:
    error = error_of({"instances": [{1: "x"}]})
    assert error.path == "instances[0][1]"
    assert error.rule.startswith("unknown key '1'")
    import datetime

    error = error_of(one(description=datetime.date(2024, 1, 2)))
    assert (error.path, error.rule) == (
        "instances[0].description",
        "expected a string, got a date datetime.date(2024, 1, 2)",
    )


def test_infinity_is_refused() -> None:
    error = error_of(one(garp={"refresh": float("inf")}))
    assert (error.path, error.rule) == (
        "instances[0].garp.refresh",
        "must be a finite number, got NaN or infinity",
    )


def test_self_referencing_structure() -> None:
    loop: list[Any] = []
    loop.append(loop)
    error = error_of({"instances": loop})
    assert error.path == ""
    assert error.rule == "nested too deeply (or refers to itself)"


def test_single_objects_have_relative_paths() -> None:
    with pytest.raises(ConfigError) as info:
        validate_instance(inst(vrid=300))
    assert (info.value.path, info.value.rule) == ("vrid", "must be at most 255, got 300")
    with pytest.raises(ConfigError) as info:
        load_instance(inst(virtual_addresses=["192.0.2.1", "2001:db8::1"]))
    assert info.value.path == "virtual_addresses[1]"
    with pytest.raises(ConfigError) as info:
        validate_sync_group({"name": "g", "members": ["a", "a"]})
    assert (info.value.path, info.value.rule) == ("members[1]", '"a" is listed twice')
    validate_instance(inst())
    validate_sync_group({"name": "g", "members": ["a"]})


def test_the_most_relevant_error_is_reported() -> None:
    # Two problems: the shallower (a missing key of the instance) wins over a
    # deeper one, so fixing errors top-down converges.
    error = error_of(one(vrid=DROP, garp={"repeat": 0}))
    assert error.path == "instances[0]"
