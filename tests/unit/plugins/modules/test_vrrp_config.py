"""vrrp_config: every resource state, one validation, one write, one reload, one rollback."""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.module_utils import ansible_vrrp_fragments
from ansible_collections.failover.vrrp.plugins.modules import vrrp_config
from modules_harness import ConfigError, Runner, instance_state, run_module


def inst(name: str, vrid: int, **values: Any) -> dict[str, Any]:
    return {
        "name": name,
        "interface": "eth0",
        "vrid": vrid,
        "virtual_addresses": [f"192.0.2.{vrid}/24"],
        **values,
    }


WEB = inst("web", 51, priority=150)
DB = inst("db", 52)
OLD = inst("old", 53)
GROUP = {"name": "front", "members": ["web", "db"]}


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **kw: Any) -> dict[str, Any]:
    return run_module(vrrp_config.main, args, capsys=capsys, **kw)


def args_for(runner: Runner, state: str = "merged", **config: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "config_dir": runner.handler.config_dir,
        "control_socket": runner.socket,
        "state": state,
    }
    if config:
        args["config"] = config
    return args


def files(runner: Runner) -> dict[str, str]:
    """Every fragment under the config dir, ``subdir/name.json -> text``."""
    root = Path(runner.handler.config_dir)
    return {
        str(p.relative_to(root)): p.read_text()
        for sub in ("instances.d", "sync_groups.d")
        for p in sorted((root / sub).glob("*"))
    }


def reloads(runner: Runner) -> int:
    return runner.handler.calls.count(("reload",))


def test_merged_writes_the_whole_set_with_one_reload(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(args_for(runner, instances=[WEB, DB], sync_groups=[GROUP]), capsys)
    assert result["changed"] is True
    assert result["reloaded"] is True
    assert reloads(runner) == 1
    assert sorted(files(runner)) == [
        "instances.d/db.json",
        "instances.d/web.json",
        "sync_groups.d/front.json",
    ]
    assert result["commands"] == ["add instance db", "add instance web", "add sync_group front"]
    assert result["before"] == {"instances": [], "sync_groups": []}
    assert [i["name"] for i in result["after"]["instances"]] == ["db", "web"]
    web = json.loads(files(runner)["instances.d/web.json"])
    assert web["priority"] == 150 and web["version"] == 3  # the schema's defaults filled in
    # the same text the single-object module writes
    assert files(runner)["instances.d/web.json"] == json.dumps(web, indent=2, sort_keys=True) + "\n"
    again = run(args_for(runner, instances=[WEB, DB], sync_groups=[GROUP]), capsys)
    assert again["changed"] is False and again["commands"] == [] and again["reloaded"] is False
    assert reloads(runner) == 1


def test_merged_changes_only_the_keys_given(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, instances=[{**WEB, "garp": {"repeat": 3}}, DB]), capsys)
    result = run(
        args_for(runner, instances=[{"name": "web", "priority": 90, "garp": {"delay": 2}}]),
        capsys,
    )
    assert result["commands"] == ["change instance web (garp, priority)"]
    web = json.loads(files(runner)["instances.d/web.json"])
    assert web["priority"] == 90
    assert web["interface"] == "eth0" and web["virtual_addresses"] == ["192.0.2.51/24"]
    assert web["garp"]["repeat"] == 3 and web["garp"]["delay"] == 2  # a mapping merges
    assert "instances.d/db.json" in files(runner)


def test_replaced_resets_the_keys_left_out(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, instances=[WEB, DB]), capsys)
    result = run(args_for(runner, "replaced", instances=[inst("web", 51)]), capsys)
    assert result["commands"] == ["change instance web (priority)"]
    assert json.loads(files(runner)["instances.d/web.json"])["priority"] == 100
    assert "instances.d/db.json" in files(runner)
    partial = run(args_for(runner, "replaced", instances=[{"name": "web", "priority": 9}]), capsys)
    assert partial["failed"] is True
    assert "instances[0]" in partial["msg"] and "'web'" in partial["msg"], partial["msg"]


