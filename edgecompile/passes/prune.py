"""prune: unstructured magnitude pruning of the weights of Conv2D / DepthwiseConv2D / FullyConnected.

Zeroed weights stay in the float graph (the sparse kernels of ops/sparse.py store them compactly);
the keep-masks land in ``g.meta["prune_masks"]`` for fine-tuning.  Options, ``ctx.options["prune"]``:
  sparsity   fraction of the weights to zero (global or per layer, see scope)
  threshold  instead of sparsity: zero every |w| <= threshold
  scope      "global" (one magnitude threshold across layers, default) | "layer" (each layer alone)
  ratios     {weight tensor: sparsity}: per-layer ratios (e.g. from compress.sensitivity); wins over
             sparsity for the tensors it names
  tensors    the weight tensors to prune (default: every weight tensor, BatchNorm excluded)
Weights that are already zero count as pruned and go first.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import OptionError
from ..ir import Graph

SCOPES = ("global", "layer")


def prunable(g: Graph) -> list[str]:
    """The weight tensors pruning acts on (BatchNorm scales excluded), in node order."""
    from ..train.autograd import weight_tensors
    return weight_tensors(g)


def _fraction(v, what: str) -> float:
    if v is None or not 0.0 <= float(v) < 1.0:
        raise OptionError(f"{what} must be a fraction in [0, 1), got {v!r}")
    return float(v)


def _keep_largest(scores: np.ndarray, k: int) -> np.ndarray:
    """bool mask keeping all but the k lowest scores (stable: ties go by position)."""
    keep = np.ones(scores.size, bool)
    if k > 0:
        keep[np.argsort(scores, kind="stable")[:k]] = False
    return keep


def global_masks(weights: dict[str, np.ndarray], sparsity: float, masks: dict | None = None) -> dict:
    """One magnitude ranking across all tensors: the round(sparsity * total) smallest |w| go (already
    masked entries first).  Also a ``train.GradualPruning`` prune_fn.  Raw magnitudes favour layers
    with large weights: a layer fed large inputs (raw MFCCs) can vanish; "sensitivity" avoids that."""
    names = list(weights)
    scores = [np.abs(np.asarray(weights[k], np.float64)).ravel() for k in names]
    if masks:
        scores = [np.where(masks[k].ravel(), s, -1.0) if k in masks else s for k, s in zip(names, scores)]
    flat = np.concatenate(scores) if scores else np.zeros(0)
    keep = _keep_largest(flat, round(sparsity * flat.size))
    out, at = {}, 0
    for k, s in zip(names, scores):
        out[k] = keep[at:at + s.size].reshape(np.shape(weights[k]))
        at += s.size
    return out


def magnitude_masks(g: Graph, sparsity: float | None = None, threshold: float | None = None, scope: str = "global",
                    ratios: dict | None = None, tensors=None) -> dict[str, np.ndarray]:
    """{weight tensor: keep mask} for the options described in the module docstring."""
    from ..train.sparsity import magnitude_masks as per_tensor
    if scope not in SCOPES:
        raise OptionError(f"unknown pruning scope {scope!r} (choose from {', '.join(SCOPES)})")
    names = list(tensors) if tensors is not None else prunable(g)
    unknown = [k for k in list(ratios or {}) + names if k not in g.tensors or not g.tensors[k].is_const]
    if unknown:
        raise OptionError(f"cannot prune {unknown[0]!r}: not a constant weight tensor of the graph")
    w = {k: g.tensors[k].data for k in names + [k for k in (ratios or {}) if k not in names]}
    zeros = {k: v != 0 for k, v in w.items()}
    if threshold is not None:
        return {k: (np.abs(v) > float(threshold)) & zeros[k] for k, v in w.items()}
    ratios = {k: _fraction(v, f"sparsity of {k!r}") for k, v in (ratios or {}).items()}
    rest = [k for k in names if k not in ratios]
    out = {k: per_tensor({k: w[k]}, s, zeros)[k] for k, s in ratios.items()}
    if rest and sparsity is not None:
        s = _fraction(sparsity, "sparsity")
        sub = {k: w[k] for k in rest}
        out.update(global_masks(sub, s, zeros) if scope == "global" else per_tensor(sub, s, zeros))
    return out


def apply_masks(g: Graph, masks: dict[str, np.ndarray]) -> Graph:
    """A new graph with the masked-out weights zeroed; masks are merged into meta["prune_masks"]."""
    g = g.copy()
    for k, m in masks.items():
        t = g.tensors[k]
        g.tensors[k] = dataclasses.replace(t, data=np.where(m, t.data, 0).astype(t.data.dtype))
    old = dict(g.meta.get("prune_masks") or {})
    for k, m in masks.items():
        old[k] = m & old[k] if k in old and old[k].shape == m.shape else m
    g.meta["prune_masks"] = old
    return g


def sparsity_of(g: Graph, tensors=None) -> float:
    """Fraction of zero weights over the prunable weight tensors."""
    names = prunable(g) if tensors is None else list(tensors)
    total = sum(g.tensors[k].size for k in names)
    return sum(int(np.count_nonzero(g.tensors[k].data == 0)) for k in names) / max(total, 1)


def prune(g: Graph, ctx) -> Graph:
    o = dict(ctx.options.get("prune") or {})
    if o.get("sparsity") is None and o.get("threshold") is None and not o.get("ratios"):
        return g.copy()
    masks = magnitude_masks(g, o.get("sparsity"), o.get("threshold"), o.get("scope", "global"), o.get("ratios"),
                            o.get("tensors"))
    return apply_masks(g, masks)
