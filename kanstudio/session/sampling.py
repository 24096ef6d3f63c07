"""Random points in a box of input values, safe at any magnitude a CSV may hold.

``numpy``'s ``uniform(low, high)`` raises ``OverflowError`` when ``high - low`` exceeds the
largest float (data from -1e308 to 1e308, say); here no difference of two bounds is ever
formed, so boxes reaching the float limit work.
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_points", "widened_box"]

_BIG = np.finfo(np.float64).max


def box_points(lower: np.ndarray, upper: np.ndarray, n: int,
               rng: np.random.Generator) -> np.ndarray:
    """``(n, d)`` points uniform in the box ``[lower, upper]`` (each ``(d,)``, finite)."""
    u = rng.random((n, len(lower)))
    with np.errstate(over="ignore", invalid="ignore"):
        points = lower * (1.0 - u) + upper * u
    return np.clip(points, np.minimum(lower, upper), np.maximum(lower, upper))


def widened_box(lo: np.ndarray, hi: np.ndarray, margin: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """``[lo - margin * span, hi + margin * span]``, clipped to the finite floats."""
    half = hi / 2.0 - lo / 2.0  # span / 2 without overflow
    with np.errstate(over="ignore"):
        lower = np.clip(lo - 2.0 * margin * half, -_BIG, _BIG)
        upper = np.clip(hi + 2.0 * margin * half, -_BIG, _BIG)
    return lower, upper
