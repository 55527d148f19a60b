"""Quantization-aware training: fake quantization with a straight-through estimator.

Weights: int8 symmetric [-127, 127], one scale per output channel (max |w| / 127), as the quantize
pass does.  Activations: int8 asymmetric per tensor on the tensors the quantize pass calibrates
(graph inputs and outputs of "calibrate" ops) or fixes (Softmax / Logistic / Tanh outputs).
Ranges start from a calibration pass (min / max) and follow the batches' min / max with an
exponential moving average while training.  Backward: weights get the gradient of their
fake-quantized value unchanged; activations pass it where the value lies inside the int8 range.

After training, ``ranges()`` are handed to the compiler (``compile_model(..., ranges=...)``), so
the int8 model uses the ranges the network was trained with.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph
from ..ops import REGISTRY
from ..quant.calibrate import affine_params


def fake_quant_weights(w: np.ndarray, axis: int | None) -> np.ndarray:
    """w rounded to the int8 grid it will be quantized on (symmetric, per channel along ``axis``)."""
    w = np.asarray(w, np.float32)
    if axis is None:
        amax = np.abs(w).max(initial=0.0)
    else:
        other = tuple(a for a in range(w.ndim) if a != axis)
        shape = [1] * w.ndim
        shape[axis] = -1
        amax = np.abs(w).max(axis=other, initial=0.0).reshape(shape)
    s = np.where(amax > 0, amax / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    return (np.clip(np.rint(w / s), -127, 127) * s).astype(np.float32)


def fake_quant(x: np.ndarray, scale: float, zp: int) -> tuple[np.ndarray, np.ndarray]:
    """(x on the int8 grid of (scale, zp), mask of the elements inside the representable range)."""
    s = np.float32(scale)
    r = x / s
    q = np.sign(r) * np.floor(np.abs(r) + np.float32(0.5)) + zp       # TFLM rounding, half away from 0
    inside = (q >= -128) & (q <= 127)
    return ((np.clip(q, -128, 127) - zp) * s).astype(np.float32), inside


class FakeQuant:
    """Per-tensor activation ranges and the weight rule of one graph; see the module docstring."""

    def __init__(self, g: Graph, ranges: dict[str, tuple[float, float]], *, momentum: float = 0.01,
                 per_channel: bool = True):
        self.momentum = momentum
        self.per_channel = per_channel
        self.fixed: dict[str, tuple[float, int]] = {}
        self.live: dict[str, list[float]] = {}
        calibrated = list(g.inputs)
        for n in g.nodes:
            rule = REGISTRY[n.op].out_quant
            if rule == "calibrate":
                calibrated.append(n.outputs[0])
            elif isinstance(rule, tuple):
                self.fixed[n.outputs[0]] = (float(rule[0]), int(rule[1]))
        for t in calibrated:
            lo, hi = ranges[t]
            self.live[t] = [min(float(lo), 0.0), max(float(hi), 0.0)]

    @classmethod
    def calibrate(cls, model, feeds: dict[str, np.ndarray], batch: int = 64, **kw) -> FakeQuant:
        """Initial ranges: min / max of every activation over ``feeds`` (float forward, no fake quant)."""
        lo: dict[str, float] = {}
        hi: dict[str, float] = {}
        n = len(next(iter(feeds.values())))
        saved, model.qat = model.qat, None
        try:
            for k in range(0, n, batch):
                tape = model.forward({i: v[k:k + batch] for i, v in feeds.items()})
                for t, v in tape.env.items():
                    lo[t] = min(lo.get(t, 0.0), float(v.min()))
                    hi[t] = max(hi.get(t, 0.0), float(v.max()))
        finally:
            model.qat = saved
        return cls(model.g, {t: (lo[t], hi[t]) for t in lo}, **kw)

    def quantizes(self, name: str) -> bool:
        return name in self.live or name in self.fixed

    def weight(self, name: str, w: np.ndarray, axis: int) -> np.ndarray:
        return fake_quant_weights(w, axis if self.per_channel else None)

    def params(self, name: str) -> tuple[float, int]:
        if name in self.fixed:
            return self.fixed[name]
        return affine_params(*self.live[name])

    def act(self, name: str, x: np.ndarray, train: bool) -> tuple[np.ndarray, np.ndarray]:
        """Fake-quantize activation ``name``; in training, first move its range toward the batch's."""
        if train and name in self.live:
            r, m = self.live[name], self.momentum
            r[0] = min((1 - m) * r[0] + m * float(x.min()), 0.0)
            r[1] = max((1 - m) * r[1] + m * float(x.max()), 0.0)
        return fake_quant(x, *self.params(name))

    def ranges(self) -> dict[str, tuple[float, float]]:
        """The learned real ranges of the calibrated tensors (for ``compile_model(ranges=...)``)."""
        return {t: (r[0], r[1]) for t, r in self.live.items()}
