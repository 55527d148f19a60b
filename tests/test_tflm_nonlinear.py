"""SOFTMAX, LOGISTIC and TANH ref_int8 against the real TFLM interpreter (pip tflite-micro): 0 mismatches.

LOGISTIC/TANH: the full 256-entry table for many random input scales and zero points.
SOFTMAX: thousands of random rows, row sizes 1..1000, random scales, zero points and beta.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tflite_micro", reason="the TFLM oracle (pip tflite-micro) is not installed")

from tflm_util import TensorSpec, build_model, run_model  # noqa: E402

from edgecompile.ir import Node, Op, QParams, Tensor  # noqa: E402
from edgecompile.ops import lut, softmax  # noqa: E402


def _tensor(shape, scale, zp) -> Tensor:
    return Tensor("t", tuple(shape), "int8", q=QParams.make(scale, zp))


def _scales(rng, n, lo, hi):
    """float32 input scales, log-uniform in [10^lo, 10^hi]."""
    return [float(np.float32(s)) for s in 10 ** rng.uniform(lo, hi, n)]


@pytest.mark.parametrize("op, name", [(Op.LOGISTIC, "LOGISTIC"), (Op.TANH, "TANH")])
def test_lut_matches_tflm(op, name):
    rng = np.random.default_rng(1234)
    out_scale, out_zp = lut._FUNCS[op][2]
    scales = _scales(rng, 120, -5, 1.3) + [1 / 128, 1 / 256, 0.5, 1.0, 16.0, 20.0]
    bad = []
    x = np.arange(-128, 128, dtype=np.int8)
    for scale in scales:
        for zp in (-128, 127, 0, int(rng.integers(-128, 128))):
            model = build_model(name, [TensorSpec((256,), scale, zp)], TensorSpec((256,), out_scale, out_zp))
            got = run_model(model, [x])
            ref = lut.ref_int8(x, dict(lut=lut.make_table(op, scale, zp)))
            if not np.array_equal(got, ref):
                bad.append((scale, zp, int((got != ref).sum())))
    assert not bad, f"{name}: (scale, zp, mismatches) {bad[:5]}"


def _softmax_params(shape, scale, zp, beta):
    node = Node("n", Op.SOFTMAX, ["x"], ["y"], attrs=dict(beta=beta))
    return softmax.prepare(node, [_tensor(shape, scale, zp)], _tensor(shape, *softmax.OUT_QUANT))


def _tflm_aborts(x, p) -> bool:
    """TFLM's TFLITE_CHECK(exponent <= 31) aborts the process when a row's sum of exps >= 512."""
    total = softmax.exps(x.reshape(-1, x.shape[-1]).astype(np.int64), p)[2]
    return bool((total >= 512 << (31 - softmax.ACCUM_BITS)).any())       # 512 in Q12.19


def _random_rows(rng, rows, row_size, kind):
    if kind == 0:                                  # uniform over all int8
        x = rng.integers(-128, 128, size=(rows, row_size))
    elif kind == 1:                                # clustered near a random level
        spread = int(rng.integers(1, 60))
        x = rng.integers(-128, 128, size=(rows, 1)) + rng.integers(-spread, spread + 1, size=(rows, row_size))
    else:                                          # peaked logits
        x = np.round(rng.normal(0, 40, size=(rows, row_size)))
    return np.clip(x, -128, 127).astype(np.int8)


def test_softmax_matches_tflm():
    rng = np.random.default_rng(99)
    sizes = [2, 3, 10, 12, 1000] + [int(s) for s in rng.integers(2, 1001, 45)]
    bad, total, skipped = [], 0, 0
    for i in range(300):
        row_size = sizes[i % len(sizes)]
        shape = (max(1, 2000 // row_size), row_size)
        if i % 10 == 0:                            # 3-D: softmax over the last axis only
            shape = (2, max(1, 1000 // row_size), row_size)
        scale = _scales(rng, 1, -3.5, 1.3)[0]
        zp = -128 if i % 5 == 0 else int(rng.integers(-128, 128))
        beta = 1.0 if i % 3 else float(np.float32(10 ** rng.uniform(-1, 1)))
        x = _random_rows(rng, int(np.prod(shape[:-1])), row_size, i % 3).reshape(shape)
        p = _softmax_params(shape, scale, zp, beta)
        if _tflm_aborts(x, p):
            skipped += 1
            continue
        model = build_model("SOFTMAX", [TensorSpec(shape, scale, zp)], TensorSpec(shape, *softmax.OUT_QUANT),
                            dict(beta=beta))
        got = run_model(model, [x])
        ref = softmax.ref_int8(x, p)
        total += ref.size
        if not np.array_equal(got, ref):
            bad.append((shape, scale, zp, beta, int((got != ref).sum())))
    assert not bad, f"softmax (shape, scale, zp, beta, mismatches): {bad[:5]}"
    assert total > 300_000 and skipped < 60, (total, skipped)


def test_softmax_sum_over_512_gives_zero():
    """Where TFLM aborts (exponent > 31), our kernel writes -128: every output rounds to 0."""
    x = np.zeros((1, 600), np.int8)
    p = _softmax_params(x.shape, 0.1, 0, 1.0)
    assert _tflm_aborts(x, p)
    assert (softmax.ref_int8(x, p) == -128).all()
