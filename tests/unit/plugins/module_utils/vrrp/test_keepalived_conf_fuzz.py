"""Fuzz vrrp.keepalived_conf: whatever the input, a valid config or a named error.

The only outcomes allowed: a result whose configuration the runner's loader
accepts (exit 0 or 3 from the CLI), or :class:`ConfSyntaxError` naming
FILE:LINE (exit 1). Any other exception is a bug.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vrrp.config import load_config
from vrrp.keepalived_conf import Import, import_text, main
from vrrp.keepalived_conf_read import ConfSyntaxError

CORPUS = Path(__file__).with_name("keepalived_corpus")
SAMPLES = [p.read_text() for p in sorted(CORPUS.glob("*/*.conf"))]
KEYWORDS = [
    "global_defs",
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_script",
    "vrrp_track_file",
    "virtual_server",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "version",
    "state",
    "MASTER",
    "BACKUP",
    "nopreempt",
    "preempt_delay",
    "authentication",
    "auth_type",
    "PASS",
    "AH",
    "auth_pass",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "virtual_routes",
    "virtual_rules",
    "via",
    "gw",
    "src",
    "table",
    "metric",
    "blackhole",
    "from",
    "to",
    "fwmark",
    "priority",
    "scope",
    "brd",
    "default",
    "all",
    "0x10/0xff",
    "unicast_src_ip",
    "unicast_peer",
    "mcast_src_ip",
    "use_vmac",
    "accept",
    "no_accept",
    "track_interface",
    "track_script",
    "track_file",
    "weight",
    "notify_master",
    "notify_backup",
    "notify",
    "group",
    "script",
    "interval",
    "timeout",
    "rise",
    "fall",
    "file",
    "vrrp_version",
    "vrrp_garp_master_delay",
    "garp_master_repeat",
    "vrrp_strict",
    "include",
    "VI_1",
    "VI_2",
    "chk",
    "eth0",
    "eth1",
    "dev",
    "label",
    "192.0.2.1",
    "192.0.2.2/24",
    "fe80::1",
    "2001:db8::1/64",
    "0",
    "1",
    "2",
    "3",
    "255",
    "256",
    "-20",
    "0.5",
    "1e9",
    "nan",
    "{",
    "}",
    "{",
    "}",
    '"',
    "'",
    "\\",
    "!",
    "#",
    "@lb1",
    "@^lb1",
    "$X=1",
    "$X",
    "${X}",
    "$Y=$X$X",
    "~SEQ(i,1,3)",
    "\n",
    "\n",
    "\n",
    " ",
    "\t",
    "\x00",
    "é",
]


def outcome(text: str, host: str | None) -> Import | None:
    try:
        result = import_text(text, name="f.conf", host=host)
    except ConfSyntaxError as exc:
        assert re.match(r"^f\.conf:\d+: \S", str(exc)), str(exc)
        return None
    load_config(result.config)
    for note in result.not_converted:
        assert note.file == "f.conf" and note.line >= 1 and note.keyword and note.why
    assert result.complete == (not any(note.vrrp for note in result.not_converted))
    return result


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    tokens=st.lists(st.sampled_from(KEYWORDS), max_size=120),
    separators=st.lists(st.sampled_from([" ", "\n", "\t", ""]), min_size=120, max_size=120),
    host=st.sampled_from([None, "lb1", "lb2"]),
)
def test_random_token_streams(tokens: list[str], separators: list[str], host: str | None) -> None:
    outcome("".join(t + s for t, s in zip(tokens, separators)), host)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.sampled_from(SAMPLES),
    edits=st.lists(
        st.tuples(st.integers(0, 4000), st.integers(0, 40), st.sampled_from(KEYWORDS)),
        max_size=8,
    ),
    host=st.sampled_from([None, "lb1", "lb2"]),
)
def test_mutated_samples(sample: str, edits: list[tuple[int, int, str]], host: str | None) -> None:
    text = sample
    for offset, cut, insert in edits:
        at = offset % (len(text) + 1)
        text = text[:at] + insert + text[at + cut :]
    outcome(text, host)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=50)
@given(text=st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    outcome(text, None)


@pytest.mark.parametrize(
    "text",
    [
        "$A=$A$A$A$A\n$A\n",  # substitution that grows without end
        "$A=${A}x\n$A\n",
        "a {\n" * 40,  # nesting
        "x" * 5000 + "\n",  # one huge line
        "$A=\\\n" + "y \\\n" * 2000 + "\n$A\n",  # a huge multi-line parameter
    ],
)
def test_hostile_input_is_bounded(text: str) -> None:
    outcome(text, None)


def test_exit_codes_match_outcomes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "k.conf"
    for text, code in (
        (
            "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n"
            " virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
            0,
        ),
        ("vrrp_unknown_keyword x\n", 3),
        ("global_defs {\n router_id lb1\n}\nvirtual_server 192.0.2.1 80 {\n}\n", 0),
        ("{\n", 1),
    ):
        conf.write_text(text)
        assert main([str(conf)]) == code
        capsys.readouterr()
