"""The runner carries a batch's Transitions out last (Instance.execute,
Runner._execute_tagged): what the instance keeps doing afterwards must not
depend on it. Recording a Transition that leaves MASTER stops the
announcements; had a batch left MASTER and then announced again, the deferred
record would cancel the new announcements. A seeded property over sync-group
batches: both orders leave every member with the same announcing flag."""

from __future__ import annotations

from ipaddress import ip_address

from hypothesis import given, settings
from hypothesis import strategies as st
from test_group import VIPS, pair

from vrrp.fsm import (
    AdvertReceived,
    Announce,
    FaultCleared,
    FaultRaised,
    PriorityChanged,
    RemoveAddresses,
    Resign,
    Shutdown,
    Startup,
    State,
    Timer,
    TimerExpired,
    Transition,
)
from vrrp.group import TaggedAction
from vrrp.packet import Advertisement

PEER = ip_address("192.0.2.20")


def announcing(batch: list[TaggedAction], before: dict[str, bool]) -> dict[str, bool]:
    """Whether each member still sends its GARPs after ``batch`` (the instance's rules)."""
    now = dict(before)
    for member, action in batch:
        leaves = isinstance(action, Transition) and action.old is State.MASTER
        if isinstance(action, Announce):
            now[member] = True
        elif leaves or (isinstance(action, RemoveAddresses) and action.addresses is None):
            now[member] = False
    return now


def transitions_last(batch: list[TaggedAction]) -> list[TaggedAction]:
    return [t for t in batch if not isinstance(t[1], Transition)] + [
        t for t in batch if isinstance(t[1], Transition)
    ]


def advert(vrid: int, priority: int) -> AdvertReceived:
    return AdvertReceived(
        Advertisement(
            version=3, vrid=vrid, priority=priority, interval_cs=100, addresses=(VIPS[vrid],)
        ),
        PEER,
    )


EVENTS = ["startup", "shutdown", "fault", "clear", "down", "better", "stop", "lower",
          "resign", "unresign", "owner", "plain"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(EVENTS)), max_size=14))
def test_recording_transitions_last_changes_no_announcements(
    steps: list[tuple[str, str]],
) -> None:
    group = pair()
    vrid = {"a": 1, "b": 2}
    flags = {"a": False, "b": False}
    now = 0.0
    for member, step in steps:
        now += 0.5
        router = group.routers[member]
        event = {
            "startup": Startup(),
            "shutdown": Shutdown(),
            "fault": FaultRaised("link"),
            "clear": FaultCleared("link"),
            "down": TimerExpired(Timer.MASTER_DOWN),
            "better": advert(vrid[member], 200),
            "stop": advert(vrid[member], 0),
            "lower": advert(vrid[member], 50),
            "resign": Resign(active=True),
            "unresign": Resign(active=False),
            "owner": PriorityChanged(255),
            "plain": PriorityChanged(100),
        }[step]
        if step == "down":
            now = max(now, router.timers.get(Timer.MASTER_DOWN, now))
        batch: list[TaggedAction] = group.handle(member, event, now)  # type: ignore[arg-type]
        assert announcing(transitions_last(batch), flags) == announcing(batch, flags), batch
        flags = announcing(batch, flags)
        for name, r in group.routers.items():
            # Announcing only ever as MASTER.
            assert not flags[name] or r.state is State.MASTER, (name, batch)
