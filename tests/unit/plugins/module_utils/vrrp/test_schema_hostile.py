"""Hostile strings in a config: NUL and control characters, trailing newlines.

jsonschema applies ``pattern`` with :func:`re.search`, where ``$`` also matches
before a final newline: ``^web$`` accepted ``"web\\n"`` (a fragment file named
``web\\n.json``, a password silently cut at 8 bytes). A NUL in an argv item,
a path or an interface name reached ``execve`` or ``open`` and crashed the
runner at start. Every pattern must match whole strings only, and every
string that reaches the kernel must be free of NUL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_config_errors import error_of, inst, one

from vrrp.schema import CONFIG_SCHEMA


def patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from patterns(item)


PATTERNS = sorted(set(patterns(CONFIG_SCHEMA)))
NAME_PATTERN = CONFIG_SCHEMA["$defs"]["name"]["pattern"]


def test_the_schema_has_patterns() -> None:
    assert len(PATTERNS) >= 5


@pytest.mark.parametrize("pattern", PATTERNS)
@given(data=st.data())
def test_a_pattern_match_is_always_the_whole_string(pattern: str, data: st.DataObject) -> None:
    # What ECMA-262 (every other JSON Schema tool) means by ^...$: the whole value.
    text = data.draw(st.from_regex(pattern))
    suffix = data.draw(st.sampled_from(["", "\n", "\r\n", "\x00", "\n\n"]))
    found = re.search(pattern, text + suffix)
    if found is not None:
        assert (found.start(), found.end()) == (0, len(text + suffix)), repr(text + suffix)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"name": "web\n"}, "instances[0].name"),
        ({"interface": "eth0\n"}, "instances[0].interface"),
        ({"interface": "eth\x000"}, "instances[0].interface"),
        ({"interface": "eth\x1b0"}, "instances[0].interface"),
        ({"unicast_source": "192.0.2.1\n"}, "instances[0].unicast_source"),
        ({"virtual_addresses": ["192.0.2.1/24\n"]}, "instances[0].virtual_addresses[0]"),
        ({"track_files": [{"path": "/run/x\x00y"}]}, "instances[0].track_files[0].path"),
        ({"track_files": [{"path": "/run/x\n"}]}, "instances[0].track_files[0].path"),
        (
            {"track_scripts": [{"name": "chk", "argv": ["/bin/true", "a\x00b"]}]},
            "instances[0].track_scripts[0].argv[1]",
        ),
        ({"notify": {"master": ["/bin/hook\x00"]}}, "instances[0].notify.master[0]"),
        ({"notify": {"stop": ["/bin/hook", "\x00"]}}, "instances[0].notify.stop[1]"),
        ({"description": "a\x00b"}, "instances[0].description"),
        (
            {"version": 2, "advert_interval": 1, "authentication": {"password": "abcdefg\n"}},
            "instances[0].authentication.password",
        ),
    ],
)
def test_hostile_string_is_refused_with_its_path(overrides: dict[str, Any], path: str) -> None:
    error = error_of(one(**overrides))
    assert error.path == path
    assert "\x00" not in str(error)


def test_sync_group_member_with_newline_is_refused() -> None:
    data = {
        "instances": [inst()],
        "sync_groups": [{"name": "g", "members": ["vr1\n"], "notify": {"master": ["/bin/x\x00"]}}],
    }
    assert error_of(data).path.startswith("sync_groups[0].")


def test_the_password_rule_never_shows_the_password() -> None:
    error = error_of(one(version=2, advert_interval=1, authentication={"password": "secret1\n"}))
    assert "secret1" not in str(error)


@pytest.mark.parametrize(
    "overrides",
    [
        {"track_scripts": [{"name": "chk", "argv": ["/bin/sh", "-c", "a\nb\tc\n"]}]},
        {"notify": {"master": ["/bin/echo", "tab\there", "line\n"]}},
        {"description": "two\nlines\twith a tab"},
        {"track_files": [{"path": "/run/a file with spaces"}]},
    ],
)
def test_legitimate_white_space_is_kept(overrides: dict[str, Any]) -> None:
    from vrrp.config import load_config

    load_config(one(**overrides))


@given(st.text(max_size=70))
def test_a_valid_name_is_a_plain_file_name(name: str) -> None:
    # Audit (issue 9): a fragment is written as <name>.json: a name the schema
    # accepts can never leave its directory nor hide as a dot file.
    if re.search(NAME_PATTERN, name):
        assert "/" not in name and "\x00" not in name and "\n" not in name
        assert not name.startswith(".")
        assert os.path.basename(f"{name}.json") == f"{name}.json"


@pytest.mark.parametrize("name", ["..", ".", "../evil", "a/b", ".hidden", "web\n", "a\x00"])
def test_traversing_names_are_refused(name: str) -> None:
    assert re.search(NAME_PATTERN, name) is None
