"""Validation in a child process (the runner's way): the same results as ``load``.

The runner never imports jsonschema: it parses the files itself, a short-lived
child checks the very texts it read against the schema, and the runner builds
the Config from its own parse. Every outcome (the Config, or the error with
its file, line, path and rule) must be the one :func:`vrrp.config.load` gives.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_config_errors import CODE_CASES, SCHEMA_CASES

from vrrp import config_isolated
from vrrp._deps import MissingLibraryError
from vrrp.config import Config, ConfigFileError, load, load_isolated
from vrrp.errors import ConfigError

FIXTURES = Path(__file__).parent / "config_fixtures"
ENGINE = Path(__file__).parents[5] / "plugins" / "module_utils"

WEB = '{"name": "web", "interface": "eth0", "vrid": 1, "virtual_addresses": ["192.0.2.1"]}'

# (file name relative to tmp_path, text): what a user may write, good and bad.
FILES: dict[str, list[tuple[str, str]]] = {
    "yaml-valid": [("vrrp.yml", (FIXTURES / "full.yml").read_text())],
    "yaml-empty": [("vrrp.yml", "# nothing yet\n")],
    "yaml-syntax": [("vrrp.yml", "instances:\n  - name: a\n    vrid: [1\n")],
    "yaml-duplicate": [("vrrp.yaml", "instances:\n  - name: a\n    vrid: 1\n    vrid: 2\n")],
    "yaml-date": [("vrrp.yml", "instances:\n  - name: 2024-01-01\n")],
    "yaml-int-key": [("vrrp.yml", "instances:\n  - 1: a\n")],
    "yaml-binary-set": [("vrrp.yml", "instances: !!set {a, b}\nsync_groups: !!binary aGk=\n")],
    "yaml-self-reference": [("vrrp.yml", "instances: &a [*a]\n")],
    "yaml-nan": [("vrrp.yml", "instances:\n  - name: a\n    priority: .nan\n")],
    "yaml-list": [("vrrp.yml", "- a\n")],
    "yaml-schema": [("vrrp.yml", "instances:\n  - name: a\n    vrid: 0\n")],
    "json-syntax": [("vrrp.json", '{"instances": [}')],
    "json-huge-float": [("vrrp.json", '{"instances": [{"name": "a", "priority": 1e999}]}')],
    "json-not-utf8": [("vrrp.json", "\udcff")],
    "fragments-valid": [("d/instances.d/web.json", WEB)],
    "fragments-schema": [
        ("d/instances.d/db.json", WEB.replace("web", "db")),
        ("d/instances.d/web.json", WEB.replace('"vrid": 1', '"vrid": "1"')),
    ],
    "fragments-cross": [
        ("d/instances.d/db.json", WEB.replace("web", "db")),
        ("d/instances.d/web.json", WEB),
    ],
    "fragments-name": [("d/instances.d/www.json", WEB)],
    "fragments-group": [
        ("d/instances.d/web.json", WEB),
        ("d/sync_groups.d/g.json", '{"name": "g", "members": ["web", "nope"]}'),
    ],
    "fragments-group-schema": [
        ("d/instances.d/web.json", WEB),
        ("d/sync_groups.d/g.json", '{"name": "g", "members": "web"}'),
    ],
    "fragments-none": [("d/other/x.json", "{}")],
}


def outcome(run: Any) -> tuple[str, Any]:
    """("config", Config) or ("error", everything an error shows)."""
    try:
        result: Config = run()
    except ConfigError as exc:
        shown: dict[str, Any] = {"type": type(exc), "str": str(exc)}
        shown.update(path=exc.path, rule=exc.rule)
        if isinstance(exc, ConfigFileError):
            shown.update(file=exc.file, line=exc.line)
        return "error", shown
    return "config", result


def place(tmp_path: Path, files: list[tuple[str, str]]) -> Path:
    for name, text in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
    first = files[0][0]
    return tmp_path / "d" if first.startswith("d/") else tmp_path / first


@pytest.mark.parametrize("case", sorted(FILES))
def test_isolated_equals_load(case: str, tmp_path: Path) -> None:
    path = place(tmp_path, FILES[case])
    expected = outcome(lambda: load(path))
    assert outcome(lambda: asyncio.run(load_isolated(path))) == expected
    if case.endswith("-valid"):
        assert expected[0] == "config"
        assert expected[1].instances


def answer_of(data: Any) -> dict[str, Any]:
    """The child's answer for ``data`` written as a YAML file (in this process).

    YAML, not JSON, so that a case holding NaN is written as it is meant.
    """
    text = yaml.safe_dump(data, sort_keys=False)
    request = {"path": "c.yml", "is_dir": False, "files": [["c.yml", None, text]]}
    return config_isolated._source_check(request)


@pytest.mark.parametrize(("data", "path", "rule"), SCHEMA_CASES)
def test_child_answer_names_every_schema_rule(data: Any, path: str, rule: str) -> None:
    assert answer_of(data) == {"path": path, "rule": rule}


@pytest.mark.parametrize(("data", "path", "rule"), CODE_CASES)
def test_child_leaves_the_code_checks_to_the_parent(data: Any, path: str, rule: str) -> None:
    # The child checks the schema only; cross-checks are made by build(), the
    # same code in both ways of loading.
    del path, rule
    answer = answer_of(data)
    assert answer["valid"] is True
    assert answer["document"] == json.loads(json.dumps(data))


def test_the_daemon_process_imports_neither_jsonschema_nor_yaml(tmp_path: Path) -> None:
    path = place(tmp_path, FILES["fragments-valid"])
    code = (
        "import asyncio, sys\n"
        "from vrrp import config, runner\n"
        f"c = asyncio.run(config.load_isolated({str(path)!r}))\n"
        "print(len(c.instances), 'jsonschema' in sys.modules, 'yaml' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ENGINE)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "False", "False"]


def test_the_daemon_process_does_not_parse_yaml(tmp_path: Path) -> None:
    # A YAML file is parsed in the child too: a big or nasty one stalled the
    # daemon's loop (4 MB: 9.8 s without adverts).
    path = place(tmp_path, FILES["yaml-valid"])
    code = (
        "import asyncio, sys\n"
        "from vrrp import config, runner\n"
        f"c = asyncio.run(config.load_isolated({str(path)!r}))\n"
        "print(len(c.instances), 'jsonschema' in sys.modules, 'yaml' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ENGINE)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    count, has_jsonschema, has_yaml = result.stdout.split()
    assert int(count) >= 1
    assert (has_jsonschema, has_yaml) == ("False", "False")
    assert asyncio.run(load_isolated(path)) == load(path)


def test_checker_that_fails_refuses_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = place(tmp_path, FILES["yaml-valid"])
    code = "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"
    monkeypatch.setattr(config_isolated, "_child_argv", lambda: [sys.executable, "-c", code])
    with pytest.raises(ConfigFileError) as info:
        asyncio.run(load_isolated(path))
    assert str(info.value) == (
        f"{path}: cannot be validated: the checker process failed (exit 3): boom"
    )


def test_checker_that_hangs_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = place(tmp_path, FILES["yaml-valid"])
    monkeypatch.setattr(
        config_isolated, "_child_argv", lambda: [shutil.which("sleep") or "sleep", "30"]
    )
    monkeypatch.setattr(config_isolated, "CHECK_TIMEOUT", 0.2)
    with pytest.raises(ConfigFileError) as info:
        asyncio.run(load_isolated(path))
    assert info.value.rule == "cannot be validated: the checker process did not answer within 0.2 s"


def test_checker_that_cannot_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = place(tmp_path, FILES["yaml-valid"])
    monkeypatch.setattr(config_isolated, "_child_argv", lambda: [str(tmp_path / "no-such-python")])
    with pytest.raises(ConfigFileError) as info:
        asyncio.run(load_isolated(path))
    assert info.value.rule.startswith("cannot be validated: cannot start ")


def test_child_without_jsonschema_is_missing_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = place(tmp_path, FILES["fragments-valid"])
    argv = config_isolated._child_argv()
    argv[-1] = "import sys; sys.modules['jsonschema'] = None; " + argv[-1]
    monkeypatch.setattr(config_isolated, "_child_argv", lambda: argv)
    with pytest.raises(MissingLibraryError) as info:
        asyncio.run(load_isolated(path))
    assert info.value.library == "jsonschema"
    assert "jsonschema" in info.value.import_traceback


def test_check_source_command_line(tmp_path: Path) -> None:
    """``python -m vrrp.config check-source``: JSON on stdin, the answer on stdout."""
    request = {"path": "c.yml", "is_dir": False, "files": [["c.yml", None, "instances: 1\n"]]}
    env = {**os.environ, "PYTHONPATH": str(ENGINE)}
    result = subprocess.run(
        [sys.executable, "-m", "vrrp.config", "check-source"],
        input=json.dumps(request),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == {
        "path": "instances",
        "rule": "expected a list, got an integer 1",
    }
