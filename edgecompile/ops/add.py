"""Add: ONNX Add with numpy broadcasting (rank <= 4), int8 as TFLM's reference add.

Both inputs are rescaled to twice the larger input scale with 20 bits of headroom, summed,
and requantized to the output scale.  Either input may be a constant (quantized per tensor).
"""
from __future__ import annotations

import numpy as np

from ..ir import Op
from ..quant import fixedpoint as fx
from . import Case, OpSpec, register
from ._common import INF, act_mask, act_range, apply_act, dims4, sum_to_shape
from .add_variants import ADD

LEFT_SHIFT = 20   # TFLM add_common.cc, int8


def infer(a, b, **attrs):
    shape = tuple(int(d) for d in np.broadcast_shapes(tuple(a), tuple(b)))
    if len(shape) > 4:
        raise ValueError(f"Add supports rank <= 4, got {tuple(a)} + {tuple(b)}")
    return shape


def ref_float(a, b, *, act_min=-INF, act_max=INF):
    return apply_act(a.astype(np.float32) + b.astype(np.float32), act_min, act_max)


def grad(dy, a, b, *, act_min=-INF, act_max=INF, y=None):
    """[da, db]: dy summed over the axes each input was broadcast along."""
    dy = act_mask(dy, y, act_min, act_max, lambda: ref_float(a, b, act_min=act_min, act_max=act_max))
    return [sum_to_shape(dy, a.shape), sum_to_shape(dy, b.shape)]


def prepare(node, ins, out):
    a, b = ins
    s1, s2, s_out = (np.float64(t.q.s) for t in (a, b, out))
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = fx.quantize_multiplier(s1 / twice_max)
    m2, sh2 = fx.quantize_multiplier(s2 / twice_max)
    mo, sho = fx.quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * s_out))
    lo, hi = act_range(node.attrs, out)
    return dict(input1_offset=-a.q.zp, input2_offset=-b.q.zp, output_offset=out.q.zp, left_shift=LEFT_SHIFT,
                input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2,
                output_multiplier=mo, output_shift=sho, act_min=lo, act_max=hi,
                input1_dims=dims4(a.shape), input2_dims=dims4(b.shape), output_dims=dims4(out.shape))


def ref_int8(a, b, p):
    """ec_add_s8, all elements at once (inputs broadcast to the output shape)."""
    def rescale(x, i):
        shifted = (x.astype(np.int64) + p[f"input{i}_offset"]) << p["left_shift"]
        return fx.multiply_by_quantized_multiplier(shifted, p[f"input{i}_multiplier"], p[f"input{i}_shift"],
                                                   fx.rounding_of(p))
    total = rescale(a, 1) + rescale(b, 2)
    y = fx.multiply_by_quantized_multiplier(total, p["output_multiplier"], p["output_shift"], fx.rounding_of(p))
    return fx.saturate(y + p["output_offset"], p["act_min"], p["act_max"])


CASES = [
    Case("residual_same_shape", ((1, 8, 8, 16), (1, 8, 8, 16))),
    Case("bcast_channel_vector", ((1, 5, 7, 3), (1, 1, 1, 3))),
    Case("bcast_single_channel", ((1, 5, 7, 3), (1, 5, 7, 1))),
    Case("bcast_first_input", ((1, 1, 1, 3), (1, 4, 4, 3))),
    Case("rank2", ((3, 17), (3, 17))),
    Case("rank2_row_bcast", ((3, 17), (17,))),
    Case("bcast_both", ((1, 5, 1, 6), (1, 1, 7, 6))),
    Case("relu_saturate", ((1, 6, 6, 5), (1, 6, 6, 5)), attrs=dict(act_min=0.0, act_max=INF),
         quant=dict(saturate=True)),
    Case("zp_minus_128", ((1, 4, 9, 7), (1, 4, 9, 7)), quant=dict(in_zp=-128)),
    Case("batch2_bcast", ((2, 3, 3, 5), (1, 3, 3, 5))),
]

register(OpSpec(Op.ADD, kernel="ec_add_s8", template="ops/add.c.j2", infer=infer, ref_float=ref_float,
                prepare=prepare, ref_int8=ref_int8, cases=CASES, grad=grad, variants=ADD))
