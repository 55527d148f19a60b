"""Compile-time specialisations of the dense int8 kernels, as ``OpSpec.variants`` that lower picks
per node (after the sparse ones):

  folded     FC with input_offset * sum(w) folded into an effective bias (input_offset = 0 in the
             params), the same int32 sums without the per-MAC offset adds;
  pointwise  1x1 / stride 1 / unpadded / one-group Conv2D as that FC over the N*H*W pixels;
  im2col     other one-group Conv2D: patches (padded taps = the input zero point) in the scratch
             buffer times the [C_OUT, KH*KW*C_IN] filter, effective bias as above;
  *_wide     compile --optimize speed (options["optimize"]): the same three with the filter also in
             ec_matmul.h's int16 layout (wide_filter), which the DSP cores (M4/M7/M33) read, with
             twice those weights' flash; Helium and portable builds keep reading the int8 filter.

Scratch bytes (params ``scratch_bytes``) follow ec_matmul.h / ec_conv2d_im2col_s8.c exactly.

``options["specialize"] = False`` (or monkeypatching ``_specialize``) keeps the generic kernels.
"""
from __future__ import annotations

import numpy as np

from . import Variant
from ._common import int_matmul, requant_out


def mat_scratch(rows: int, depth: int, out_ch: int) -> int:
    """EC_MAT_SCRATCH_BYTES: the DSP product's int16 copy and int32 sums of 1 or 2 rows; 2 rows or
    more at least Helium's packed block of 4 rows (depth rounded up to 16)."""
    dsp = (2 if rows > 1 else 1) * (2 * (depth & ~3) + 4 * out_ch)
    return max(dsp, 4 * ((depth + 15) & ~15)) if rows > 1 else dsp


def im2col_scratch(depth: int, out_ch: int) -> int:
    """ec_conv2d_im2col_s8's scratch: two int8 patches of depth rounded up to 4 + the product's; at
    least Helium's packed block of 4 patches and its gather offsets (6 * depth rounded up to 16)."""
    d4 = (depth + 3) & ~3
    return max(2 * d4 + mat_scratch(2, d4, out_ch), 6 * ((d4 + 15) & ~15))


def mat_wide_scratch(rows: int, depth: int) -> int:
    """EC_MAT_WIDE_SCRATCH_BYTES: the int16 rows of the wide-weight product, depth padded to 8."""
    return (16 if rows > 1 else 8) * ((depth + 7) >> 3) * 2


def wide_requant(w2d, p: dict):
    """(m, e, k, mode) per channel for ec_requant_fast on the wide path, or None (generic
    requantization).  A channel whose output is the output offset for every reachable sum (m = 0, or
    |acc| m < 2^(29 + e): both roundings give 0 before the offset) becomes m = 0, e = 1; the others
    need m >= 0, e in 1..31, |acc| < 2^30.  mode 1: k = 2^(e-1) + (offset << e) (|acc| + |k| < 2^31
    everywhere), else mode 2: k = 2^(e-1) and the offset added after the shift."""
    o = w2d.shape[0]
    m = np.broadcast_to(np.asarray(p["multiplier"], np.int64), (o,)).copy()
    e = -np.broadcast_to(np.asarray(p["shift"], np.int64), (o,)).copy()
    acc = np.abs(w2d.astype(np.int64)).sum(axis=1) * 128 + np.abs(np.asarray(p["effective_bias"], np.int64))
    if acc.max(initial=0) >= 1 << 30 or m.min(initial=0) < 0:
        return None
    dead = (m == 0) | ((e >= 1) & (acc * m < np.left_shift(np.int64(1), np.clip(29 + e, 0, 62))))
    m[dead], e[dead] = 0, 1
    if e.min(initial=1) < 1 or e.max(initial=1) > 31:
        return None
    k = (np.int64(1) << (e - 1)) + (np.int64(p["output_offset"]) << e)
    if (acc + np.abs(k)).max(initial=0) < 1 << 31:
        return m, e, k, 1
    return m, e, np.int64(1) << (e - 1), 2


