"""Graph interpreters: the float reference (ref_float per node) and the integer reference
(ref_int8 per node, with the same params the templates emit).  Both are vectorized over
nothing but NumPy; batches run sample by sample because the IR is batch-1."""
from __future__ import annotations

import numpy as np

from .ir import Graph
from .ops import REGISTRY


def _run(g: Graph, feeds: dict, integer: bool, keep: bool) -> dict[str, np.ndarray]:
    env: dict[str, np.ndarray] = {}
    for name in g.inputs:
        env[name] = np.asarray(feeds[name]).reshape(g.tensors[name].shape)
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
            y = spec.ref_int8(*args, n.params)
        else:
            y = spec.ref_float(*args, **n.attrs)
        env[n.outputs[0]] = y
    return env if keep else {o: env[o] for o in g.outputs}


def run_float(g: Graph, feeds: dict, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run a float graph (before quantize) on one sample; feeds map input name -> array."""
    return _run(g, feeds, integer=False, keep=keep_all)


def run_int8(g: Graph, feeds: dict, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run a lowered int8 graph on one sample of int8 inputs."""
    return _run(g, feeds, integer=True, keep=keep_all)
