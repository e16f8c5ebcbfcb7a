"""Runtime state on disk: round trip, atomic writes, mode 0600, bad files."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from vrrp.errors import ConfigError, ControlError
from vrrp.persist import RuntimeState


def test_missing_dir_or_file_is_an_empty_state(tmp_path: Path) -> None:
    state = RuntimeState.load(str(tmp_path / "not-yet"))
    assert state.demotions == {}
    assert state.load_error is None


def test_round_trip_mode_and_format(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    old = os.umask(0)
    try:
        state = RuntimeState(str(lib), demotions={"web": 50, "db": 1})
        state.save()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(lib).st_mode) == 0o700, "save() makes the dir root-only"
    assert stat.S_IMODE(os.stat(lib / "runtime.json").st_mode) == 0o600
    assert json.loads((lib / "runtime.json").read_text()) == {
        "format": 1,
        "demotions": {"db": 1, "web": 50},
    }
    again = RuntimeState.load(str(lib))
    assert again.demotions == {"web": 50, "db": 1}
    assert again.load_error is None
    assert os.listdir(lib) == ["runtime.json"], "no temp file left behind"


def test_save_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = RuntimeState(str(tmp_path), demotions={"web": 10})
    state.save()
    before = (tmp_path / "runtime.json").read_bytes()
    inode = os.stat(tmp_path / "runtime.json").st_ino
    seen: list[bytes] = []
    real_replace = os.replace

    def watching_replace(src: str, dst: str) -> None:
        # At the moment of the rename the old file is intact and the new one
        # is complete and flushed beside it.
        seen.append((tmp_path / "runtime.json").read_bytes())
        seen.append(Path(src).read_bytes())
        assert Path(src).parent == tmp_path
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watching_replace)
    state.demotions["db"] = 20
    state.save()
    assert seen[0] == before
    assert json.loads(seen[1])["demotions"] == {"db": 20, "web": 10}
    assert os.stat(tmp_path / "runtime.json").st_ino != inode, "a new file, renamed over"


def test_failed_write_keeps_the_old_file_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = RuntimeState(str(tmp_path), demotions={"web": 10})
    state.save()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    state.demotions = {"web": 99}
    with pytest.raises(ControlError, match=r"cannot save runtime state to .*No space left"):
        state.save()
    monkeypatch.undo()
    assert RuntimeState.load(str(tmp_path)).demotions == {"web": 10}
    assert os.listdir(tmp_path) == ["runtime.json"], "the temp file is removed"


def test_unwritable_lib_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ControlError, match="cannot save runtime state in"):
        RuntimeState(str(blocker / "lib")).save()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1]", "runtime state must be a JSON object"),
        (b'{"format": 2, "demotions": {}}', "runtime state format must be 1 at format"),
        (b'{"demotions": {}}', "runtime state format must be 1 at format"),
        (b'{"format": 1, "extra": 1}', "unknown key in runtime state at extra"),
        (b'{"format": 1, "demotions": []}', "must be an object of instance name"),
        (b'{"format": 1, "demotions": {"": 5}}', "instance names must not be empty"),
        (b'{"format": 1, "demotions": {"web": -1}}', "from 0 to 254 at demotions.web"),
        (b'{"format": 1, "demotions": {"web": 255}}', "from 0 to 254 at demotions.web"),
        (b'{"format": 1, "demotions": {"web": true}}', "from 0 to 254 at demotions.web"),
        (b'{"format": 1, "demotions": {"web": "5"}}', "from 0 to 254 at demotions.web"),
        (b"[" * 100000, "not valid JSON"),
    ],
)
def test_bad_file_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, problem: str
) -> None:
    (tmp_path / "runtime.json").write_bytes(content)
    with pytest.raises(ConfigError):
        RuntimeState.read(str(tmp_path))
    with caplog.at_level(logging.ERROR, logger="failover-vrrp.persist"):
        state = RuntimeState.load(str(tmp_path))
    assert state.demotions == {}
    assert state.load_error is not None
    assert problem in state.load_error
    assert state.load_error.startswith(str(tmp_path / "runtime.json"))
    assert f"kept as {tmp_path / 'runtime.json.bad'}" in state.load_error
    assert (tmp_path / "runtime.json.bad").read_bytes() == content
    assert [r.getMessage() for r in caplog.records] == [state.load_error]
    # Fail safe: whatever the lost record said, every instance is demoted.
    assert state.fail_safe == state.load_error
    assert "every instance starts demoted (priority 0)" in state.load_error
    assert state.demotion_for("web") == 0
    # And the runner carries on: the next save writes a good file.
    state.demotions["web"] = 7
    state.save()
    again = RuntimeState.load(str(tmp_path))
    assert again.demotions == {"web": 7}
    assert again.demotion_for("db") == 0, "still fail safe after a restart"


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "runtime.json").mkdir()  # EISDIR: unreadable whoever we are
    state = RuntimeState.load(str(tmp_path))
    assert state.demotions == {}
    assert state.load_error is not None
    assert "cannot read: Is a directory" in state.load_error
    assert (tmp_path / "runtime.json.bad").is_dir()


def test_bad_file_that_cannot_be_moved(tmp_path: Path) -> None:
    (tmp_path / "runtime.json").write_text("junk")
    (tmp_path / "runtime.json.bad").mkdir()
    (tmp_path / "runtime.json.bad" / "x").write_text("")  # rename over a non-empty dir fails
    state = RuntimeState.load(str(tmp_path))
    assert state.load_error is not None
    assert "could not move the bad file aside" in state.load_error


def corrupt(tmp_path: Path) -> RuntimeState:
    (tmp_path / "runtime.json").write_text('{"format": 1, "demotions": {"web": 0')
    return RuntimeState.load(str(tmp_path))


def test_a_corrupt_record_fails_safe_until_an_operator_restores(tmp_path: Path) -> None:
    # A host demoted for maintenance whose record got corrupted must not take
    # the VIP back at the next start: every instance starts demoted (resigning).
    state = corrupt(tmp_path)
    assert state.fail_safe is not None
    assert {name: state.demotion_for(name) for name in ("web", "db")} == {"web": 0, "db": 0}
    # An explicit demotion is the operator's word.
    state.demotions["db"] = 40
    assert state.demotion_for("db") == 40
    # A restore ends the fail-safe for that instance only, and is kept.
    assert state.restore("web") is True
    assert state.demotion_for("web") is None
    assert state.demotion_for("mail") == 0
    state.save()
    again = RuntimeState.load(str(tmp_path))
    assert again.fail_safe == state.fail_safe
    assert again.demotion_for("web") is None
    assert again.demotion_for("db") == 40
    assert again.demotion_for("mail") == 0
    assert again.restore("web") is False, "nothing left to restore"
    # Restoring everything ends it for every instance, also those added later.
    assert again.restore("mail") is True
    again.end_fail_safe()
    assert again.fail_safe is None
    assert again.demotion_for("new") is None
    again.save()
    assert json.loads((tmp_path / "runtime.json").read_text()) == {
        "format": 1,
        "demotions": {"db": 40},
    }
    assert RuntimeState.load(str(tmp_path)).fail_safe is None


def test_the_fail_safe_survives_a_restart_before_any_save(tmp_path: Path) -> None:
    first = corrupt(tmp_path)
    # The bad file was moved aside: without a record of the fail-safe the next
    # start would find no file at all and start undemoted.
    second = RuntimeState.load(str(tmp_path))
    assert second.load_error is None
    assert second.fail_safe == first.fail_safe
    assert second.demotion_for("web") == 0


def test_a_good_record_is_not_fail_safe(tmp_path: Path) -> None:
    RuntimeState(str(tmp_path), demotions={"web": 50}).save()
    state = RuntimeState.load(str(tmp_path))
    assert state.fail_safe is None
    assert state.demotion_for("web") == 50
    assert state.demotion_for("db") is None
    assert state.restore("web") is True
    assert state.restore("db") is False


@pytest.mark.parametrize(
    "fail_safe",
    [[], {"reason": 5}, {"reason": "x", "restored": "web"}, {"reason": "x", "extra": []}],
)
def test_a_bad_fail_safe_record_is_itself_fail_safe(tmp_path: Path, fail_safe: object) -> None:
    document = {"format": 1, "demotions": {}, "fail_safe": fail_safe}
    (tmp_path / "runtime.json").write_text(json.dumps(document))
    assert RuntimeState.load(str(tmp_path)).demotion_for("web") == 0
