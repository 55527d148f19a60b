"""MaxPool2D and AvgPool2D: ONNX MaxPool / AveragePool (count_include_pad=0) in NHWC.

Both ignore padded positions: max over the valid taps, or their sum divided by their count.
ceil_mode arrives as extra bottom/right padding, so a window may hang over the bottom/right
edge.  Output quantization equals the input's, so the int8 kernels never requantize.
"""
from __future__ import annotations

import numpy as np

from ..ir import Op
from . import Case, OpSpec, register
from ._common import INF, act_mask, act_range, apply_act, conv_out, dims4, grad_dtype


def infer(x, *, kernel, strides=(1, 1), pads=(0, 0, 0, 0), **attrs):
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = kernel, strides, pads
    return (x[0], conv_out(x[1], kh, sh, 1, pt, pb), conv_out(x[2], kw, sw, 1, pl, pr), x[3])


def _windows(x, fill, kernel, strides, pads):
    """Yield, per kernel tap, the [N, OH, OW, C] slice of x padded with ``fill``."""
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = kernel, strides, pads
    _, oh, ow, _ = infer(x.shape, kernel=kernel, strides=strides, pads=pads)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    for i in range(kh):
        for j in range(kw):
            yield xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]


def _valid_counts(shape, kernel, strides, pads):
    """[1, OH, OW, 1] number of unpadded taps of each window."""
    ones = np.ones((1, shape[1], shape[2], 1), np.int64)
    return sum(_windows(ones, 0, kernel, strides, pads))


def max_float(x, *, kernel, strides=(1, 1), pads=(0, 0, 0, 0), act_min=-INF, act_max=INF):
    y = np.maximum.reduce(list(_windows(x.astype(np.float32), -np.inf, kernel, strides, pads)))
    return apply_act(y, act_min, act_max)


def avg_float(x, *, kernel, strides=(1, 1), pads=(0, 0, 0, 0), act_min=-INF, act_max=INF):
    total = sum(_windows(x.astype(np.float64), 0.0, kernel, strides, pads))
    return apply_act(total / _valid_counts(x.shape, kernel, strides, pads), act_min, act_max)


def _scatter(dtaps, x_shape, kernel, strides, pads, dtype):
    """Adjoint of _windows: add per-tap [N, OH, OW, C] gradients into x's shape (padding dropped)."""
    kw, (sh, sw), (pt, pl, pb, pr) = kernel[1], strides, pads
    n, h, w, c = x_shape
    _, oh, ow, _ = infer(x_shape, kernel=kernel, strides=strides, pads=pads)
    dxp = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype)
    for t, d in enumerate(dtaps):
        i, j = divmod(t, kw)
        dxp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :] += d
    return dxp[:, pt:pt + h, pl:pl + w]


def max_grad(dy, x, *, kernel, strides=(1, 1), pads=(0, 0, 0, 0), act_min=-INF, act_max=INF, y=None):
    """[dx]: each window's gradient goes to its first maximal tap."""
    geo = dict(kernel=kernel, strides=strides, pads=pads)
    dy = act_mask(dy, y, act_min, act_max, lambda: max_float(x, act_min=act_min, act_max=act_max, **geo))
    dt = grad_dtype(dy, x)
    dy = dy.astype(dt, copy=False)
    arg = np.argmax(np.stack(list(_windows(x, -np.inf, kernel, strides, pads))), axis=0)
    return [_scatter((np.where(arg == t, dy, 0) for t in range(kernel[0] * kernel[1])), x.shape, kernel,
                     strides, pads, dt)]


def avg_grad(dy, x, *, kernel, strides=(1, 1), pads=(0, 0, 0, 0), act_min=-INF, act_max=INF, y=None):
    """[dx]: each window's gradient divided by its count of valid taps, spread over them."""
    geo = dict(kernel=kernel, strides=strides, pads=pads)
    dy = act_mask(dy, y, act_min, act_max, lambda: avg_float(x, act_min=act_min, act_max=act_max, **geo))
    dt = grad_dtype(dy, x)
    d = dy.astype(dt, copy=False) / _valid_counts(x.shape, kernel, strides, pads)
    return [_scatter((d for _ in range(kernel[0] * kernel[1])), x.shape, kernel, strides, pads, dt)]


