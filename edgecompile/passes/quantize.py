"""quantize: float graph + calibration samples -> int8 graph with QParams on every tensor.

Activations: int8 asymmetric per tensor, ranges from calibration (quant/calibrate.py).
Weights: int8 symmetric [-127, 127], per output channel unless ``per_channel=False``.
Bias: int32, scale s_in * s_w[c].  Ops whose output inherits its input's quantization ("same")
and Concat's inputs are tied together with union-find, so a whole chain shares one range.

Options read from ctx.options:
  calibration    list of {input name: float array} samples (required)
  calib_method   "minmax" (default) | "percentile" | "mse"
  percentile     tail percentage for "percentile" (default 0.01)
  per_channel    bool (default True)
  ranges         {tensor name: (lo, hi)}: fixed real ranges that override calibration
"""
from __future__ import annotations

import dataclasses

import numpy as np
from tqdm import tqdm

from ..ir import Graph, Op, QParams
from ..ops import REGISTRY
from ..quant.calibrate import RangeObserver, affine_params, quantize_array, symmetric_weights
from ..reference import run_float


class _Classes:
    """Union-find over tensor names."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def observe(g: Graph, samples: list[dict], progress: bool = False) -> dict[str, RangeObserver]:
    """Run the float graph on every sample and record each activation tensor's range."""
    obs = {t: RangeObserver(seed=i) for i, t in enumerate(g.inputs + [n.outputs[0] for n in g.nodes])}
    for feed in tqdm(samples, desc="calibrating", unit="sample", disable=not progress, leave=False):
        env = run_float(g, feed, keep_all=True)
        for name, o in obs.items():
            o.observe(env[name])
    return obs


def quantize(g: Graph, ctx) -> Graph:
    g = g.copy()
    opts = ctx.options
    samples = opts.get("calibration")
    if not samples:
        raise ValueError("quantize needs ctx.options['calibration'] (a list of input samples)")
    method = opts.get("calib_method", "minmax")
    per_channel = opts.get("per_channel", True)
    obs = observe(g, samples, progress=opts.get("progress", False))

    # 1. tie tensors that must share quantization
    classes = _Classes()
    fixed: dict[str, tuple[float, int]] = {}
    for n in g.nodes:
        spec = REGISTRY[n.op]
        out = n.outputs[0]
        classes.find(out)
        if spec.out_quant == "same":
            tied = [i for i in n.inputs if i and not g.tensors[i].is_const]
            for i in (tied if n.op == Op.CONCAT else tied[:1]):
                classes.union(i, out)
        elif isinstance(spec.out_quant, tuple):
            fixed[out] = spec.out_quant
    # 2. one range per class: union of members' ranges (a fixed member wins)
    members: dict[str, list[str]] = {}
    for name in obs:
        members.setdefault(classes.find(name), []).append(name)
    qp: dict[str, QParams] = {}
    overrides = opts.get("ranges", {})
    for root, names in members.items():
        fix = [fixed[m] for m in names if m in fixed]
        if fix:
            scale, zp = fix[0]
        else:
            lo, hi = 0.0, 0.0
            for m in names:
                a, b = overrides.get(m) or obs[m].range(method, opts.get("percentile", 0.01))
                lo, hi = min(lo, a), max(hi, b)
            scale, zp = affine_params(lo, hi)
        for m in names:
            qp[m] = QParams.make(scale, zp)
    for name, q in qp.items():
        g.tensors[name] = dataclasses.replace(g.tensors[name], dtype="int8", q=q)

    # 3. constants: weights per channel, bias int32, other constants per tensor
    done: set[str] = set()
    for n in g.nodes:
        spec = REGISTRY[n.op]
        for idx, name in enumerate(n.inputs):
            if not name or not g.tensors[name].is_const or idx == spec.bias:
                continue
            t = g.tensors[name]
            if name in done:
                continue
            if idx in spec.weights:
                axis = spec.weights[idx] if per_channel else None
                data, scale = symmetric_weights(t.data, axis)
                q = QParams.make(scale, 0, axis)
            else:
                scale, zp = affine_params(float(t.data.min(initial=0.0)), float(t.data.max(initial=0.0)))
                data, q = quantize_array(t.data, scale, zp), QParams.make(scale, zp)
            g.tensors[name] = dataclasses.replace(t, dtype="int8", data=data, q=q)
            done.add(name)
        if spec.bias is not None and spec.bias < len(n.inputs) and n.inputs[spec.bias]:
            bname = n.inputs[spec.bias]
            b = g.tensors[bname]
            if bname in done:
                raise ValueError(f"bias {bname!r} of node {n.name} is shared with another node")
            s_in = g.tensors[n.inputs[0]].q.scale[0]
            s_w = g.tensors[n.inputs[min(spec.weights)]].q.scale
            bscale = (np.float32(s_in) * s_w).astype(np.float32)
            bq = np.clip(np.rint(b.data.astype(np.float64) / bscale.astype(np.float64)),
                         -(1 << 31), (1 << 31) - 1).astype(np.int32)
            g.tensors[bname] = dataclasses.replace(b, dtype="int32", data=bq,
                                                   q=QParams.make(bscale, 0, 0 if bscale.size > 1 else None))
            done.add(bname)
    g.meta["quantized"] = {"method": method, "per_channel": per_channel, "samples": len(samples)}
    return g
