"""Builds a one-node model from an op's Case, compiles it to C and runs C vs the NumPy reference."""
from __future__ import annotations

import math

import numpy as np

from edgecompile.compiler import compile_model, quantize_inputs, write_project
from edgecompile.host import HostModel
from edgecompile.ir import Graph, Node, Tensor
from edgecompile.quant.calibrate import dequantize_array, quantize_array
from edgecompile.reference import run_float, run_int8


def case_graph(spec, case, seed: int = 0):
    """A float graph with one node of ``spec.op`` and random data for ``case``; returns (g, inputs)."""
    rng = np.random.default_rng(seed)
    lo, hi = case.quant.get("in_range", (-1.0, 1.3))
    if case.quant.get("in_zp") == -128:
        lo, hi = 0.0, max(hi, 1.0)
    tensors, names, feeds = {}, [], {}
    for i, shape in enumerate(case.shapes):
        if shape is None:
            names.append("")
            continue
        name = f"in{i}"
        if i in spec.consts:
            if i == spec.bias:
                data = rng.normal(0, 0.5, shape).astype(np.float32)
            else:
                fan_in = int(np.prod(shape)) // max(shape[spec.weights.get(i, 0)], 1)
                data = (rng.normal(0, 1.0, shape) / math.sqrt(max(fan_in, 1))).astype(np.float32)
            tensors[name] = Tensor(name, tuple(shape), "float32", data)
        else:
            tensors[name] = Tensor(name, tuple(shape))
            feeds[name] = rng.uniform(lo, hi, (4,) + tuple(shape)).astype(np.float32)
        names.append(name)
    attrs = dict(case.attrs)
    out_shape = tuple(spec.infer(*[tuple(s) if s is not None else None for s in case.shapes], **attrs))
    tensors["out"] = Tensor("out", out_shape)
    node = Node(f"{spec.op.value}_{case.name}", spec.op, names, ["out"], attrs, source_op=spec.op.value)
    data_inputs = [n for n in names if n and n in feeds]
    g = Graph(f"t_{case.name}", tensors, [node], data_inputs, ["out"], {"source_name": case.name})
    return g, feeds


def compile_case(spec, case, outdir, sanitize=False):
    g, feeds = case_graph(spec, case)
    ranges = None
    ys = np.stack([run_float(g, {k: v[i] for k, v in feeds.items()})["out"] for i in range(4)])
    lo, hi = float(ys.min()), float(ys.max())
    if case.quant.get("saturate"):
        ranges = {"out": (lo / 2, hi / 2)}
    elif math.isfinite(case.attrs.get("act_min", -math.inf)) or math.isfinite(case.attrs.get("act_max", math.inf)):
        # calibrate wider than the fused activation's range so its int8 clamp really bites
        span = max(hi - lo, 1e-3)
        ranges = {"out": (lo - span / 2, hi + span / 2)}
    art = compile_model(None, name="m", calib=feeds, float_graph=g,
                        per_channel=case.quant.get("per_channel", True), ranges=ranges)
    write_project(art, outdir)
    host = HostModel(outdir, "m", len(art.graph.nodes), sanitize=sanitize)
    return art, feeds, host


def run_case(art, feeds, host):
    """Returns (c_out, ref_out, float_ref_quantized) for every sample, as int arrays."""
    g = art.graph
    n = len(next(iter(feeds.values())))
    samples = [{k: v[i] for k, v in feeds.items()} for i in range(n)]
    results = []
    out_t = g.tensors["out"]
    for s, q in zip(samples, quantize_inputs(g, samples)):
        c, _ = host.run(q, [out_t.size])
        ref = run_int8(g, dict(zip(g.inputs, q)))["out"]
        # float reference on the dequantized int8 inputs and weights
        deq = {}
        for name, x in zip(g.inputs, q):
            t = g.tensors[name]
            deq[name] = dequantize_array(x, t.q.scale, t.q.zero_point)
        fg = art.float_graph.copy()
        for name, t in g.tensors.items():
            if t.is_const:
                shape = [1] * t.data.ndim
                if t.q.axis is not None:
                    shape[t.q.axis] = -1
                fg.tensors[name].data = dequantize_array(t.data, t.q.scale.reshape(shape),
                                                         t.q.zero_point.reshape(shape))
        fy = run_float(fg, deq)["out"]
        fq = quantize_array(fy, out_t.q.s, out_t.q.zp)
        results.append((c[0].reshape(ref.shape), ref, fq))
    return results
