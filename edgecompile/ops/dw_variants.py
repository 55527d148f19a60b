"""Compile-time specialisations of DepthwiseConv2D, as ``OpSpec.variants`` that lower picks per node:

  3x3  channel multiplier 1, dilation 1, stride 1 or 2 (ec_depthwise_conv2d_3x3_s8): the filter,
       bias and requantization constants re-laid out into one table in the order the loop reads
       them, which replaces the filter and bias inputs; two layouts, the template emits both and the
       C preprocessor keeps one: DSP / portable 8 int32 per channel (tap pairs as int16 halves,
       doubled so the fast requantization needs no shift), Helium 10 int32 per channel (the taps as
       the 16-byte vector of a gathered window for VMLADAV); both fold the input offset into the bias.
       Input rows go to a scratch ring (DSP: 3 rows of int16 pairs, Helium: 8 rows of int8).

The kernel's requantization (ec_requant_fast in ec_fixedpoint.h) is exact only under bounds that
``fast_requant_ok`` proves here from the constant weights and bias; otherwise the generic kernel runs.
"""
from __future__ import annotations

import numpy as np

from . import Variant

ROWS = 3                           # scratch ring: input rows of one output row
MAX_SCRATCH = 32 * 1024


def _specialize(options) -> bool:
    return bool((options or {}).get("specialize", True))


def fast_requant_k(w2d, b, params, input_offset):
    """(e, k) per output row of w2d [O, K] if ec_requant_fast is exact for every accumulator the
    kernel can form (multiplier >= 0, |acc| < 2^30, right shift 1..30, |acc| + |k| < 2^31), else None."""
    mult = np.broadcast_to(np.asarray(params["multiplier"], np.int64), (w2d.shape[0],))
    shift = np.broadcast_to(np.asarray(params["shift"], np.int64), (w2d.shape[0],))
    xmax = max(abs(-128 + input_offset), abs(127 + input_offset))
    acc = np.abs(w2d.astype(np.int64)).sum(axis=1) * xmax
    if b is not None:
        acc = acc + np.abs(np.asarray(b, np.int64))
    e = -shift
    if mult.min(initial=0) < 0 or e.min(initial=1) < 1 or e.max(initial=1) > 30 or acc.max(initial=0) >= 1 << 30:
        return None
    k = (np.int64(1) << (e - 1)) + (np.int64(params["output_offset"]) << e)
    if (acc + np.abs(k)).max(initial=0) >= 1 << 31:
        return None
    return e, k


def scratch_3x3(params) -> int:
    """Bytes of the ring (twins of the C): 3 input rows, the larger of the DSP / portable layout (G =
    ceil(out_w / 2) groups x C channels x (stride + 1) int32 words, the padded columns 2 s g ..
    2 s g + 2 s + 1 of group g as int16, then C bytes of the input zero point) and the Helium one
    (C planes of dw_mve_cols columns x 8 input rows, int8)."""
    c, out_w, s = params["input_dims"][3], params["output_dims"][2], params["stride"][1]
    dsp = ROWS * ((out_w + 1) // 2) * c * (s + 1) * 4 + c
    mve = c * 8 * ((out_w + 1) // 2 * 2 + 2 if s == 1 else (out_w + 3) // 4 * 8 + 1)
    return max(dsp, mve)


def _choose_3x3(node, ins, out, params, options) -> bool:
    w = ins[1]
    if not (_specialize(options) and w is not None and w.is_const and tuple(w.shape[1:3]) == (3, 3)
            and params["ch_mult"] == 1 and tuple(params["dilation"]) == (1, 1)
            and params["stride"][0] == params["stride"][1] and params["stride"][0] in (1, 2)
            and params["padding"][0] <= 2 and params["padding"][1] <= 2
            and -128 <= -params["input_offset"] <= 127):
        return False
    w2d = w.data.reshape(-1, w.shape[3]).T
    b = None if ins[2] is None else ins[2].data
    # the DSP sums start from 2 x (bias + offset x the taps' sum) and add doubled int8 x tap terms
    partial = np.abs(w2d.astype(np.int64)).sum(axis=1) * (abs(params["input_offset"]) + 128)
    partial = partial + (0 if b is None else np.abs(np.asarray(b, np.int64)))
    return (fast_requant_k(w2d, b, params, params["input_offset"]) is not None
            and 2 * int(partial.max(initial=0)) < 1 << 31 and scratch_3x3(params) <= MAX_SCRATCH)


def _pack(lo, hi):
    return ((np.asarray(lo, np.int64) & 0xFFFF) | (np.asarray(hi, np.int64) << 16)).astype(np.int64)


def _prepare_3x3(node, ins, out, params) -> dict:
    w = ins[1].data.astype(np.int64)[0] * 2                # [3, 3, C], doubled
    c = w.shape[2]
    b = np.zeros(c, np.int64) if ins[2] is None else ins[2].data.astype(np.int64)
    e, k = fast_requant_k((w // 2).reshape(9, c).T, b, params, params["input_offset"])
    mult = np.broadcast_to(np.asarray(params["multiplier"], np.int64), (c,))
    b2 = 2 * b + params["input_offset"] * w.sum(axis=(0, 1))      # the input offset folded in
    table = np.stack([_pack(w[0, 0], w[0, 1]), _pack(w[1, 0], w[1, 1]), b2, _pack(w[0, 2], w[1, 2]),
                      _pack(w[2, 0], w[2, 1]), _pack(e, w[2, 2]), mult, k], axis=1)
    return dict(params, dw_table=_i32(table), dw_mve_table=_mve_table(w // 2, b, mult, e, k, params),
                scratch_bytes=scratch_3x3(params))


def _i32(a):
    return ((np.asarray(a, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32).ravel()


def _mve_table(w, b, mult, e, k, params):
    """Helium layout (ec_dw3x3.h), 10 int32 per channel: bias + input_offset x the sum of the 9 taps
    (padding reads the input zero point: its taps add 0), multiplier, k, 24 - e, 8 zero bytes, then
    the 16-byte tap vector of one output pixel's gathered window (tap (ky, kx) at lane ky * 4 + kx,
    stride 2: ky * 5 + kx), which the kernel also loads 1, 4, 5 (stride 2: 2) bytes early."""
    c = w.shape[2]
    cols = 4 if params["stride"][1] == 1 else 5
    lanes = np.zeros((c, 16), np.int64)
    for ky in range(3):
        lanes[:, ky * cols:ky * cols + 3] = w[ky].T & 0xFF
    vec = (lanes.reshape(c, 4, 4) << np.array([0, 8, 16, 24])).sum(axis=2)
    head = np.stack([b + params["input_offset"] * w.sum(axis=(0, 1)), mult, k, 24 - e, 0 * k, 0 * k], axis=1)
    return _i32(np.concatenate([head, vec], axis=1))


def _table_bytes(params) -> int:
    return max(int(params["dw_table"].nbytes), int(params["dw_mve_table"].nbytes))


def _ref_3x3(x, w, b, p):
    """Twin of ec_depthwise_conv2d_3x3_s8: the same exact sums as the generic kernel (padded taps
    add 0), requantized by ec_requant_fast, equal to the generic requantization under its bounds."""
    from .depthwise_conv2d import ref_int8
    return ref_int8(x, w, b, p)


DW_3X3 = Variant("3x3", "ec_depthwise_conv2d_3x3_s8", "ops/depthwise_conv2d_3x3.c.j2", _choose_3x3,
                 _prepare_3x3, _ref_3x3, replaces=(1, 2), flash_bytes=_table_bytes)

DEPTHWISE = [DW_3X3]
