"""The metrics listen address and where it is configured (no prometheus_client needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrp.config import ConfigFileError, load, load_config
from vrrp.errors import ConfigError
from vrrp.metrics import ListenAddressError, parse_listen

# ----------------------------------------------------------------- address


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1:9650", ("127.0.0.1", 9650)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("[::1]:9650", ("::1", 9650)),
        ("[2001:db8::1]:65535", ("2001:db8::1", 65535)),
    ],
)
def test_listen_addresses_accepted(text: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "9650",
        "localhost:9650",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:+80",
        "127.0.0.1:９６５０",
        "::1:9650",
        "[127.0.0.1]:9650",
        "[fe80::1%eth0]:9650",
        "127.0.0.1:9650\n",
        "256.0.0.1:9650",
    ],
)
def test_listen_addresses_refused(text: str) -> None:
    with pytest.raises(ListenAddressError, match=r"9650|port|IPv4"):
        parse_listen(text)


@given(st.text(max_size=50))
def test_parse_listen_only_raises_its_error(text: str) -> None:
    try:
        host, port = parse_listen(text)
    except ListenAddressError:
        return
    assert 1 <= port <= 65535 and host in text


def test_config_metrics_listen_is_checked_beyond_the_schema() -> None:
    cfg = load_config({"instances": [], "metrics_listen": "[::1]:9650"})
    assert cfg.metrics_listen == "[::1]:9650"
    assert cfg.to_dict()["metrics_listen"] == "[::1]:9650"
    assert load_config({"instances": []}).metrics_listen is None
    with pytest.raises(ConfigError) as caught:
        load_config({"instances": [], "metrics_listen": "127.0.0.1:99999"})
    assert caught.value.path == "metrics_listen" and "65535" in caught.value.rule
    with pytest.raises(ConfigError) as caught:
        load_config({"instances": [], "metrics_listen": "host.example:9650"})
    assert caught.value.path == "metrics_listen"


def _fragment_dir(tmp_path: Path, settings: str | None) -> Path:
    (tmp_path / "instances.d").mkdir()
    web = {"name": "web", "interface": "eth0", "vrid": 1, "virtual_addresses": ["192.0.2.1/24"]}
    (tmp_path / "instances.d" / "web.json").write_text(json.dumps(web))
    if settings is not None:
        (tmp_path / "runner.json").write_text(settings)
    return tmp_path


def test_a_fragment_directory_takes_top_level_keys_from_runner_json(tmp_path: Path) -> None:
    assert load(_fragment_dir(tmp_path, None)).metrics_listen is None
    (tmp_path / "runner.json").write_text('{"metrics_listen": "127.0.0.1:9650"}')
    cfg = load(tmp_path)
    assert cfg.metrics_listen == "127.0.0.1:9650" and [i.name for i in cfg.instances] == ["web"]


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ('{"metrics_listen": "127.0.0.1:0"}', "metrics_listen"),
        ('{"metrics_listen": 9650}', "metrics_listen"),
        ('{"metrics_lisen": "127.0.0.1:9650"}', "metrics_lisen"),
        ('{"instances": []}', ""),
        ("[]", ""),
    ],
)
def test_a_bad_runner_json_is_refused_naming_it(tmp_path: Path, settings: str, path: str) -> None:
    _fragment_dir(tmp_path, settings)
    with pytest.raises(ConfigFileError) as caught:
        load(tmp_path)
    assert caught.value.file == str(tmp_path / "runner.json")
    assert caught.value.path == path
