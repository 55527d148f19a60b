"""Static figures about a graph: MACs per node, weight bytes, parameter counts."""
from __future__ import annotations

import numpy as np

from .ir import Graph, Node, Op


def node_macs(g: Graph, n: Node) -> int:
    out = g.tensors[n.outputs[0]]
    if n.op in (Op.CONV2D, Op.DEPTHWISE_CONV2D, Op.FULLY_CONNECTED):
        w = g.tensors[n.inputs[1]].shape
        if n.op == Op.CONV2D:
            per_out = w[1] * w[2] * w[3]
        elif n.op == Op.DEPTHWISE_CONV2D:
            per_out = w[1] * w[2]
        else:
            per_out = w[1]
        return int(out.size * per_out)
    return 0


def total_macs(g: Graph) -> int:
    return sum(node_macs(g, n) for n in g.nodes)


def emitted_consts(g: Graph) -> list[str]:
    """The constant tensors the generated C stores, in first-use order: those nodes read, except
    inputs a kernel variant carries in its params (OpSpec Variant.replaces, e.g. sparse weights)."""
    from .ops import REGISTRY
    used: list[str] = []
    for n in g.nodes:
        v = REGISTRY[n.op].variant(n.variant)
        for k, i in enumerate(n.inputs):
            if i and g.tensors[i].is_const and i not in used and not (v and k in v.replaces):
                used.append(i)
    return used


def const_bytes(g: Graph) -> int:
    """Bytes of the constant data in flash: the emitted constant tensors at their current dtype plus
    what kernel variants store in their params instead (sparse weights)."""
    from .ops import REGISTRY
    total = sum(int(np.asarray(g.tensors[k].data).nbytes) for k in emitted_consts(g))
    for n in g.nodes:
        v = REGISTRY[n.op].variant(n.variant)
        if v is not None and v.flash_bytes is not None:
            total += v.flash_bytes(n.params)
    return total


def param_count(g: Graph) -> int:
    used = {i for n in g.nodes for i in n.inputs if i}
    return sum(t.size for k, t in g.tensors.items() if t.is_const and k in used)
