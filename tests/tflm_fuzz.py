"""Seeded random single-op conformance fuzzing against TFLM (issue #5 item 4a).

For an op family and a seed, ``make_case`` draws a random float single-op graph (shapes that are
not multiples of 4, strides 1-3, SAME/VALID or explicit padding, dilation, depth multipliers,
fused activations, broadcasting, ...) with random float weights and calibration data whose ranges
force tiny or large scales and extreme zero points (-128 / 127).  ``run_case`` quantizes it with
edgecompile (per channel or per tensor), exports the .tflite, builds our generated C for the host
and runs both on random int8 inputs: every output byte is compared.

    python tests/tflm_fuzz.py --seeds 20 [--family conv2d ...]     # a table of outputs compared
"""
from __future__ import annotations

import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

if __name__ == "__main__":                # run as a script from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgecompile.compiler import compile_model, write_project  # noqa: E402
from edgecompile.errors import ModelError  # noqa: E402
from edgecompile.host import HostModel  # noqa: E402
from edgecompile.ir import Graph, Node, Op, Tensor  # noqa: E402
from edgecompile.ops import REGISTRY  # noqa: E402
from edgecompile.tflite_import import _same_pads  # noqa: E402

INF = math.inf
ACTS = [{}, dict(act_min=0.0, act_max=INF), dict(act_min=0.0, act_max=6.0), dict(act_min=-1.0, act_max=1.0)]


@dataclass
class FuzzCase:
    family: str
    seed: int
    graph: Graph                       # float, one node named "n", output "out"
    calib: dict                        # input name -> float [N, ...]
    per_channel: bool = True
    ranges: dict = field(default_factory=dict)
    n_inputs: int = 8                  # random int8 input samples compared
    omit_bias: bool = False            # export CONV_2D / FC without bias as absent (-1), not zeros

    @property
    def describe(self) -> str:
        n = self.graph.nodes[0]
        shapes = [self.graph.tensors[i].shape if i else None for i in n.inputs]
        return (f"{self.family} seed {self.seed}: {n.op.value} {shapes} -> {self.graph.tensors['out'].shape} "
                f"attrs={n.attrs} per_channel={self.per_channel} ranges={self.ranges}")


@dataclass
class FuzzResult:
    outputs: int = 0
    mismatches: int = 0
    models: int = 0
    skipped: int = 0                   # explicit pads TFLite cannot express (see run_case)
    failures: list = field(default_factory=list)     # (description, report)


# ------------------------------------------------------------------ random ingredients
def _range(rng, kind: str | None = None, decades: float = 3.0) -> tuple[float, float]:
    """A real range: magnitudes 10^-decades..10^decades (tiny / large scales); positive-only gives
    zero point -128, negative-only 127."""
    mag = float(10 ** rng.uniform(-decades, decades))
    kind = kind or rng.choice(["sym", "skew", "pos", "neg"], p=[0.35, 0.25, 0.2, 0.2])
    if kind == "pos":
        return 0.0, mag
    if kind == "neg":
        return -mag, 0.0
    if kind == "skew":
        a = float(rng.uniform(0.05, 0.5))
        return (-a * mag, mag) if rng.random() < 0.5 else (-mag, a * mag)
    return -mag, mag


def _dim(rng, lo=1, hi=12) -> int:
    return int(rng.integers(lo, hi + 1))


def _window(rng, size_hw, k_hw, dil=(1, 1)):
    """strides and (t, l, b, r) pads: TFLM SAME, VALID, or (1 in 6) arbitrary explicit pads, which
    the exporter writes as a PAD operator in front of the op."""
    strides = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    mode = rng.choice(["same", "valid", "explicit"], p=[0.45, 0.4, 0.15])
    eff = [(k - 1) * d + 1 for k, d in zip(k_hw, dil)]
    if mode == "valid" and all(s >= e for s, e in zip(size_hw, eff)):
        return strides, (0, 0, 0, 0)
    if mode == "explicit":
        pads = tuple(int(rng.integers(0, max(e, 1))) for e in (eff[0], eff[1], eff[0], eff[1]))
        if all(size_hw[a] + pads[a] + pads[a + 2] >= eff[a] for a in (0, 1)):
            return strides, pads
    (_, pt, pb), (_, pl, pr) = (_same_pads(size_hw[a], k_hw[a], strides[a], dil[a], True) for a in (0, 1))
    return strides, (pt, pl, pb, pr)


