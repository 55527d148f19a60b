"""BatchNorm around fine-tuning: importing without folding, statistics re-estimation, folding.

The default canonicalization folds each BatchNormalization into the conv before it, so the
canonical graph has no BN left.  Fine-tuning a pruned network wants the BN separate:
``import_unfolded`` canonicalizes WITHOUT fold_bn; every BN is then a 1x1 DepthwiseConv2D
(scale = gamma / sqrt(var + eps), shift = beta - mean * scale) whose ``attrs["bn"]`` holds
gamma, beta, mean, var and eps.  ``reestimate_bn`` recomputes mean and var from data, keeping the
gamma and beta the node's current scale and shift imply.  ``fold`` then runs the normal
canonicalization, which folds the BN nodes away.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from tqdm import tqdm

from ..ir import Graph
from .autograd import GraphModel, _gamma_beta, batch_inputs, bn_attr


def import_unfolded(model) -> Graph:
    """Load an ONNX model and canonicalize it like ``compiler.import_model`` but without fold_bn."""
    from ..onnx_import import load_onnx
    from ..passes import run_pipeline
    from ..passes.canonical import CANONICALIZE
    from ..passes.fold_bn import fold_bn
    return run_pipeline(load_onnx(model), [p for p in CANONICALIZE if p is not fold_bn])


def fold(g: Graph) -> Graph:
    """The standard canonicalization (folds BN nodes into their convs); the result is what
    ``compiler.compile_model(float_graph=...)`` expects."""
    from ..passes import run_pipeline
    from ..passes.canonical import CANONICALIZE
    return run_pipeline(g, CANONICALIZE)


def reestimate_bn(g: Graph, data, batch_size: int = 64, progress: bool = False) -> Graph:
    """A new graph whose BN nodes hold the mean / variance of their inputs over ``data``.

    Each BN node is re-estimated after every BN upstream of it, so its statistics are those of the
    final network (one partial forward pass over the data per BN depth level)."""
    g = g.copy()
    feeds = batch_inputs(g, data)
    n_samples = len(next(iter(feeds.values())))
    bns = [n for n in g.nodes if bn_attr(n)]
    # BN nodes upstream of each tensor
    up: dict[str, frozenset] = {t: frozenset() for t in g.inputs}
    for n in g.nodes:
        s = frozenset().union(*(up.get(i, frozenset()) for i in n.inputs if i))
        up[n.outputs[0]] = s | {n.name} if bn_attr(n) else s
    pending = {n.name for n in bns}
    bar = tqdm(total=len(bns), desc="re-estimating BN", unit="layer", disable=not progress, leave=False)
    while pending:
        ready = [n for n in bns if n.name in pending and not (up[n.inputs[0]] & pending)]
        model = GraphModel(g, trainable=[])
        want = {n.inputs[0] for n in ready}
        acc = {n.name: [0.0, 0.0, 0] for n in ready}
        for k in range(0, n_samples, batch_size):
            tape = model.forward({i: v[k:k + batch_size] for i, v in feeds.items()}, until=want)
            for n in ready:
                x = tape.env[n.inputs[0]]
                x = x.reshape(-1, x.shape[-1]).astype(np.float64)
                shift = np.asarray(n.attrs["bn"]["mean"], np.float64)      # shifted sums: less cancellation
                a = acc[n.name]
                a[0] = a[0] + (x - shift).sum(axis=0)
                a[1] = a[1] + np.square(x - shift).sum(axis=0)
                a[2] += len(x)
        for n in ready:
            s1, s2, cnt = acc[n.name]
            st = n.attrs["bn"]
            d = s1 / cnt
            mean = (np.asarray(st["mean"], np.float64) + d).astype(np.float32)
            var = np.maximum(s2 / cnt - d * d, 0.0).astype(np.float32)
            w, b = g.tensors[n.inputs[1]], g.tensors[n.inputs[2]]
            gamma, beta = _gamma_beta(w.data.reshape(-1), b.data, st)
            scale = (gamma / np.sqrt(var + np.float32(st["eps"]))).astype(np.float32)
            g.tensors[w.name] = dataclasses.replace(w, data=scale.reshape(w.shape))
            g.tensors[b.name] = dataclasses.replace(b, data=(beta - mean * scale).astype(np.float32))
            n.attrs["bn"] = dict(st, gamma=gamma, beta=beta, mean=mean, var=var)
            pending.discard(n.name)
            bar.update(1)
    bar.close()
    return g
