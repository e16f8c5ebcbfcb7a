"""Verdicts the playbooks report, computed here from the runner's state, never in Jinja.

- :func:`settled`: one instance has converged: MASTER for long enough that a
  higher peer would have been heard (:func:`master_settle_time`), or BACKUP
  hearing a MASTER it will not take over from (RFC 9568 §6.4.2: a Backup
  preempts only a lower priority, never on a tie; the address owner always
  takes over).
- :func:`fleet_verdict`: exactly one MASTER per instance across a group of
  hosts, from each host's ``vrrp`` facts. A host that answered counts by its
  state; a BACKUP that hears a master counts that master too (its address),
  so a group seen through ``--limit`` or with an unreachable master is still
  judged: one MASTER host, or none answering and every BACKUP hearing the same
  master, is one MASTER.
- :func:`vrid_report`: the same count per VRID, and the settings the peers of
  one VRID must share (advert interval, VIP set, version): a table and its
  flags per VRID (``vrrp_facts.yml`` prints them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.fsm import master_down_interval
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.priorities import OWNER_PRIORITY


def master_settle_time(inst: Mapping[str, Any]) -> float:
    """How long a MASTER must have been MASTER to be settled.

    Master_Down_Interval (RFC 9568 §6.1: 3 × its advert interval + Skew_Time at
    its effective priority): a peer above it that is up has been heard by then,
    or has taken over (its own interval is no longer). A peer that holds back
    a preemption (preempt delay) is not added: that peer is itself not settled
    (BACKUP hearing a lower MASTER it will preempt) and its own wait goes on;
    adding the delay here would make every first election wait it out, longer
    than the wait's bound when the delay is minutes.
    """
    own = int(inst.get("effective_priority") or 0)
    return master_down_interval(
        version=int(inst.get("version") or 3),
        priority=min(max(own, 1), OWNER_PRIORITY),
        master_adver_interval_cs=round(float(inst.get("advert_interval") or 1.0) * 100),
    )


def master_waits(inst: Mapping[str, Any]) -> str | None:
    """None when a MASTER is settled (:func:`master_settle_time`), else what it waits for.

    ``state_age`` is the host's (``ansible_vrrp_runner.read_state``): without
    it the MASTER is not taken for settled.
    """
    age = inst.get("state_age")
    if not isinstance(age, (int, float)):
        return "is MASTER but its age in that state is unknown (no state_age), waiting"
    needed = master_settle_time(inst)
    if age >= needed:
        return None
    return (
        f"is MASTER since {age:.1f} s, waiting until {needed:.1f} s (Master_Down_Interval) "
        "with no MASTER above it"
    )


def settled(name: str, inst: Mapping[str, Any]) -> str | None:  # noqa: PLR0911 - one per rule
    """None when ``inst`` has converged, else what it waits for (a :data:`Verdict`)."""
    state = inst.get("state")
    own = int(inst.get("effective_priority") or 0)
    heard = inst.get("master_priority")
    master = inst.get("master")
    if state == "MASTER":
        return master_waits(inst)
    if state != "BACKUP":
        return f"is {state}, waiting for MASTER or BACKUP"
    if master is None or heard is None:
        return "is BACKUP and hears no MASTER, waiting for one"
    if int(heard) == 0:
        return (
            f"is BACKUP and its MASTER {master} resigned (priority 0), waiting for the new MASTER"
        )
    if own == OWNER_PRIORITY:
        return (
            f"is BACKUP as the address owner (priority 255), waiting for it to take MASTER "
            f"from {master} (priority {heard})"
        )
    if inst.get("preempt") and int(heard) < own:
        return (
            f"is BACKUP at priority {own} with preempt on (delay {inst.get('preempt_delay', 0)} s) "
            f"hearing the lower MASTER {master} (priority {heard}), waiting for it to preempt"
        )
    return None


def describe_settled(name: str, inst: Mapping[str, Any]) -> str:
    """``web is MASTER`` / ``web is BACKUP of MASTER 192.0.2.11 (priority 150) ...``."""
    why = settled(name, inst)
    if why is not None:
        return f"{name} {why}"
    if inst.get("state") == "MASTER":
        return f"{name} is MASTER"
    own, heard = int(inst.get("effective_priority") or 0), inst.get("master_priority")
    reason = (
        "preempt not reported by its runner"
        if "preempt" not in inst
        else "preempt off"
        if not inst["preempt"]
        else f"its own priority {own} is not higher"
    )
    return (
        f"{name} is BACKUP of MASTER {inst.get('master')} (priority {heard}), "
        f"which it will not preempt ({reason})"
    )


def converge_report(facts: Mapping[str, Any], names: Iterable[str] | None = None) -> dict[str, Any]:
    """``converged`` (every selected instance settled) and one line per instance."""
    instances: Mapping[str, Any] = facts.get("instances") or {}
    selected = sorted(instances) if names is None else [n for n in names if n in instances]
    waiting = [f"{n} {settled(n, instances[n])}" for n in selected if settled(n, instances[n])]
    return {
        "converged": not waiting,
        "waiting": waiting,
        "report": [describe_settled(n, instances[n]) for n in selected],
    }


def _facts_of(value: Any) -> Mapping[str, Any] | None:
    """A host's ``vrrp`` facts from the facts, ``{vrrp: facts}`` or a registered result."""
    if not isinstance(value, Mapping):
        return None
    if isinstance(value.get("ansible_facts"), Mapping):
        value = value["ansible_facts"]
    facts = value.get("vrrp", value)
    return facts if isinstance(facts, Mapping) and "instances" in facts else None


