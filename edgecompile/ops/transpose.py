"""Transpose: output axis i is input axis perm[i].  Real data movement: the importer already turned
transposes that keep the element order into Reshape.  The kernel works on 4-D (rank <= 4)."""
from __future__ import annotations

import numpy as np

from ..ir import Op
from . import Case, OpSpec, register
from ._common import dims4


def _check(perm, rank):
    perm = tuple(int(a) for a in perm)
    if sorted(perm) != list(range(rank)):
        raise ValueError(f"transpose: perm {perm} is not a permutation of {rank} axes")
    return perm


def infer(x, perm):
    return tuple(x[a] for a in _check(perm, len(x)))


def ref_float(x, *, perm):
    return np.transpose(np.asarray(x, dtype=np.float32), _check(perm, x.ndim))


def grad(dy, x, *, perm, y=None):
    return [np.transpose(dy, np.argsort(_check(perm, x.ndim)))]


def prepare(node, ins, out):
    x = ins[0]
    rank = len(x.shape)
    if rank > 4:
        raise ValueError(f"node {node.name!r}: transpose of rank {rank} (at most 4)")
    lead = 4 - rank
    perm = tuple(range(lead)) + tuple(a + lead for a in _check(node.attrs["perm"], rank))
    return dict(perm=np.array(perm, dtype=np.int32), input_dims=dims4(x.shape),
                output_dims=dims4(out.shape), out_shape=tuple(out.shape))


def ref_int8(x, p):
    """Twin of ec_transpose_s8 on the 4-D views."""
    x4 = np.asarray(x, dtype=np.int8).reshape(p["input_dims"])
    return np.ascontiguousarray(x4.transpose(tuple(int(a) for a in p["perm"]))).reshape(p["out_shape"])


CASES = [
    Case("nchw_to_nhwc", ((1, 3, 5, 7),), attrs=dict(perm=(0, 2, 3, 1))),
    Case("nhwc_to_nchw", ((1, 5, 7, 3),), attrs=dict(perm=(0, 3, 1, 2))),
    Case("swap_hw", ((1, 4, 9, 6),), attrs=dict(perm=(0, 2, 1, 3))),
    Case("reverse_all", ((2, 3, 5, 7),), attrs=dict(perm=(3, 2, 1, 0))),
    Case("batch_moves", ((3, 2, 5, 1),), attrs=dict(perm=(1, 0, 2, 3))),
    Case("rank2", ((7, 13),), attrs=dict(perm=(1, 0))),
    Case("rank3", ((5, 3, 11),), attrs=dict(perm=(2, 0, 1))),
    Case("rank3_last_two", ((2, 9, 5),), attrs=dict(perm=(0, 2, 1))),
    Case("zp_minus_128", ((1, 6, 10, 3),), attrs=dict(perm=(0, 3, 1, 2)), quant=dict(in_zp=-128)),
]

register(OpSpec(Op.TRANSPOSE, kernel="ec_transpose_s8", template="ops/transpose.c.j2",
                infer=infer, ref_float=ref_float, prepare=prepare, ref_int8=ref_int8, cases=CASES,
                out_quant="same", grad=grad))
