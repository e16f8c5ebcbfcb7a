"""Effective priority and faults from tracked objects."""

from __future__ import annotations

import pytest

from vrrp.errors import VRRPError
from vrrp.tracking import Tracker, Tracking, TrackKind, TrackResult, clamp_priority


def tracking(base: int, *trackers: tuple[TrackKind, str, int]) -> Tracking:
    return Tracking(base_priority=base, trackers=[Tracker(k, n, w) for k, n, w in trackers])


def test_untracked_priority_is_the_configured_one() -> None:
    assert tracking(100).result() == TrackResult(100, frozenset())


def test_negative_interface_weight_applies_while_down() -> None:
    t = tracking(100, (TrackKind.INTERFACE, "eth1", -30))
    assert t.result().effective_priority == 100
    assert t.set_interface("eth1", up=False).effective_priority == 70
    assert t.set_interface("eth1", up=True).effective_priority == 100


def test_positive_script_weight_applies_while_ok() -> None:
    t = tracking(100, (TrackKind.SCRIPT, "chk_http", 20))
    assert t.result().effective_priority == 120  # initially considered up
    assert t.set_script("chk_http", ok=False).effective_priority == 100


def test_file_value_times_weight() -> None:
    t = tracking(100, (TrackKind.FILE, "/run/prio", 5))
    assert t.set_file("/run/prio", value=4).effective_priority == 120
    assert t.set_file("/run/prio", value=-3).effective_priority == 85


def test_weight_zero_drives_fault() -> None:
    t = tracking(
        100,
        (TrackKind.INTERFACE, "eth1", 0),
        (TrackKind.SCRIPT, "chk", 0),
        (TrackKind.FILE, "/run/f", 0),
    )
    assert t.result().faults == frozenset()
    t.set_interface("eth1", up=False)
    t.set_script("chk", ok=False)
    res = t.set_file("/run/f", value=1)
    assert res.faults == {"track:interface:eth1", "track:script:chk", "track:file:/run/f"}
    assert res.effective_priority == 100  # weight 0 never moves the priority


def test_sum_is_clamped() -> None:
    t = tracking(200, (TrackKind.SCRIPT, "a", 100), (TrackKind.INTERFACE, "b", -253))
    assert t.result().effective_priority == 254
    t.set_script("a", ok=False)
    assert t.set_interface("b", up=False).effective_priority == 1
    assert clamp_priority(0) == 1 and clamp_priority(255) == 254 and clamp_priority(77) == 77


def test_owner_never_changes_but_can_fault() -> None:
    t = tracking(255, (TrackKind.INTERFACE, "eth1", -50), (TrackKind.SCRIPT, "chk", 0))
    assert t.set_interface("eth1", up=False).effective_priority == 255
    res = t.set_script("chk", ok=False)
    assert res == TrackResult(255, frozenset({"track:script:chk"}))


def test_override_replaces_and_restores() -> None:
    t = tracking(150, (TrackKind.INTERFACE, "eth1", -30))
    assert t.set_override(10).effective_priority == 10
    t.set_interface("eth1", up=False)
    assert t.result().effective_priority == 10
    assert t.set_override(None).effective_priority == 120
    with pytest.raises(VRRPError):
        t.set_override(0)


def test_bad_input_raises_vrrp_errors() -> None:
    with pytest.raises(VRRPError, match="weight 254"):
        Tracker(TrackKind.SCRIPT, "x", 254)
    with pytest.raises(VRRPError, match="listed twice"):
        tracking(100, (TrackKind.SCRIPT, "x", 1), (TrackKind.SCRIPT, "x", 2))
    with pytest.raises(VRRPError, match="not tracked"):
        tracking(100).set_interface("eth9", up=True)
    with pytest.raises(VRRPError, match="priority 0"):
        tracking(0)
