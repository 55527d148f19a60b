"""Softmax over the last axis: TFLM's int8 gemmlowp fixed-point algorithm (not a table).

Per row: d = x - max; exp(d * beta * s_in) in Q0.31 from Q5.26; sum in Q12.19; one reciprocal;
output = exp * (1 / sum) in units of 1/256, zero point -128.  Twin of ec_softmax_s8.c.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Op
from ..quant import fixedpoint as fx
from ..quant import gemmlowp as gl
from . import Case, OpSpec, register

SCALED_DIFF_BITS = 5                 # exp input is Q5.26
ACCUM_BITS = 12                      # sum of exps is Q12.19
MAX_ROW = 4095                       # row_size * 2^19 must fit int32 (the sum never overflows)
OUT_QUANT = (1.0 / 256, -128)


def infer(x, **attrs):
    return tuple(x)


def ref_float(x, *, beta=1.0):
    z = (x.astype(np.float64) - x.max(axis=-1, keepdims=True)) * beta
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def grad(dy, x, *, beta=1.0, y=None):
    """[dx] = beta * s * (dy - sum(dy * s)) over the last axis."""
    dt = np.float64 if np.float64 in (dy.dtype, x.dtype) else np.float32
    s = (ref_float(x, beta=beta) if y is None else y).astype(dt)
    return [beta * s * (dy - (dy * s).sum(axis=-1, keepdims=True))]


def prepare(node, ins, out):
    x = ins[0]
    if out.q.zp != OUT_QUANT[1] or out.q.s != OUT_QUANT[0]:
        raise ValueError(f"node {node.name!r} (Softmax): output must be quantized as {OUT_QUANT}")
    row_size = int(x.shape[-1])
    if row_size > MAX_ROW:
        raise ValueError(f"node {node.name!r} (Softmax): rows of {row_size} > {MAX_ROW} overflow int32")
    beta = float(np.float32(node.attrs.get("beta", 1.0)))          # a float32 in TFLite's options
    mult, shift = gl.preprocess_softmax_scaling(beta, x.q.s, SCALED_DIFF_BITS)
    diff_min = -gl.calculate_input_radius(SCALED_DIFF_BITS, shift, 31)
    return dict(input_multiplier=mult, input_left_shift=shift, diff_min=diff_min,
                rows=int(math.prod(x.shape[:-1])), row_size=row_size)


def exps(rows, p):
    """(keep, exp in Q0.31, row sums in Q12.19) for int rows [R, N]: the kernel's first pass."""
    diff = rows - rows.max(axis=1, keepdims=True)
    keep = diff >= p["diff_min"]
    scaled = fx.saturating_rounding_doubling_high_mul(np.where(keep, diff, 0) << p["input_left_shift"],
                                                      p["input_multiplier"])      # Q5.26
    e = gl.exp_on_negative_values(scaled, SCALED_DIFF_BITS)                       # Q0.31
    return keep, e, np.where(keep, gl.rescale(e, 0, ACCUM_BITS), 0).sum(axis=1)


def ref_int8(x, p):
    keep, e, total = exps(x.reshape(-1, x.shape[-1]).astype(np.int64), p)
    recip, bits_over_unit = gl.get_reciprocal(total, ACCUM_BITS)
    exponent = (bits_over_unit + 31 - 8)[:, None]
    # TFLM aborts when exponent > 31 (a row whose sum of exps is >= 512); every output of such a
    # row would round to 0, so the kernel writes -128.
    y = fx.rounding_divide_by_pot(fx.saturating_rounding_doubling_high_mul(recip[:, None], e),
                                  np.minimum(exponent, 31)) - 128
    y = np.where(keep & (exponent <= 31), y, -128)
    return fx.saturate(y).reshape(x.shape)


CASES = [
    Case("row_10", ((1, 10),)),
    Case("rows_12", ((4, 12),)),
    Case("row_2", ((3, 2),)),
    Case("row_1000", ((1, 1000),)),
    Case("three_d", ((2, 5, 7),)),
    Case("nhwc_4d", ((1, 3, 3, 11),)),
    Case("wide_range", ((6, 10),), quant=dict(in_range=(-30.0, 30.0))),
    Case("narrow_range", ((5, 13),), quant=dict(in_range=(-0.2, 0.25))),
    Case("zp_minus_128", ((2, 10),), quant=dict(in_zp=-128)),
    Case("beta_half", ((3, 9),), attrs=dict(beta=0.5)),
    Case("row_1", ((4, 1),)),
]

register(OpSpec(Op.SOFTMAX, kernel="ec_softmax_s8", template="ops/softmax.c.j2", infer=infer,
                ref_float=ref_float, prepare=prepare, ref_int8=ref_int8, cases=CASES,
                out_quant=OUT_QUANT, grad=grad))