def _host_facts(fleet: Any) -> dict[str, Mapping[str, Any] | None]:
    """``{host: vrrp facts or None}`` from a dict, or from a looped task's ``results``."""
    if isinstance(fleet, Mapping):
        return {str(h): _facts_of(f) for h, f in fleet.items()}
    out: dict[str, Mapping[str, Any] | None] = {}
    for result in fleet or ():
        if not isinstance(result, Mapping):
            continue
        host = str(
            result.get("item", result.get("_ansible_delegated_vars", {}).get("ansible_host"))
        )
        facts = (result.get("ansible_facts") or {}).get("vrrp")
        out[host] = facts if isinstance(facts, Mapping) else None
    return out


def one_master(
    states: Mapping[str, Mapping[str, Any] | None],
) -> tuple[list[str], list[str], bool]:
    """``(masters, heard, ok)`` for one virtual router across hosts (``{host: state}``).

    ``ok``: exactly one host is MASTER, or none is and every BACKUP that hears a
    master (priority above 0) hears the same one.
    """
    masters = [h for h, i in states.items() if i is not None and i.get("state") == "MASTER"]
    heard = sorted(
        {
            str(i["master"])
            for i in states.values()
            if i is not None
            and i.get("state") == "BACKUP"
            and i.get("master") is not None
            and i.get("master_priority") not in (None, 0)
        }
    )
    return masters, heard, len(masters) == 1 or (not masters and len(heard) == 1)


def shown_state(inst: Mapping[str, Any] | None) -> str:
    """``BACKUP`` / ``MASTER for 0.4 s`` (its ``state_age``, when known) / ``absent``.

    A MASTER's age tells two MASTERs apart: a split, or one that has not heard
    the other yet.
    """
    if not inst:
        return "absent"
    age = inst.get("state_age")
    if inst.get("state") == "MASTER" and isinstance(age, (int, float)):
        return f"MASTER for {age:.1f} s"
    return str(inst.get("state"))


