"""lower: the last pass.  Every node gets its kernel symbol and its params dict (OpSpec.prepare,
TFLM's Prepare run on the host), and a specialised kernel where an OpSpec variant chooses the
node.  After it, codegen only formats."""
from __future__ import annotations

from ..errors import ModelError
from ..ir import Graph
from ..ops import REGISTRY


def lower(g: Graph, ctx) -> Graph:
    g = g.copy()
    for n in g.nodes:
        spec = REGISTRY[n.op]
        ins = g.node_inputs(n)
        out = g.tensors[n.outputs[0]]
        for t in [t for t in ins if t is not None] + [out]:
            if t.q is None:
                raise ModelError(f"node {n.name!r} ({n.op}): tensor {t.name!r} is not quantized")
        try:
            n.params = dict(spec.prepare(n, ins, out) or {}) if spec.prepare else {}
            if "rounding" in g.meta:           # compile --rounding: variants' tables must follow it
                n.params["rounding"] = g.meta["rounding"]
            n.kernel, n.variant = spec.kernel, None
            for v in spec.variants:
                if v.choose(n, ins, out, n.params, ctx.options):
                    n.params = dict(v.prepare(n, ins, out, n.params))
                    n.kernel, n.variant = v.kernel, v.name
                    break
        except (OverflowError, ValueError) as e:
            msg = str(e)
            if n.name not in msg:
                msg = f"node {n.name!r} ({n.source_op or n.op}): {msg}"
            raise ModelError(msg) from None
    return g
