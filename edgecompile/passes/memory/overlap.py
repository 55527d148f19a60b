"""Which node may write its output over its own dying input, and at what offset (the OVERLAP
contract in DESIGN.md / the kernel helpers' brief).

Kernels that read an NHWC activation write output pixels in raster order and keep at most
PIXELS_IN_FLIGHT output pixels in flight.  For input pixel i let LR(i) be the last output pixel
whose window reads it; while output pixel p is written, every input pixel with LR(i) >= p - 3 must
still be intact.  With the input placed d bytes above the output (d = in_offset - out_offset), the
output bytes written up to pixel min(LR(i) + 3, P - 1) must end below input pixel i:

    d >= max_i  min(LR(i) + PIXELS_IN_FLIGHT, P) * out_pixel_bytes - i * in_pixel_bytes

Elementwise kernels read element i before writing element i, so any d >= 0 is safe (in place).
"""
from __future__ import annotations

import numpy as np

PIXELS_IN_FLIGHT = 4
# the kernels known to obey the contract (runtime_c/src); anything else is never overlapped
WINDOW_KERNELS = {"ec_conv2d_s8", "ec_conv2d_im2col_s8", "ec_conv2d_sparse_s8", "ec_depthwise_conv2d_s8",
                  "ec_depthwise_conv2d_3x3_s8",     # whole output rows, after their input rows are in its ring
                  "ec_avg_pool2d_s8", "ec_max_pool2d_s8"}
ROW_KERNELS = {"ec_fully_connected_s8", "ec_fully_connected_sparse_s8"}   # rows = pixels, in order
ELEMENTWISE_KERNELS = {"ec_add_s8", "ec_add_lut_s8", "ec_clamp_s8", "ec_lut_s8"}   # same-shape operands
OVERLAP_KERNELS = WINDOW_KERNELS | ROW_KERNELS | ELEMENTWISE_KERNELS
# kernels that read their input out of raster order or all of it first (tests/test_memory.py checks
# that every runtime_c/src kernel is in one of the two tables)
NO_OVERLAP_KERNELS = {"ec_softmax_s8", "ec_mean_s8", "ec_transpose_s8", "ec_concat_s8", "ec_pad_s8"}


def window(p: dict):
    """(in_dims, out_dims, (kh, kw), stride, dilation, (pad_top, pad_left)) of a window kernel's params."""
    if "kernel_h" in p:                                   # pools
        return (p["input_dims"], p["output_dims"], (p["kernel_h"], p["kernel_w"]),
                (p["stride_h"], p["stride_w"]), (1, 1), (p["pad_top"], p["pad_left"]))
    return (p["input_dims"], p["output_dims"], tuple(p["filter_dims"][1:3]), tuple(p["stride"]),
            tuple(p.get("dilation", (1, 1))), tuple(p["padding"]))


def _last_out(n_in: int, n_out: int, k: int, s: int, d: int, pad: int) -> np.ndarray:
    """Per input coordinate the largest output coordinate whose window covers it, -1 for none."""
    num = np.arange(n_in)[:, None] + pad - np.arange(k)[None, :] * d
    o = num // s
    ok = (num >= 0) & (num % s == 0) & (o < n_out)
    return np.where(ok, o, -1).max(axis=1)


def last_reader(kernel: str, p: dict) -> tuple[np.ndarray, int, int, int] | None:
    """(LR per input pixel in raster order (-1: never read), output pixels, input and output pixel
    bytes) for a window or row kernel; None when the node is not one."""
    if kernel in WINDOW_KERNELS:
        (n, h, w, c), (_, oh, ow, oc), (kh, kw), (sh, sw), (dh, dw), (pt, pl) = window(p)
        ly, lx = _last_out(h, oh, kh, sh, dh, pt), _last_out(w, ow, kw, sw, dw, pl)
        lr = np.where((ly[:, None] >= 0) & (lx[None, :] >= 0), ly[:, None] * ow + lx[None, :], -1)
        lr = (np.where(lr >= 0, lr[None] + (np.arange(n) * oh * ow)[:, None, None], -1)).ravel()
        return lr, n * oh * ow, c, oc
    if kernel in ROW_KERNELS:
        ind, outd = p.get("fc_input_dims", p["input_dims"]), p.get("fc_output_dims", p["output_dims"])
        rows = int(ind[0])
        return np.arange(rows), rows, int(np.prod(ind[1:])), int(np.prod(outd[1:]))
    return None


def min_offset(kernel: str | None, p: dict, in_shape, out_shape) -> int | None:
    """Smallest safe in_offset - out_offset (bytes, >= 0) at which the node's output may overlap
    this input; None when the kernel or the shapes allow no overlap."""
    if kernel in ELEMENTWISE_KERNELS:
        return 0 if tuple(in_shape) == tuple(out_shape) else None
    try:
        lr = last_reader(kernel, p or {}) if kernel else None
    except (KeyError, ValueError, TypeError):
        return None
    if lr is None:
        return None
    lr, pixels, ci, co = lr
    if ci * len(lr) != int(np.prod(in_shape)) or co * pixels != int(np.prod(out_shape)):
        return None                                       # params do not describe these tensors
    i = np.nonzero(lr >= 0)[0]
    if len(i) == 0:
        return 0
    need = np.minimum(lr[i] + PIXELS_IN_FLIGHT, pixels) * co - i * ci
    return max(0, int(need.max()))