def _graph(op: Op, shapes: list, consts: dict, attrs: dict) -> Graph:
    """One node "n" of ``op``; inputs in{i}, constants given as float arrays in ``consts``."""
    tensors, names = {}, []
    for i, shape in enumerate(shapes):
        if shape is None:
            names.append("")
            continue
        name = f"in{i}"
        tensors[name] = Tensor(name, tuple(shape), "float32", consts.get(i))
        names.append(name)
    spec = REGISTRY[op]
    out = tuple(spec.infer(*[tuple(s) if s is not None else None for s in shapes], **attrs))
    tensors["out"] = Tensor("out", out)
    inputs = [n for n in names if n and tensors[n].data is None]
    return Graph("fuzz", tensors, [Node("n", op, names, ["out"], attrs, source_op=op.value)], inputs, ["out"])


def _calib(rng, g: Graph, ranges: dict, n: int = 16) -> dict:
    return {i: rng.uniform(*ranges[i], (n,) + g.tensors[i].shape).astype(np.float32) for i in g.inputs}


def _weights(rng, shape, fan_in: int) -> np.ndarray:
    """Random float weights with a random overall magnitude and per-output-channel spread."""
    scale = 10 ** rng.uniform(-1.5, 1.0) / math.sqrt(max(fan_in, 1))
    return (rng.normal(0, 1, shape) * scale).astype(np.float32)


