"""fuse_activation: fold a Clamp (Relu, Relu6, Clip) into the op that produces its input.

The producer must take a fused activation (ir.FUSABLE: Conv2D, DepthwiseConv2D, FullyConnected,
pools, Add) or be another Clamp, and nobody else may read its output.  Reshapes in between are
looked through (an elementwise clamp commutes with a reshape).  The ranges intersect:
act_min = max(both mins), act_max = min(both maxes).
"""
from __future__ import annotations

import math

from ..ir import FUSABLE, Graph, Node, Op
from . import bypass, rewrite


def _source(g: Graph, name: str, prod: dict, cons: dict) -> Node | None:
    while True:
        if name in g.outputs or len(cons.get(name, [])) != 1 or name not in prod:
            return None
        p = prod[name]
        if p.op in FUSABLE or p.op == Op.CLAMP:
            return p
        if p.op != Op.RESHAPE:
            return None
        name = p.inputs[0]


def _step(g: Graph) -> bool:
    prod, cons = g.producer(), g.consumers()
    for n in g.nodes:
        if n.op != Op.CLAMP:
            continue
        p = _source(g, n.inputs[0], prod, cons)
        if p is None:
            continue
        p.attrs["act_min"] = max(p.attrs.get("act_min", -math.inf), n.attrs.get("act_min", -math.inf))
        p.attrs["act_max"] = min(p.attrs.get("act_max", math.inf), n.attrs.get("act_max", math.inf))
        removed = bypass(g, n)                  # the input is private (see _source)
        assert removed
        return True
    return False


def fuse_activation(g: Graph, ctx) -> Graph:
    return rewrite(g, _step)