def fleet_verdict(fleet: Any, names: Iterable[str] | None = None) -> dict[str, Any]:
    """Exactly one MASTER per instance across the hosts of ``fleet`` (see the module doc)."""
    hosts = _host_facts(fleet)
    answered = {h: f for h, f in hosts.items() if f is not None}
    known = sorted({n for f in answered.values() for n in (f.get("instances") or {})})
    selected = known if names is None else list(dict.fromkeys(names))
    instances: dict[str, Any] = {}
    problems: list[str] = []
    for name in selected:
        states = {h: (f.get("instances") or {}).get(name) for h, f in sorted(answered.items())}
        masters, heard, ok = one_master(states)
        shown = ", ".join(f"{h}={shown_state(i)}" for h, i in states.items())
        master = (
            masters[0]
            if len(masters) == 1
            else f"{heard[0]} (heard by the BACKUPs, not among the hosts that answered)"
            if ok
            else None
        )
        instances[name] = {"masters": masters, "heard": heard, "one_master": ok, "states": states}
        if ok:
            instances[name]["detail"] = f"instance {name}: MASTER is {master}"
        else:
            detail = (
                f"instance {name}: {len(masters)} MASTER ({', '.join(masters) or 'none'}) among "
                f"{', '.join(sorted(hosts))}; states: {shown}"
            )
            instances[name]["detail"] = detail
            problems.append(detail)
    if not selected:
        problems.append(f"no instance runs on {', '.join(sorted(hosts)) or 'any host'}")
    # A host that did not answer does not fail the verdict by itself: the
    # BACKUPs' view still counts its master. It is named.
    silent = sorted(set(hosts) - set(answered))
    vrids = vrid_report(answered)
    return {
        "one_master": not problems,
        "instances": instances,
        "problems": problems,
        "silent": silent,
        "vrids": vrids,
        "flagged": [f"VRID {v}: {flag}" for v, table in vrids.items() for flag in table["flags"]],
    }


ROW_FORMAT = "%-12s %-14s %-7s %-9s %-22s %-6s %-3s %s"


def _row_line(host: str, name: str, inst: Mapping[str, Any]) -> str:
    demoted = "(d)" if inst.get("demoted") is not None else ""
    prio = f"{inst.get('priority')}/{inst.get('effective_priority')}{demoted}"
    master = inst.get("master")
    heard = f"{master} ({inst.get('master_priority')})" if master else "-"
    vips = " ".join(sorted(str(v) for v in inst.get("virtual_addresses") or ()))
    return ROW_FORMAT % (
        name, host, inst.get("state"), prio, heard, inst.get("advert_interval"),
        inst.get("version"), vips,
    )  # fmt: skip


def vrid_report(hosts: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Per VRID (a string key, sorted numerically): ``lines`` (a header, one row
    per instance and host, then the flags or "ok") and ``flags``."""
    rows: dict[int, list[tuple[str, str, Mapping[str, Any]]]] = {}
    for host, facts in sorted(hosts.items()):
        for name, inst in sorted((facts.get("instances") or {}).items()):
            if isinstance(inst, Mapping) and inst.get("vrid") is not None:
                rows.setdefault(int(inst["vrid"]), []).append((host, name, inst))
    report: dict[str, dict[str, list[str]]] = {}
    for vrid, members in sorted(rows.items()):
        flags = []
        shared = (
            ("advert interval", lambda i: str(i.get("advert_interval"))),
            ("VIP set", lambda i: " ".join(sorted(map(str, i.get("virtual_addresses") or ())))),
            ("version", lambda i: str(i.get("version"))),
        )
        for label, value in shared:
            seen = sorted({value(inst) for _host, _name, inst in members})
            if len(seen) > 1:
                flags.append(f"MISMATCH {label}: {' vs '.join(seen)}")
        masters, heard, ok = one_master({host: inst for host, _name, inst in members})
        if not ok:
            flags.append(f"MASTER COUNT {len(masters)}: {', '.join(masters) or 'none'}")
        for host, _name, inst in members:
            for item in inst.get("drift") or ():
                message = item.get("message") if isinstance(item, Mapping) else item
                flags.append(f"DRIFT on {host}: {message}")
        who = masters[0] if masters else f"{heard[0]}, heard by the BACKUPs" if ok else ""
        lines = [ROW_FORMAT % ("instance", "host", "state", "prio/eff", "master heard", "advert",
                               "ver", "VIPs")]  # fmt: skip
        lines += [_row_line(host, name, inst) for host, name, inst in members]
        lines += [f"!! {flag}" for flag in flags] or [f"ok: one MASTER ({who}), peers agree"]
        report[str(vrid)] = {"lines": lines, "flags": flags}
    return report
