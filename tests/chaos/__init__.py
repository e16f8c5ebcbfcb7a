"""A randomized, seeded chaos suite for the runner on the namespace lab (``make chaos``).

See ``tests/chaos/README.md``.
"""
