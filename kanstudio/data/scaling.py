"""Per-column affine scaling of inputs/targets, invertible and serialisable as plain JSON.

Convention: x_scaled = (x - offset) / scale, so x = scale * x_scaled + offset. A formula found
in scaled units becomes a formula in original units by substituting (x - offset) / scale for
each scaled input and applying scale * f + offset to a scaled target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

__all__ = ["SCALER_MODES", "Scaler", "ScalerMode"]

ScalerMode = Literal["standard", "minmax", "none"]
SCALER_MODES: tuple[str, ...] = ("standard", "minmax", "none")


class Scaler:
    """Affine scaling per column.

    mode: "standard" (zero mean, unit standard deviation), "minmax" (range mapped to
        [-1, 1], the interval a KAN grid starts on) or "none" (identity).
    A constant column gets scale 1 so the transform stays invertible.
    Fitted attributes: `offset_`, `scale_`, each (n_columns,) float64.
    """

    def __init__(self, mode: ScalerMode = "standard") -> None:
        self.mode = mode
        self.offset_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, arr: np.ndarray) -> Scaler:
        """Learn offset and scale from `arr`, (n_rows, n_columns) or (n_rows,); returns self."""
        if self.mode not in SCALER_MODES:
            raise ValueError(f"mode must be one of {SCALER_MODES}, got {self.mode!r}")
        data = _as_2d(arr)
        if data.shape[0] == 0:
            raise ValueError("arr has no rows to fit the scaler on")
        if not np.all(np.isfinite(data)):
            raise ValueError("arr contains NaN or infinite values")
        if self.mode == "standard":
            # Moments of data / peak, scaled back: squares of values past ~1e154 overflow,
            # and a column may hold any finite double (up to ±1.8e308).
            peak = np.max(np.abs(data), axis=0)
            peak = np.where(peak > 0, peak, 1.0)
            unit = data / peak
            offset, scale = peak * unit.mean(axis=0), peak * unit.std(axis=0)
        elif self.mode == "minmax":
            low, high = data.min(axis=0), data.max(axis=0)
            # halves first: high - low overflows for a column spanning ±1e308
            offset, scale = high / 2.0 + low / 2.0, high / 2.0 - low / 2.0
        else:
            offset, scale = np.zeros(data.shape[1]), np.ones(data.shape[1])
        scale = np.where(scale > 0, scale, 1.0)
        self.offset_ = np.asarray(offset, dtype=np.float64)
        self.scale_ = np.asarray(scale, dtype=np.float64)
        return self

    def transform(self, arr: np.ndarray) -> np.ndarray:
        """(x - offset) / scale, same shape as `arr`."""
        offset, scale = self._fitted()
        data = np.asarray(arr, dtype=np.float64)
        self._check_columns(data)
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = (data - offset) / scale
            # near ±1.8e308, x - offset can overflow where its half does not
            return np.where(np.isfinite(scaled) | ~np.isfinite(data), scaled,
                            (data / 2.0 - offset / 2.0) / scale * 2.0)

    def inverse_transform(self, arr: np.ndarray) -> np.ndarray:
        """scale * x_scaled + offset, same shape as `arr`."""
        offset, scale = self._fitted()
        data = np.asarray(arr, dtype=np.float64)
        self._check_columns(data)
        with np.errstate(over="ignore", invalid="ignore"):
            values = data * scale + offset
            return np.where(np.isfinite(values) | ~np.isfinite(data), values,
                            (data * (scale / 2.0) + offset / 2.0) * 2.0)

    def fit_transform(self, arr: np.ndarray) -> np.ndarray:
        return self.fit(arr).transform(arr)

    def affine_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, offset), each (n_columns,): x = scale * x_scaled + offset."""
        offset, scale = self._fitted()
        return scale.copy(), offset.copy()

    def to_dict(self) -> dict[str, Any]:
        """Plain str/float/list data for JSON."""
        offset, scale = self._fitted()
        return {"mode": self.mode, "offset": [float(v) for v in offset],
                "scale": [float(v) for v in scale]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scaler:
        """Rebuild a fitted scaler from `to_dict` output, checking every field."""
        mode = data.get("mode")
        if mode not in SCALER_MODES:
            raise ValueError(f"scaler mode must be one of {SCALER_MODES}, got {mode!r}")
        offset = _float_list(data.get("offset"), "offset")
        scale = _float_list(data.get("scale"), "scale")
        if len(offset) != len(scale):
            raise ValueError("scaler offset and scale must have the same length")
        if any(value <= 0 for value in scale):
            raise ValueError("scaler scale values must be positive")
        scaler = cls(mode)
        scaler.offset_ = np.asarray(offset, dtype=np.float64)
        scaler.scale_ = np.asarray(scale, dtype=np.float64)
        return scaler

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.offset_ is None or self.scale_ is None:
            raise RuntimeError("Scaler is not fitted yet: call fit(arr) first")
        return self.offset_, self.scale_

    def _check_columns(self, data: np.ndarray) -> None:
        expected = len(self._fitted()[0])
        # A 1-D array is either one column of values or one row holding every column.
        found = data.shape[-1] if data.ndim else 1
        ok = found == expected or (data.ndim < 2 and expected == 1)
        if not ok:
            raise ValueError(f"arr has {found} columns but the scaler was fitted on {expected}")


def _as_2d(arr: np.ndarray) -> np.ndarray:
    data = np.asarray(arr, dtype=np.float64)
    if data.ndim == 1:
        return data[:, None]
    if data.ndim != 2:
        raise ValueError(f"arr must be 1-D or 2-D, got shape {data.shape}")
    return data


def _float_list(value: object, key: str) -> list[float]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"scaler '{key}' must be a non-empty list of numbers")
    result: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise ValueError(f"scaler '{key}' must contain finite numbers only")
        result.append(float(item))
    return result
