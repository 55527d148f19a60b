"""Gradual pruning during fine-tuning (Zhu & Gupta, 2017): the target sparsity ramps as

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t1 - t0)) ** 3        for t0 <= t <= t1

and the masks are recomputed every ``frequency`` steps by a pruning function (default: magnitude
pruning of each tensor).  Masks only ever lose entries, so pruned weights stay pruned.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

PruneFn = Callable[[dict, float, dict], dict]


def polynomial_sparsity(step: int, final: float, initial: float = 0.0, begin: int = 0, end: int = 1,
                        power: float = 3.0) -> float:
    """Target sparsity at ``step``: ``initial`` before ``begin``, ``final`` from ``end`` on."""
    if step <= begin:
        return initial
    if step >= end:
        return final
    frac = (step - begin) / (end - begin)
    return final + (initial - final) * (1.0 - frac) ** power


def magnitude_masks(weights: dict[str, np.ndarray], sparsity: float, masks: dict | None = None) -> dict:
    """Per tensor, keep all but the round(sparsity * size) smallest |w| (already-pruned entries are
    the first to go; ties break by position, so the result is deterministic)."""
    out = {}
    for name, w in weights.items():
        score = np.abs(np.asarray(w, np.float64)).reshape(-1)
        if masks and name in masks:
            score = np.where(masks[name].reshape(-1), score, -1.0)
        k = round(float(sparsity) * score.size)
        keep = np.ones(score.size, bool)
        if k > 0:
            keep[np.argsort(score, kind="stable")[:k]] = False
        out[name] = keep.reshape(np.shape(w))
    return out


class GradualPruning:
    """The polynomial sparsity ramp and its mask updates, as finetune's ``sparsity_schedule``.

    ``begin`` / ``end`` are steps (int) or fractions of the run (float in [0, 1]); ``frequency``
    defaults to about 10 updates over the ramp; ``tensors`` defaults to finetune's weight tensors
    (Conv2D / DepthwiseConv2D / FullyConnected weights, BatchNorm excluded); ``prune_fn(weights,
    sparsity, masks) -> masks`` may implement structured or global criteria."""

    def __init__(self, final_sparsity: float, initial_sparsity: float = 0.0, begin=0.0, end=0.7,
                 frequency: int | None = None, power: float = 3.0, tensors=None,
                 prune_fn: PruneFn = magnitude_masks):
        if not 0.0 <= initial_sparsity <= final_sparsity < 1.0:
            raise ValueError("need 0 <= initial_sparsity <= final_sparsity < 1")
        self.final, self.initial, self.power = final_sparsity, initial_sparsity, power
        self._begin, self._end, self._freq = begin, end, frequency
        self.tensors = None if tensors is None else list(tensors)
        self.prune_fn = prune_fn
        self.begin = self.end = self.frequency = 0

    def setup(self, total_steps: int, default_tensors: list[str]) -> None:
        def at(v):
            return round(v * total_steps) if isinstance(v, float) else int(v)
        self.begin = max(0, at(self._begin))
        self.end = max(self.begin, min(at(self._end), max(total_steps - 1, 0)))
        self.frequency = self._freq or max(1, (self.end - self.begin) // 10)
        if self.tensors is None:
            self.tensors = list(default_tensors)

    def sparsity(self, step: int) -> float:
        return polynomial_sparsity(step, self.final, self.initial, self.begin, self.end, self.power)

    def due(self, step: int) -> bool:
        return self.begin <= step <= self.end and ((step - self.begin) % self.frequency == 0 or step == self.end)

    def update(self, step: int, params: dict[str, np.ndarray], masks: dict) -> dict:
        """New masks for ``self.tensors`` at ``step`` (intersected with the old ones); others kept."""
        s = self.sparsity(step)
        new = self.prune_fn({t: params[t] for t in self.tensors}, s, masks)
        out = dict(masks)
        for t, m in new.items():
            m = np.asarray(m, bool)
            out[t] = m & masks[t] if t in masks else m
        return out


def masks_from_zeros(g, tensors=None) -> dict:
    """{weight tensor: w != 0} for the weight tensors holding zeros: recovers the masks of a pruned
    graph after passes that rename tensors (fold_bn scales pruned weights, keeping their zeros)."""
    from .autograd import weight_tensors
    out = {}
    for name in (weight_tensors(g) if tensors is None else tensors):
        keep = np.asarray(g.tensors[name].data) != 0
        if not keep.all():
            out[name] = keep
    return out
