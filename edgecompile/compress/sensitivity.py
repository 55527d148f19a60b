"""Per-layer pruning sensitivity on user data, and per-layer ratios chosen under an accuracy budget.

``sensitivity`` prunes one layer at a time (unstructured: its weight tensor; structured: its output
channels) to each level and scores the float model with ``reference.run_float_batch``.  The score
is top-1 accuracy when labels are given, else the agreement with the unpruned model (1 - relative
output MSE).  ``ratios_under_budget`` then takes, per layer, the highest level whose score drop
stays within the budget; ``ratios_for_target`` raises the cheapest layers first until an overall
pruned fraction is reached.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir import Graph
from ..passes.prune import apply_masks, magnitude_masks, prunable
from ..reference import run_float_batch

LEVELS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)


def scorer(g: Graph, data: dict, labels=None, limit: int = 500) -> Callable[[Graph], float]:
    """score(graph) -> float, higher is better, on at most ``limit`` samples of ``data``."""
    feeds = {k: np.asarray(v, np.float32)[:limit] for k, v in data.items() if k in g.inputs}
    out = g.outputs[0]
    if labels is not None and np.ndim(labels) == 1:
        y = np.asarray(labels)[:limit]
        return lambda h: float(np.mean(run_float_batch(h, feeds)[out].reshape(len(y), -1).argmax(1) == y))
    ref = run_float_batch(g, feeds)[out].astype(np.float64)
    denom = float(np.mean(np.square(ref - ref.mean()))) or 1.0
    return lambda h: 1.0 - float(np.mean(np.square(run_float_batch(h, feeds)[out] - ref))) / denom


def sensitivity(g: Graph, score: Callable[[Graph], float], levels=LEVELS, structured: bool = False,
                layers=None) -> tuple[float, dict[str, list[tuple[float, float]]]]:
    """(unpruned score, {layer: [(level, score)]}).  Layers are weight tensors (unstructured) or
    producer node names (structured)."""
    from ..passes.prune_channels import analyze, select, surgery
    base = score(g)
    if layers is None:
        layers = list(analyze(g)[2]) if structured else prunable(g)
    out = {}
    for name in layers:
        row = []
        for lv in levels:
            if structured:
                h = surgery(g, select(g, ratios={name: lv}))
            else:
                h = apply_masks(g, magnitude_masks(g, ratios={name: lv}, tensors=[]))
            row.append((float(lv), score(h)))
        out[name] = row
    return base, out


def ratios_under_budget(base: float, sens: dict, budget: float) -> dict[str, float]:
    """Per layer, the highest level whose score stays >= base - budget (0 if none)."""
    return {name: max([lv for lv, s in row if s >= base - budget], default=0.0) for name, row in sens.items()}


def ratios_for_target(base: float, sens: dict, sizes: dict[str, int], target: float) -> dict[str, float]:
    """Greedy: raise, one level at a time, the layer whose next level costs the least score (ties:
    the larger layer) until the size-weighted pruned fraction reaches ``target``."""
    total = sum(sizes[k] for k in sens) or 1
    at = {k: -1 for k in sens}
    ratio = {k: 0.0 for k in sens}
    while sum(ratio[k] * sizes[k] for k in sens) / total < target:
        nxt = [(max(base - sens[k][at[k] + 1][1], 0.0), -sizes[k], k) for k in sens if at[k] + 1 < len(sens[k])]
        if not nxt:
            break
        k = min(nxt)[2]
        at[k] += 1
        ratio[k] = sens[k][at[k]][0]
    return ratio
