"""Reshape (also Flatten / Squeeze / Unsqueeze and element-order-preserving Transposes after
import): same bytes, new shape.  No kernel: the output is an alias of the input in the arena."""
from __future__ import annotations

import numpy as np

from ..ir import Op
from . import Case, OpSpec, register


def infer(x, shape):
    shape = tuple(int(d) for d in shape)
    if int(np.prod(x, dtype=np.int64)) != int(np.prod(shape, dtype=np.int64)) or min(shape, default=1) < 0:
        raise ValueError(f"reshape: cannot view {tuple(x)} as {shape}")
    return shape


def ref_float(x, *, shape):
    return np.asarray(x, dtype=np.float32).reshape(infer(x.shape, shape))


def grad(dy, x, *, shape, y=None):
    return [dy.reshape(x.shape)]


def prepare(node, ins, out):
    """Nothing to compute for C; the integer reference needs the target shape."""
    return dict(shape=tuple(out.shape))


def ref_int8(x, p):
    if not p or "shape" not in p:
        raise ValueError("reshape ref_int8 needs params from prepare (the target shape)")
    return np.asarray(x, dtype=np.int8).reshape(p["shape"])


CASES = [
    Case("flatten_4d", ((1, 5, 5, 4),), attrs=dict(shape=(1, 100))),
    Case("squeeze_spatial", ((1, 1, 1, 10),), attrs=dict(shape=(1, 10))),
    Case("unsqueeze", ((1, 12),), attrs=dict(shape=(1, 1, 1, 12))),
    Case("split_features", ((1, 12),), attrs=dict(shape=(1, 3, 4))),
    Case("regroup", ((2, 6),), attrs=dict(shape=(3, 4))),
    Case("rank1", ((7,),), attrs=dict(shape=(1, 7))),
    Case("to_rank1", ((1, 3, 5),), attrs=dict(shape=(15,))),
    Case("hw_to_rows", ((1, 49, 10, 1),), attrs=dict(shape=(1, 490))),
    Case("zp_minus_128", ((1, 3, 3, 3),), attrs=dict(shape=(1, 27)), quant=dict(in_zp=-128)),
]

register(OpSpec(Op.RESHAPE, kernel=None, template=None,
                infer=infer, ref_float=ref_float, prepare=prepare, ref_int8=ref_int8, cases=CASES,
                out_quant="same", grad=grad))
