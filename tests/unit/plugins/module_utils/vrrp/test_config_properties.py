"""Bad input never escapes as anything but ConfigError; good input round-trips."""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.config import Config, load, load_config, load_instance
from vrrp.errors import ConfigError

PATH = re.compile(r"^($|\[|[A-Za-z_])")

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)

ADDRESSES = [
    "192.0.2.1", "192.0.2.2/24", "198.51.100.7/32", "224.0.0.18", "192.0.2.300", "0.0.0.0",
    "fe80::1/64", "fe80::2", "2001:db8::1", "2001:DB8::1/64", "::1", "x", "192.0.2.1/33",
]  # fmt: skip
NAMES = ["a", "b", "c", "web-1", "-bad", ""]
INTERFACES = ["eth0", "eth1", "eth0:1", "vrrp.1"]
numbers = (
    st.integers(-300, 300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.01, 0.07, 0.015, 1, 1.5, 40.95, 41, 255, 256])
)
argv = st.lists(st.sampled_from(["/bin/true", "-x", ""]), max_size=3)
weight = st.integers(-300, 300)

instances = st.fixed_dictionaries(
    {
        "name": st.sampled_from(NAMES),
        "interface": st.sampled_from(INTERFACES),
        "vrid": st.integers(0, 256),
        "virtual_addresses": st.lists(st.sampled_from(ADDRESSES), max_size=3),
    },
    optional={
        "priority": st.integers(0, 256),
        "version": st.sampled_from([2, 3, 4]),
        "advert_interval": numbers,
        "preempt": st.booleans(),
        "preempt_delay": numbers,
        "accept": st.booleans(),
        "unicast_source": st.sampled_from(ADDRESSES),
        "unicast_peers": st.lists(st.sampled_from(ADDRESSES), max_size=3),
        "vmac": st.booleans(),
        "vmac_interface": st.sampled_from(INTERFACES),
        "track_interfaces": st.lists(
            st.fixed_dictionaries(
                {"interface": st.sampled_from(INTERFACES)}, optional={"weight": weight}
            ),
            max_size=2,
        ),
        "track_files": st.lists(
            st.fixed_dictionaries(
                {"path": st.sampled_from(["/a", "/b", "rel"])}, optional={"weight": weight}
            ),
            max_size=2,
        ),
        "track_scripts": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(NAMES), "argv": argv},
                optional={
                    "interval": numbers,
                    "timeout": numbers,
                    "rise": st.integers(0, 3),
                    "fall": st.integers(0, 3),
                    "weight": weight,
                },
            ),
            max_size=2,
        ),
        "garp": st.dictionaries(
            st.sampled_from(["delay", "repeat", "refresh", "refresh_repeat", "interval"]),
            numbers,
        ),
        "notify": st.dictionaries(st.sampled_from(["master", "backup", "fault", "stop"]), argv),
        "authentication": st.fixed_dictionaries(
            {"password": st.text(max_size=10)}, optional={"type": st.sampled_from(["pass", "ah"])}
        ),
        "checksum_form": st.sampled_from(["rfc9568", "pseudo_header", "x"]),
        "description": st.text(max_size=5),
    },
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "instances": st.lists(instances, max_size=4),
        "sync_groups": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(NAMES), "members": st.lists(st.sampled_from(NAMES))},
                optional={"notify": st.dictionaries(st.sampled_from(["master", "timeout"]), argv)},
            ),
            max_size=2,
        ),
    },
)


def loads_or_config_error(data: Any) -> Config | None:
    try:
        config = load_config(data)
    except ConfigError as exc:
        assert exc.rule
        assert PATH.match(exc.path), exc.path
        return None
    assert isinstance(config, Config)
    return config


@given(json_values)
def test_any_json_value_loads_or_raises_config_error(data: Any) -> None:
    loads_or_config_error(data)


@given(st.dictionaries(st.sampled_from(["instances", "sync_groups"]), json_values))
def test_any_json_under_the_top_keys(data: Any) -> None:
    loads_or_config_error(data)


@given(configs)
def test_near_valid_configs(data: dict[str, Any]) -> None:
    config = loads_or_config_error(data)
    if config is None:
        return
    # What loads round-trips through its canonical form.
    canonical = config.to_dict()
    assert json.loads(json.dumps(canonical)) == canonical
    assert load_config(canonical) == config
    for instance in config.instances:
        assert load_instance(instance.to_dict()) == instance


