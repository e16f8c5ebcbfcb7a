"""Module runs at once on one config directory: validate, write and reload under one lock.

Each run validates the directory as it would be after its own change; two runs
that validate before either writes can each pass and together leave a directory
the runner refuses at its next start (a VRID twice, a sync group whose member
is gone). The change set holds ``<config_dir>/.lock`` (``flock``) from reading
the directory to the end of the reload, so the second run validates the
directory the first one left.

The writers here have no runner listening (stopped or restarting): nothing but
the modules' own validation stands between them and the next start. Each
writer here runs what ``vrrp_instance`` / ``vrrp_sync_group`` run
(``ansible_vrrp_config.run_object``: the change set under ``config_lock``);
``vrrp_config`` takes the same lock (test_vrrp_config.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.module_utils import ansible_vrrp_fragments
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_changeset import (
    ChangeSet,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_config import run_object
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_fragments import (
    canonical_text,
)
from modules_harness import ConfigError, ControlError, load_dir

# How long a writer that has validated waits for the other to validate too: on
# the code before the lock both get there; with the lock the wait times out.
MEET_S = 3.0


def web(name: str, vrid: int = 51) -> str:
    return canonical_text(
        {
            "name": name,
            "interface": "eth0",
            "vrid": vrid,
            "priority": 100,
            "virtual_addresses": [f"192.0.2.{vrid}/24"],
        }
    )


KEYS = {"instances.d": "instances", "sync_groups.d": "sync_groups"}


def run(
    config_dir: str, subdir: str, name: str, text: str | None, sock: str, *, check: bool = False
) -> dict[str, Any]:
    """One module run's backend (None text: state absent); its result."""
    params = {"name": name, "config_dir": config_dir, "control_socket": sock, "reload": True}
    wanted = None if text is None else json.loads(text)
    return run_object(params, key=KEYS[subdir], wanted=wanted, check_mode=check, diff=False)


def apply(config_dir: str, subdir: str, name: str, text: str | None, sock: str) -> Any:
    """One module run's backend; its result, or the error it failed with."""
    try:
        return run(config_dir, subdir, name, text, sock)
    except ConfigError as exc:
        return exc


def _meet_after_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each writer wait, once validated, until the other has validated too."""
    meet = threading.Barrier(2)
    validate = ChangeSet.validate

    def validate_then_meet(self: ChangeSet) -> None:
        validate(self)
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=MEET_S)

    monkeypatch.setattr(ChangeSet, "validate", validate_then_meet)


# (first writer, second writer, the clash named): each change valid on its own.
CLASHES = {
    "one VRID twice": (
        ("instances.d", "a", web("a")),
        ("instances.d", "b", web("b")),
        "VRID 51 is already used on eth0",
    ),
    "a group's member removed": (
        ("instances.d", "keep", None),
        ("sync_groups.d", "g", canonical_text({"name": "g", "members": ["keep"]})),
        "no instance is named",
    ),
}


@pytest.mark.parametrize("case", sorted(CLASHES))
def test_two_conflicting_writers_at_once_one_wins_the_other_names_the_clash(
    case: str, config_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, clash = CLASHES[case]
    if case == "a group's member removed":
        Path(config_dir, "instances.d", "keep.json").write_text(web("keep"))
    _meet_after_validation(monkeypatch)
    sock = str(tmp_path / "no-runner.sock")
    results: dict[str, Any] = {}

    def writer(subdir: str, name: str, text: str | None) -> None:
        results[name] = apply(config_dir, subdir, name, text, sock)

    threads = [threading.Thread(target=writer, args=job) for job in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    failed = {name: r for name, r in results.items() if isinstance(r, ConfigError)}
    assert len(results) == 2 and len(failed) == 1, results
    assert clash in str(next(iter(failed.values())))
    load_dir(config_dir)  # what the runner reads at its next start is valid


def _racer(config_dir: str, sock: str, name: str, go: Any, out: Any) -> None:
    go.wait(30)
    result = apply(config_dir, "instances.d", name, web(name), sock)
    out.put((name, str(result) if isinstance(result, ConfigError) else "ok"))


def test_writers_in_separate_processes_claiming_one_vrid_exactly_one_wins(
    config_dir: str, tmp_path: Path
) -> None:
    """Six module runs (processes, as Ansible forks them) start together, each
    declaring its own instance on VRID 51: one is written, five fail naming the
    clash, the directory holds one valid instance."""
    ctx = multiprocessing.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    sock = str(tmp_path / "no-runner.sock")
    names = [f"r{i}" for i in range(6)]
    procs = [ctx.Process(target=_racer, args=(config_dir, sock, n, go, out)) for n in names]
    for proc in procs:
        proc.start()
    go.set()
    outcomes = dict(out.get(timeout=120) for _round in names)
    for proc in procs:
        proc.join(timeout=30)
    winners = [name for name, outcome in outcomes.items() if outcome == "ok"]
    assert len(winners) == 1, outcomes
    for name, outcome in outcomes.items():
        if name not in winners:
            assert "VRID 51 is already used on eth0" in outcome, outcome
    assert sorted(os.listdir(Path(config_dir, "instances.d"))) == [f"{winners[0]}.json"]
    assert [i.name for i in load_dir(config_dir).instances] == winners


def test_a_lock_held_too_long_fails_naming_it_and_writes_nothing(
    config_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ansible_vrrp_fragments, "LOCK_TIMEOUT", 0.3)
    lock = Path(config_dir, ".lock")
    with lock.open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ControlError) as failed:
            run(config_dir, "instances.d", "a", web("a"), str(tmp_path / "none.sock"))
        # Check mode writes nothing, so it does not wait for the lock.
        predicted = run(config_dir, "instances.d", "a", web("a"), "/none", check=True)
    assert f"another task is changing {config_dir}" in str(failed.value)
    assert str(lock) in str(failed.value)
    assert predicted["changed"]
    assert os.listdir(Path(config_dir, "instances.d")) == []
