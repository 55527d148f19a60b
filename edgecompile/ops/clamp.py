"""Clamp: a standalone Relu / Relu6 / Clip that could not be fused into its producer.

Input and output share quantization, so the int8 op is a clamp to int8 bounds of the real
bounds (TFLM CalculateActivationRangeQuantized).
"""
from __future__ import annotations

import numpy as np

from ..ir import Op
from . import Case, OpSpec, register
from ._common import INF, act_mask, act_range, apply_act


def infer(x, **attrs):
    return tuple(x)


def ref_float(x, *, act_min=-INF, act_max=INF):
    return apply_act(x.astype(np.float32), act_min, act_max)


def grad(dy, x, *, act_min=-INF, act_max=INF, y=None):
    return [act_mask(dy, y, act_min, act_max, lambda: ref_float(x, act_min=act_min, act_max=act_max))]


def prepare(node, ins, out):
    lo, hi = act_range(node.attrs, out)
    return dict(act_min=lo, act_max=hi, size=int(np.prod(out.shape, dtype=np.int64)))


def ref_int8(x, p):
    """ec_clamp_s8."""
    return np.clip(x, p["act_min"], p["act_max"]).astype(np.int8)


RELU, RELU6 = dict(act_min=0.0, act_max=INF), dict(act_min=0.0, act_max=6.0)
CASES = [
    Case("relu", ((1, 8, 8, 4),), attrs=RELU),
    Case("relu_not_mult_of_4", ((1, 5, 3, 7),), attrs=RELU),
    Case("relu6", ((1, 6, 6, 3),), attrs=RELU6, quant=dict(in_range=(-3.0, 9.0))),
    Case("clip_sym", ((1, 9, 11),), attrs=dict(act_min=-0.5, act_max=0.5)),
    Case("clip_upper_only", ((2, 13),), attrs=dict(act_max=0.25)),
    Case("relu_zp_minus_128", ((1, 4, 4, 9),), attrs=RELU, quant=dict(in_zp=-128)),
    Case("relu6_saturate", ((1, 3, 3, 5),), attrs=RELU6, quant=dict(saturate=True)),
    Case("rank1", ((33,),), attrs=dict(act_min=-0.25, act_max=1.0)),
]

register(OpSpec(Op.CLAMP, kernel="ec_clamp_s8", template="ops/clamp.c.j2", infer=infer, ref_float=ref_float,
                prepare=prepare, ref_int8=ref_int8, cases=CASES, out_quant="same", grad=grad))
