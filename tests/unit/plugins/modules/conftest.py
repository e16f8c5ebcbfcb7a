"""Fixtures of the module tests; the helpers are in ``modules_harness``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from modules_harness import FakeRunner, Runner


@pytest.fixture
def config_dir(tmp_path: Path) -> str:
    path = tmp_path / "etc"
    (path / "instances.d").mkdir(parents=True)
    (path / "sync_groups.d").mkdir()
    return str(path)


@pytest.fixture
def runner(tmp_path: Path, config_dir: str) -> Iterator[Runner]:
    server = Runner(FakeRunner(config_dir), str(tmp_path / "control.sock"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
