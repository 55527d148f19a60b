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
from ..reference import batchable, run_float, run_float_batch

BATCH = 16          # calibration samples per batched float run


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
    step = BATCH if batchable(g) else 1
    bar = tqdm(total=len(samples), desc="calibrating", unit="sample", disable=not progress, leave=False)
    for k in range(0, len(samples), step):
        chunk = samples[k:k + step]
        if step == 1:
            env = run_float(g, chunk[0], keep_all=True)
        else:
            feeds = {i: np.stack([np.asarray(f[i]).reshape(g.tensors[i].shape[1:]) for f in chunk]) for i in g.inputs}
            env = run_float_batch(g, feeds, keep_all=True)
        for name, o in obs.items():
            o.observe(env[name])
        bar.update(len(chunk))
    bar.close()
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
    original = {k: t.data for k, t in g.tensors.items() if t.is_const}
    for n in g.nodes:
        spec = REGISTRY[n.op]
        for idx, name in enumerate(n.inputs):
            if not name or name in done or not g.tensors[name].is_const or idx == spec.bias:
                continue
            t = g.tensors[name]
            if idx in spec.weights:
                axis = spec.weights[idx] if per_channel else None
                data, scale = symmetric_weights(t.data, axis)
                q = QParams.make(scale, 0, axis)
            else:
                scale, zp = affine_params(float(t.data.min(initial=0.0)), float(t.data.max(initial=0.0)))
                data, q = quantize_array(t.data, scale, zp), QParams.make(scale, zp)
            g.tensors[name] = dataclasses.replace(t, dtype="int8", data=data, q=q)
            done.add(name)
        bname = n.inputs[spec.bias] if spec.bias is not None and spec.bias < len(n.inputs) else ""
        if bname:
            if bname in done:
                raise ValueError(f"bias {bname!r} of node {n.name} is shared with another node")
            _quantize_bias(g, n, spec, bname, original)
            done.add(bname)
    g.meta["quantized"] = {"method": method, "per_channel": per_channel, "samples": len(samples)}
    return g


BIAS_LIMIT = float(1 << 30)


def _quantize_bias(g: Graph, n, spec, bname: str, original: dict) -> None:
    """int32 bias with scale s_in * s_w[c].  A channel whose weights are (nearly) dead gets a tiny
    weight scale, and its bias would overflow int32; as TFLite's converter does, such a channel's
    weight scale is raised until |bias_q| <= 2^30 and its weights are requantized (to ~0)."""
    widx = min(spec.weights)
    wname = n.inputs[widx]
    w = g.tensors[wname]
    b = original[bname].astype(np.float64)
    s_in = np.float32(g.tensors[n.inputs[0]].q.scale[0])
    s_w = w.q.scale.astype(np.float32)
    need = (np.abs(b) / BIAS_LIMIT / np.float64(s_in)).astype(np.float32)
    if s_w.size == 1:
        grow = need.max(initial=0.0) > s_w[0]
        s_new = np.array([max(float(s_w[0]), float(need.max(initial=0.0)) * 1.0001)], np.float32) if grow else s_w
    else:
        grow = bool(np.any(need > s_w))
        s_new = np.where(need > s_w, need * np.float32(1.0001), s_w).astype(np.float32)
    if grow:
        wf = original[wname].astype(np.float32)
        axis = w.q.axis
        shape = [1] * wf.ndim
        if axis is not None:
            shape[axis] = -1
        data = np.clip(np.rint(wf / s_new.reshape(shape)), -127, 127).astype(np.int8)
        g.tensors[wname] = dataclasses.replace(w, data=data, q=QParams.make(s_new, 0, axis))
        s_w = s_new
    bscale = (s_in * s_w).astype(np.float32)
    bq = np.clip(np.rint(b / bscale.astype(np.float64)), -(1 << 31), (1 << 31) - 1).astype(np.int32)
    g.tensors[bname] = dataclasses.replace(g.tensors[bname], dtype="int32", data=bq,
                                           q=QParams.make(bscale, 0, 0 if bscale.size > 1 else None))
