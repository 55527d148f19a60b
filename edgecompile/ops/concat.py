"""Concat: join 2..N tensors along one axis.  All inputs share the output's quantization, so the
int8 kernel is a pure copy: each input is viewed as [outer, inner_i], inner_i = prod(shape[axis:])."""
from __future__ import annotations

import numpy as np

from ..ir import Op
from . import Case, OpSpec, register


def infer(*shapes, axis):
    first = tuple(shapes[0])
    if not 0 <= axis < len(first):
        raise ValueError(f"concat axis {axis} out of range for rank {len(first)}")
    for s in shapes[1:]:
        if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first)) if i != axis):
            raise ValueError(f"concat along axis {axis}: shapes {shapes} differ off the axis")
    return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:]


def ref_float(*xs, axis):
    return np.concatenate([np.asarray(x, dtype=np.float32) for x in xs], axis=axis)


def grad(dy, *xs, axis, y=None):
    return np.split(dy, np.cumsum([x.shape[axis] for x in xs])[:-1], axis=axis)


def prepare(node, ins, out):
    axis = node.attrs["axis"]
    if len(out.shape) > 4:
        raise ValueError(f"node {node.name!r}: concat of rank {len(out.shape)} (at most 4)")
    for t in ins:
        if not t.q.same(out.q):
            raise ValueError(f"node {node.name!r}: concat input {t.name!r} must share the output's "
                             "scale and zero point (the quantize pass unifies them)")
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    inner = np.array([int(np.prod(t.shape[axis:], dtype=np.int64)) for t in ins], dtype=np.int32)
    return dict(outer=outer, num_inputs=len(ins), inner_sizes=inner, out_shape=tuple(out.shape))


def ref_int8(*args):
    """Twin of ec_concat_s8: rows of each [outer, inner_i] view laid side by side."""
    *xs, p = args
    rows = [np.asarray(x, dtype=np.int8).reshape(p["outer"], int(n)) for x, n in zip(xs, p["inner_sizes"])]
    return np.concatenate(rows, axis=1).reshape(p["out_shape"])


CASES = [
    Case("two_channels", ((1, 5, 7, 3), (1, 5, 7, 8)), attrs=dict(axis=3)),
    Case("three_channels_odd", ((1, 3, 5, 1), (1, 3, 5, 6), (1, 3, 5, 11)), attrs=dict(axis=3)),
    Case("four_channels", ((1, 4, 4, 16), (1, 4, 4, 3), (1, 4, 4, 5), (1, 4, 4, 7)), attrs=dict(axis=3)),
    Case("axis1_height", ((1, 2, 9, 5), (1, 7, 9, 5), (1, 1, 9, 5)), attrs=dict(axis=1)),
    Case("axis2_width", ((1, 3, 5, 4), (1, 3, 2, 4)), attrs=dict(axis=2)),
    Case("axis0_outer_one", ((2, 3, 3, 5), (1, 3, 3, 5)), attrs=dict(axis=0)),
    Case("rank2_features", ((1, 13), (1, 7), (1, 2)), attrs=dict(axis=1)),
    Case("rank3", ((2, 5, 3), (2, 4, 3)), attrs=dict(axis=1)),
    Case("rank1", ((9,), (4,)), attrs=dict(axis=0)),
    Case("zp_minus_128", ((1, 6, 6, 3), (1, 6, 6, 9)), attrs=dict(axis=3), quant=dict(in_zp=-128)),
]

register(OpSpec(Op.CONCAT, kernel="ec_concat_s8", template="ops/concat.c.j2",
                infer=infer, ref_float=ref_float, prepare=prepare, ref_int8=ref_int8, cases=CASES,
                out_quant="same", grad=grad))
