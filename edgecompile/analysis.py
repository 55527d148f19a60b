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


def const_bytes(g: Graph) -> int:
    """Bytes of all constant tensors referenced by nodes, at their current dtype."""
    used = {i for n in g.nodes for i in n.inputs if i}
    return sum(int(np.asarray(t.data).nbytes) for k, t in g.tensors.items() if t.is_const and k in used)


def param_count(g: Graph) -> int:
    used = {i for n in g.nodes for i in n.inputs if i}
    return sum(t.size for k, t in g.tensors.items() if t.is_const and k in used)