def test_overridden_removes_what_is_not_given_with_one_reload(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, instances=[WEB, DB, OLD], sync_groups=[GROUP]), capsys)
    # The group goes and its member db with it, in one set: no order to get right.
    result = run(args_for(runner, "overridden", instances=[WEB, inst("new", 52)]), capsys)
    assert result["changed"] is True
    assert sorted(files(runner)) == ["instances.d/new.json", "instances.d/web.json"]
    assert sorted(result["commands"]) == [
        "add instance new",
        "remove instance db",
        "remove instance old",
        "remove sync_group front",
    ]
    assert reloads(runner) == 2


def test_deleted_removes_the_named_objects_or_everything(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, instances=[WEB, DB, OLD], sync_groups=[GROUP]), capsys)
    result = run(args_for(runner, "deleted", instances=[{"name": "old"}]), capsys)
    assert result["commands"] == ["remove instance old"]
    assert "sync_groups.d/front.json" in files(runner)  # not named: stays
    member = run(args_for(runner, "deleted", instances=[{"name": "db"}]), capsys)
    assert member["failed"] is True and "front" in member["file"], member
    assert "instances.d/db.json" in files(runner)
    everything = run(args_for(runner, "deleted"), capsys)
    assert everything["changed"] is True and files(runner) == {}
    assert run(args_for(runner, "deleted"), capsys)["changed"] is False


def test_check_mode_predicts_and_touches_nothing(
    runner: Runner, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(args_for(runner, instances=[WEB]), capsys)
    before = files(runner)
    result = run(
        args_for(runner, "overridden", instances=[{**WEB, "priority": 90}, DB]),
        capsys,
        check_mode=True,
        diff=True,
    )
    assert result["changed"] is True
    assert result["commands"] == ["add instance db", "change instance web (priority)"]
    assert files(runner) == before and reloads(runner) == 1
    assert not Path(runner.handler.config_dir, ".lock").exists() or before
    diffs = {d["after_header"].rsplit("/", 1)[-1]: d for d in result["diff"]}
    assert diffs["db.json"]["before"] == "" and '"vrid": 52' in diffs["db.json"]["after"]
    assert '"priority": 150' in diffs["web.json"]["before"]
    assert '"priority": 90' in diffs["web.json"]["after"]
    # A bare host: no directory, nothing created, the whole set predicted.
    bare = str(tmp_path / "bare")
    predicted = run(
        {"config_dir": bare, "control_socket": runner.socket, "config": {"instances": [WEB]}},
        capsys,
        check_mode=True,
    )
    assert predicted["changed"] is True and predicted["commands"] == ["add instance web"]
    assert not os.path.exists(bare)


def test_a_clash_inside_the_set_fails_before_any_file_is_written(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, instances=[WEB]), capsys)
    before = files(runner)
    result = run(args_for(runner, instances=[DB, inst("twin", 52)]), capsys)
    assert result["failed"] is True
    assert "VRID 52 is already used on eth0" in result["msg"], result["msg"]
    assert result["file"].endswith("instances.d/twin.json")
    assert files(runner) == before and reloads(runner) == 1


