"""Config files (YAML, JSON) and fragment directories: errors name the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vrrp.config import ConfigFileError, load, load_dir, load_file
from vrrp.errors import ConfigError

FIXTURES = Path(__file__).parent / "config_fixtures"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def file_error(path: Path) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as info:
        load(path)
    assert isinstance(info.value, ConfigError)
    return info.value


def test_json_file_equals_yaml_file(tmp_path: Path) -> None:
    from_yaml = load_file(FIXTURES / "full.yml")
    json_file = write(tmp_path / "vrrp.json", json.dumps(from_yaml.to_dict(), indent=2))
    assert load(json_file) == from_yaml
    assert load(str(json_file)) == from_yaml


def test_empty_yaml_file_is_an_empty_config(tmp_path: Path) -> None:
    assert load(write(tmp_path / "vrrp.yml", "# nothing yet\n")).instances == ()


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    file = write(tmp_path / "vrrp.yml", "instances:\n  - name: a\n    vrid: [1\n")
    error = file_error(file)
    assert error.file == str(file)
    assert error.line == 4
    assert error.path == ""
    assert error.rule.startswith("invalid YAML: ")
    assert error.rule.endswith("(line 4, column 1)")
    assert str(error).startswith(f"{file}:4: invalid YAML: ")


def test_yaml_duplicate_key_is_refused(tmp_path: Path) -> None:
    file = write(
        tmp_path / "vrrp.yaml",
        "instances:\n  - name: a\n    vrid: 1\n    vrid: 2\n",
    )
    error = file_error(file)
    assert error.line == 4
    assert error.rule == 'invalid YAML: found duplicate key "vrid" (line 4, column 5)'


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    file = write(
        tmp_path / "vrrp.yml",
        "base: &base {interface: eth0, virtual_addresses: [192.0.2.1/24]}\n",
    )
    # The anchor's carrier is an unknown key: the config is refused, but by
    # the schema, not by the duplicate-key check.
    assert file_error(file).path == "base"
    file = write(
        tmp_path / "vrrp.yml",
        "instances:\n"
        "  - &a {name: a, interface: eth0, vrid: 1, virtual_addresses: [192.0.2.1/24]}\n"
        "  - <<: *a\n    name: b\n    vrid: 2\n",
    )
    config = load(file)
    assert [(i.name, i.vrid, i.interface) for i in config.instances] == [
        ("a", 1, "eth0"),
        ("b", 2, "eth0"),
    ]


def test_yaml_unhashable_key(tmp_path: Path) -> None:
    error = file_error(write(tmp_path / "vrrp.yml", "? [a, b]\n: 1\n"))
    assert error.rule.startswith("invalid YAML: found unhashable key")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("a: 2001-13-01\n", "invalid YAML: month must be in 1..12"),
        ("a: !!int x\n", "invalid YAML: invalid literal for int() with base 10: 'x'"),
        ("[" * 5000, "invalid YAML: maximum recursion depth exceeded"),
    ],
)
def test_yaml_errors_pyyaml_does_not_wrap(tmp_path: Path, text: str, rule: str) -> None:
    error = file_error(write(tmp_path / "vrrp.yml", text))
    assert error.rule.startswith(rule)
    assert error.line is None


def test_json_too_deep(tmp_path: Path) -> None:
    error = file_error(write(tmp_path / "vrrp.json", "[" * 100_000))
    assert error.rule.startswith("invalid JSON: maximum recursion depth exceeded")


def test_yaml_schema_error_names_file_and_path(tmp_path: Path) -> None:
    file = write(
        tmp_path / "vrrp.yml",
        "instances:\n  - {name: a, interface: eth0, vrid: 300, virtual_addresses: [192.0.2.1]}\n",
    )
    error = file_error(file)
    assert (error.file, error.path, error.rule) == (
        str(file),
        "instances[0].vrid",
        "must be at most 255, got 300",
    )
    assert str(error) == f"{file}: instances[0].vrid: must be at most 255, got 300"


def test_yaml_top_level_list(tmp_path: Path) -> None:
    error = file_error(write(tmp_path / "vrrp.yml", "- a\n"))
    assert (error.path, error.rule) == ("", 'expected an object, got a list ["a"]')


def test_json_syntax_error_names_line(tmp_path: Path) -> None:
    file = write(tmp_path / "vrrp.json", '{\n  "instances": [\n    {"name": "a",}\n  ]\n}\n')
    error = file_error(file)
    assert error.line == 3
    assert error.rule == (
        "invalid JSON: Expecting property name enclosed in double quotes (line 3, column 18)"
    )
    assert str(error).startswith(f"{file}:3: invalid JSON")


def test_json_duplicate_key_and_nan(tmp_path: Path) -> None:
    error = file_error(write(tmp_path / "vrrp.json", '{"instances": [], "instances": []}'))
    assert (error.path, error.rule) == ("", 'duplicate key "instances"')
    error = file_error(write(tmp_path / "vrrp.json", '{"instances": [NaN]}'))
    assert error.rule == "invalid JSON: NaN is not a JSON value"


def test_unreadable_files(tmp_path: Path) -> None:
    error = file_error(tmp_path / "missing.yml")
    assert error.rule == "cannot be read: No such file or directory"
    error = file_error(write(tmp_path / "latin1.json", b'{"instances": [], "x": "\xe9"}'))
    assert error.rule == "is not UTF-8 text"


def test_fragment_directory(tmp_path: Path) -> None:
    config = load(FIXTURES / "fragments")
    assert [i.name for i in config.instances] == ["db", "web"]  # sorted by file name
    assert config.instances[0].priority == 90
    assert config.sync_groups[0].members == ("web", "db")
    assert load_dir(FIXTURES / "fragments") == config


def fragments(tmp_path: Path) -> Path:
    root = tmp_path / "etc"
    shutil.copytree(FIXTURES / "fragments", root)
    return root


def test_fragment_directory_ignores_temporaries_and_other_files(tmp_path: Path) -> None:
    root = fragments(tmp_path)
    write(root / "instances.d" / ".web.json.tmp1234", "{half a file")
    write(root / "instances.d" / "README", "not json")
    write(root / "instances.d" / "web.json~", "{}")
    (root / "instances.d" / "sub.json").mkdir()
    assert load(root) == load(FIXTURES / "fragments")


def test_fragment_errors_name_the_file_and_inner_path(tmp_path: Path) -> None:
    root = fragments(tmp_path)
    web = root / "instances.d" / "web.json"
    write(web, '{"name": "web", "interface": "eth0", "vrid": 1, "virtual_addresses": ["x/24"]}')
    error = file_error(root)
    assert (error.file, error.path) == (str(web), "virtual_addresses[0]")
    assert str(error) == (
        f"{web}: virtual_addresses[0]: an address is written ADDR or ADDR/PREFIX, "
        'e.g. 192.0.2.10/24; got "x/24"'
    )


def test_fragment_cross_check_names_the_later_file(tmp_path: Path) -> None:
    root = fragments(tmp_path)
    web = root / "instances.d" / "web.json"
    write(
        web, '{"name": "web", "interface": "eth0", "vrid": 2, "virtual_addresses": ["192.0.2.1"]}'
    )
    error = file_error(root)
    assert (error.file, error.path, error.rule) == (
        str(web),
        "vrid",
        'VRID 2 is already used on eth0 for IPv4 by instance "db"',
    )


def test_fragment_sync_group_error(tmp_path: Path) -> None:
    root = fragments(tmp_path)
    group = write(root / "sync_groups.d" / "all.json", '{"name": "all", "members": ["web", "dbx"]}')
    error = file_error(root)
    assert (error.file, error.path, error.rule) == (
        str(group),
        "members[1]",
        'no instance is named "dbx"; did you mean "db"?',
    )


def test_fragment_name_must_match_file(tmp_path: Path) -> None:
    root = fragments(tmp_path)
    web = root / "instances.d" / "web.json"
    write(
        web, '{"name": "www", "interface": "eth0", "vrid": 1, "virtual_addresses": ["192.0.2.1"]}'
    )
    error = file_error(root)
    assert (error.file, error.path, error.rule) == (
        str(web),
        "name",
        'a fragment is named like its file: "www" belongs in www.json',
    )


def test_fragment_must_be_an_object(tmp_path: Path) -> None:
    root = fragments(tmp_path)
    db = write(root / "instances.d" / "db.json", "[]")
    error = file_error(root)
    assert (error.file, error.path, error.rule) == (
        str(db),
        "",
        "expected an object, got a list []",
    )
    assert str(error) == f"{db}: expected an object, got a list []"


def test_fragment_json_error(tmp_path: Path) -> None:
    root = fragments(tmp_path)
    db = write(root / "instances.d" / "db.json", "{")
    error = file_error(root)
    assert error.file == str(db)
    assert error.line == 1


def test_directory_needs_a_fragment_folder(tmp_path: Path) -> None:
    error = file_error(tmp_path)
    assert (error.file, error.rule) == (
        str(tmp_path),
        "holds neither an instances.d nor a sync_groups.d directory",
    )
    (tmp_path / "instances.d").mkdir()
    assert load(tmp_path).instances == ()
