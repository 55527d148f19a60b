"""Pad: constant padding (ONNX Pad mode="constant").  pads = (before_0..before_{r-1},
after_0..after_{r-1}) over the tensor's rank; the kernel sees the tensor as 4-D NHWC."""
from __future__ import annotations

import numpy as np

from ..ir import Op
from ..quant import fixedpoint as fx
from . import Case, OpSpec, register
from ._common import dims4


def _split(pads, rank):
    pads = tuple(int(v) for v in pads)
    if len(pads) != 2 * rank or min(pads, default=0) < 0:
        raise ValueError(f"pad: pads {pads} must be 2 * rank ({rank}) non-negative values")
    return pads[:rank], pads[rank:]


def infer(x, pads, value=0.0):
    before, after = _split(pads, len(x))
    return tuple(d + b + a for d, b, a in zip(x, before, after))


def ref_float(x, *, pads, value=0.0):
    before, after = _split(pads, x.ndim)
    return np.pad(np.asarray(x, dtype=np.float32), list(zip(before, after)), constant_values=value)


def grad(dy, x, *, pads, value=0.0, y=None):
    before, _ = _split(pads, x.ndim)
    return [dy[tuple(slice(b, b + d) for b, d in zip(before, x.shape))]]


def prepare(node, ins, out):
    x = ins[0]
    before, after = _split(node.attrs["pads"], len(x.shape))
    lead = (0,) * (4 - len(x.shape))
    value = fx.quantize_value(node.attrs.get("value", 0.0), out.q.s, out.q.zp)
    return dict(before=lead + before, after=lead + after, value=min(max(value, -128), 127),
                input_dims=dims4(x.shape), output_dims=dims4(out.shape), out_shape=tuple(out.shape))


def ref_int8(x, p):
    """Twin of ec_pad_s8: the 4-D view of x with constant rows and columns around it."""
    x4 = np.asarray(x, dtype=np.int8).reshape(p["input_dims"])
    y = np.pad(x4, list(zip(p["before"], p["after"])), constant_values=p["value"])
    return y.reshape(p["out_shape"])


CASES = [
    Case("spatial_1111", ((1, 6, 6, 4),), attrs=dict(pads=(0, 1, 1, 0, 0, 1, 1, 0))),
    Case("spatial_asymmetric", ((1, 7, 5, 3),), attrs=dict(pads=(0, 0, 2, 0, 0, 1, 0, 0))),
    Case("every_axis_asym", ((1, 3, 4, 5),), attrs=dict(pads=(1, 2, 0, 3, 0, 1, 3, 2))),
    Case("channels_only", ((1, 2, 3, 5),), attrs=dict(pads=(0, 0, 0, 2, 0, 0, 0, 1))),
    Case("value_nonzero", ((1, 5, 5, 3),), attrs=dict(pads=(0, 1, 2, 0, 0, 2, 1, 0), value=0.5)),
    Case("value_clamped", ((1, 3, 3, 2),), attrs=dict(pads=(0, 1, 1, 0, 0, 1, 1, 0), value=100.0)),
    Case("zp_minus_128", ((1, 9, 7, 3),), attrs=dict(pads=(0, 3, 1, 0, 0, 0, 2, 0)), quant=dict(in_zp=-128)),
    Case("rank2", ((3, 7),), attrs=dict(pads=(1, 2, 0, 3))),
    Case("rank3", ((5, 4, 3),), attrs=dict(pads=(2, 0, 1, 1, 3, 0))),
    Case("no_padding", ((1, 2, 2, 3),), attrs=dict(pads=(0,) * 8)),
]

register(OpSpec(Op.PAD, kernel="ec_pad_s8", template="ops/pad.c.j2",
                infer=infer, ref_float=ref_float, prepare=prepare, ref_int8=ref_int8, cases=CASES,
                out_quant="same", grad=grad))
