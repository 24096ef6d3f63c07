"""Suite-wide settings. The suite runs on pytest-xdist workers (``-n auto`` in
pyproject.toml): one worker per CPU, at most four, since each imports torch, Qt and
numba (several hundred MB) and trains with torch's own threads as well."""

from __future__ import annotations

import os

import pytest

MAX_WORKERS = 4


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))
