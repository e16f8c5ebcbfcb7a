"""The election planner: who will be MASTER of each virtual router, and why.

Runs on the controller over the declared inventory (no host contacted):
:func:`make_plan` groups the hosts' instances into virtual routers
(:mod:`.plan_model`), runs their own state machines on a simulated LAN
(:mod:`.plan_sim`), once as declared and once per single failure, and
explains each outcome in words; :mod:`.plan_findings` adds what is wrong
across peers. The prediction is what the simulation elected: nothing here
re-decides an election, it only says which condition the winner met.

The result, per virtual router (``vrids``): ``vrid``, ``interface``,
``family``, ``members``, ``predicted_master`` (None: no Master, several,
or a tie that only the unknown primary addresses decide), ``masters`` (the
hosts MASTER at the end of the simulation), ``decided_by`` (``owner``,
``priority``, ``address``, ``undecided``, ``current_master``, ``preempt_off``,
``sync_group``, ``none``, ``several``, ``unstable``), ``reason`` (words),
``current_master`` (None unless exactly one), ``current_masters`` and
``would_transition`` (with live state), ``what_if``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .fsm import State
from .plan_findings import Finding, config_findings, outcome_findings
from .plan_model import Declared, HostInput, Member, RouterKey, components, declare
from .plan_sim import Failure, Outcome, failures, simulate
from .priorities import OWNER_PRIORITY

__all__ = ["Explained", "HostInput", "explain", "make_plan"]


@dataclass(frozen=True)
class Explained:
    """An outcome in words: the Master (None when none or undecided) and why."""

    master: str | None
    decided_by: str
    reason: str


def explain(  # noqa: PLR0911 (one return per way an election is decided)
    members: Sequence[Member], outcome: Outcome, *, previous: str | None = None
) -> Explained:
    """Why ``outcome`` elected its Master. ``previous``: the Master before (the
    live one, or the one before a failure), which a tie or preempt off keeps."""
    by_host = {m.host: m for m in members}
    if not outcome.settled:
        groups = sorted({f"{m.host}:{m.group}" for m in members if m.group})
        why = f" (sync groups {', '.join(groups)} pull against each other)" if groups else ""
        return Explained(
            None,
            "unstable",
            f"the election does not settle{why}: which host ends MASTER depends on timing",
        )
    if not outcome.masters:
        up = [h for h, s in outcome.states.items() if s is not State.INIT]
        why = "every member is down or in FAULT" if up else "every member is down"
        return Explained(None, "none", f"no MASTER: {why}")
    if len(outcome.masters) > 1:
        hosts = " and ".join(outcome.masters)
        return Explained(
            None, "several", f"{hosts} are all MASTER: they do not accept each other's adverts"
        )
    master = outcome.masters[0]
    priority = outcome.priorities[master]
    eligible = {
        h: outcome.priorities[h]
        for h, s in outcome.states.items()
        if s in (State.MASTER, State.BACKUP)
    }
    higher = sorted(h for h, p in eligible.items() if p > priority)
    tied = sorted(h for h, p in eligible.items() if p == priority and h != master)
    if priority == OWNER_PRIORITY and not tied:
        return Explained(master, "owner", f"{master} owns the addresses (priority 255)")
    if higher:
        if master == previous and not any(by_host[h].cfg.preempt for h in higher):
            return Explained(
                master,
                "preempt_off",
                f"preempt off keeps the current master {master} (priority {priority}) "
                f"although {', '.join(higher)} has priority {eligible[higher[0]]}",
            )
        group = by_host[master].group
        return Explained(
            master,
            "sync_group",
            f"sync group {group} on {master} keeps its members together"
            if group
            else f"{master} is MASTER at priority {priority}",
        )
    if not tied:
        rest = sorted(eligible.values(), reverse=True)
        after = f" (next: {rest[1]})" if len(rest) > 1 else " (the only member up)"
        return Explained(master, "priority", f"{master} has the higher priority {priority}{after}")
    if master == previous and priority < OWNER_PRIORITY:
        # A Backup preempts only a lower priority (RFC 9568 §6.4.2); owners
        # all take Mastership at start and the higher address keeps it.
        return Explained(
            master,
            "current_master",
            f"equal priority {priority} with {', '.join(tied)}: the current master {master} stays",
        )
    contenders = [by_host[h] for h in (master, *tied)]
    if any(m.source is None for m in contenders):
        return Explained(
            None,
            "undecided",
            f"tie at priority {priority} between {', '.join(sorted([master, *tied]))}: "
            "the higher primary address wins, unknown without gathered facts",
        )
    return Explained(
        master,
        "address",
        f"tie at priority {priority} broken by primary address: {master} has the highest "
        f"({by_host[master].source})",
    )


def _member_dict(member: Member) -> dict[str, Any]:
    return {
        "host": member.host,
        "instance": member.cfg.name,
        "priority": member.cfg.priority,
        "effective_priority": member.effective_priority,
        "owner": member.cfg.owner,
        "preempt": member.cfg.preempt,
        "preempt_delay": member.cfg.preempt_delay,
        "address": None if member.source is None else str(member.source),
        "sync_group": member.group,
        "live_state": member.live_state,
    }


def _current(members: Sequence[Member]) -> tuple[str, ...] | None:
    """The hosts MASTER now, None when no live state is known."""
    if all(m.live_state is None for m in members):
        return None
    return tuple(sorted(m.host for m in members if m.live_state == State.MASTER.value))


_UNKNOWN_ADDRESSES = Explained(
    None,
    "undecided",
    "the MASTER depends on primary addresses unknown without gathered facts "
    "(a tie on priority, here or in a sync group)",
)


def _outcomes(
    declared: Declared,
    keys: Sequence[RouterKey],
    live: Sequence[str],
    failure: Failure | None,
) -> tuple[dict[RouterKey, Outcome], set[RouterKey]]:
    """Where each router ends, and the routers whose end depends on unknown
    addresses (it differs when the stand-in addresses go the other way)."""
    ends = simulate(declared, keys, current=live, failure=failure)
    if all(m.source is not None for k in keys for m in declared.routers[k]):
        return ends, set()
    other = simulate(declared, keys, current=live, failure=failure, reverse=True)
    return ends, {k for k in keys if ends[k].masters != other[k].masters}


def _plan_component(
    declared: Declared, keys: Sequence[RouterKey], *, what_if: bool
) -> tuple[list[dict[str, Any]], list[Finding]]:
    currents = {k: _current(declared.routers[k]) for k in keys}
    live = sorted({h for c in currents.values() for h in (c or ())})
    base, base_unknown = _outcomes(declared, keys, live, None)
    what_ifs: dict[Failure, tuple[dict[RouterKey, Outcome], set[RouterKey]]] = {}
    members_all = [m for k in keys for m in declared.routers[k]]
    for failure in failures(members_all) if what_if else ():
        what_ifs[failure] = _outcomes(declared, keys, live, failure)
    vrids: list[dict[str, Any]] = []
    found: list[Finding] = []
    for key in keys:
        members = declared.routers[key]
        current = currents[key]
        previous = current[0] if current and len(current) == 1 else None
        verdict = explain(members, base[key], previous=previous)
        if key in base_unknown and verdict.decided_by != "undecided":
            verdict = _UNKNOWN_ADDRESSES
        rows = []
        after: dict[Failure, Explained] = {}
        # Every failure of the component: a sync group carries one across VRIDs.
        for failure, (outcomes, unknown) in what_ifs.items():
            outcome = outcomes[key]
            then = explain(
                members,
                outcome,
                previous=base[key].masters[0] if len(base[key].masters) == 1 else None,
            )
            if key in unknown and then.decided_by != "undecided":
                then = _UNKNOWN_ADDRESSES
            after[failure] = then
            rows.append(
                {
                    "failure": failure.words(),
                    "kind": failure.kind,
                    "host": failure.host,
                    "object": failure.name or None,
                    "master": then.master,
                    "masters": list(outcome.masters),
                    "decided_by": then.decided_by,
                    "reason": then.reason,
                    "changes_master": then.master != verdict.master,
                }
            )
        item: dict[str, Any] = {
            "vrid": key.vrid,
            "interface": key.interface,
            "family": key.family,
            "members": [_member_dict(m) for m in members],
            "predicted_master": verdict.master,
            "masters": list(base[key].masters),
            "decided_by": verdict.decided_by,
            "reason": verdict.reason,
            "settled": base[key].settled,
            "what_if": rows,
        }
        if current is not None:
            item["current_master"] = previous
            item["current_masters"] = list(current)
            item["would_transition"] = tuple(base[key].masters) != current
        vrids.append(item)
        found.extend(outcome_findings(key, members, base[key], verdict, after))
    return vrids, found


def make_plan(hosts: Sequence[HostInput], *, what_if: bool = True) -> dict[str, Any]:
    """The plan of ``hosts``: ``vrids`` (one per virtual router, sorted by interface,
    family and VRID), ``findings`` (errors first) and ``hosts`` (the hosts planned).

    ``what_if=False`` skips the single failures (``what_if`` lists are empty, and
    the findings drawn from them are not made): the predictions alone, faster.
    Without live state every host starts at once, so ``predicted_master`` is
    the first MASTER of a fresh VRID.
    """
    declared = declare(hosts)
    found: list[Finding] = [
        Finding("error", "invalid_config", None, (host,), f"{host}: {why}")
        for host, why in sorted(declared.invalid.items())
    ]
    vrids: list[dict[str, Any]] = []
    for key, members in declared.routers.items():
        found.extend(config_findings(key, members))
    for keys in components(declared):
        rows, more = _plan_component(declared, keys, what_if=what_if)
        vrids.extend(rows)
        found.extend(more)
    vrids.sort(key=lambda v: (v["interface"], v["family"], v["vrid"]))
    found.sort(key=lambda f: (f.severity != "error", f.vrid or 0, f.kind, f.hosts))
    return {
        "hosts": [h.name for h in hosts],
        "vrids": vrids,
        "findings": [f.to_dict() for f in found],
    }
