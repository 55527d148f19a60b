"""Compile-time specialisations of the dense int8 kernels, as ``OpSpec.variants`` that lower picks
per node (after the sparse ones):

  folded     FC with input_offset * sum(w) folded into an effective bias (input_offset = 0 in the
             params), the same int32 sums without the per-MAC offset adds;
  pointwise  1x1 / stride 1 / unpadded / one-group Conv2D as that FC over the N*H*W pixels;
  im2col     other one-group Conv2D: patches (padded taps = the input zero point) in the scratch
             buffer times the [C_OUT, KH*KW*C_IN] filter, effective bias as above.

Scratch bytes (params ``scratch_bytes``) follow ec_matmul.h / ec_conv2d_im2col_s8.c exactly.

``options["specialize"] = False`` (or monkeypatching ``_specialize``) keeps the generic kernels.
"""
from __future__ import annotations

import numpy as np

from . import Variant
from ._common import int_matmul, requant_out


def mat_scratch(rows: int, depth: int, out_ch: int) -> int:
    """EC_MAT_SCRATCH_BYTES: the DSP product's int16 copy and int32 sums of 1 or 2 rows."""
    return (2 if rows > 1 else 1) * (2 * (depth & ~3) + 4 * out_ch)


def im2col_scratch(depth: int, out_ch: int) -> int:
    """ec_conv2d_im2col_s8's scratch: two int8 patches of depth rounded up to 4 + the product's."""
    d4 = (depth + 3) & ~3
    return 2 * d4 + mat_scratch(2, d4, out_ch)


def im2col_filter(w) -> np.ndarray:
    """The [C_OUT, KH*KW*C_IN] filter with each row zero-padded to a multiple of 4 (the kernel's
    product then has no depth tail), flattened."""
    w2 = w.reshape(w.shape[0], -1)
    return np.pad(w2, ((0, 0), (0, -w2.shape[1] % 4))).astype(np.int8).ravel()


def fast_requant(w2d, eb, params) -> dict:
    """{"fast_requant": 1} when ec_requant_fast is exact for every sum the kernel forms from int8
    inputs (offset folded) and the effective bias (the kernel derives e and k from the shift and the
    output offset), else 0."""
    from .dw_variants import fast_requant_k
    return {"fast_requant": int(fast_requant_k(w2d, eb, params, 0) is not None)}


def fold_offset(w2d, b, input_offset):
    """bias + input_offset * sum(w) per output row of w2d [O, K] as int32 (None if that leaves
    int32): with it a kernel given input_offset = 0 adds exactly the same int32 sums."""
    eb = w2d.astype(np.int64).sum(axis=1) * int(input_offset)
    if b is not None:
        eb = eb + np.asarray(b.data if hasattr(b, "data") else b, np.int64)
    if eb.size and (eb.min() < -2**31 or eb.max() > 2**31 - 1):
        return None
    return eb.astype(np.int32)


def _specialize(options) -> bool:
    return bool((options or {}).get("specialize", True))


def _choose_folded(node, ins, out, params, options) -> bool:
    w = ins[1]
    return (_specialize(options) and w is not None and w.is_const
            and fold_offset(w.data.reshape(w.shape[0], -1), ins[2], params["input_offset"]) is not None)


def _prepare_folded(node, ins, out, params) -> dict:
    w = ins[1].data
    eb = fold_offset(w.reshape(w.shape[0], -1), ins[2], params["input_offset"])
    rows, depth, o = params["input_dims"][0], params["filter_dims"][3], params["filter_dims"][0]
    return dict(params, input_offset=0, effective_bias=eb, scratch_bytes=mat_scratch(rows, depth, o),
                **fast_requant(w.reshape(w.shape[0], -1), eb, params))


def ref_int8_folded(x, w, b, p):
    """Twin of ec_fully_connected_s8 given input_offset = 0 and the effective bias."""
    acc = int_matmul(x.reshape(-1, x.shape[-1]).astype(np.int64), w.T) + p["effective_bias"].astype(np.int64)
    return requant_out(acc, p).reshape(x.shape[:-1] + (w.shape[0],))


