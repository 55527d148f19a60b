"""DepthwiseConv2D: ONNX Conv with groups == C_in, weights [1, KH, KW, C * ch_mult] (TFLite layout).

Output channel oc = ic * ch_mult + m reads input channel ic, as TFLM's DepthwiseConvPerChannel.
"""
from __future__ import annotations

import numpy as np

from ..ir import Op
from . import Case, OpSpec, register
from ._common import (INF, act_mask, apply_act, conv_out, dims4, grad_dtype, requant_out, weighted_params,
                      window_params)
from .conv2d import scatter_taps, windows
from .dw_variants import DEPTHWISE


def infer(x, w, b=None, *, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), **attrs):
    n, h, wd, c = x
    one, kh, kw, oc = w
    if one != 1 or oc % c:
        raise ValueError(f"DepthwiseConv2D: filter {tuple(w)} is not [1, KH, KW, {c} * multiplier]")
    if b is not None and tuple(b) != (oc,):
        raise ValueError(f"DepthwiseConv2D: bias shape {tuple(b)} != ({oc},)")
    oh = conv_out(h, kh, strides[0], dilations[0], pads[0], pads[2])
    ow = conv_out(wd, kw, strides[1], dilations[1], pads[1], pads[3])
    if oh < 1 or ow < 1:
        raise ValueError(f"DepthwiseConv2D: empty output {oh}x{ow} for input {h}x{wd} and kernel {kh}x{kw}")
    return (n, oh, ow, oc)


def _taps_sum(x, w, ch_mult, strides, dilations, pad_tl, out_hw, acc):
    """acc += sum over the KH*KW taps of window(x repeated per multiplier) * w[0, ky, kx, :]."""
    if ch_mult > 1:
        x = np.repeat(x, ch_mult, axis=3)
    taps = windows(x, w.shape[1:3], strides, dilations, pad_tl, out_hw)
    for tap, wk in zip(taps, w.reshape(-1, w.shape[3])):
        acc += tap * wk.astype(acc.dtype)
    return acc


def ref_float(x, w, b=None, *, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), act_min=-INF, act_max=INF,
              bn=None):
    # bn: the BatchNormalization statistics an imported BN node carries (edgecompile.train); unused here
    n, oh, ow, oc = infer(x.shape, w.shape, None, strides=strides, dilations=dilations, pads=pads)
    acc = np.zeros((n, oh, ow, oc), np.float64)
    if b is not None:
        acc += b.astype(np.float64)
    acc = _taps_sum(x.astype(np.float64), w, oc // x.shape[3], strides, dilations, pads[:2], (oh, ow), acc)
    return apply_act(acc.astype(np.float32), act_min, act_max)


def grad(dy, x, w, b=None, *, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), act_min=-INF, act_max=INF,
         bn=None, y=None):
    """[dx, dw, db]: per tap, dw[tap] = sum(window * dy) and the window receives dy * w[tap]."""
    attrs = dict(strides=strides, dilations=dilations, pads=pads)
    dy = act_mask(dy, y, act_min, act_max, lambda: ref_float(x, w, b, act_min=act_min, act_max=act_max, **attrs))
    dt = grad_dtype(dy, x, w)
    dy = dy.astype(dt, copy=False)
    n, h, wd, c = x.shape
    _, oh, ow, oc = dy.shape
    mult = oc // c
    xr = x.astype(dt, copy=False)
    if mult > 1:
        xr = np.repeat(xr, mult, axis=3)
    taps = windows(xr, w.shape[1:3], strides, dilations, pads[:2], (oh, ow))
    wk = w.reshape(-1, oc).astype(dt, copy=False)
    dw = np.stack([np.einsum("nhwc,nhwc->c", tap, dy) for tap in taps]).reshape(w.shape)
    dx = scatter_taps((dy * wk[k] for k in range(len(taps))), xr.shape, w.shape[1:3], strides, dilations,
                      pads[:2], (oh, ow), dt)
    if mult > 1:
        dx = dx.reshape(n, h, wd, c, mult).sum(axis=4)
    return [dx, dw, None if b is None else dy.sum(axis=(0, 1, 2))]


