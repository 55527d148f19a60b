"""`edgecompile inspect`: what a model contains and what edgecompile makes of it."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from .analysis import node_macs, param_count, total_macs
from .errors import EdgeCompileError, ModelError


def inspect_model(path) -> str:
    import onnx
    lines = []
    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - any protobuf failure means "not a readable ONNX file"
        raise ModelError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
    lines.append(f"{Path(path).name}: producer {m.producer_name or '?'} {m.producer_version}, opset {opsets}, "
                 f"{len(m.graph.node)} ONNX nodes")
    for kind, vals in (("input", m.graph.input), ("output", m.graph.output)):
        inits = {i.name for i in m.graph.initializer}
        for v in vals:
            if v.name in inits:
                continue
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                    for d in v.type.tensor_type.shape.dim]
            lines.append(f"  {kind} {v.name!r} {dims}")
    hist = Counter(n.op_type for n in m.graph.node)
    lines.append("  ONNX ops: " + ", ".join(f"{op} x{c}" for op, c in sorted(hist.items())))
    try:
        from .compiler import _is_prequantized_onnx, import_model
        quantized = _is_prequantized_onnx(str(path))
        if quantized:                     # QDQ / QOperator: its scales and zero points are kept (compile_qdq)
            from .onnx_import.qdq import load_qdq
            g = load_qdq(str(path))
        else:
            g = import_model(str(path))
    except EdgeCompileError as e:
        lines.append(f"NOT SUPPORTED: {e}")
        return "\n".join(lines)
    if quantized:
        lines.append("pre-quantized int8 model (QDQ / QOperator): compile keeps its scales and zero points and "
                     "needs no --calib")
    lines.append(f"after import and canonicalization: {len(g.nodes)} nodes, {param_count(g):,} parameters, "
                 f"{total_macs(g):,} MACs")
    lines.append(f"  {'#':>3} {'op':17s} {'name':36s} {'output shape':18s} {'params':>8s} {'MACs':>11s}")
    for i, n in enumerate(g.nodes):
        params = sum(g.tensors[x].size for x in n.inputs if x and g.tensors[x].is_const)
        act = ""
        lo, hi = n.attrs.get("act_min"), n.attrs.get("act_max")
        if lo is not None and (lo != float("-inf") or hi != float("inf")):
            act = f" +clamp[{lo:g},{hi:g}]"
        lines.append(f"  {i:3d} {n.op.value:17s} {n.name[:36]:36s} {str(list(g.tensors[n.outputs[0]].shape)):18s} "
                     f"{params:8,d} {node_macs(g, n):11,d}{act}")
    return "\n".join(lines)
