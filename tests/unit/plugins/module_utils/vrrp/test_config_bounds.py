"""Bounded config parsing: alias expansion ("billion laughs") and file sizes.

A 400-byte YAML file of nested aliases expands to 10⁹ nodes: it took 294 s of
CPU in ``--check`` (the unit's ExecStartPre). Aliases are refused once they
would add more than a bounded number of nodes, before anything is expanded;
the merge keys people use (``<<: *defaults``) stay well below that bound.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vrrp import config, config_files
from vrrp.config import ConfigFileError, load


def laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        refs = ", ".join([f"*a{n - 1}"] * 10)
        lines.append(f"a{n}: &a{n} [{refs}]")
    return "\n".join(lines) + "\n"


def refused(path: Path) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as info:
        load(path)
    return info.value


@pytest.mark.parametrize("levels", [6, 9])
def test_billion_laughs_is_refused_by_the_alias_rule(tmp_path: Path, levels: int) -> None:
    file = tmp_path / "vrrp.yml"
    file.write_text(laughs(levels))
    assert len(file.read_bytes()) < 1000
    error = refused(file)
    assert "aliases" in error.rule
    assert str(config.MAX_ALIAS_NODES) in error.rule
    assert error.file == str(file)


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "vrrp.yml"
    file.write_text("instances: &x [*x]\n")
    assert "refers to itself" in refused(file).rule


def test_merge_keys_for_many_instances_stay_allowed(tmp_path: Path) -> None:
    body = ["defaults: &d {interface: eth0, priority: 150, advert_interval: 1}", "instances:"]
    for n in range(1, 200):
        body.append(f"  - {{<<: *d, name: vr{n}, vrid: {n}, virtual_addresses: [192.0.2.{n}/32]}}")
    file = tmp_path / "vrrp.yml"
    file.write_text("\n".join(body) + "\n")
    # Refused by the schema for the carrier key, not by the alias rule.
    assert refused(file).path == "defaults"


def test_an_oversize_config_file_is_refused_unread(tmp_path: Path) -> None:
    file = tmp_path / "vrrp.yml"
    file.write_text("# " + "x" * config.MAX_FILE_BYTES + "\n")
    assert f"larger than {config.MAX_FILE_BYTES} bytes" in refused(file).rule


def test_an_oversize_fragment_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_files, "MAX_TOTAL_BYTES", 300)
    directory = tmp_path / "instances.d"
    directory.mkdir()
    for n in range(1, 5):
        (directory / f"vr{n}.json").write_text(
            f'{{"name": "vr{n}", "interface": "eth0", "vrid": {n}, '
            f'"virtual_addresses": ["192.0.2.{n}/32"]}}'
        )
    error = refused(tmp_path)
    assert "together larger than 300 bytes" in error.rule


def test_a_fifo_as_config_file_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "vrrp.yml"
    os.mkfifo(fifo)
    assert "not a regular file" in refused(fifo).rule


def test_yaml_is_read_with_the_safe_loader(tmp_path: Path) -> None:
    # Audit (issue 9): no Python object tags, ever.
    marker = tmp_path / "ran"
    file = tmp_path / "vrrp.yml"
    file.write_text(f'instances: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert "could not determine a constructor" in refused(file).rule
    assert not marker.exists()
