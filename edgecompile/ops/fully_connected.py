"""FullyConnected: ONNX Gemm / MatMul(+Add) after canonicalization.  y = x @ w.T + b."""
from __future__ import annotations

import numpy as np

from ..ir import Op
from . import Case, OpSpec, dense_variants, register, sparse
from ._common import INF, act_mask, apply_act, grad_dtype, int_matmul, requant_out, weighted_params


def infer(x, w, b=None, **attrs):
    return tuple(x[:-1]) + (w[0],)


def ref_float(x, w, b=None, *, act_min=-INF, act_max=INF):
    y = x.astype(np.float32) @ w.T.astype(np.float32)
    if b is not None:
        y = y + b
    return apply_act(y, act_min, act_max)


def grad(dy, x, w, b=None, *, act_min=-INF, act_max=INF, y=None):
    """[dx, dw, db] with the leading axes of x flattened into rows."""
    dy = act_mask(dy, y, act_min, act_max, lambda: ref_float(x, w, b, act_min=act_min, act_max=act_max))
    dt = grad_dtype(dy, x, w)
    d2 = dy.reshape(-1, w.shape[0]).astype(dt, copy=False)
    x2 = x.reshape(-1, w.shape[1]).astype(dt, copy=False)
    dx = (d2 @ w.astype(dt, copy=False)).reshape(x.shape)
    return [dx, d2.T @ x2, None if b is None else d2.sum(axis=0)]


def prepare(node, ins, out):
    x, w, b = ins
    rows = int(np.prod(x.shape[:-1]))
    return dict(weighted_params(node, x, w, b, out, axis_out=0),
                scratch_bytes=dense_variants.mat_scratch(rows, w.shape[1], w.shape[0]), scratch_optional=rows == 1,
                input_dims=(rows, 1, 1, x.shape[-1]), filter_dims=(w.shape[0], 1, 1, w.shape[1]),
                output_dims=(rows, 1, 1, w.shape[0]))


def ref_int8(x, w, b, p):
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64) + p["input_offset"]
    acc = int_matmul(rows, w.T)
    if b is not None:
        acc += b.astype(np.int64)
    return requant_out(acc, p).reshape(x.shape[:-1] + (w.shape[0],))


CASES = [
    Case("basic", ((1, 20), (6, 20), (6,))),
    Case("tail_not_mult_of_4", ((3, 19), (7, 19), (7,))),
    Case("no_bias", ((1, 33), (5, 33), None)),
    Case("relu_saturating", ((1, 64), (10, 64), (10,)), attrs=dict(act_min=0.0, act_max=INF)),
    Case("relu6", ((1, 16), (9, 16), (9,)), attrs=dict(act_min=0.0, act_max=6.0)),
    Case("zp_minus_128", ((1, 31), (3, 31), (3,)), quant=dict(in_zp=-128)),
    Case("per_tensor", ((2, 24), (12, 24), (12,)), quant=dict(per_channel=False)),
    Case("rows_3d", ((1, 5, 13), (11, 13), (11,))),
    Case("wide", ((1, 640), (128, 640), (128,))),
    Case("one_output", ((1, 7), (1, 7), (1,))),
    Case("rows_5_depth_45", ((5, 45), (13, 45), (13,))),
    Case("rows_1_out_5_depth_100", ((1, 100), (5, 100), (5,)), quant=dict(per_channel=False)),
    Case("depth_3", ((4, 3), (6, 3), (6,))),
    # Helium's 4-row blocks: a last block of 2-3 rows, depth 1 / 40 (tails), per-tensor
    Case("rows_6_depth_1", ((6, 1), (3, 1), (3,))),
    Case("rows_7_depth_40_per_tensor", ((7, 40), (5, 40), (5,)), quant=dict(per_channel=False)),
]

register(OpSpec(Op.FULLY_CONNECTED, kernel="ec_fully_connected_s8", template="ops/fully_connected.c.j2",
                infer=infer, ref_float=ref_float, prepare=prepare, ref_int8=ref_int8, cases=CASES,
                weights={1: 0}, bias=2, consts=(1, 2), grad=grad,
                variants=[sparse.variant("fully_connected", ref_int8), dense_variants.FOLDED_WIDE,
                          dense_variants.FOLDED], strided_out=True))
