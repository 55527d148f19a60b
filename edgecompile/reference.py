"""Graph interpreters: the float reference (ref_float per node) and the integer reference
(ref_int8 per node, with the same params the templates emit), in vectorized NumPy.

The IR is batch-1.  ``run_float_batch`` runs N samples at once by letting the batch axis ride
along axis 0 where every op allows it (``batchable``); calibration uses it."""
from __future__ import annotations

import numpy as np

from .ir import Graph, Op
from .ops import REGISTRY


def batchable(g: Graph) -> bool:
    """True when axis 0 is a batch axis of size 1 that no node moves, merges or pads."""
    if any(g.tensors[i].shape[:1] != (1,) for i in g.inputs):
        return False
    for n in g.nodes:
        shape = g.tensors[n.outputs[0]].shape
        a = n.attrs
        if not shape or shape[0] != 1:
            return False
        if n.op == Op.RESHAPE and g.tensors[n.inputs[0]].shape[:1] != (1,):
            return False
        if (n.op == Op.TRANSPOSE and a["perm"][0] != 0) or (n.op == Op.CONCAT and a["axis"] == 0):
            return False
        if n.op == Op.ADD and any(len(g.tensors[i].shape) != len(shape) for i in n.inputs
                                  if i and not g.tensors[i].is_const):
            return False               # a lower-rank input broadcasts over the batch axis too
        if n.op == Op.PAD and (a["pads"][0] or a["pads"][len(a["pads"]) // 2]):
            return False
    return True


def _run(g: Graph, feeds: dict, integer: bool, keep: bool, batch: int | None = None) -> dict[str, np.ndarray]:
    env: dict[str, np.ndarray] = {}
    for name in g.inputs:
        shape = g.tensors[name].shape
        env[name] = np.asarray(feeds[name]).reshape(shape if batch is None else (batch,) + shape[1:])
    for n in g.nodes:
        spec = REGISTRY[n.op]
        args = []
        for i in n.inputs:
            if not i:
                args.append(None)
            elif g.tensors[i].is_const:
                args.append(g.tensors[i].data)
            else:
                args.append(env[i])
        if integer:
            y = spec.impl(n.variant)[2](*args, n.params)
        elif batch is not None and n.op == Op.RESHAPE:
            y = args[0].reshape((batch,) + tuple(n.attrs["shape"][1:]))
        else:
            y = spec.ref_float(*args, **n.attrs)
        env[n.outputs[0]] = y
    return env if keep else {o: env[o] for o in g.outputs}


def run_float(g: Graph, feeds: dict, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run a float graph (before quantize) on one sample; feeds map input name -> array."""
    return _run(g, feeds, integer=False, keep=keep_all)


def run_float_batch(g: Graph, feeds: dict, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run a float graph on N samples at once (feeds: name -> [N, *shape[1:]]); needs batchable(g)."""
    n = len(next(iter(feeds.values())))
    return _run(g, feeds, integer=False, keep=keep_all, batch=n)


def run_int8(g: Graph, feeds: dict, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run a lowered int8 graph on one sample of int8 inputs."""
    return _run(g, feeds, integer=True, keep=keep_all)
