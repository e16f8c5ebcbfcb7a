"""The importer's address options, excluded addresses, virtual routes and rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.config import load_config
from vrrp.keepalived_conf import import_text

HEAD = """vrrp_instance VI {
    interface eth0
    virtual_router_id 9
    virtual_ipaddress {
        192.0.2.9/24
    }
"""


def convert(body: str) -> tuple[dict[str, Any], list[str]]:
    result = import_text(HEAD + body + "}\n")
    load_config(result.config)  # the runner takes it as it is
    instances = result.config["instances"]
    return (instances[0] if instances else {}), [f"{n.line}: {n.why}" for n in result.not_converted]


_P = "198.51.100.0/24"


@pytest.mark.parametrize(
    ("line", "route"),
    [
        (f"{_P} via 192.0.2.1", {"to": _P, "via": "192.0.2.1"}),
        (f"{_P} via 192.0.2.1 no_track", {"to": _P, "via": "192.0.2.1"}),
        (f"to {_P} gw 192.0.2.1 table 7", {"to": _P, "via": "192.0.2.1", "table": 7}),
        (f"unreachable {_P} metric 5", {"to": _P, "type": "unreachable", "metric": 5}),
        (
            f"{_P} dev eth1 scope 253 table local",
            {"to": _P, "dev": "eth1", "scope": "link", "table": "local"},
        ),
    ],
)
def test_routes(line: str, route: dict[str, Any]) -> None:
    inst, notes = convert(f"    virtual_routes {{\n        {line}\n    }}\n")
    assert inst["virtual_routes"] == [route] and not notes


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("2001:db8::/32 via 2001:db8::1", "an IPv6 route for an instance that holds no IPv6"),
        ("198.51.100.0/24 via 192.0.2.1 table wan", "table 'wan': a name of the host's rt_tables"),
        ("198.51.100.0/24 via 192.0.2.1 metric lots", "metric 'lots' is not a number"),
        ("198.51.100.0/24 via 192.0.2.1 onlink", "'onlink' is not converted"),
        ("blackhole 198.51.100.0/24 dev eth0", "a blackhole route has no via or dev"),
        ("198.51.100.0/24 scope galaxy", "must be one of"),
    ],
)
def test_routes_left_out_are_named(line: str, why: str) -> None:
    inst, notes = convert(f"    virtual_routes {{\n        {line}\n    }}\n")
    assert "virtual_routes" not in inst
    assert len(notes) == 1 and notes[0].startswith("8: ") and why in notes[0], notes


def test_rules_and_an_excluded_address_of_the_other_family() -> None:
    inst, notes = convert(
        "    virtual_ipaddress_excluded {\n        2001:db8::9/64 dev eth0 label x\n    }\n"
        "    virtual_rules {\n        to 2001:db8:1::/48 lookup 7 preference 5\n"
        "        fwmark 0x10 table 7\n        from all table 7 goto 9\n    }\n"
    )
    assert "virtual_addresses_excluded" not in inst  # a label on IPv6: left out, named
    assert inst["virtual_rules"] == [{"fwmark": 16, "table": 7}]
    assert [n.split(":")[0] for n in notes] == ["8", "11", "13"], notes
    assert "labels are for IPv4 addresses only" in notes[0]
    assert "an IPv6 rule for an instance that holds no IPv6 address" in notes[1]


def test_an_address_of_the_other_family_points_at_excluded() -> None:
    result = import_text(
        HEAD.replace("192.0.2.9/24", "192.0.2.9/24\n        2001:db8::9/64") + "}\n"
    )
    assert any("virtual_ipaddress_excluded takes both" in n.why for n in result.not_converted)


WORDS = ["198.51.100.0/24", "192.0.2.1", "2001:db8::/32", "fd00::1", "via", "gw", "dev", "eth1",
         "src", "to", "from", "all", "default", "table", "7", "main", "wan", "metric", "scope",
         "link", "blackhole", "prohibit", "fwmark", "0x10/0xff", "priority", "lookup", "onlink",
         "label", "eth0:a", "no_track", "brd", "192.0.2.255", "0", "4294967296"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    block=st.sampled_from(
        ["virtual_routes", "virtual_rules", "virtual_ipaddress_excluded", "virtual_ipaddress"]
    ),
    lines=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8), max_size=4),
)
def test_any_line_converts_or_is_named(block: str, lines: list[list[str]]) -> None:
    body = "".join(f"        {' '.join(words)}\n" for words in lines)
    convert(f"    {block} {{\n{body}    }}\n")  # loads, or the instance is named
