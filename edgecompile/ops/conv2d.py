"""Conv2D: ONNX Conv (any groups) in NHWC with OHWI weights [O, KH, KW, C/groups].

1-D convs arrive as 2-D with H = 1; pure depthwise convs are routed to DEPTHWISE_CONV2D by the
importer, but groups == C_in (with or without a channel multiplier) also works here.
"""
from __future__ import annotations

import numpy as np

from ..ir import Op
from . import Case, OpSpec, dense_variants, register, sparse
from ._common import (INF, act_mask, apply_act, conv_out, dims4, grad_dtype, int_matmul, requant_out,
                      weighted_params, window_params)


def infer(x, w, b=None, *, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1, **attrs):
    n, h, wd, c = x
    o, kh, kw, cg = w
    if c != cg * groups or o % groups:
        raise ValueError(f"Conv2D: input channels {c} / output channels {o} do not fit groups={groups} "
                         f"with filter depth {cg}")
    if b is not None and tuple(b) != (o,):
        raise ValueError(f"Conv2D: bias shape {tuple(b)} != ({o},)")
    oh = conv_out(h, kh, strides[0], dilations[0], pads[0], pads[2])
    ow = conv_out(wd, kw, strides[1], dilations[1], pads[1], pads[3])
    if oh < 1 or ow < 1:
        raise ValueError(f"Conv2D: empty output {oh}x{ow} for input {h}x{wd} and kernel {kh}x{kw}")
    return (n, oh, ow, o)


