"""The parity settings from keepalived: accept mode's host need, multicast_source, startup_delay.

Schema and build errors name the field; ``--check`` refuses accept off on a
non-owner on a host without nft (the runner could not enforce it) and says
what to install; everything else about them runs on a kernel
(tests/netns/test_runner_accept.py, _startup.py, _multicast_source.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vrrp.config import Config, check_host, load_config, load_instance
from vrrp.errors import ConfigError
from vrrp.linux import accept_filter

ENGINE = str(Path(accept_filter.__file__).parents[2])


def minimal(**overrides: Any) -> dict[str, Any]:
    inst: dict[str, Any] = {
        "name": "vr1",
        "interface": "eth0",
        "vrid": 1,
        "virtual_addresses": ["192.0.2.1/24"],
    }
    inst.update(overrides)
    return inst


def test_accept_defaults_on_as_keepalived() -> None:
    inst = load_instance(minimal())
    assert inst.accept is True and not inst.drops_for_vips
    assert load_instance(minimal(accept=False)).drops_for_vips
    # RFC 9568 §6.4.3: the owner accepts whatever Accept_Mode says.
    assert not load_instance(minimal(accept=False, priority=255)).drops_for_vips


@pytest.mark.parametrize(
    ("fields", "path", "words"),
    [
        (
            {"multicast_source": "192.0.2.7", "unicast_peers": ["192.0.2.8"]},
            "multicast_source",
            "set unicast_source",
        ),
        (
            {"multicast_source": "192.0.2.7", "unicast_source": "192.0.2.7"},
            "unicast_source",
            "set one of them",
        ),
        ({"multicast_source": "2001:db8::7"}, "multicast_source", "IPv6 address"),
        ({"multicast_source": "224.0.0.18"}, "multicast_source", "unicast address"),
        ({"multicast_source": "nonsense"}, "multicast_source", "IPv4 or IPv6 address"),
        (
            {"multicast_source": "2001:db8::7", "virtual_addresses": ["fe80::1/64"]},
            "multicast_source",
            "link-local",
        ),
    ],
)
def test_multicast_source_errors_name_the_field(
    fields: dict[str, Any], path: str, words: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_instance(minimal(**fields))
    assert error.value.path == path and words in error.value.rule, error.value


def test_multicast_source_round_trips() -> None:
    inst = load_instance(minimal(multicast_source="192.0.2.7"))
    assert str(inst.multicast_source) == "192.0.2.7"
    assert load_instance(inst.to_dict()) == inst
    v6 = load_instance(minimal(multicast_source="fe80::7", virtual_addresses=["fe80::1/64"]))
    assert str(v6.multicast_source) == "fe80::7"


@pytest.mark.parametrize(("value", "words"), [(-1, "at least 0"), (3601, "at most 3600")])
def test_startup_delay_bounds(value: float, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"instances": [minimal()], "startup_delay": value})
    assert error.value.path == "startup_delay" and words in error.value.rule


def test_startup_delay_round_trips() -> None:
    config = load_config({"instances": [minimal()], "startup_delay": 2.5})
    assert config.startup_delay == 2.5
    assert config.to_dict()["startup_delay"] == 2.5
    assert load_config(config.to_dict()) == config
    assert "startup_delay" not in load_config({"instances": []}).to_dict()


def test_check_host_wants_nft_only_where_accept_off_is_enforced(monkeypatch: Any) -> None:
    monkeypatch.setattr("vrrp.config.nft_program", lambda: None)
    check_host(load_config({"instances": [minimal(), minimal(name="o", vrid=2, accept=False,
                                                             priority=255)]}))  # fmt: skip
    check_host(Config())
    config = load_config({"instances": [minimal(), minimal(name="b", vrid=2, accept=False)]})
    with pytest.raises(ConfigError) as error:
        check_host(config)
    assert error.value.path == "instances[1].accept"
    assert "nft" in error.value.rule and "nftables" in error.value.rule


def test_runner_check_without_nft_is_a_clear_error(tmp_path: Path) -> None:
    """``vrrp.runner --check`` on a host without nft: exit 1, the field named, no traceback."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"instances": [minimal(accept=False)]}))
    env = {"PATH": str(tmp_path), "PYTHONPATH": ENGINE}
    # A host without nft: not on PATH, not where the fallback looks.
    code = (
        "import sys\nfrom vrrp.linux import accept_filter\naccept_filter._NFT_PLACES = ()\n"
        "from vrrp import runner\nsys.exit(runner.main(sys.argv[1:]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "--check", "--config", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 1, out
    assert "instances[0].accept" in out.stderr and "nftables" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_the_table_is_written_whole() -> None:
    from ipaddress import ip_address

    doc = accept_filter.commands([ip_address("192.0.2.1"), ip_address("fe80::1")])["nftables"]
    # add + delete first: whatever the table held before is gone in the same transaction.
    assert list(doc[0]) == ["add"] and list(doc[1]) == ["delete"]
    sets = {
        c["add"]["set"]["name"]: c["add"]["set"].get("elem")
        for c in doc
        if "set" in c.get("add", {})
    }
    assert sets == {"vips4": ["192.0.2.1"], "vips6": ["fe80::1"]}
    rules = [c for c in doc if "rule" in c.get("add", {})]
    assert len(rules) == accept_filter.RULES
    # Nothing to drop: only add + delete, the table goes.
    assert accept_filter.commands([]) == {"nftables": doc[:2]}
