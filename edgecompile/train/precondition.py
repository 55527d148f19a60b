"""Input preconditioning for fine-tuning: train the layers that read a graph input in standardized
input coordinates.

Inputs with a large offset or scale (log-mel spectrograms around -30 dB, raw pixels) make the first
layer's weights and bias badly coupled; Adam / SGD steps that suit the rest of the network then
swing its pre-activations.  For a FullyConnected or pointwise Conv2D layer y = W x + b fed by input
x = mu + sd * z (mu, sd per feature over the data), the same layer on z has W' = W * sd and
b' = b + W mu.  ``standardize`` rewrites those layers and the feeds; ``unstandardize`` maps the
trained graph back, so the result computes the same function on the original inputs.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Op
from ..ops.sparse import pointwise


def _eligible(g: Graph, name: str) -> list:
    """The consumers of input ``name`` if all are FC / pointwise Conv2D with constant weights and bias."""
    cons = g.consumers().get(name, [])
    ok = cons and all(
        n.op in (Op.FULLY_CONNECTED, Op.CONV2D) and n.inputs[0] == name and g.tensors[n.inputs[1]].is_const
        and (n.op == Op.FULLY_CONNECTED or pointwise(n, [None, g.tensors[n.inputs[1]]]))
        and len(n.inputs) > 2 and n.inputs[2] and g.tensors[n.inputs[2]].is_const for n in cons)
    return list(cons) if ok else []


def _rewrite(g: Graph, stats: dict, forward: bool) -> Graph:
    g = g.copy()
    for name, (mu, sd) in stats.items():
        for n in _eligible(g, name):
            w, b = g.tensors[n.inputs[1]], g.tensors[n.inputs[2]]
            w2 = w.data.reshape(w.shape[0], -1).astype(np.float64)
            if forward:
                bias = b.data + w2 @ mu
                w2 = w2 * sd
            else:
                w2 = w2 / sd
                bias = b.data - w2 @ mu
            g.tensors[w.name] = dataclasses.replace(w, data=w2.reshape(w.shape).astype(np.float32))
            g.tensors[b.name] = dataclasses.replace(b, data=np.asarray(bias, np.float32))
    return g


def standardize(g: Graph, feeds: dict[str, np.ndarray]) -> tuple[Graph, dict, dict]:
    """(graph in standardized coordinates, standardized feeds, stats for ``unstandardize``).
    Inputs whose consumers are not all FC / pointwise layers with a bias are left alone."""
    stats = {}
    for name, x in feeds.items():
        if not _eligible(g, name) or x.dtype.kind != "f":
            continue
        flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
        mu, sd = flat.mean(0), flat.std(0)
        sd = np.where(sd > 1e-6 * max(float(sd.max()), 1e-30), sd, 1.0)
        stats[name] = (mu, sd)
    out = {k: ((v - stats[k][0]) / stats[k][1]).astype(np.float32) if k in stats else v for k, v in feeds.items()}
    return _rewrite(g, stats, True), out, stats


def unstandardize(g: Graph, stats: dict) -> Graph:
    """The graph trained on standardized feeds, back in the original input coordinates."""
    return _rewrite(g, stats, False) if stats else g

