"""The schema document itself, its portability, the CLIs and the guarded imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_config_errors import SCHEMA_CASES

from vrrp import _deps, config, schema
from vrrp._deps import MissingLibraryError
from vrrp.errors import ConfigError
from vrrp.schema import CONFIG_SCHEMA

FIXTURES = Path(__file__).parent / "config_fixtures"
# jsonschema < 4 (Debian 11's 3.2, run by tests/py39) has draft 7 only: the
# tests that compare the two dialects need both and run in the venv.
needs_draft2020 = pytest.mark.skipif(
    not hasattr(jsonschema, "Draft202012Validator"),
    reason="jsonschema < 4 has no draft 2020-12 validator to compare with",
)
ENGINE = Path(__file__).parents[5] / "plugins" / "module_utils"

# Keywords that mean the same in draft 7 and draft 2020-12, plus annotations.
PORTABLE = {
    "$schema", "$id", "$defs", "$ref", "title", "description", "default", "writeOnly",
    "x-rule", "type", "enum", "const", "properties", "additionalProperties", "required",
    "items", "minItems", "maxItems", "uniqueItems", "minimum", "maximum", "exclusiveMinimum",
    "minLength", "maxLength", "pattern", "allOf", "if", "then", "else", "not",
}  # fmt: skip


def keywords(node: Any, *, in_map: bool = False) -> Iterator[str]:
    """Every keyword used anywhere in a schema (names under properties/$defs excluded)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not in_map:
                yield key
            yield from keywords(value, in_map=not in_map and key in {"properties", "$defs"})
    elif isinstance(node, list):
        for item in node:
            yield from keywords(item)


@needs_draft2020
def test_schema_is_valid_in_both_dialects() -> None:
    jsonschema.Draft202012Validator.check_schema(CONFIG_SCHEMA)
    jsonschema.Draft7Validator.check_schema(CONFIG_SCHEMA)
    assert set(keywords(CONFIG_SCHEMA)) <= PORTABLE


def test_schema_is_json() -> None:
    assert json.loads(json.dumps(CONFIG_SCHEMA)) == CONFIG_SCHEMA


def test_every_object_is_closed() -> None:
    def objects(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("type") == "object":
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for item in node:
                yield from objects(item)

    found = list(objects(CONFIG_SCHEMA))
    # the document, notify, garp, 3 trackers, auth, instance, group, virtual address, route, rule
    assert len(found) == 12
    assert all(node["additionalProperties"] is False for node in found)


@needs_draft2020
@pytest.mark.parametrize(("data", "path", "rule"), SCHEMA_CASES)
def test_draft7_agrees(data: Any, path: str, rule: str) -> None:
    # Old distribution jsonschema (draft 7 only) refuses what 2020-12 refuses.
    del path, rule
    draft7 = jsonschema.Draft7Validator(CONFIG_SCHEMA)
    draft2020 = jsonschema.Draft202012Validator(CONFIG_SCHEMA)
    assert bool(list(draft7.iter_errors(data))) == bool(list(draft2020.iter_errors(data)))


def test_draft7_accepts_the_full_fixture() -> None:
    import yaml

    data = yaml.safe_load((FIXTURES / "full.yml").read_text())
    jsonschema.Draft7Validator(CONFIG_SCHEMA).validate(data)


def test_validator_falls_back_to_draft7(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonschema, "Draft202012Validator", None, raising=False)
    schema._validator.cache_clear()
    try:
        assert isinstance(schema._validator(None), jsonschema.Draft7Validator)
        with pytest.raises(ConfigError) as info:
            config.load_config({"instances": [{"name": "a", "vmac_interface": "x"}]})
        assert info.value.path == "instances[0]"
    finally:
        monkeypatch.undo()
        schema._validator.cache_clear()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_refs_resolve_with_the_ref_resolver_of_jsonschema_3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # jsonschema < 4 resolves every $ref with RefResolver, against the
    # document's $id: the whole config and single $defs entries must work.
    import yaml

    draft7 = jsonschema.Draft7Validator

    def legacy(document: dict[str, Any]) -> Any:
        return draft7(document, resolver=jsonschema.RefResolver.from_schema(document))

    monkeypatch.setattr(jsonschema, "Draft202012Validator", None, raising=False)
    monkeypatch.setattr(jsonschema, "Draft7Validator", legacy)
    schema._validator.cache_clear()
    try:
        full = config.load_config(yaml.safe_load((FIXTURES / "full.yml").read_text()))
        assert len(full.instances) == 3
        with pytest.raises(ConfigError) as info:
            config.load_config({"instances": [{"name": "a", "vmac_interface": "x"}]})
        assert info.value.path == "instances[0]"
        with pytest.raises(ConfigError) as info:
            schema.validate_instance(
                {"name": "a", "interface": "eth0", "vrid": 0, "virtual_addresses": ["192.0.2.1"]}
            )
        assert info.value.path == "vrid"
    finally:
        monkeypatch.undo()
        schema._validator.cache_clear()


def test_property_defaults() -> None:
    defaults = schema.property_defaults("instance")
    assert defaults["priority"] == 100
    assert defaults["version"] == 3
    assert defaults["advert_interval"] == 1
    assert "vrid" not in defaults
    assert "garp" not in defaults  # a $ref: its own defaults live in $defs/garp


def test_json_path() -> None:
    assert schema.json_path(()) == ""
    assert schema.json_path(("instances", 1, "vrid")) == "instances[1].vrid"
    assert schema.json_path(("a b", 0)) == '["a b"][0]'
    assert schema.json_path((True,)) == "[true]"


def test_show_reads_the_same_in_every_process() -> None:
    # A YAML !!set in an error message is rendered by the runner and by its
    # checker child, each with its own hash seed: both must say the same.
    code = "from vrrp.schema import show; print(show({'k': [{'a', 'b', 'c', 'd'}]}))"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": str(ENGINE), "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(8)
    }
    assert len(seen) == 1, seen


