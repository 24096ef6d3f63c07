"""Hypothesis profiles for the fuzz tests, and a pipeline with tiny budgets.

The default profile keeps the suite fast and reproducible (``derandomize``: the same
examples on every run); ``KANSTUDIO_FUZZ_EXAMPLES=10000`` runs that many examples per
property, with fresh randomness, for a long hunt by hand. A failure found either way is
kept as an ``@example`` on its property.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

_LARGE = int(os.environ.get("KANSTUDIO_FUZZ_EXAMPLES", "0") or 0)
_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])
settings.register_profile("kanstudio-ci", max_examples=12, derandomize=True, database=None,
                          **_COMMON)
settings.register_profile("kanstudio-large", max_examples=max(_LARGE, 1), derandomize=False,
                          **_COMMON)
settings.load_profile("kanstudio-large" if _LARGE else "kanstudio-ci")


def examples(ci: int, share: float = 1.0) -> settings:
    """This property's own budget in the default run; in the large profile ``share`` of
    ``KANSTUDIO_FUZZ_EXAMPLES`` (a property whose example costs seconds takes a sample,
    while a cheaper property covers the same inputs at the full count)."""
    return settings(max_examples=max(int(_LARGE * share), 1) if _LARGE else ci)


@pytest.fixture
def fast_pipeline(monkeypatch):
    """The real pipeline (every stage, every architecture) with budgets of a step or two,
    so that one fit takes about half a second instead of several."""
    import kanstudio.session.pipeline as pipeline

    full = pipeline.PipelineSettings

    def tiny(**overrides):
        budgets = dict(starts=1, start_steps=1, sparse_steps=2, after_prune_steps=1,
                       refine_steps=1, fine_tune_steps=2, trial_steps=1, alternatives=1,
                       max_search_edges=2, step_budget=8, time_budget_s=30.0,
                       search_escalate="small")
        return full(**{**budgets, **overrides})

    monkeypatch.setattr(pipeline, "PipelineSettings", tiny)
    return tiny