# ------------------------------------------------------------------ op families
def _weighted(rng, family: str):
    act = ACTS[int(rng.integers(len(ACTS)))]
    bias = rng.random() < 0.75
    if family == "fully_connected":
        i, o = _dim(rng, 1, 70), _dim(rng, 1, 24)
        x = [(1, i), (_dim(rng, 1, 3), i), (1, _dim(rng, 1, 4), i), (1, 1, _dim(rng, 1, 3), i)][int(rng.integers(4))]
        shapes, attrs, fan_in = [x, (o, i), (o,) if bias else None], dict(act), i
        op = Op.FULLY_CONNECTED
    else:
        n, h, w = (1 if rng.random() < 0.85 else 2), _dim(rng, 1, 13), _dim(rng, 1, 13)
        k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        dil = (1, 1) if rng.random() < 0.6 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        strides, pads = _window(rng, (h, w), k, dil)
        if family == "conv2d":
            groups = int(rng.choice([2, 3])) if rng.random() < 0.2 else 1
            c, o = _dim(rng, 1, 6) * groups, _dim(rng, 1, 6) * groups
            wshape, op, fan_in = (o, k[0], k[1], c // groups), Op.CONV2D, c // groups * k[0] * k[1]
        else:
            c, mult = _dim(rng, 1, 9), int(rng.integers(1, 5))
            o = c * mult
            wshape, op, fan_in = (1, k[0], k[1], o), Op.DEPTHWISE_CONV2D, k[0] * k[1]
        shapes = [(n, h, w, c), wshape, (o,) if bias else None]
        attrs = dict(act, strides=strides, pads=pads, dilations=dil)
        if family == "conv2d" and groups > 1:
            attrs["groups"] = groups
        # a window that reads no input row/column at all gives an empty output: draw again
        if any(s <= 0 for s in REGISTRY[op].infer(*shapes, **attrs)):
            return _weighted(rng, family)
    consts = {1: _weights(rng, shapes[1], fan_in)}
    axis = 3 if op == Op.DEPTHWISE_CONV2D else 0
    if rng.random() < 0.15:                             # an all-zero output channel (weight scale 0)
        np.moveaxis(consts[1], axis, 0)[int(rng.integers(shapes[1][axis]))] = 0.0
    if bias:
        big = rng.random() < 0.15                       # a bias that dominates the sum
        consts[2] = (rng.normal(0, 1, shapes[2]) * 10 ** rng.uniform(-2, 2.5 if big else 0.5)).astype(np.float32)
    return op, shapes, consts, attrs


def _add(rng):
    rank = int(rng.choice([2, 3, 4], p=[0.2, 0.2, 0.6]))
    base = [1 if rng.random() < 0.2 else _dim(rng, 1, 9) for _ in range(rank)]
    a, b = list(base), list(base)
    for d in range(rank):
        r = rng.random()
        if r < 0.2:
            a[d] = 1
        elif r < 0.4:
            b[d] = 1
    if rng.random() < 0.15:
        b = b[int(rng.integers(1, rank)):]                 # lower-rank second input
    consts = {}
    if rng.random() < 0.2:
        lo, hi = _range(rng)
        consts[1] = rng.uniform(lo, hi, b).astype(np.float32)
    return Op.ADD, [tuple(a), tuple(b)], consts, dict(ACTS[int(rng.integers(len(ACTS)))])


def _pool(rng, op):
    n, h, w, c = (1 if rng.random() < 0.85 else 2), _dim(rng, 1, 14), _dim(rng, 1, 14), _dim(rng, 1, 11)
    k = (int(rng.integers(1, min(h, 5) + 1)), int(rng.integers(1, min(w, 5) + 1)))
    if rng.random() < 0.1:
        k = (h, w)                                          # global pool
    strides = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    same = rng.random() < 0.5
    (_, pt, pb), (_, pl, pr) = (_same_pads((h, w)[a], k[a], strides[a], 1, same) for a in (0, 1))
    attrs = dict(ACTS[int(rng.integers(len(ACTS)))], kernel=k, strides=strides, pads=(pt, pl, pb, pr))
    return op, [(n, h, w, c)], {}, attrs


def _random_shape(rng, lo_rank=1, hi_rank=4, hi=9):
    return tuple(_dim(rng, 1, hi) for _ in range(int(rng.integers(lo_rank, hi_rank + 1))))


def _family(rng, family: str):
    """(op, shapes, float constants, attrs) for one random model of ``family``."""
    if family in ("conv2d", "depthwise_conv2d", "fully_connected"):
        return _weighted(rng, family)
    if family == "add":
        return _add(rng)
    if family in ("avg_pool2d", "max_pool2d"):
        return _pool(rng, Op.AVG_POOL2D if family == "avg_pool2d" else Op.MAX_POOL2D)
    if family == "mean":
        x = ((1 if rng.random() < 0.8 else 2), _dim(rng, 1, 15), _dim(rng, 1, 15), _dim(rng, 1, 13))
        return Op.MEAN, [x], {}, dict(keepdims=bool(rng.random() < 0.7))
    if family == "softmax":
        return Op.SOFTMAX, [_random_shape(rng, 2, 4, 12)], {}, dict(beta=float(rng.choice([1.0, 1.0, 0.5, 2.0])))
    if family in ("logistic", "tanh"):
        return Op.LOGISTIC if family == "logistic" else Op.TANH, [_random_shape(rng, 1, 4)], {}, {}
    if family == "concat":
        base = list(_random_shape(rng, 1, 4, 7))
        axis = int(rng.integers(len(base)))
        shapes = []
        for _ in range(int(rng.integers(2, 5))):
            s = list(base)
            s[axis] = _dim(rng, 1, 7)
            shapes.append(tuple(s))
        return Op.CONCAT, shapes, {}, dict(axis=axis)
    if family == "pad":
        x = _random_shape(rng, 1, 4, 7)
        pads = tuple(int(rng.integers(0, 4)) if rng.random() < 0.6 else 0 for _ in range(2 * len(x)))
        value = 0.0 if rng.random() < 0.6 else float(rng.normal(0, 2))
        return Op.PAD, [x], {}, dict(pads=pads, value=value)
    if family == "transpose":
        x = _random_shape(rng, 2, 4, 7)
        return Op.TRANSPOSE, [x], {}, dict(perm=tuple(int(p) for p in rng.permutation(len(x))))
    if family == "reshape":
        x = _random_shape(rng, 1, 4, 6)
        size, out = int(np.prod(x)), []
        while size > 1 and len(out) < 3:
            d = int(rng.choice([f for f in range(1, size + 1) if size % f == 0]))
            out.append(d)
            size //= d
        out.append(size)
        return Op.RESHAPE, [x], {}, dict(shape=tuple(out))
    if family == "clamp":
        # standalone RELU / RELU6 (TFLM's op resolver has no RELU_N1_TO_1 operator; as a fused
        # activation it is covered by the other families)
        return Op.CLAMP, [_random_shape(rng)], {}, dict(ACTS[int(rng.integers(1, 3))])
    raise ValueError(f"unknown fuzz family {family!r}")


FAMILIES = ["conv2d", "depthwise_conv2d", "fully_connected", "add", "avg_pool2d", "max_pool2d", "mean",
            "softmax", "logistic", "tanh", "concat", "pad", "transpose", "reshape", "clamp"]


def make_case(family: str, seed: int, n_inputs: int = 8) -> FuzzCase:
    """The random model number ``seed`` of ``family`` (same seed, same model)."""
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    op, shapes, consts, attrs = _family(rng, family)
    g = _graph(op, shapes, consts, attrs)
    if op == Op.RESHAPE:
        # a lone reshape computes nothing (plan_memory refuses it): follow it with a Tanh
        g.tensors["mid"] = Tensor("mid", g.tensors["out"].shape)
        g.nodes[0].outputs = ["mid"]
        g.nodes.append(Node("t", Op.TANH, ["mid"], ["out"], {}, source_op="Tanh"))
    # the non-linear ops also get extreme input scales (saturated tables, capped softmax multiplier)
    decades = 4.5 if op in (Op.SOFTMAX, Op.LOGISTIC, Op.TANH) else 3.0
    ranges = {i: _range(rng, decades=decades) for i in g.inputs}
    fixed = dict(ranges)
    if REGISTRY[op].out_quant == "calibrate" and rng.random() < 0.4:
        fixed["out"] = _range(rng)                  # an output range unrelated to the data: saturation
    if op == Op.MEAN and rng.random() < 0.3:
        fixed["out"] = ranges["in0"]                # same input/output quantization
    per_channel = bool(rng.random() < 0.7)
    return FuzzCase(family, seed, g, _calib(rng, g, ranges), per_channel, fixed, n_inputs, seed % 2 == 1)


# ------------------------------------------------------------------ running
def run_case(case: FuzzCase, workdir: Path, result: FuzzResult | None = None, min_outputs: int = 600,
             rounding: str = "double") -> FuzzResult:
    """Quantize, export, build; compare our C with TFLM on ``case.n_inputs`` random int8 inputs
    (more, up to 256, for small outputs: at least ``min_outputs`` bytes per model).  ``rounding``
    "single" is expected to differ from TFLM (a check that the fuzzer can see a difference)."""
    from edgecompile.tflite_export import export_tflite
    from edgecompile.tflm import Tflm, node_report
    res = result or FuzzResult()
    art = compile_model(None, name="fz", calib=case.calib, float_graph=case.graph, per_channel=case.per_channel,
                        ranges=case.ranges, rounding=rounding)
    g = art.graph
    try:
        model = export_tflite(g, omit_bias=case.omit_bias)
    except ModelError:
        # explicit pads whose window never reaches the last input rows: TFLite would need a slice
        res.skipped += 1
        return res
    host = HostModel(write_project(art, workdir), "fz", len(g.nodes))
    tflm = Tflm(model)
    rng = np.random.default_rng([case.seed, 7])
    size = g.tensors[g.outputs[0]].size
    res.models += 1
    for s in range(max(case.n_inputs, min(256, -(-min_outputs // size)))):
        q = [rng.integers(-128, 128, g.tensors[i].shape).astype(np.int8) for i in g.inputs]
        got = host.run(q, [size])[0][0]
        want = tflm.run(q)[0].ravel()
        bad = int(np.count_nonzero(got != want))
        res.outputs += size
        res.mismatches += bad
        if bad:
            idx = np.flatnonzero(got != want)[:6]
            report = node_report(g, host, model, q)
            pos = [(int(i), int(got[i]), int(want[i])) for i in idx]
            res.failures.append((case.describe, f"sample {s}: {bad}/{size} differ; (pos, ours, tflm) {pos}; "
                                 f"nodes {report}"))
            break
    return res


def fuzz(family: str, seeds, workdir: Path, n_inputs: int = 8, rounding: str = "double") -> FuzzResult:
    res = FuzzResult()
    for seed in seeds:
        run_case(make_case(family, seed, n_inputs), Path(workdir) / f"{family}_{seed}", res, rounding=rounding)
    return res


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="models per family (seeds 0..N-1)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--inputs", type=int, default=8, help="random int8 inputs per model")
    ap.add_argument("--family", action="append", choices=FAMILIES, help="default: all")
    ap.add_argument("--rounding", default="double", choices=["double", "single"],
                    help="compile with this rounding (single is expected to differ from TFLM)")
    args = ap.parse_args(argv)
    total = FuzzResult()
    with tempfile.TemporaryDirectory(prefix="ec-fuzz-") as tmp:
        for fam in args.family or FAMILIES:
            r = fuzz(fam, range(args.first_seed, args.first_seed + args.seeds), Path(tmp), args.inputs,
                     args.rounding)
            print(f"{fam:18s} {r.models:4d} models {r.outputs:9,d} outputs compared {r.mismatches:6d} mismatches"
                  + (f" ({r.skipped} not expressible in TFLite)" if r.skipped else ""), flush=True)
            for d, rep in r.failures:
                print(f"    {d}\n      {rep}")
            total.outputs += r.outputs
            total.mismatches += r.mismatches
            total.models += r.models
    print(f"{'total':18s} {total.models:4d} models {total.outputs:9,d} outputs compared {total.mismatches:6d} mismatches")
    return 0 if total.mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