@given(instances)
def test_single_instances(data: dict[str, Any]) -> None:
    try:
        instance = load_instance(data)
    except ConfigError:
        return
    assert load_instance(instance.to_dict()).to_dict() == instance.to_dict()


@settings(max_examples=100)
@given(st.text(max_size=80) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_any_file_text_loads_or_raises_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        for name in ("c.yml", "c.json"):
            file = os.path.join(directory, name)
            with open(file, "w", encoding="utf-8") as handle:
                handle.write(text)
            try:
                load(file)
            except ConfigError as exc:
                assert exc.rule


@st.composite
def valid_instances(draw: st.DrawFn, name: str) -> dict[str, Any]:
    family = draw(st.sampled_from([4, 6]))
    pool = (
        ["192.0.2.1/24", "192.0.2.2", "198.51.100.9/32"]
        if family == 4
        else ["2001:db8::1/64", "2001:db8::2", "fd00::7/64"]
    )
    addresses = draw(st.lists(st.sampled_from(pool), min_size=family - 3, unique=True))
    if family == 6:
        addresses.insert(0, draw(st.sampled_from(["fe80::1/64", "fe80::2"])))
    version = draw(st.sampled_from([2, 3])) if family == 4 else 3
    instance: dict[str, Any] = {
        "name": name,
        "interface": draw(st.sampled_from(["eth0", "eth1"])),
        "vrid": draw(st.integers(1, 255)),
        "virtual_addresses": addresses,
        "version": version,
        "advert_interval": draw(st.integers(1, 255))
        if version == 2
        else draw(st.integers(1, 4095).map(lambda cs: cs / 100)),
    }
    optional = {
        "priority": st.integers(1, 255),
        "preempt": st.booleans(),
        "preempt_delay": st.integers(0, 100_000).map(lambda ms: ms / 100),
        "accept": st.booleans(),
        "vmac": st.booleans(),
        "description": st.text(max_size=10),
        "track_interfaces": st.lists(
            st.fixed_dictionaries({"interface": st.sampled_from(["eth2", "eth3"])}),
            unique_by=lambda t: str(t["interface"]),
        ),
        "track_scripts": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["s1", "s2"]), "argv": st.just(["/bin/true"])},
                optional={"interval": st.floats(0.01, 60), "weight": weight},
            ),
            unique_by=lambda t: str(t["name"]),
        ),
        "garp": st.fixed_dictionaries({}, optional={"delay": st.floats(0, 10)}),
        "notify": st.fixed_dictionaries({}, optional={"master": st.just(["/bin/true"])}),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            instance[key] = draw(strategy)
    if version == 2 and draw(st.booleans()):
        instance["authentication"] = {
            "password": draw(st.from_regex(r"[ -~]{1,8}", fullmatch=True))
        }
    if version == 3 and family == 4 and draw(st.booleans()):
        instance["checksum_form"] = draw(st.sampled_from(["rfc9568", "pseudo_header"]))
    return instance


@st.composite
def mostly_valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4))
    data: dict[str, Any] = {"instances": [draw(valid_instances(name)) for name in names]}
    with_group: bool = draw(st.booleans())
    if names and with_group:
        data["sync_groups"] = [{"name": "g", "members": names[: draw(st.integers(1, len(names)))]}]
    if data["instances"] and draw(st.booleans()):
        # One mutation with a value that may break any rule.
        victim = draw(st.sampled_from(data["instances"]))
        key = draw(st.sampled_from([*sorted(victim), "unicast_peers", "vmac_interface"]))
        victim[key] = draw(
            st.sampled_from(ADDRESSES + NAMES + [0, 1, 0.015, 300, True, None, [], {}])
        )
    return data


@settings(max_examples=300)
@given(mostly_valid_configs())
def test_mostly_valid_configs(data: dict[str, Any]) -> None:
    config = loads_or_config_error(data)
    if config is not None:
        assert load_config(config.to_dict()) == config
        for instance in config.instances:
            as_dict = instance.to_dict()
            assert load_instance(as_dict) == instance
            assert load_instance(as_dict).to_dict() == as_dict
