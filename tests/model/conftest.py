"""The model-based test's Hypothesis profiles (its summary line is printed by tests/conftest.py's hooks)."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# CI: reproducible (derandomized), bounded by examples and steps; long: `make model`, random, several minutes a
# store (a PostgreSQL example costs about three SQLite ones: a database copied and dropped, and slower calls).
_COMMON = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True)
settings.register_profile("ci", max_examples=32, stateful_step_count=30, derandomize=True, **_COMMON)
settings.register_profile("ci-postgres", max_examples=8, stateful_step_count=30, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=80, stateful_step_count=50, **_COMMON)
settings.register_profile("long-postgres", max_examples=40, stateful_step_count=50, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
POSTGRES_PROFILE = {"ci": "ci-postgres", "long": "long-postgres"}.get(PROFILE, PROFILE)
