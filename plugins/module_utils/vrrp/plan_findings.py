"""The election planner's findings: what is wrong across the peers of a virtual router.

Two sources. :func:`config_findings` compares the members' declarations
(what must agree between peers for them to hear each other, RFC 9568 §7.1,
RFC 3768 §7.1). :func:`outcome_findings` reads the simulated elections
(:mod:`.plan_sim`): no Master, several, a tracker whose failure never moves
Mastership, a failure that ends in a tie, a live Master that preempt off keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .plan_model import Member, RouterKey
from .priorities import OWNER_PRIORITY

if TYPE_CHECKING:
    from .plan import Explained
    from .plan_sim import Failure, Outcome

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    severity: str  # error or warning
    kind: str
    vrid: int | None
    hosts: tuple[str, ...]
    message: str
    interface: str | None = None
    family: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "vrid": self.vrid,
            "interface": self.interface,
            "family": self.family,
            "hosts": list(self.hosts),
            "message": self.message,
        }


def _finding(
    key: RouterKey, severity: str, kind: str, hosts: Sequence[str], message: str
) -> Finding:
    return Finding(
        severity,
        kind,
        key.vrid,
        tuple(sorted(set(hosts))),
        f"{key.words()}: {message}",
        key.interface,
        key.family,
    )


def _split(members: Sequence[Member], value: Any) -> dict[Any, list[str]]:
    """Hosts by the value each declares (only when the members disagree)."""
    by: dict[Any, list[str]] = {}
    for member in members:
        by.setdefault(value(member), []).append(member.host)
    return by if len(by) > 1 else {}


def _show(by: Mapping[Any, list[str]], text: Any = str) -> str:
    return "; ".join(f"{', '.join(hosts)}: {text(value)}" for value, hosts in by.items())


def config_findings(key: RouterKey, members: Sequence[Member]) -> list[Finding]:
    """What the members' declarations disagree on."""
    out: list[Finding] = []
    hosts = [m.host for m in members]
    by = _split(members, lambda m: m.cfg.version)
    if by:
        out.append(
            _finding(
                key,
                ERROR,
                "version_mismatch",
                hosts,
                f"VRRP versions differ ({_show(by, lambda v: f'v{v}')}): each side drops the "
                "other's adverts and both become MASTER",
            )
        )
    by = _split(members, lambda m: frozenset(v.ip for v in m.cfg.virtual_addresses))
    if by:
        sets = list(by)
        disjoint = all(a.isdisjoint(b) for i, a in enumerate(sets) for b in sets[i + 1 :])
        if disjoint:
            out.append(
                _finding(
                    key,
                    ERROR,
                    "vrid_collision",
                    hosts,
                    f"one VRID used for different address sets ({_show(by, _addresses)}): two "
                    "virtual routers collide on the segment; give one another VRID",
                )
            )
        else:
            out.append(
                _finding(
                    key,
                    ERROR,
                    "vip_mismatch",
                    hosts,
                    f"virtual addresses differ ({_show(by, _addresses)}): a failover moves "
                    "another set of addresses",
                )
            )
    by = _split(members, lambda m: m.cfg.advert_interval_cs)
    if by:
        v2 = any(m.cfg.version == 2 for m in members)
        out.append(
            _finding(
                key,
                ERROR if v2 else WARNING,
                "interval_mismatch",
                hosts,
                f"advert intervals differ ({_show(by, lambda cs: f'{cs / 100:g}s')}): "
                + (
                    "VRRPv2 drops adverts of another interval, both become MASTER"
                    if v2
                    else "a Backup follows the Master's interval, failover times differ by host"
                ),
            )
        )
    v2_members = [m for m in members if m.cfg.version == 2]
    by = _split(
        v2_members,
        lambda m: (
            None
            if m.cfg.authentication is None
            else (m.cfg.authentication.type, m.cfg.authentication.password)
        ),
    )
    if by:
        out.append(
            _finding(
                key,
                ERROR,
                "auth_mismatch",
                [m.host for m in v2_members],
                f"authentication differs ({_show(by, _auth_words)}): "
                "each side drops the other's adverts",
            )
        )
    by = _split(
        [m for m in members if m.cfg.checksum_form is not None], lambda m: m.cfg.checksum_form
    )
    if by:
        out.append(
            _finding(
                key,
                ERROR,
                "checksum_form_mismatch",
                hosts,
                f"VRRPv3 checksum forms differ ({_show(by)}): adverts fail the checksum",
            )
        )
    owners = [m.host for m in members if m.cfg.priority == OWNER_PRIORITY]
    if len(owners) > 1:
        out.append(
            _finding(
                key,
                ERROR,
                "two_owners",
                owners,
                f"{' and '.join(owners)} all claim to own the addresses (priority 255); "
                "one router owns them",
            )
        )
    out.extend(_unicast(key, members))
    return out


