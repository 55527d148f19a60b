"""Activation range estimation from calibration data.

Each tensor gets a RangeObserver that keeps its exact min/max and a bounded random subsample
of values (reservoir over samples).  Methods:
  minmax      the observed [min, max]
  percentile  [p, 100 - p] percentiles of the subsample (p = 0.01 by default)
  mse         the clipping range (shrinking both ends of [min, max] by one factor) that minimises
              the quantization mean squared error on the subsample
All ranges are widened to include 0 (so zero is exactly representable).
"""
from __future__ import annotations

import numpy as np

METHODS = ("minmax", "percentile", "mse")
_KEEP = 1 << 16          # values kept per tensor for percentile / mse


class RangeObserver:
    def __init__(self, seed: int = 0):
        self.lo = np.inf
        self.hi = -np.inf
        self.kept: list[np.ndarray] = []
        self.n_kept = 0
        self.rng = np.random.default_rng(seed)

    def observe(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32).ravel()
        if x.size == 0:
            return
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))
        take = min(x.size, max(256, _KEEP // 16))
        if take < x.size:
            x = self.rng.choice(x, take, replace=False)
        self.kept.append(x)
        self.n_kept += x.size
        if self.n_kept > 2 * _KEEP:
            allv = np.concatenate(self.kept)
            self.kept = [self.rng.choice(allv, _KEEP, replace=False)]
            self.n_kept = _KEEP

    def values(self) -> np.ndarray:
        return np.concatenate(self.kept) if self.kept else np.zeros(1, np.float32)

    def range(self, method: str = "minmax", percentile: float = 0.01) -> tuple[float, float]:
        if not np.isfinite(self.lo):
            return 0.0, 0.0
        lo, hi = self.lo, self.hi
        if method == "percentile":
            v = self.values()
            lo, hi = (float(x) for x in np.percentile(v, [percentile, 100 - percentile]))
        elif method == "mse":
            lo, hi = _mse_range(self.values(), lo, hi)
        elif method != "minmax":
            raise ValueError(f"unknown calibration method {method!r} (choose from {', '.join(METHODS)})")
        return min(lo, 0.0), max(hi, 0.0)


def _mse_range(v: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0:
        return lo, hi
    best, best_err = (lo, hi), np.inf
    for f in np.linspace(0.3, 1.0, 71):
        a, b = lo * f, hi * f
        scale, zp = affine_params(a, b)
        q = np.clip(np.round(v / scale) + zp, -128, 127)
        err = float(np.mean(((q - zp) * scale - v) ** 2))
        if err < best_err:
            best, best_err = (a, b), err
    return best


def affine_params(lo: float, hi: float) -> tuple[float, int]:
    """int8 asymmetric (scale, zero_point) for the real range [lo, hi] (which must contain 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        return 1.0, 0
    scale = np.float32((hi - lo) / 255.0)
    zp = int(np.clip(np.round(-128 - lo / float(scale)), -128, 127))
    return float(scale), zp


def symmetric_weights(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights in [-127, 127] with one float32 scale per channel along ``axis`` (or one)."""
    w = np.asarray(w, dtype=np.float32)
    if axis is None:
        amax = np.array([np.abs(w).max(initial=0.0)], np.float32)
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.rint(w / scale[0]), -127, 127).astype(np.int8)
        return q, scale
    other = tuple(a for a in range(w.ndim) if a != axis)
    amax = np.abs(w).max(axis=other, initial=0.0).astype(np.float32)
    scale = np.where(amax > 0, amax / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def quantize_array(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 as TFLM's QUANTIZE: round half away from zero, then add the zero point."""
    r = np.asarray(x, dtype=np.float32) / np.float32(scale)
    q = np.sign(r) * np.floor(np.abs(r) + 0.5)
    return np.clip(q + zero_point, -128, 127).astype(np.int8)


def dequantize_array(q: np.ndarray, scale, zero_point) -> np.ndarray:
    return ((np.asarray(q, dtype=np.float32) - np.asarray(zero_point, np.float32))
            * np.asarray(scale, np.float32)).astype(np.float32)