def test_schema_main_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert schema.main([]) == 0
    assert json.loads(capsys.readouterr().out) == CONFIG_SCHEMA
    assert config.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == CONFIG_SCHEMA


def test_config_main_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert config.main(["check", str(FIXTURES / "full.yml")]) == 0
    # The one --check format: the runner's (see test_check_output.py).
    assert capsys.readouterr().out.endswith("valid (3 instance(s), 1 sync group(s))\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("instances: [{name: a}]\n")
    assert config.main(["check", str(bad)]) == 1
    assert capsys.readouterr().err == (
        f"{bad}: instances[0]: the required key 'interface' is missing\n"
    )
    assert config.main([]) == 2
    assert "usage" in capsys.readouterr().err


def run_engine(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ENGINE)}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_python_dash_m_schema() -> None:
    env = {**os.environ, "PYTHONPATH": str(ENGINE)}
    out = subprocess.run(
        [sys.executable, "-m", "vrrp.schema"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == CONFIG_SCHEMA


def test_import_without_jsonschema_then_clear_error() -> None:
    result = run_engine(
        "import sys; sys.modules['jsonschema'] = None\n"
        "from vrrp import _deps, config\n"
        "assert _deps.JSONSCHEMA_IMPORT_ERROR and 'jsonschema' in _deps.JSONSCHEMA_IMPORT_ERROR\n"
        "try:\n"
        "    config.load_config({})\n"
        "except _deps.MissingLibraryError as exc:\n"
        "    print(exc.library); print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    library, message = result.stdout.splitlines()
    assert library == "jsonschema"
    assert message.startswith("the Python library 'jsonschema' is required")


def test_import_without_yaml_json_still_works(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text('{"instances": []}')
    (tmp_path / "c.yml").write_text("instances: []\n")
    result = run_engine(
        "import sys; sys.modules['yaml'] = None\n"
        "from vrrp import _deps, config\n"
        f"print(len(config.load({str(tmp_path / 'c.json')!r}).instances))\n"
        "try:\n"
        f"    config.load({str(tmp_path / 'c.yml')!r})\n"
        "except _deps.MissingLibraryError as exc:\n"
        "    print(exc.library)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "PyYAML"]


def test_require_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    _deps.require_jsonschema()
    _deps.require_yaml()
    monkeypatch.setattr(_deps, "JSONSCHEMA_IMPORT_ERROR", "Traceback: no jsonschema")
    with pytest.raises(MissingLibraryError) as info:
        _deps.require_jsonschema()
    assert info.value.library == "jsonschema"
    assert info.value.import_traceback == "Traceback: no jsonschema"
