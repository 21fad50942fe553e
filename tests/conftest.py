"""Hypothesis runs the same examples every time (derandomize, no database): a property test
that passed here passes in CI, and a failure found by a developer is found again by CI."""

from hypothesis import settings

settings.register_profile("derive", derandomize=True, database=None)
settings.load_profile("derive")