def test_a_refused_reload_puts_every_file_back(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = {**OLD, "version": 2, "authentication": {"password": "s3cret"}}
    run(args_for(runner, instances=[WEB, DB, secret]), capsys)
    before = files(runner)
    modes = {n: stat.S_IMODE(os.stat(Path(runner.handler.config_dir, n)).st_mode) for n in before}
    runner.handler.refuse = ConfigError("instances[0].interface", "interface 'eth0' is gone")
    result = run(
        args_for(runner, "overridden", instances=[{**WEB, "priority": 1}, inst("new", 60)]),
        capsys,
    )
    assert result["failed"] is True
    assert "refused" in result["msg"] and "interface 'eth0' is gone" in result["msg"]
    root = runner.handler.config_dir
    assert (
        f"({root}/instances.d/db.json was put back, {root}/instances.d/new.json was removed again, "
        f"{root}/instances.d/old.json was put back, {root}/instances.d/web.json was restored)"
    ) in result["msg"], result["msg"]
    assert files(runner) == before
    assert modes["instances.d/old.json"] == 0o600
    assert {
        n: stat.S_IMODE(os.stat(Path(runner.handler.config_dir, n)).st_mode) for n in before
    } == modes
    assert reloads(runner) == 2


def test_a_failed_write_leaves_every_file_as_it_was(
    runner: Runner, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(args_for(runner, instances=[WEB, DB]), capsys)
    before = files(runner)
    real = ansible_vrrp_fragments.FragmentStore.write
    written: list[str] = []

    def second_fails(self: Any, name: str, text: str, *, mode: int) -> None:
        written.append(name)
        if len(written) == 2:
            raise ansible_vrrp_fragments.ControlError(f"cannot write {name}: No space left")
        real(self, name, text, mode=mode)

    monkeypatch.setattr(ansible_vrrp_fragments.FragmentStore, "write", second_fails)
    result = run(
        args_for(runner, instances=[{**DB, "priority": 7}, {**WEB, "priority": 8}]), capsys
    )
    assert result["failed"] is True
    assert "No space left" in result["msg"] and "as it was" in result["msg"]
    assert files(runner) == before
    assert reloads(runner) == 1


def test_the_lock_is_held_through_the_reload(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[bool] = []
    reload = runner.handler.reload

    async def probing() -> dict[str, Any]:
        fd = os.open(os.path.join(runner.handler.config_dir, ".lock"), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(False)
        except BlockingIOError:
            seen.append(True)
        finally:
            os.close(fd)
        return await reload()

    runner.handler.reload = probing  # type: ignore[method-assign]
    assert run(args_for(runner, instances=[WEB]), capsys)["changed"] is True
    assert seen == [True]


def test_rendered_needs_no_host(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    nowhere = str(tmp_path / "none")
    args = {
        "state": "rendered",
        "config_dir": nowhere,
        "control_socket": str(tmp_path / "no.sock"),
        "config": {"instances": [WEB, {**DB, "authentication": {"password": "pw"}, "version": 2}]},
    }
    result = run(args, capsys)
    assert result["changed"] is False
    assert sorted(result["rendered"]) == [
        f"{nowhere}/instances.d/db.json",
        f"{nowhere}/instances.d/web.json",
    ]
    assert json.loads(result["rendered"][f"{nowhere}/instances.d/web.json"])["priority"] == 150
    assert "pw" not in json.dumps(result)
    assert not os.path.exists(nowhere)
    clash = run({**args, "config": {"instances": [WEB, inst("twin", 51)]}}, capsys)
    assert clash["failed"] is True and "VRID 51" in clash["msg"]


def test_gathered_reads_the_files_and_the_runner(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    run(args_for(runner, instances=[WEB, DB]), capsys)
    runner.handler.instances = {
        "web": instance_state("web"),
        "ghost": instance_state("ghost", state="BACKUP"),
    }
    result = run(args_for(runner, "gathered"), capsys)
    assert result["changed"] is False
    assert [i["name"] for i in result["gathered"]["instances"]] == ["db", "web"]
    assert result["running"] == {"ghost": "BACKUP", "web": "MASTER"}
    assert result["not_running"] == ["db"] and result["not_in_files"] == ["ghost"]


def test_no_runner_writes_and_warns(
    config_dir: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = {
        "config_dir": config_dir,
        "control_socket": str(tmp_path / "none.sock"),
        "config": {"instances": [WEB]},
    }
    result = run(args, capsys)
    assert result["changed"] is True and result["reloaded"] is False
    assert "no runner is listening" in json.dumps(result["warnings"])
    assert os.path.exists(os.path.join(config_dir, "instances.d", "web.json"))


def test_bad_items_are_named(runner: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    twice = run(args_for(runner, instances=[WEB, WEB]), capsys)
    assert twice["failed"] is True and "given twice" in twice["msg"]
    unknown = run(args_for(runner, instances=[{**WEB, "prio": 1}]), capsys)
    assert unknown["failed"] is True and "prio" in unknown["msg"]
    bad = run(args_for(runner, instances=[WEB, {**DB, "priority": 300}]), capsys)
    assert bad["failed"] is True
    assert bad["path"] == "instances[1].priority" and "'db'" in bad["msg"], bad
    missing = run({**args_for(runner), "state": "overridden"}, capsys)
    assert missing["failed"] is True and "config" in missing["msg"]
    assert files(runner) == {}
