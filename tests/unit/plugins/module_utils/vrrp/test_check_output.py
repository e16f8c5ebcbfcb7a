"""The one ``--check``: ``python -m vrrp.runner --check`` (the unit's ExecStartPre).

``python -m vrrp.config check PATH`` says the same, word for word. A valid
config: ``PATH: valid (N instance(s), M sync group(s))`` on stdout, exit 0.
An invalid one: the error on stderr naming the file (and line) once, exit 1
(the runner's --check printed the path twice: ``PATH: PATH: rule``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vrrp import config, runner

FIXTURES = Path(__file__).parent / "config_fixtures"


def both(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = runner.main(["--check", "--config", str(path)])
    out, err = capsys.readouterr()
    assert config.main(["check", str(path)]) == status
    assert capsys.readouterr() == (out, err)  # one format
    return status, out, err


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("full.yml", "3 instance(s), 1 sync group(s)"),
        ("fragments", "2 instance(s), 1 sync group(s)"),
    ],
)
def test_a_valid_config(name: str, counts: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / name
    assert both(path, capsys) == (0, f"{path}: valid ({counts})\n", "")


def test_an_invalid_file_is_named_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("instances: [{name: a}]\n")
    rule = "instances[0]: the required key 'interface' is missing"
    assert both(bad, capsys) == (1, "", f"{bad}: {rule}\n")


def test_an_invalid_fragment_names_the_fragment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "instances.d").mkdir()
    fragment = tmp_path / "instances.d" / "a.json"
    fragment.write_text('{"name": "a"}')
    rule = "the required key 'interface' is missing"
    assert both(tmp_path, capsys) == (1, "", f"{fragment}: {rule}\n")


def test_a_file_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yml"
    status, out, err = both(missing, capsys)
    assert (status, out) == (1, "")
    assert err.startswith(f"{missing}: ") and err.count(str(missing)) == 1