def wide_filter(w2d, p: dict) -> np.ndarray:
    """ec_matmul.h's wide layout of an int8 [O, K] filter as int32 words: channels in pairs (an odd
    last one with zeros), per pair a header [bias, multiplier, k, e] x 2 channels (interleaved: b0 b1
    m0 m1 k0 k1 e0 e1; e = -shift and k = 0, or wide_requant's), then K zero-padded to a multiple of
    8 in 4-deep groups [w0 0,2][w0 1,3][w1 0,2][w1 1,3] of two int16 (low halfword first: the SXTB16
    lanes).  With wide_requant the weights and bias are doubled (ec_requant_fast takes twice the sum);
    the kernel's mode (params wide_mode, ec_*_params.wide_filter): 1 generic, 2 or 3 wide_requant's 1 or 2."""
    o, k = w2d.shape
    rq = wide_requant(w2d, p)
    two = 1 if rq is None else 2
    w = np.zeros((o + o % 2, -(-k // 8) * 8), np.int64)
    w[:o, :k] = np.asarray(w2d, np.int64) * two
    g = w.reshape(w.shape[0] // 2, 2, -1, 4).transpose(0, 2, 1, 3)       # pair, group, channel, 4 deep
    words = ((g[..., :2] & 0xFFFF) | ((g[..., 2:] & 0xFFFF) << 16)).reshape(g.shape[0], -1)  # 0|2<<16, 1|3<<16
    hdr = np.zeros((4, w.shape[0]), np.int64)
    hdr[0, :o] = np.asarray(p["effective_bias"], np.int64) * two
    hdr[1, :o] = np.broadcast_to(np.asarray(p["multiplier"], np.int64), (o,))
    hdr[3, :o] = -np.broadcast_to(np.asarray(p["shift"], np.int64), (o,))
    if rq is not None:
        hdr[1, :o], hdr[3, :o], hdr[2, :o] = rq[:3]                     # m, e, k
    hdr = hdr.reshape(4, -1, 2).transpose(1, 0, 2).reshape(-1, 8)        # pair: b0 b1 m0 m1 k0 k1 e0 e1
    return (np.concatenate([hdr, words], axis=1) & 0xFFFFFFFF).astype(np.uint32).view(np.int32).ravel()


def _speed(options) -> bool:
    """compile --optimize speed: int16 weights (twice the flash) for the DSP product on M4/M7/M33."""
    return (options or {}).get("optimize") == "speed"


def _widen(p: dict, w2d, rows: int, extra: int = 0) -> dict:
    """params of a wide-weight variant: both layouts (codegen emits the one the core reads), the
    scratch of either path (compile is board-agnostic)."""
    rq = wide_requant(w2d, p)
    return dict(p, wide_filter=wide_filter(w2d, p), wide_mode=1 if rq is None else 1 + rq[3],
                scratch_bytes=max(p["scratch_bytes"], extra + mat_wide_scratch(rows, w2d.shape[1])))


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
                 _prepare_folded, ref_int8_folded, replaces=(2,), flash_bytes=_bias_bytes, strided_out=True)


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
                    ref_int8_1x1, replaces=(2,), flash_bytes=_bias_bytes, strided_out=True)


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
                 ref_int8_im2col, replaces=(1, 2), flash_bytes=_im2col_bytes, strided_out=True)


def _prepare_1x1_wide(node, ins, out, params) -> dict:
    p = _prepare_1x1(node, ins, out, params)
    return _widen(p, ins[1].data.reshape(ins[1].shape[0], -1), p["fc_input_dims"][0])


def _prepare_im2col_wide(node, ins, out, params) -> dict:
    """The kernel widens each pixel's rows straight from the input: with C_IN % 4 != 0 (a first layer) each
    of the KH tap rows (KW * C_IN) is zero-padded to a multiple of 4 in the wide filter."""
    p = _prepare_im2col(node, ins, out, params)
    w = ins[1].data
    r = w.reshape(w.shape[0], w.shape[1], -1)
    f = np.pad(r, ((0, 0), (0, 0), (0, -r.shape[2] % 4))).reshape(w.shape[0], -1)
    return dict(_widen(p, f, 2, 2 * f.shape[1]), im2col_filter=p["im2col_filter"])


def _wide_bytes(params) -> int:
    """Flash on the DSP cores (the int16 layout; Helium and portable builds hold the int8 one)."""
    return _bias_bytes(params) + int(params["wide_filter"].nbytes)


def _wide_1x1_bytes(params) -> int:
    """The DSP cores' flash beyond the int8 weights (still emitted, unreferenced there: the linker drops them)."""
    return _wide_bytes(params) - int(np.prod(params["fc_filter_dims"]))


# compile --optimize speed: the same kernels and sums over the int16 weight layout (DSP cores)
WIDE_1X1 = Variant("pointwise_wide", "ec_fully_connected_s8", "ops/conv2d_1x1.c.j2",
                   lambda *a: _speed(a[4]) and _choose_1x1(*a), _prepare_1x1_wide, ref_int8_1x1,
                   replaces=(2,), flash_bytes=_wide_1x1_bytes, strided_out=True)
IM2COL_WIDE = Variant("im2col_wide", "ec_conv2d_im2col_s8", "ops/conv2d_im2col.c.j2",
                      lambda *a: _speed(a[4]) and a[3]["dilation"][1] == 1 and _choose_im2col(*a),
                      _prepare_im2col_wide, ref_int8_im2col,
                      replaces=(1, 2), flash_bytes=_wide_bytes, strided_out=True)

CONV2D = [WIDE_1X1, IM2COL_WIDE, FOLDED_1X1, IM2COL]        # in the order lower tries them
FOLDED_WIDE = Variant("folded_wide", "ec_fully_connected_s8", "ops/fully_connected_folded.c.j2",  # the FC's
                      lambda *a: _speed(a[4]) and _choose_folded(*a), lambda *a: dict(_widen(
                          _prepare_folded(*a), a[1][1].data, a[3]["input_dims"][0]), scratch_optional=False),
                      ref_int8_folded, replaces=(2,), strided_out=True,
                      flash_bytes=lambda p: _wide_bytes(p) - int(np.prod(p["filter_dims"])))