def _bias_bytes(params) -> int:
    return int(params["effective_bias"].nbytes)


FOLDED = Variant("folded", "ec_fully_connected_s8", "ops/fully_connected_folded.c.j2", _choose_folded,
                 _prepare_folded, ref_int8_folded, replaces=(2,), flash_bytes=_bias_bytes)


def _choose_1x1(node, ins, out, params, options) -> bool:
    """Pointwise: 1x1 filter, stride 1, no padding, one group = FC over the N*H*W pixels."""
    w = ins[1]
    return (_specialize(options) and w is not None and w.is_const
            and tuple(w.shape[1:3]) == (1, 1) and tuple(params["stride"]) == (1, 1)
            and not any(node.attrs.get("pads", (0, 0, 0, 0))) and params["groups"] == 1
            and fold_offset(w.data.reshape(w.shape[0], -1), ins[2], params["input_offset"]) is not None)


def _prepare_1x1(node, ins, out, params) -> dict:
    n, h, wd, c = params["input_dims"]
    o = params["output_dims"][3]
    p = _prepare_folded(node, ins, out, params)
    return dict(p, scratch_bytes=mat_scratch(n * h * wd, c, o), fc_input_dims=(n * h * wd, 1, 1, c),
                fc_filter_dims=(o, 1, 1, c), fc_output_dims=(n * h * wd, 1, 1, o))


def ref_int8_1x1(x, w, b, p):
    """Twin of ec_fully_connected_s8 over pixels with input_offset = 0 and the effective bias."""
    y = ref_int8_folded(x, w.reshape(w.shape[0], -1), None, p)
    return y.reshape(tuple(p["output_dims"]))


FOLDED_1X1 = Variant("pointwise", "ec_fully_connected_s8", "ops/conv2d_1x1.c.j2", _choose_1x1, _prepare_1x1,
                    ref_int8_1x1, replaces=(2,), flash_bytes=_bias_bytes)


def _choose_im2col(node, ins, out, params, options) -> bool:
    """One group: conv as a matrix product over im2col patches."""
    w = ins[1]
    return (_specialize(options) and w is not None and w.is_const and params["groups"] == 1
            and fold_offset(w.data.reshape(w.shape[0], -1), ins[2], params["input_offset"]) is not None)


def _prepare_im2col(node, ins, out, params) -> dict:
    w = ins[1].data
    eb = fold_offset(w.reshape(w.shape[0], -1), ins[2], params["input_offset"])
    return dict(params, effective_bias=eb, scratch_bytes=im2col_scratch(int(np.prod(w.shape[1:])), w.shape[0]),
                im2col_filter=im2col_filter(w),
                **fast_requant(w.reshape(w.shape[0], -1), eb, params))


def ref_int8_im2col(x, w, b, p):
    """Twin of ec_conv2d_im2col_s8: patches with padded taps = the input zero point, times w, plus
    the effective bias (bias + input_offset * sum(w))."""
    from .conv2d import _grouped_matmul, windows
    _, oh, ow, _ = p["output_dims"]
    zp = -p["input_offset"]
    taps = [t + zp for t in windows(x.astype(np.float64) - zp, p["filter_dims"][1:3], p["stride"],
                                    p["dilation"], p["padding"], (oh, ow))]
    acc = _grouped_matmul(taps, w, 1, int_matmul) + p["effective_bias"].astype(np.int64)
    return requant_out(acc, p)


def _im2col_bytes(params) -> int:
    return _bias_bytes(params) + int(params["im2col_filter"].nbytes)


IM2COL = Variant("im2col", "ec_conv2d_im2col_s8", "ops/conv2d_im2col.c.j2", _choose_im2col, _prepare_im2col,
                 ref_int8_im2col, replaces=(1, 2), flash_bytes=_im2col_bytes)

CONV2D = [FOLDED_1X1, IM2COL]        # in the order lower tries them
