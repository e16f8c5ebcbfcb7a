"""Unit-test settings shared by the whole unit suite: hypothesis profiles.

Pick one with ``HYPOTHESIS_PROFILE`` (default ``default``):

- ``default``: no deadline (CI machines are shared and slow down at random),
  a modest number of examples so the suite stays quick.
- ``ci``: the same, more examples and derandomized, for a reproducible run.
- ``slow``: many examples, for a long local run (``pytest -m slow`` runs the
  tests that set their own large ``max_examples`` whatever the profile).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, max_examples=200)
settings.register_profile("ci", deadline=None, max_examples=500, derandomize=True)
settings.register_profile(
    "slow",
    deadline=None,
    max_examples=5_000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
