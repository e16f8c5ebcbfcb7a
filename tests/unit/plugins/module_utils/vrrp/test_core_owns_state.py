"""Only the core (fsm, group, tracking) changes state-machine state.

Everything outside feeds events; a line that assigns a router's field, edits
its fault set or swaps its parameters outside the core is a bug in waiting
(the core's invariants and its transition table are bypassed). A grep over
the engine's sources, so that the rule holds for code not written yet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[5] / "plugins" / "module_utils" / "vrrp"
CORE = {"fsm.py", "group.py", "tracking.py"}
FORBIDDEN = re.compile(
    r"""
      \brouters?\b[^\s=]*\.[A-Za-z_]\w*\s*(?:[-+*/|&^]|<<|>>)?=(?!=)  # router.<field> = / +=
    | \.faults\s*\.\s*(?:add|update|discard|remove|clear|pop|difference_update)\s*\(
    | \.faults\s*(?:[-|&^]=|=(?!=))                                  # faults -= / faults =
    | \.params\s*=(?!=)                                              # params swapped
    | setattr\(\s*[\w.]*router                                       # the same by setattr
    """,
    re.VERBOSE,
)


def offending_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if FORBIDDEN.search(line.split("#")[0])]


def test_no_module_outside_the_core_assigns_state_machine_fields() -> None:
    sources = sorted(p for p in ENGINE.rglob("*.py") if p.name not in CORE)
    assert len(sources) > 10  # the engine is where we think it is
    found = {
        str(path.relative_to(ENGINE)): lines
        for path in sources
        if (lines := offending_lines(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"only fsm.py, group.py and tracking.py may change core state: {found}"


@pytest.mark.parametrize(
    "line",
    [
        "inst.router.state = State.MASTER",
        "self.router.effective_priority += 1",
        "inst.router.faults.add('link')",
        "router.faults.discard(reason)",
        "inst.router.faults -= {'link'}",
        "inst.router.params = params",
        "group.routers['a'].master_priority = 0",
        "setattr(inst.router, 'state', x)",
    ],
)
def test_the_grep_catches_an_assignment(line: str) -> None:
    assert offending_lines(line) == [line]


@pytest.mark.parametrize(
    "line",
    [
        "self.router = VirtualRouter(params)",
        "if inst.router.state == State.MASTER:",
        "primary = inst.router.params.primary_address",
        "faults = set(inst.router.faults)",
        "raised.add(faults.LINK)",
        "self.feed(inst, FaultRaised(faults.ADDRESS))",
        "x = inst.router.effective_priority != 3",
    ],
)
def test_the_grep_lets_reads_and_events_through(line: str) -> None:
    assert offending_lines(line) == []
