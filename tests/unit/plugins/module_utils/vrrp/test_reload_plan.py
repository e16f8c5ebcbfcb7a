"""The reload planner: kept, changed in place, re-created, added, removed; groups."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from vrrp.config import Config, load_config
from vrrp.errors import ConfigError
from vrrp.reload_plan import identity, plan, readdressed


def instance(name: str, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "name": name,
        "interface": "eth0",
        "vrid": 50 + ord(name[0]) % 50,
        "priority": 100,
        "virtual_addresses": [f"192.0.2.{ord(name[0]) % 200}/24"],
    }
    obj.update(fields)
    return obj


def config(*instances: dict[str, Any], groups: dict[str, list[str]] | None = None) -> Config:
    sync_groups = [{"name": g, "members": m} for g, m in (groups or {}).items()]
    return load_config({"instances": list(instances), "sync_groups": sync_groups})


def running(cfg: Config) -> dict[str, Any]:
    return {i.name: i for i in cfg.instances}


def test_the_same_config_keeps_everything() -> None:
    old = config(instance("a"), instance("b"), groups={"g": ["a", "b"]})
    result = plan(running(old), old, old)
    assert result.kept == ("a", "b")
    assert result.changed == result.recreated == result.added == result.removed == ()
    assert result.report() == {
        "added": [],
        "changed": [],
        "recreated": [],
        "removed": [],
        "kept": ["a", "b"],
    }


IN_PLACE: list[dict[str, Any]] = [
    {"priority": 210},
    {"priority": 255},
    {"preempt": False},
    {"preempt_delay": 2},
    {"advert_interval": 0.5},
    {"accept": False},
    {"garp": {"repeat": 3, "refresh": 10}},
    {"notify": {"master": ["/bin/true"]}},
    {"virtual_addresses": ["192.0.2.97/24", "192.0.2.98/24"]},
    {"virtual_addresses": ["192.0.2.97/25"]},
    {"track_interfaces": [{"interface": "eth1", "weight": -50}]},
    {"track_files": [{"path": "/run/x", "weight": 10}]},
    {"unicast_peers": ["192.0.2.12"]},
    {"checksum_form": "rfc9568"},
    {"version": 2, "authentication": {"type": "pass", "password": "x"}},
    {"description": "only words"},
]


def test_what_the_protocol_allows_is_changed_in_place() -> None:
    for change in IN_PLACE:
        base = {"version": 2} if "authentication" in change else {}
        old = config(instance("a", **base), instance("b"))
        new = config(instance("a", **change), instance("b"))
        result = plan(running(old), old, new)
        expected = ((), ("a", "b")) if change == {"description": "only words"} else (("a",), ("b",))
        assert (result.changed, result.kept) == expected, change
        assert result.recreated == result.added == result.removed == (), change


RECREATE: list[dict[str, Any]] = [
    {"interface": "eth1"},
    {"vrid": 99},
    {"version": 2},
    {"virtual_addresses": ["fe80::97/64", "2001:db8::97/64"]},
    {"unicast_source": "192.0.2.11", "unicast_peers": ["192.0.2.12"]},
    {"vmac": True},
]


def test_what_makes_another_virtual_router_is_recreated() -> None:
    for change in RECREATE:
        old = config(instance("a"), instance("b"))
        new = config(instance("a", **change), instance("b"))
        result = plan(running(old), old, new)
        assert (result.recreated, result.kept, result.changed) == (("a",), ("b",), ()), change


def test_vmac_interface_and_where_a_vmac_instance_hears() -> None:
    old = config(instance("a", vmac=True))
    for change, what in (
        ({"vmac_interface": "vr51"}, "recreated"),
        ({"unicast_peers": ["192.0.2.12"]}, "recreated"),  # its socket moves to eth0
        ({"priority": 150}, "changed"),
    ):
        new = config(instance("a", vmac=True, **change))
        assert getattr(plan(running(old), old, new), what) == ("a",), change
    peers = config(instance("a", vmac=True, unicast_peers=["192.0.2.12"]))
    more = config(instance("a", vmac=True, unicast_peers=["192.0.2.12", "192.0.2.13"]))
    assert plan(running(peers), peers, more).changed == ("a",)


def test_added_and_removed() -> None:
    old = config(instance("a"), instance("b"))
    new = config(instance("b"), instance("c"))
    result = plan(running(old), old, new)
    assert (result.added, result.removed, result.kept) == (("c",), ("a",), ("b",))


def test_group_membership_changes_are_in_place_and_regrouped() -> None:
    a, b, c = instance("a"), instance("b"), instance("c")
    old = config(a, b, c, groups={"g": ["a", "b"]})
    cases = {
        "c joins": ({"g": ["a", "b", "c"]}, ("a", "b", "c")),
        "b leaves": ({"g": ["a"]}, ("a", "b")),
        "group renamed": ({"h": ["a", "b"]}, ("a", "b")),
        "group gone": ({}, ("a", "b")),
        "c in its own group": ({"g": ["a", "b"], "h": ["c"]}, ("c",)),
    }
    for what, (groups, regrouped) in cases.items():
        new = config(a, b, c, groups=groups)
        result = plan(running(old), old, new)
        assert result.regrouped == regrouped, what
        assert set(result.changed) == set(regrouped), what
        assert set(result.kept) == {"a", "b", "c"} - set(regrouped), what
        assert result.recreated == result.added == result.removed == (), what


def test_a_member_changed_within_its_group_leaves_the_others_kept() -> None:
    old = config(instance("a"), instance("b"), groups={"g": ["a", "b"]})
    new = config(instance("a", priority=190), instance("b"), groups={"g": ["a", "b"]})
    result = plan(running(old), old, new)
    assert (result.changed, result.kept, result.regrouped) == (("a",), ("b",), ())
    assert result.group_of == {"a": "g", "b": "g"}


def test_a_member_recreated_or_removed_regroups_the_others() -> None:
    old = config(instance("a"), instance("b"), instance("c"), groups={"g": ["a", "b", "c"]})
    new = config(instance("a"), instance("b", vrid=99), groups={"g": ["a", "b"]})
    result = plan(running(old), old, new)
    assert (result.recreated, result.removed) == (("b",), ("c",))
    assert result.regrouped == result.changed == ("a",)


def test_readdressed_names_prefix_changes_only() -> None:
    old = config(instance("a", virtual_addresses=["192.0.2.1/24", "192.0.2.2/24"]))
    new = config(instance("a", virtual_addresses=["192.0.2.1/25", "192.0.2.3/24"]))
    assert [str(ip) for ip in readdressed(old.instances[0], new.instances[0])] == ["192.0.2.1"]


# ------------------------------------------------------------- properties

NAMES = ["a", "b", "c", "d"]
instances = st.builds(
    lambda name, **fields: instance(name, **{k: v for k, v in fields.items() if v is not None}),
    st.sampled_from(NAMES),
    interface=st.sampled_from(["eth0", "eth1"]),
    vrid=st.sampled_from([51, 52, 53, 54]),
    priority=st.sampled_from([None, 50, 100, 200, 255]),
    version=st.sampled_from([None, 2, 3]),
    preempt=st.sampled_from([None, True, False]),
    preempt_delay=st.sampled_from([None, 0, 2]),
    virtual_addresses=st.lists(
        st.sampled_from(["192.0.2.1/24", "192.0.2.1/25", "192.0.2.2/24", "fe80::1/64"]),
        min_size=1,
        max_size=2,
        unique=True,
    ),
    vmac=st.sampled_from([None, False, True]),
    notify=st.sampled_from([None, {"master": ["/bin/true"]}]),
)
groups = st.dictionaries(
    st.sampled_from(["g", "h"]), st.lists(st.sampled_from(NAMES), min_size=1, unique=True)
)


def build(items: list[dict[str, Any]], grouping: dict[str, list[str]]) -> Config:
    unique = {item["name"]: item for item in items}
    names = set(unique)
    members = {g: [m for m in ms if m in names] for g, ms in grouping.items()}
    taken: set[str] = set()
    cleaned: dict[str, list[str]] = {}
    for g, listed in members.items():
        ms = [m for m in listed if m not in taken]
        taken.update(ms)
        if ms:
            cleaned[g] = ms
    try:
        return config(*unique.values(), groups=cleaned)
    except ConfigError:
        assume(False)
        raise


@given(st.lists(instances, max_size=4), groups, st.lists(instances, max_size=4), groups)
def test_every_instance_gets_exactly_one_fate(
    old_items: list[dict[str, Any]],
    old_groups: dict[str, list[str]],
    new_items: list[dict[str, Any]],
    new_groups: dict[str, list[str]],
) -> None:
    old, new = build(old_items, old_groups), build(new_items, new_groups)
    now = running(old)
    result = plan(now, old, new)
    fates = [result.added, result.changed, result.recreated, result.kept]
    assert sorted(n for fate in fates for n in fate) == sorted(i.name for i in new.instances)
    assert set(result.removed) == set(now) - {i.name for i in new.instances}
    assert set(result.added) == {i.name for i in new.instances} - set(now)
    assert set(result.regrouped) <= set(result.changed)
    new_by = running(new)
    old_group = {m: g.name for g in old.sync_groups for m in g.members}
    for name in result.kept:
        assert now[name] == new_by[name] and result.group_of.get(name) == old_group.get(name)
    for name in result.recreated:
        assert identity(now[name]) != identity(new_by[name])
    for name in result.changed:
        assert identity(now[name]) == identity(new_by[name])
        assert now[name] != new_by[name] or name in result.regrouped
    # Reloading the same configuration again changes nothing.
    again = plan(new_by, new, new)
    assert again.kept == tuple(i.name for i in new.instances)
    assert again.changed == again.recreated == again.added == again.removed == ()
