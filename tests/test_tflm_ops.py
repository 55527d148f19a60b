"""ref_int8 (prepare + integer reference) == the TFLM reference interpreter, on single-op int8
models built with tests/tflm_util.py.  Random shapes, scales, zero points and activations."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from edgecompile.ir import Node, Op, QParams, Tensor  # noqa: E402
from edgecompile.ops import REGISTRY  # noqa: E402

from tflm_util import TensorSpec, build_model, run_model  # noqa: E402

TRIALS = 40
# fused activation name -> our real-valued (act_min, act_max) attrs
ACTS = {None: {}, "RELU": dict(act_min=0.0, act_max=math.inf), "RELU6": dict(act_min=0.0, act_max=6.0),
        "RELU_N1_TO_1": dict(act_min=-1.0, act_max=1.0)}


def _q(rng, lo=0.002, hi=0.1):
    return float(np.float32(rng.uniform(lo, hi))), int(rng.integers(-128, 128))


def _tensor(name, shape, scale, zp, data=None):
    return Tensor(name, tuple(shape), "int8", data=data, q=QParams.make(scale, zp))


def _ours(op, ins, out, feeds, **attrs):
    """prepare + ref_int8 for one node built from the same quantization as the model."""
    node = Node("n", op, [t.name for t in ins], [out.name], attrs)
    p = REGISTRY[op].prepare(node, ins, out)
    return REGISTRY[op].ref_int8(*feeds, p)


def _check(got, want, what):
    bad = np.flatnonzero(got.ravel() != want.ravel())
    assert got.shape == want.shape and bad.size == 0, \
        f"{what}: {bad.size}/{want.size} mismatches, first (pos, ours, tflm): " \
        f"{[(int(i), int(got.ravel()[i]), int(want.ravel()[i])) for i in bad[:5]]}"


def _rand(rng, shape):
    return rng.integers(-128, 128, shape, dtype=np.int64).astype(np.int8)


def test_add_matches_tflm():
    rng = np.random.default_rng(11)
    pairs = [((1, 5, 7, 3), (1, 1, 1, 3)), ((1, 5, 7, 3), (1, 5, 7, 1)), ((1, 1, 1, 3), (1, 4, 4, 3)),
             ((1, 6, 6, 8), (1, 6, 6, 8)), ((3, 17), (3, 17)), ((2, 3, 1, 5), (1, 1, 4, 5))]
    total = 0
    for t in range(TRIALS):
        sa, sb = pairs[t % len(pairs)]
        (s1, z1), (s2, z2), (so, zo) = _q(rng), _q(rng), _q(rng, 0.005, 0.2)
        act = list(ACTS)[t % len(ACTS)]
        a, b = _rand(rng, sa), _rand(rng, sb)
        const_b = t % 5 == 4                   # the second input as a constant tensor
        out_shape = np.broadcast_shapes(sa, sb)
        model = build_model("ADD", [TensorSpec(sa, s1, z1), TensorSpec(sb, s2, z2, data=b if const_b else None)],
                            TensorSpec(out_shape, so, zo), dict(fused_activation=act))
        want = run_model(model, [a] if const_b else [a, b])
        ins = [_tensor("a", sa, s1, z1), _tensor("b", sb, s2, z2, b if const_b else None)]
        got = _ours(Op.ADD, ins, _tensor("y", out_shape, so, zo), [a, b], **ACTS[act])
        _check(got, want, f"ADD {sa}+{sb} act={act}")
        total += want.size
    assert total > 300


def test_mean_matches_tflm():
    rng = np.random.default_rng(12)
    shapes = [(1, 7, 7, 16), (1, 1, 1, 8), (1, 25, 5, 32), (1, 8, 8, 10), (2, 3, 5, 7), (1, 33, 31, 3)]
    total = 0
    for t in range(TRIALS):
        shape = shapes[t % len(shapes)]
        (si, zi), (so, zo) = _q(rng), _q(rng, 0.0005, 0.1)
        if t % 7 == 3:
            so, zo = si, zi                    # same in/out quantization (still QuantizedMeanOrSum)
        keep = t % 4 != 1
        out_shape = (shape[0], 1, 1, shape[3]) if keep else (shape[0], shape[3])
        x = _rand(rng, shape)
        axis = TensorSpec((2,), None, dtype="int32", data=np.array([1, 2], np.int32))
        model = build_model("MEAN", [TensorSpec(shape, si, zi), axis], TensorSpec(out_shape, so, zo),
                            dict(keep_dims=keep))
        want = run_model(model, [x])
        got = _ours(Op.MEAN, [_tensor("x", shape, si, zi)], _tensor("y", out_shape, so, zo), [x], keepdims=keep)
        _check(got, want, f"MEAN {shape} keepdims={keep}")
        total += want.size
    assert total > 300


def _tflm_pads(size, k, s, same):
    """(output size, pad before, pad after) as TFLM computes SAME / VALID padding."""
    out = -(-size // s) if same else (size - k) // s + 1
    total = max((out - 1) * s + k - size, 0) if same else 0
    return out, total // 2, total - total // 2


@pytest.mark.parametrize("op, builtin", [(Op.AVG_POOL2D, "AVERAGE_POOL_2D"), (Op.MAX_POOL2D, "MAX_POOL_2D")])
def test_pool_matches_tflm(op, builtin):
    rng = np.random.default_rng(13)
    geos = [((1, 8, 8, 3), (3, 3), (1, 1)), ((1, 9, 7, 5), (3, 3), (2, 2)), ((1, 10, 6, 4), (2, 3), (2, 1)),
            ((1, 7, 7, 8), (7, 7), (1, 1)), ((1, 25, 5, 6), (25, 5), (1, 1)), ((2, 6, 5, 3), (4, 2), (3, 2))]
    total = 0
    for t in range(TRIALS):
        shape, k, s = geos[t % len(geos)]
        same = t % 2 == 0
        oh, pt, pb = _tflm_pads(shape[1], k[0], s[0], same)
        ow, pl, pr = _tflm_pads(shape[2], k[1], s[1], same)
        sc, zp = _q(rng)
        act = list(ACTS)[t % len(ACTS)]
        out_shape = (shape[0], oh, ow, shape[3])
        x = _rand(rng, shape)
        model = build_model(builtin, [TensorSpec(shape, sc, zp)], TensorSpec(out_shape, sc, zp),
                            dict(padding="SAME" if same else "VALID", strides=s, filter=k, fused_activation=act))
        want = run_model(model, [x])
        got = _ours(op, [_tensor("x", shape, sc, zp)], _tensor("y", out_shape, sc, zp), [x],
                    kernel=k, strides=s, pads=(pt, pl, pb, pr), **ACTS[act])
        _check(got, want, f"{builtin} {shape} k={k} s={s} {'SAME' if same else 'VALID'} act={act}")
        total += want.size
    assert total > 300
