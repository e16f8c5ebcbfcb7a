"""The simulated LAN now lives in the engine (``vrrp.simlan``): the election
planner runs on it. Tests keep importing it from here."""

from __future__ import annotations

from vrrp.simlan import AnnounceRecord, SimLAN, Stats, TransitionRecord, Unit

__all__ = ["AnnounceRecord", "SimLAN", "Stats", "TransitionRecord", "Unit"]