def windows(x, ksize, strides, dilations, pad_tl, out_hw) -> list[np.ndarray]:
    """The KH*KW tap views [N, OH, OW, C] of x zero-padded by (top, left), in (ky, kx) order.

    Bottom/right padding follows from the output size, as in the C kernels; a padded tap reads 0,
    which contributes exactly what skipping it does when x already holds (x - z_in).
    """
    (kh, kw), (sh, sw), (dh, dw), (pt, pl), (oh, ow) = ksize, strides, dilations, pad_tl, out_hw
    n, h, wd, c = x.shape
    hp = max(pt + h, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(pl + wd, (ow - 1) * sw + (kw - 1) * dw + 1)
    xp = np.zeros((n, hp, wp, c), x.dtype)
    xp[:, pt:pt + h, pl:pl + wd] = x
    return [xp[:, ky * dh:ky * dh + (oh - 1) * sh + 1:sh, kx * dw:kx * dw + (ow - 1) * sw + 1:sw]
            for ky in range(kh) for kx in range(kw)]


def _grouped_matmul(taps, w, groups, matmul):
    """sum over taps and group channels: one batched [P, T*Cg] x [T*Cg, O/g] product per group."""
    n, oh, ow, c = taps[0].shape
    o, kh, kw, cg = w.shape
    t = kh * kw
    cols = np.stack(taps, axis=3).reshape(n * oh * ow, t, groups, cg)
    cols = cols.transpose(2, 0, 1, 3).reshape(groups, n * oh * ow, t * cg)
    wg = w.reshape(groups, o // groups, t * cg).transpose(0, 2, 1)
    return matmul(cols, wg).transpose(1, 0, 2).reshape(n, oh, ow, o)


def ref_float(x, w, b=None, *, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1,
              act_min=-INF, act_max=INF):
    _, oh, ow, _ = infer(x.shape, w.shape, None, strides=strides, dilations=dilations, pads=pads,
                         groups=groups)
    taps = windows(x.astype(np.float64), w.shape[1:3], strides, dilations, pads[:2], (oh, ow))
    y = _grouped_matmul(taps, w.astype(np.float64), groups, np.matmul)
    if b is not None:
        y = y + b.astype(np.float64)
    return apply_act(y.astype(np.float32), act_min, act_max)


def scatter_taps(dtaps, x_shape, ksize, strides, dilations, pad_tl, out_hw, dtype) -> np.ndarray:
    """Adjoint of ``windows``: add each tap's [N, OH, OW, C] gradient back into an x-shaped array."""
    (kh, kw), (sh, sw), (dh, dw), (pt, pl), (oh, ow) = ksize, strides, dilations, pad_tl, out_hw
    n, h, wd, c = x_shape
    hp = max(pt + h, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(pl + wd, (ow - 1) * sw + (kw - 1) * dw + 1)
    dxp = np.zeros((n, hp, wp, c), dtype)
    for t, d in enumerate(dtaps):
        ky, kx = divmod(t, kw)
        dxp[:, ky * dh:ky * dh + (oh - 1) * sh + 1:sh, kx * dw:kx * dw + (ow - 1) * sw + 1:sw] += d
    return dxp[:, pt:pt + h, pl:pl + wd]


def grad(dy, x, w, b=None, *, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1,
         act_min=-INF, act_max=INF, y=None):
    """[dx, dw, db] for the loss gradient dy of the output (after the fused activation)."""
    attrs = dict(strides=strides, dilations=dilations, pads=pads, groups=groups)
    dy = act_mask(dy, y, act_min, act_max, lambda: ref_float(x, w, b, act_min=act_min, act_max=act_max, **attrs))
    dt = grad_dtype(dy, x, w)
    n, oh, ow, o = dy.shape
    _, kh, kw, cg = w.shape
    t, og, p = kh * kw, o // groups, n * oh * ow
    taps = windows(x.astype(dt, copy=False), (kh, kw), strides, dilations, pads[:2], (oh, ow))
    cols = np.stack(taps, axis=3).reshape(p, t, groups, cg).transpose(2, 0, 1, 3).reshape(groups, p, t * cg)
    dyg = dy.astype(dt, copy=False).reshape(p, groups, og).transpose(1, 0, 2)         # [G, P, O/G]
    dw = np.matmul(cols.transpose(0, 2, 1), dyg).transpose(0, 2, 1).reshape(o, kh, kw, cg)
    wg = w.astype(dt, copy=False).reshape(groups, og, t * cg)
    dcols = np.matmul(dyg, wg).reshape(groups, p, t, cg).transpose(1, 2, 0, 3).reshape(p, t, groups * cg)
    dx = scatter_taps((dcols[:, k].reshape(n, oh, ow, groups * cg) for k in range(t)), x.shape, (kh, kw),
                      strides, dilations, pads[:2], (oh, ow), dt)
    return [dx, dw, None if b is None else dy.sum(axis=(0, 1, 2), dtype=dt)]


def prepare(node, ins, out):
    x, w, b = ins
    return dict(weighted_params(node, x, w, b, out, axis_out=0), **window_params(node.attrs),
                groups=int(node.attrs.get("groups", 1)),
                input_dims=dims4(x.shape), filter_dims=dims4(w.shape), output_dims=dims4(out.shape))


def ref_int8(x, w, b, p):
    """Twin of ec_conv2d_s8: acc = bias + sum over valid taps of (x + input_offset) * w."""
    _, oh, ow, _ = p["output_dims"]
    xo = x.astype(np.float64) + p["input_offset"]          # exact small integers
    taps = windows(xo, p["filter_dims"][1:3], p["stride"], p["dilation"], p["padding"], (oh, ow))
    acc = _grouped_matmul(taps, w, p["groups"], int_matmul)
    if b is not None:
        acc += b.astype(np.int64)
    return requant_out(acc, p)


def _c(name, x, w, bias=True, quant=None, **attrs):
    return Case(name, (x, w, (w[0],) if bias else None), attrs=attrs, quant=quant or {})


RELU6 = dict(act_min=0.0, act_max=6.0)
CASES = [
    _c("1x1", (1, 7, 5, 13), (6, 1, 1, 13)),
    _c("3x3_same", (1, 9, 9, 5), (7, 3, 3, 5), pads=(1, 1, 1, 1)),
    _c("3x3_stride2", (1, 11, 10, 3), (8, 3, 3, 3), strides=(2, 2), pads=(1, 0, 1, 1)),
    _c("kws_10x4_stride2", (1, 49, 10, 1), (12, 10, 4, 1), strides=(2, 2), pads=(4, 1, 5, 1),
       act_min=0.0),
    _c("dilation2", (1, 12, 11, 4), (5, 3, 3, 4), dilations=(2, 2), pads=(2, 2, 2, 2)),
    _c("odd_channels", (1, 6, 7, 7), (13, 3, 3, 7), pads=(1, 1, 1, 1), act_min=0.0),
    _c("grouped_2", (1, 8, 8, 6), (10, 3, 3, 3), groups=2, pads=(1, 1, 1, 1)),
    _c("grouped_4_stride2", (1, 7, 9, 8), (12, 3, 3, 2), groups=4, strides=(2, 2), pads=(1, 1, 1, 1)),
    _c("groups_eq_cin_mult2", (1, 6, 6, 5), (10, 3, 3, 1), groups=5, pads=(0, 1, 2, 1)),
    _c("conv1d", (1, 1, 30, 5), (7, 1, 5, 5), pads=(0, 2, 0, 2)),
    _c("conv1d_stride2_dil3", (1, 1, 25, 3), (4, 1, 3, 3), strides=(1, 2), dilations=(1, 3)),
    _c("no_bias", (1, 5, 6, 3), (4, 2, 3, 3), bias=False, pads=(0, 1, 1, 1)),
    _c("per_tensor", (1, 6, 6, 4), (9, 3, 3, 4), quant=dict(per_channel=False), pads=(1, 1, 1, 1)),
    _c("relu6_saturating", (1, 8, 7, 6), (5, 3, 3, 6), quant=dict(saturate=True), pads=(1, 1, 1, 1),
       **RELU6),
    _c("zp_minus_128", (1, 7, 8, 3), (6, 3, 3, 3), quant=dict(in_zp=-128), strides=(2, 2), pads=(0, 0, 1, 1)),
    _c("kernel_larger_than_input", (1, 3, 2, 3), (4, 5, 5, 3), pads=(2, 2, 2, 2)),
    _c("all_pad_rows", (1, 4, 4, 2), (3, 2, 2, 2), strides=(2, 2), pads=(0, 0, 3, 1)),
    _c("batch2", (2, 5, 5, 4), (6, 3, 3, 4), strides=(1, 2), pads=(1, 1, 1, 1)),
    # the dense kernels' blocking and tails: depth % 4 / % 16, odd pixels and channels, strides 1-3
    _c("im2col_depth_630", (1, 6, 5, 70), (9, 3, 3, 70), pads=(1, 1, 1, 1), act_min=0.0),
    _c("stride3_odd_pads", (1, 13, 11, 5), (7, 3, 3, 5), strides=(3, 3), pads=(2, 1, 0, 2)),
    _c("kernel_1x7_stride_1x3", (1, 4, 23, 6), (6, 1, 7, 6), strides=(1, 3), pads=(0, 3, 0, 2)),
    _c("pointwise_odd", (1, 3, 5, 19), (11, 1, 1, 19)),
    _c("pointwise_one_pixel", (1, 1, 1, 37), (5, 1, 1, 37), quant=dict(per_channel=False)),
    _c("pointwise_depth_48", (1, 2, 3, 48), (16, 1, 1, 48), quant=dict(in_zp=-128), **RELU6),
    # Helium: 25 pixels (a last block of 1), gathered interior and padded border patches, depth 27
    _c("k27_stride2_25_pixels", (1, 9, 10, 3), (5, 3, 3, 3), strides=(2, 2), pads=(1, 1, 1, 1), act_min=0.0),
    _c("pointwise_rows_6_per_tensor", (1, 2, 3, 33), (9, 1, 1, 33), quant=dict(per_channel=False)),
]

register(OpSpec(Op.CONV2D, kernel="ec_conv2d_s8", template="ops/conv2d.c.j2",
                infer=infer, ref_float=ref_float, prepare=prepare, ref_int8=ref_int8, cases=CASES,
                weights={1: 0}, bias=2, consts=(1, 2), grad=grad,
                variants=[sparse.POINTWISE, sparse.variant("conv2d", ref_int8), *dense_variants.CONV2D]))