def prepare(node, ins, out):
    x, w, b = ins
    return dict(weighted_params(node, x, w, b, out, axis_out=3), **window_params(node.attrs),
                ch_mult=int(w.shape[3] // x.shape[3]),
                input_dims=dims4(x.shape), filter_dims=dims4(w.shape), output_dims=dims4(out.shape))


def ref_int8(x, w, b, p):
    """Twin of ec_depthwise_conv2d_s8: acc = bias + sum over valid taps of (x + input_offset) * w."""
    n, oh, ow, oc = p["output_dims"]
    acc = np.zeros((n, oh, ow, oc), np.int64)
    if b is not None:
        acc += b.astype(np.int64)
    xo = x.astype(np.int64) + p["input_offset"]
    acc = _taps_sum(xo, w, p["ch_mult"], p["stride"], p["dilation"], p["padding"], (oh, ow), acc)
    return requant_out(acc, p)


def _c(name, x, w, bias=True, quant=None, **attrs):
    return Case(name, (x, w, (w[3],) if bias else None), attrs=attrs, quant=quant or {})


CASES = [
    _c("3x3_mult1", (1, 9, 9, 8), (1, 3, 3, 8), pads=(1, 1, 1, 1)),
    _c("3x3_mult2", (1, 7, 7, 5), (1, 3, 3, 10), pads=(1, 1, 1, 1)),
    _c("stride2_same", (1, 12, 11, 6), (1, 3, 3, 6), strides=(2, 2), pads=(0, 1, 1, 1), act_min=0.0),
    _c("dilation2_mult2", (1, 10, 10, 4), (1, 3, 3, 8), dilations=(2, 2), pads=(2, 2, 2, 2)),
    _c("odd_channels_13", (1, 5, 6, 13), (1, 3, 3, 13)),
    _c("mult3_asym", (1, 6, 5, 3), (1, 2, 4, 9), strides=(2, 1), pads=(1, 0, 0, 2)),
    _c("one_channel_mult8", (1, 8, 8, 1), (1, 3, 3, 8), pads=(1, 1, 1, 1)),
    _c("conv1d", (1, 1, 20, 7), (1, 1, 5, 7), pads=(0, 2, 0, 2)),
    _c("no_bias", (1, 6, 6, 5), (1, 3, 3, 5), bias=False, pads=(1, 1, 1, 1)),
    _c("per_tensor", (1, 7, 6, 6), (1, 3, 3, 6), quant=dict(per_channel=False), pads=(1, 1, 1, 1)),
    _c("relu6_saturating", (1, 8, 8, 7), (1, 3, 3, 7), quant=dict(saturate=True), pads=(1, 1, 1, 1),
       act_min=0.0, act_max=6.0),
    _c("zp_minus_128", (1, 9, 7, 3), (1, 3, 3, 3), quant=dict(in_zp=-128), strides=(2, 2), pads=(1, 1, 1, 1)),
    _c("kernel_larger_than_input", (1, 3, 3, 3), (1, 5, 5, 6), pads=(2, 2, 2, 2)),
    _c("batch2_stride2_dil", (2, 9, 9, 4), (1, 3, 3, 4), strides=(2, 2), dilations=(2, 2), pads=(2, 2, 2, 2)),
    _c("c20_batch2_pads_2110", (2, 7, 6, 20), (1, 3, 3, 20), pads=(2, 1, 1, 0)),
    _c("stride2_c17_pads_1201", (1, 9, 13, 17), (1, 3, 3, 17), strides=(2, 2), pads=(1, 2, 0, 1)),
    _c("stride2_c16_pads_0101", (1, 10, 14, 16), (1, 3, 3, 16), strides=(2, 2), pads=(0, 1, 0, 1)),
    _c("stride2_c8_pads_2212", (1, 7, 11, 8), (1, 3, 3, 8), strides=(2, 2), pads=(2, 2, 1, 2), act_min=0.0),
    _c("c12_no_pads", (1, 5, 10, 12), (1, 3, 3, 12)),
]

register(OpSpec(Op.DEPTHWISE_CONV2D, kernel="ec_depthwise_conv2d_s8", template="ops/depthwise_conv2d.c.j2",
                infer=infer, ref_float=ref_float, prepare=prepare, ref_int8=ref_int8, cases=CASES,
                weights={1: 3}, bias=2, consts=(1, 2), grad=grad, variants=DEPTHWISE))
