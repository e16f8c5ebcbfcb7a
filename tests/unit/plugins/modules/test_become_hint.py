"""A login without root meets "Permission denied" (the control socket, the config
directory): the error says to use become, the one fix."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.modules import vrrp_config, vrrp_state
from modules_harness import run_module


def test_socket_permission_error_says_become(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "control.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    real_connect = socket.socket.connect

    def denied(self: socket.socket, address: Any) -> None:
        if address == path:  # what a non-root login meets on the root-only socket
            raise PermissionError(13, "Permission denied")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", denied)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # a login that is not root
    try:
        result = run_module(vrrp_state.main, {"control_socket": path}, capsys=capsys)
    finally:
        server.close()
    assert result["failed"] is True
    assert f"permission denied on {path}" in result["msg"]
    assert "become: true" in result["msg"], result["msg"]


def test_config_dir_permission_error_says_become(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*_args: Any, **_kwargs: Any) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    args = {
        "config_dir": str(tmp_path / "etc"),
        "control_socket": str(tmp_path / "s"),
        "config": {"instances": []},
    }
    result = run_module(vrrp_config.main, args, capsys=capsys)
    assert result["failed"] is True
    assert "Permission denied" in result["msg"] and "become: true" in result["msg"], result


def test_as_root_a_permission_error_gets_no_become_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root already: the runner (fewer capabilities) could not read a file; become
    would change nothing, so the message does not suggest it."""

    def denied(*_args: Any, **_kwargs: Any) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    args = {
        "config_dir": str(tmp_path / "etc"),
        "control_socket": str(tmp_path / "s"),
        "config": {"instances": []},
    }
    result = run_module(vrrp_config.main, args, capsys=capsys)
    assert "Permission denied" in result["msg"] and "become" not in result["msg"], result
