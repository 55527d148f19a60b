"""fold_reshape: simplify the Reshape/Transpose chains import leaves behind.

  Transpose that keeps the element order (moves only size-1 axes)  -> Reshape
  Transpose of Transpose                                            -> one Transpose
  Reshape of Reshape                                                -> one Reshape
  Reshape / Transpose that changes nothing                          -> removed
  Transpose -> Reshape(flatten) -> FullyConnected                   -> Reshape -> FullyConnected with
                                                                       the weight columns permuted
The last rule removes the NCHW flatten transpose of PyTorch classifiers.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Op
from . import bypass, moves_only_ones, rewrite


def _single_reader(g: Graph, name: str, cons: dict) -> bool:
    return name not in g.outputs and len(cons.get(name, [])) == 1


def _fold_into_fc(g: Graph, fc: Node, prod: dict, cons: dict) -> bool:
    """Transpose -> Reshape(to [1.., K]) -> FC: permute the FC weight columns instead."""
    r = prod.get(fc.inputs[0])
    if r is None or r.op != Op.RESHAPE or not _single_reader(g, r.outputs[0], cons):
        return False
    t = prod.get(r.inputs[0])
    w = g.tensors[fc.inputs[1]]
    if t is None or t.op != Op.TRANSPOSE or not _single_reader(g, t.outputs[0], cons) or not w.is_const:
        return False
    out_shape = g.tensors[r.outputs[0]].shape
    if int(np.prod(out_shape[:-1])) != 1:
        return False
    perm = t.attrs["perm"]
    inv = [perm.index(a) for a in range(len(perm))]
    o = w.shape[0]
    wt = w.data.reshape((o,) + g.tensors[t.outputs[0]].shape)
    ws = np.ascontiguousarray(wt.transpose([0] + [1 + inv[a] for a in range(len(perm))]).reshape(o, -1))
    name = f"{w.name}/nhwc"
    while name in g.tensors:
        name += "_"
    g.tensors[name] = type(w)(name, ws.shape, w.dtype, ws)
    fc.inputs = [fc.inputs[0], name] + fc.inputs[2:]
    r.inputs = [t.inputs[0]]
    return True


def _step(g: Graph) -> bool:
    prod, cons = g.producer(), g.consumers()
    for n in g.nodes:
        if n.op == Op.TRANSPOSE:
            perm = tuple(n.attrs["perm"])
            src = prod.get(n.inputs[0])
            if moves_only_ones(g.tensors[n.inputs[0]].shape, perm):
                n.op, n.attrs = Op.RESHAPE, {"shape": g.tensors[n.outputs[0]].shape}
                return True
            if src is not None and src.op == Op.TRANSPOSE:
                n.inputs[0] = src.inputs[0]
                n.attrs = {"perm": tuple(src.attrs["perm"][j] for j in perm)}
                return True
        elif n.op == Op.RESHAPE:
            src = prod.get(n.inputs[0])
            if src is not None and src.op == Op.RESHAPE:
                n.inputs[0] = src.inputs[0]
                return True
            if g.tensors[n.inputs[0]].shape == g.tensors[n.outputs[0]].shape and bypass(g, n):
                return True
        elif n.op == Op.FULLY_CONNECTED and _fold_into_fc(g, n, prod, cons):
            return True
    return False


def fold_reshape(g: Graph, ctx) -> Graph:
    return rewrite(g, _step, prune_each=True)
