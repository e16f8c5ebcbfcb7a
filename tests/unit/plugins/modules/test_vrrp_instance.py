"""vrrp_instance: the fragment file, the runner's reload and every way it can go wrong."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.modules import vrrp_instance
from modules_harness import ConfigError, Runner, run_module

WEB: dict[str, Any] = {
    "name": "web",
    "interface": "eth0",
    "vrid": 51,
    "priority": 150,
    "virtual_addresses": ["192.0.2.10/24"],
}


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **kw: Any) -> dict[str, Any]:
    return run_module(vrrp_instance.main, args, capsys=capsys, **kw)


def args_for(runner: Runner, **values: Any) -> dict[str, Any]:
    return {"config_dir": runner.handler.config_dir, "control_socket": runner.socket, **values}


def fragment(runner: Runner, name: str = "web") -> Path:
    return Path(runner.handler.config_dir, "instances.d", f"{name}.json")


def test_create_writes_canonical_json_and_reloads(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(args_for(runner, **WEB), capsys)
    assert result["changed"] is True
    assert result["reloaded"] is True
    assert result["file"] == str(fragment(runner))
    # Only what RETURN documents: no file attributes that AnsibleModule adds to
    # a result with a "path" (owner, mode, state: file, ...).
    assert set(result) - {"invocation", "diff", "warnings"} == {
        "changed",
        "instance",
        "file",
        "reloaded",
    }, result
    on_disk = json.loads(fragment(runner).read_text())
    assert on_disk == result["instance"]
    assert on_disk["priority"] == 150
    assert on_disk["version"] == 3  # the schema's default filled in
    assert on_disk["advert_interval"] == 1  # canonical: 1, not 1.0
    assert fragment(runner).read_text() == json.dumps(on_disk, indent=2, sort_keys=True) + "\n"
    assert stat.S_IMODE(fragment(runner).stat().st_mode) == 0o644
    assert runner.handler.calls.count(("reload",)) == 1
    # no temp file left behind
    assert sorted(os.listdir(fragment(runner).parent)) == ["web.json"]


def test_second_run_changes_nothing_and_does_not_reload(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, **WEB), capsys)
    before = fragment(runner).stat().st_mtime_ns
    again = run(args_for(runner, **WEB), capsys)
    assert again["changed"] is False
    assert again["reloaded"] is False
    assert fragment(runner).stat().st_mtime_ns == before
    assert runner.handler.calls.count(("reload",)) == 1


def test_defaults_spelled_out_are_the_same_instance(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, **WEB), capsys)
    explicit = dict(WEB, version=3, advert_interval=1.0, preempt=True, garp={"repeat": 5})
    assert run(args_for(runner, **explicit), capsys)["changed"] is False


def test_change_rewrites_with_diff(runner: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    run(args_for(runner, **WEB), capsys)
    result = run(args_for(runner, **{**WEB, "priority": 90}), capsys, diff=True)
    assert result["changed"] is True
    assert json.loads(fragment(runner).read_text())["priority"] == 90
    diff = result["diff"]
    assert '"priority": 150' in diff["before"]
    assert '"priority": 90' in diff["after"]
    assert diff["before_header"] == diff["after_header"] == str(fragment(runner))


def test_check_mode_predicts_without_touching(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(args_for(runner, **WEB), capsys, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["reloaded"] is False
    assert result["diff"]["before"] == ""
    assert '"vrid": 51' in result["diff"]["after"]
    assert not fragment(runner).exists()
    assert runner.handler.calls == []
    run(args_for(runner, **WEB), capsys)
    assert run(args_for(runner, **WEB), capsys, check_mode=True)["changed"] is False


def test_check_mode_does_not_create_the_config_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_dir = tmp_path / "nowhere"
    result = run(
        {"config_dir": str(config_dir), "control_socket": str(tmp_path / "s"), **WEB},
        capsys,
        check_mode=True,
    )
    assert result["changed"] is True
    assert not config_dir.exists()


def test_absent_removes_and_reloads(runner: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    run(args_for(runner, **WEB), capsys)
    result = run(args_for(runner, name="web", state="absent"), capsys, diff=True)
    assert result["changed"] is True
    assert result["instance"] == {}
    assert result["diff"]["after"] == ""
    assert not fragment(runner).exists()
    assert runner.handler.calls.count(("reload",)) == 2
    again = run(args_for(runner, name="web", state="absent"), capsys)
    assert again["changed"] is False


def test_refused_reload_restores_the_old_file(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, **WEB), capsys)
    old = fragment(runner).read_text()
    runner.handler.refuse = ConfigError("instances[0].interface", "interface 'eth0' is gone")
    result = run(args_for(runner, **{**WEB, "priority": 90}), capsys)
    assert result["failed"] is True
    assert "refused" in result["msg"]
    assert "interface 'eth0' is gone" in result["msg"]
    assert "was restored" in result["msg"]
    assert result["path"] == "instances[0].interface"
    assert result["rule"] == "interface 'eth0' is gone"
    assert fragment(runner).read_text() == old


def test_refused_reload_of_a_new_instance_removes_it(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    runner.handler.refuse = ConfigError("", "no")
    result = run(args_for(runner, **WEB), capsys)
    assert result["failed"] is True
    assert "removed again" in result["msg"]
    assert not fragment(runner).exists()


def test_refused_removal_puts_the_file_back(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, **WEB), capsys)
    old = fragment(runner).read_text()
    runner.handler.refuse = ConfigError("", "the runner needs web")
    result = run(args_for(runner, name="web", state="absent"), capsys)
    assert result["failed"] is True
    assert fragment(runner).read_text() == old


def test_password_file_is_private_and_hidden(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    args = dict(WEB, version=2, authentication={"password": "s3cret"})
    result = run(args_for(runner, **args), capsys, diff=True)
    assert result["changed"] is True
    assert stat.S_IMODE(fragment(runner).stat().st_mode) == 0o600
    assert json.loads(fragment(runner).read_text())["authentication"]["password"] == "s3cret"
    assert "s3cret" not in json.dumps(result)
    # a changed password is still a change, and still hidden (also the old one)
    args["authentication"] = {"password": "other"}
    result = run(args_for(runner, **args), capsys, diff=True)
    assert result["changed"] is True
    assert "s3cret" not in json.dumps(result)
    assert "other" not in json.dumps(result)


def test_no_runner_writes_and_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = str(tmp_path / "none.sock")
    result = run({"config_dir": str(tmp_path / "etc"), "control_socket": sock, **WEB}, capsys)
    assert result["changed"] is True
    assert result["reloaded"] is False
    # ansible-core 2.19 returns warnings as structured events
    assert f"no runner is listening on {sock}" in json.dumps(result["warnings"])
    assert (tmp_path / "etc" / "instances.d" / "web.json").exists()


def test_reload_false_only_writes(runner: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(args_for(runner, reload=False, **WEB), capsys)
    assert result["changed"] is True
    assert result["reloaded"] is False
    assert runner.handler.calls == []


def test_vrid_clash_fails_before_writing(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, **WEB), capsys)
    result = run(args_for(runner, **{**WEB, "name": "web2"}), capsys)
    assert result["failed"] is True
    assert "VRID 51 is already used on eth0" in result["msg"]
    assert result["rule"].startswith("VRID 51 is already used")
    assert result["file"] == str(fragment(runner, "web2"))
    assert not fragment(runner, "web2").exists()
    assert runner.handler.calls.count(("reload",)) == 1


def test_removing_a_sync_group_member_fails_before_touching(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, **WEB), capsys)
    group = Path(runner.handler.config_dir, "sync_groups.d", "g.json")
    group.write_text(json.dumps({"name": "g", "members": ["web"]}))
    result = run(args_for(runner, name="web", state="absent"), capsys)
    assert result["failed"] is True
    assert result["file"] == str(group)
    assert "no instance is named" in result["msg"]
    assert fragment(runner).exists()


@pytest.mark.parametrize(
    ("values", "path", "words"),
    [
        ({"vrid": 256}, "vrid", "at most 255"),
        ({"virtual_addresses": ["192.0.2.300"]}, "virtual_addresses[0]", "not a valid"),
        ({"version": 2, "advert_interval": 1.5}, "advert_interval", "whole seconds"),
        ({"virtual_addresses": ["2001:db8::1"]}, "virtual_addresses[0]", "link-local"),
        ({"authentication": {"password": "x"}}, "authentication", "version 2 only"),
        ({"track_files": [{"path": "relative"}]}, "track_files[0].path", "absolute path"),
    ],
)
def test_schema_errors_name_path_and_rule(
    runner: Runner,
    capsys: pytest.CaptureFixture[str],
    values: dict[str, Any],
    path: str,
    words: str,
) -> None:
    result = run(args_for(runner, **dict(WEB, **values)), capsys)
    assert result["failed"] is True
    assert result["path"] == path
    assert words in result["rule"]
    assert words in result["msg"]
    assert not fragment(runner).exists()


def test_missing_required_fields(runner: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(args_for(runner, name="web", interface="eth0"), capsys)
    assert result["failed"] is True
    assert "state is present but all of the following are missing" in result["msg"]
    assert "vrid" in result["msg"]
    assert "virtual_addresses" in result["msg"]


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"vrid": "fifty"}, "vrid"),
        ({"colour": "red"}, "Unsupported parameters"),
        ({"track_interfaces": [{"weight": 5}]}, "interface"),
        ({"version": 4}, "version"),
    ],
)
def test_bad_arguments_are_clear(
    runner: Runner, capsys: pytest.CaptureFixture[str], values: dict[str, Any], words: str
) -> None:
    result = run(args_for(runner, **dict(WEB, **values)), capsys)
    assert result["failed"] is True
    assert words in result["msg"]


def test_bad_name_is_refused_before_touching_a_path(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(args_for(runner, name="../evil", state="absent"), capsys)
    assert result["failed"] is True
    assert result["path"] == "name"
    assert "a name starts with" in result["rule"]


def test_missing_jsonschema_is_missing_required_lib(
    runner: Runner, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible_collections.failover.vrrp.plugins.module_utils.vrrp import _deps, schema

    monkeypatch.setattr(_deps, "JSONSCHEMA_IMPORT_ERROR", "Traceback: no jsonschema")
    schema._validator.cache_clear()
    try:
        result = run(args_for(runner, **WEB), capsys)
    finally:
        monkeypatch.undo()
        schema._validator.cache_clear()
    assert result["failed"] is True
    assert "Failed to import the required Python library (jsonschema)" in result["msg"]


def test_runner_that_does_not_answer_keeps_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    sock_path = str(tmp_path / "mute.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)

    import threading

    def hang_up() -> None:
        conn, _addr = server.accept()
        conn.close()

    thread = threading.Thread(target=hang_up)
    thread.start()
    try:
        result = run(
            {"config_dir": str(tmp_path / "etc"), "control_socket": sock_path, **WEB}, capsys
        )
    finally:
        thread.join(5)
        server.close()
    assert result["failed"] is True
    assert "did not confirm the reload" in result["msg"]
    assert (tmp_path / "etc" / "instances.d" / "web.json").exists()


def test_unreadable_old_file(runner: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    fragment(runner).write_bytes(b"\xff\xfe not text")
    result = run(args_for(runner, **WEB), capsys)
    assert result["failed"] is True
    assert result["file"] == str(fragment(runner))
    assert "cannot be read" in result["msg"]


def test_hand_broken_old_file_is_replaced_and_not_shown(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    fragment(runner).write_text('{"name": "web", "authentication": {"password": "leak')
    result = run(args_for(runner, **WEB), capsys, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"].startswith("(not valid JSON")
    assert "leak" not in json.dumps(result)
    assert json.loads(fragment(runner).read_text())["vrid"] == 51


def test_config_dir_that_cannot_be_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run({"config_dir": str(blocker), "control_socket": str(tmp_path / "s"), **WEB}, capsys)
    assert result["failed"] is True
    # The lock is taken in the config dir before anything is read.
    assert result["msg"] == f"{blocker}: is not a directory"
    assert result["file"] == str(blocker)


def test_fragment_store_knows_its_two_directories() -> None:
    from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_fragments import (
        FragmentStore,
        hide_secrets,
    )

    with pytest.raises(ValueError, match="unknown fragment directory"):
        FragmentStore("/etc/failover-vrrp", "hosts.d")
    assert hide_secrets(["not", "a", "dict"]) == ["not", "a", "dict"]


def test_vrid_clash_blamed_on_an_untouched_file_names_the_declared_one(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    """``a.json`` sorts before ``web.json``: the cross-check meets the clash at
    ``web.json``, a file this task does not touch; the message says that the
    clash comes from the instance the task declares."""
    run(args_for(runner, **WEB), capsys)
    before = fragment(runner, "web").read_bytes()
    result = run(args_for(runner, **{**WEB, "name": "a"}), capsys)
    assert result["failed"] is True
    assert result["file"] == str(fragment(runner, "web"))
    assert result["msg"].endswith(
        'web.json: vrid: VRID 51 is already used on eth0 for IPv4 by instance "a" '
        "(a clash with instances.d/a.json as this task declares it)"
    ), result["msg"]
    assert not fragment(runner, "a").exists()
    assert fragment(runner, "web").read_bytes() == before


def test_fragment_write_is_atomic_private_and_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Audit (issue 9): temp file in the same directory, mode set before any
    # byte is written, fsync of the file, rename, fsync of the directory.
    from ansible_collections.failover.vrrp.plugins.module_utils import ansible_vrrp_fragments

    store = ansible_vrrp_fragments.FragmentStore(str(tmp_path), "instances.d")
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        events.append(f"fsync {os.path.basename(target)} {mode:o}")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(f"replace {os.path.dirname(src) == os.path.dirname(dst)}")
        real_replace(src, dst)

    monkeypatch.setattr(ansible_vrrp_fragments.os, "fsync", fsync)
    monkeypatch.setattr(ansible_vrrp_fragments.os, "replace", replace)
    store.write("web", '{"name": "web"}\n', mode=0o600)
    assert events[0].startswith("fsync .web.") and events[0].endswith(".tmp 600")
    assert events[1:] == ["replace True", "fsync instances.d 755"]
    written = tmp_path / "instances.d" / "web.json"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert os.listdir(tmp_path / "instances.d") == ["web.json"]