def _addresses(addresses: frozenset[Any]) -> str:
    return ", ".join(sorted(map(str, addresses)))


def _auth_words(auth: tuple[str, str] | None) -> str:
    return "none" if auth is None else f"{auth[0]} (password not shown)"


def _unicast(key: RouterKey, members: Sequence[Member]) -> list[Finding]:
    """Every unicast member must list every other member's source, and nobody multicasts."""
    if not any(m.cfg.unicast_peers for m in members):
        return []
    problems: list[str] = []
    hosts: set[str] = set()
    for member in members:
        peers = set(member.cfg.unicast_peers)
        for other in members:
            if other is member:
                continue
            if not peers:
                problems.append(f"{member.host} multicasts while {other.host} uses unicast")
                hosts.update((member.host, other.host))
                break
            if other.source is not None and other.source not in peers:
                problems.append(f"{member.host} does not list {other.host} ({other.source})")
                hosts.update((member.host, other.host))
    if not problems:
        return []
    return [
        _finding(
            key,
            ERROR,
            "unicast_asymmetric",
            sorted(hosts),
            f"unicast peer lists do not match: {'; '.join(problems)}",
        )
    ]


def outcome_findings(
    key: RouterKey,
    members: Sequence[Member],
    base: Outcome,
    verdict: Explained,
    after: Mapping[Failure, Explained],
) -> list[Finding]:
    """What the simulated elections show."""
    out: list[Finding] = []
    hosts = [m.host for m in members]
    if verdict.decided_by == "none":
        out.append(_finding(key, ERROR, "no_master_possible", hosts, verdict.reason))
    if verdict.decided_by == "unstable":
        out.append(_finding(key, ERROR, "unstable_election", hosts, verdict.reason))
    if verdict.decided_by == "several":
        out.append(_finding(key, ERROR, "several_masters", hosts, verdict.reason))
    if verdict.decided_by == "preempt_off":
        out.append(
            _finding(
                key,
                WARNING,
                "preempt_off_keeps_master",
                hosts,
                f"{verdict.reason}: the existing master will not be preempted",
            )
        )
    master = verdict.master
    for failure, then in after.items():
        if then.decided_by in ("current_master", "address", "undecided") and failure.kind not in (
            "host_down",
            "host_demoted",
        ):
            out.append(
                _finding(
                    key,
                    WARNING,
                    "tracker_tie",
                    hosts,
                    f"{failure.words()} leads to a tie on priority: {then.reason}",
                )
            )
        if (
            master is None
            or failure.host != master
            or len(members) < 2
            or failure.kind in ("host_down", "host_demoted")
            or then.master != master
        ):
            continue
        weights = [
            t.weight
            for m in members
            if m.host == master
            for t in m.trackers
            if t.kind.value == failure.kind and t.name == failure.name
        ]
        if not weights:
            continue  # another VRID's tracker (a sync group): judged there
        out.append(
            _finding(
                key,
                WARNING,
                "tracker_never_changes_winner",
                [master],
                f"{failure.words()} (weight {', '.join(map(str, weights))}) leaves {master} "
                f"MASTER: {then.reason}",
            )
        )
    return out
