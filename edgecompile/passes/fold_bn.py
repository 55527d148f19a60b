"""fold_bn: fold per-channel affine nodes into the weighted op before them.

Import turns BatchNormalization, and Mul / Div / Neg by a per-channel constant, into a 1x1
depthwise conv (weights = scale, bias = shift); an Add of a per-channel constant stays an ADD.
When such a node reads, possibly through Reshapes that keep the last (channel) axis, the output
of a Conv2D / DepthwiseConv2D / FullyConnected that nobody else reads and that has no fused
activation, the scale multiplies that op's weights and bias and the shift adds to its bias:
    y = (x * w + b) * s + t  =  x * (w * s) + (b * s + t)
This also turns MatMul + Add into a FullyConnected with bias.  A standalone BatchNormalization
(nothing to fold into) stays a 1x1 depthwise conv.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from ..ir import WEIGHTED, Graph, Node, Op, Tensor
from . import bypass, rewrite

log = logging.getLogger("edgecompile.passes")

OUT_AXIS = {Op.CONV2D: 0, Op.DEPTHWISE_CONV2D: 3, Op.FULLY_CONNECTED: 0}


def _has_act(n: Node) -> bool:
    return math.isfinite(n.attrs.get("act_min", -math.inf)) or math.isfinite(n.attrs.get("act_max", math.inf))


def _affine(g: Graph, n: Node):
    """(data input, scale or None, shift or None) if ``n`` is a per-channel affine node, else None."""
    if n.op == Op.DEPTHWISE_CONV2D:
        x, w = g.tensors[n.inputs[0]], g.tensors[n.inputs[1]]
        b = g.tensors[n.inputs[2]] if len(n.inputs) > 2 and n.inputs[2] else None
        if (w.is_const and w.shape == (1, 1, 1, x.shape[-1]) and (b is None or b.is_const)
                and tuple(n.attrs.get("strides", (1, 1))) == (1, 1) and not any(n.attrs.get("pads", ()))):
            return n.inputs[0], w.data.reshape(-1), None if b is None else b.data
    elif n.op == Op.ADD:
        a, b = (g.tensors[i] for i in n.inputs)
        if a.is_const == b.is_const:
            return None
        x, k = (b, a) if a.is_const else (a, b)
        out = g.tensors[n.outputs[0]].shape
        lead = (1,) * (len(out) - len(k.shape)) + k.shape
        if out == x.shape and x.shape and all(d == 1 for d in lead[:-1]):
            return x.name, None, np.broadcast_to(k.data.reshape(-1), (x.shape[-1],))
    return None


def _weighted_source(g: Graph, name: str, prod: dict, cons: dict) -> Node | None:
    """The weighted op whose output reaches ``name`` through channel-preserving Reshapes only."""
    ch = g.tensors[name].shape[-1]
    while True:
        if name in g.outputs or len(cons.get(name, [])) != 1:
            return None
        p = prod.get(name)
        if p is None:
            return None
        if p.op in WEIGHTED and not _has_act(p) and g.tensors[p.inputs[1]].is_const:
            return p
        if p.op != Op.RESHAPE or g.tensors[p.inputs[0]].shape[-1:] != (ch,):
            return None
        name = p.inputs[0]


def _new_const(g: Graph, base: str, data: np.ndarray) -> str:
    name = base
    while name in g.tensors:
        name += "_"
    data = np.ascontiguousarray(data, dtype=np.float32)
    g.tensors[name] = Tensor(name, tuple(data.shape), data=data)
    return name


def _fold(g: Graph, a: Node, scale, shift) -> None:
    w = g.tensors[a.inputs[1]].data
    axis = OUT_AXIS[a.op]
    c = w.shape[axis]
    bias = g.tensors[a.inputs[2]].data if len(a.inputs) > 2 and a.inputs[2] else np.zeros(c, np.float32)
    if scale is not None:
        shape = [1] * w.ndim
        shape[axis] = c
        w = w * np.asarray(scale, np.float32).reshape(shape)
        bias = bias * scale
    if shift is not None:
        bias = bias + shift
    a.inputs = [a.inputs[0], _new_const(g, f"{a.name}/weights_folded", w),
                _new_const(g, f"{a.name}/bias_folded", bias)]


def _step(g: Graph) -> bool:
    prod, cons = g.producer(), g.consumers()
    for n in g.nodes:
        aff = _affine(g, n)
        if aff is None:
            continue
        x, scale, shift = aff
        a = _weighted_source(g, x, prod, cons)
        if a is None:
            continue
        _fold(g, a, scale, shift)
        for k in ("act_min", "act_max"):
            if k in n.attrs:
                a.attrs[k] = n.attrs[k]
        n.inputs = [x]                          # bypass reads the data input first
        removed = bypass(g, n)                  # x is private (see _weighted_source): always works
        assert removed
        return True
    return False


def fold_bn(g: Graph, ctx) -> Graph:
    g = rewrite(g, _step)
    for n in g.nodes:
        if n.op == Op.DEPTHWISE_CONV2D and n.source_op in ("BatchNormalization", "Mul", "Div") and _affine(g, n):
            log.debug("fold_bn: %s (%s) has no private weighted producer; kept", n.name, n.source_op)
    return g.prune_unused()
