"""Train/test splits that are reproducible from a seed."""

from __future__ import annotations

import numpy as np

__all__ = ["train_test_split"]


def train_test_split(
    n_rows: int, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle row indices with `seed` and hold out `test_fraction` of them.

    Returns (train_idx, test_idx): sorted, disjoint int64 arrays that together cover
    range(n_rows). The same (n_rows, test_fraction, seed) always gives the same split. When
    0 < test_fraction and n_rows >= 2, both parts get at least one row.
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int | np.integer) or n_rows < 0:
        raise ValueError(f"n_rows must be a non-negative integer, got {n_rows!r}")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    n_test = int(round(n_rows * float(test_fraction)))
    if test_fraction > 0 and n_rows >= 2:
        n_test = min(max(n_test, 1), n_rows - 1)
    order = np.random.default_rng(seed).permutation(int(n_rows))
    test_idx = np.sort(order[:n_test]).astype(np.int64)
    train_idx = np.sort(order[n_test:]).astype(np.int64)
    return train_idx, test_idx