def prepare(node, ins, out):
    x, a = ins[0], node.attrs
    (kh, kw), (sh, sw) = (int(v) for v in a["kernel"]), (int(v) for v in a.get("strides", (1, 1)))
    pads = tuple(int(v) for v in a.get("pads", (0, 0, 0, 0)))
    if _valid_counts(x.shape, (kh, kw), (sh, sw), pads).min() == 0:
        raise ValueError(f"node {node.name!r} ({node.op}): a pooling window lies wholly in the padding "
                         f"(kernel {kh}x{kw}, pads {pads})")
    lo, hi = act_range(a, out)
    return dict(kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, pad_top=pads[0], pad_left=pads[1],
                act_min=lo, act_max=hi, input_dims=dims4(x.shape), output_dims=dims4(out.shape))


def _geometry(p):
    kernel = (p["kernel_h"], p["kernel_w"])
    strides = (p["stride_h"], p["stride_w"])
    (_, h, w, _), (_, oh, ow, _) = p["input_dims"], p["output_dims"]
    # bottom/right padding implied by the output size (the kernel only reads top/left)
    pb = max(0, (oh - 1) * strides[0] + kernel[0] - h - p["pad_top"])
    pr = max(0, (ow - 1) * strides[1] + kernel[1] - w - p["pad_left"])
    return kernel, strides, (p["pad_top"], p["pad_left"], pb, pr)


def max_int8(x, p):
    """ec_max_pool2d_s8: padded taps hold -128, the kernel's starting maximum."""
    y = np.maximum.reduce(list(_windows(x, np.int8(-128), *_geometry(p))))
    return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)


def avg_int8(x, p):
    """ec_avg_pool2d_s8: sum of raw values over valid taps, divided with C truncation."""
    kernel, strides, pads = _geometry(p)
    acc = sum(w.astype(np.int32) for w in _windows(x, np.int8(0), kernel, strides, pads))
    n = np.maximum(_valid_counts(x.shape, kernel, strides, pads), 1)
    num = np.where(acc > 0, acc + n // 2, acc - n // 2)
    y = np.sign(num) * (np.abs(num) // n)               # C division truncates toward zero
    return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)


def _case(name, shape, kernel, strides=(1, 1), pads=(0, 0, 0, 0), quant=None, **act):
    return Case(name, (shape,), dict(kernel=kernel, strides=strides, pads=pads, **act), quant or {})


CASES = [
    _case("basic_3x3", (1, 8, 8, 3), (3, 3)),
    _case("not_mult_of_4_s2", (1, 7, 9, 5), (2, 2), (2, 2)),
    _case("same_pad_s2", (1, 9, 9, 6), (3, 3), (2, 2), (1, 1, 1, 1)),
    _case("odd_asym_pads", (1, 10, 7, 3), (3, 3), (2, 2), (0, 1, 1, 0)),
    _case("ceil_mode_bottom_right", (1, 6, 6, 4), (3, 3), (2, 2), (0, 0, 1, 1)),
    _case("ceil_overhang_2", (1, 7, 5, 3), (3, 3), (3, 3), (0, 0, 2, 1)),
    _case("global_7x7", (1, 7, 7, 8), (7, 7)),
    _case("kws_25x5", (1, 25, 5, 64), (25, 5)),
    _case("rect_kernel", (1, 5, 9, 2), (2, 3), (1, 2), (1, 0, 0, 1)),
    _case("zp_minus_128", (1, 6, 6, 7), (3, 3), (1, 1), (1, 1, 1, 1), dict(in_zp=-128)),
    _case("relu6_clamps", (1, 8, 8, 5), (2, 2), (2, 2), quant=dict(in_range=(-4.0, 8.0)), act_min=0.0, act_max=6.0),
    _case("batch2_pad", (2, 5, 5, 3), (2, 2), (1, 1), (1, 1, 0, 0)),
]

for _op, _kernel, _float, _int8, _grad in ((Op.MAX_POOL2D, "ec_max_pool2d_s8", max_float, max_int8, max_grad),
                                           (Op.AVG_POOL2D, "ec_avg_pool2d_s8", avg_float, avg_int8, avg_grad)):
    register(OpSpec(_op, kernel=_kernel, template="ops/pool2d.c.j2", infer=infer, ref_float=_float,
                    prepare=prepare, ref_int8=_int8, cases=CASES, out_quant="same", grad=_grad))
