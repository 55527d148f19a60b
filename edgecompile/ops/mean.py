"""Mean over H and W of NHWC: ONNX GlobalAveragePool / ReduceMean(axes=spatial).

int8 follows TFLM's QuantizedMeanOrSum (reference/reduce.h): the multiplier of s_in / s_out
absorbs 1/N, so the kernel only sums, removes the input zero point and requantizes.
"""
from __future__ import annotations

import numpy as np

from ..ir import Op
from ..quant import fixedpoint as fx
from . import Case, OpSpec, register


def infer(x, *, keepdims=True):
    if len(x) != 4:
        raise ValueError(f"Mean expects a 4-D NHWC input, got shape {tuple(x)}")
    return (x[0], 1, 1, x[3]) if keepdims else (x[0], x[3])


def ref_float(x, *, keepdims=True):
    return x.astype(np.float64).mean(axis=(1, 2), keepdims=keepdims).astype(np.float32)


def grad(dy, x, *, keepdims=True, y=None):
    """[dx]: dy / (H * W) spread over every spatial position."""
    n, h, w, c = x.shape
    dt = np.float64 if np.float64 in (dy.dtype, x.dtype) else np.float32
    d = dy.astype(dt, copy=False).reshape(n, 1, 1, c) / (h * w)
    return [np.broadcast_to(d, x.shape).copy()]


def fold_count(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """Fold 1/count into (multiplier, shift) exactly as TFLM: shift by floor(log2 count), capped
    at 32 and at 31 + shift, then divide the widened multiplier (int64 division)."""
    sh = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << sh) // count, shift - sh


def prepare(node, ins, out):
    x = ins[0]
    n, h, w, c = (int(d) for d in x.shape)
    # TFLM reduce_common.cc: (double)s_in / (double)s_out, both float32 scales
    mult, shift = fx.quantize_multiplier(np.float64(x.q.s) / np.float64(out.q.s))
    mult, shift = fold_count(mult, shift, h * w)
    return dict(input_offset=-x.q.zp, output_offset=out.q.zp, multiplier=int(mult), shift=int(shift),
                input_dims=(n, h, w, c), output_dims=(n, 1, 1, c), output_shape=tuple(out.shape))


def ref_int8(x, p):
    """ec_mean_s8: y = MBQM(sum(q) - z_in * N, M', s') + z_out, saturated to int8."""
    n, h, w, c = p["input_dims"]
    acc = x.reshape(n, h * w, c).astype(np.int64).sum(axis=1) + p["input_offset"] * h * w
    y = fx.multiply_by_quantized_multiplier(acc, p["multiplier"], p["shift"], fx.rounding_of(p)) + p["output_offset"]
    return fx.saturate(y).reshape(p["output_shape"])


CASES = [
    Case("global_7x7", ((1, 7, 7, 16),)),
    Case("one_by_one", ((1, 1, 1, 8),)),
    Case("kws_25x5", ((1, 25, 5, 64),)),
    Case("resnet_8x8", ((1, 8, 8, 64),)),
    Case("not_mult_of_4", ((1, 5, 3, 7),)),
    Case("zp_minus_128", ((1, 6, 6, 10),), quant=dict(in_zp=-128)),
    Case("saturate", ((1, 4, 4, 12),), quant=dict(saturate=True)),
    Case("batch2", ((2, 3, 5, 6),)),
    Case("no_keepdims", ((1, 9, 9, 5),), attrs=dict(keepdims=False)),
    Case("large_n_odd", ((1, 33, 31, 3),)),
]

register(OpSpec(Op.MEAN, kernel="ec_mean_s8", template="ops/mean.c.j2", infer=infer, ref_float=ref_float,
                prepare=prepare, ref_int8=ref_int8, cases=CASES, grad=grad))
