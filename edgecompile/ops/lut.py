"""Logistic and Tanh: int8 in, int8 out through a 256-entry table.

prepare runs TFLM's int8 fixed-point kernel (reference_integer_ops::Logistic / Tanh, gemmlowp
math on Q4.27) on all 256 possible inputs, so the table is bit-exact by construction.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Op
from ..quant import fixedpoint as fx
from ..quant import gemmlowp as gl
from . import Case, OpSpec, register

_IN_BITS = 4                        # inputs are rescaled to Q4.27


def infer(x, **attrs):
    return tuple(x)


def input_scaling(scale: float) -> tuple[int, int, int]:
    """(multiplier, left_shift, radius) as TFLM's LOGISTIC/TANH Prepare.

    frexp + round(q * 2^31) inline, without QuantizeMultiplier's M == 2^31 fix-up (a rounded
    2^31 wraps to INT32_MIN like the C++ cast; float32 scales never reach it).
    """
    q, shift = math.frexp(float(np.float32(scale)) * float(1 << (31 - _IN_BITS)))
    m = int(fx.wrap_int32(math.floor(q * float(1 << 31) + 0.5)))     # std::round, q > 0 (exact)
    return m, shift, gl.calculate_input_radius(_IN_BITS, shift, 31)


def _tflm_int8(fn, out_bits: int, out_zp: int):
    """The TFLM int8 kernel of one activation as a vectorized function of (x, zp, m, shift, radius)."""
    def kernel(x, zp, m, shift, radius):
        d = np.asarray(x, dtype=np.int64) - zp
        inside = np.where(np.abs(d) < radius, d, 0)
        y = fx.rounding_divide_by_pot(fn(fx.multiply_by_quantized_multiplier(inside, m, shift), _IN_BITS),
                                      31 - out_bits) + out_zp
        y = np.where(d <= -radius, -128, np.where(d >= radius, 127, y))
        return fx.saturate(y)
    return kernel


# op -> (float function, TFLM int8 kernel, fixed output quantization)
_FUNCS = {
    Op.LOGISTIC: (lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)), _tflm_int8(gl.logistic, 8, -128), (1.0 / 256, -128)),
    Op.TANH: (np.tanh, _tflm_int8(gl.tanh, 7, 0), (1.0 / 128, 0)),
}


def make_table(op: Op, in_scale: float, in_zp: int) -> np.ndarray:
    """The 256-entry int8 table, indexed by input + 128."""
    m, shift, radius = input_scaling(in_scale)
    return _FUNCS[op][1](np.arange(-128, 128), in_zp, m, shift, radius)


def _prepare(op: Op):
    def prepare(node, ins, out):
        scale, zp = _FUNCS[op][2]
        if out.q.zp != zp or not math.isclose(out.q.s, scale):
            raise ValueError(f"node {node.name!r} ({op}): output must be quantized as {(scale, zp)}")
        return dict(lut=make_table(op, ins[0].q.s, ins[0].q.zp))
    return prepare


def _ref_float(op: Op):
    def ref_float(x):
        return _FUNCS[op][0](x.astype(np.float64)).astype(np.float32)
    return ref_float


def _grad(op: Op):
    def grad(dy, x, y=None):
        dt = np.float64 if np.float64 in (dy.dtype, x.dtype) else np.float32
        f = _FUNCS[op][0](x.astype(np.float64)).astype(dt)
        return [dy * (f * (1 - f) if op == Op.LOGISTIC else 1 - f * f)]
    return grad


def ref_int8(x, p):
    return p["lut"][x.astype(np.intp) + 128]


CASES = [
    Case("vector_not_mult_of_4", ((1, 37),)),
    Case("nhwc", ((1, 5, 7, 3),)),
    Case("wide_range", ((1, 64),), quant=dict(in_range=(-12.0, 12.0))),
    Case("very_wide_saturating", ((1, 4, 4, 8),), quant=dict(in_range=(-60.0, 60.0))),
    Case("narrow_range", ((2, 33),), quant=dict(in_range=(-0.25, 0.3))),
    Case("zp_minus_128", ((1, 3, 3, 5),), quant=dict(in_zp=-128)),
    Case("positive_only", ((1, 50),), quant=dict(in_range=(0.5, 6.0))),
    Case("negative_only", ((1, 50),), quant=dict(in_range=(-6.0, -0.5))),
    Case("single", ((1, 1),)),
]

for _op in (Op.LOGISTIC, Op.TANH):
    register(OpSpec(_op, kernel="ec_lut_s8", template="ops/lut.c.j2", infer=infer,
                    ref_float=_ref_float(_op), prepare=_prepare(_op), ref_int8=ref_int8, cases=CASES,
                    grad=_grad(_op),
                    out_quant=_FUNCS[_op][2]))
