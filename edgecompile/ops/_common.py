"""Helpers shared by op modules: shapes, fused activations, accumulator bounds, matmul."""
from __future__ import annotations

import math

import numpy as np

from ..quant import fixedpoint as fx

INF = math.inf


def dims4(shape) -> tuple[int, int, int, int]:
    """A shape as NHWC dims for the C kernels: leading axes padded with 1, rank <= 4."""
    shape = tuple(int(d) for d in shape)
    if len(shape) > 4:
        raise ValueError(f"rank {len(shape)} tensors are not supported (at most 4)")
    return (1,) * (4 - len(shape)) + shape


def conv_out(size: int, k: int, stride: int, dilation: int, pad_before: int, pad_after: int) -> int:
    """Output length of a convolution / pooling window along one axis (floor mode)."""
    return (size + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


def apply_act(y: np.ndarray, act_min: float = -INF, act_max: float = INF) -> np.ndarray:
    """Fused activation on float values (Relu = [0, inf), Relu6 = [0, 6], Clip = [a, b])."""
    if math.isfinite(act_min) or math.isfinite(act_max):
        y = np.clip(y, act_min, act_max)
    return y.astype(np.float32)


def act_range(attrs: dict, out) -> tuple[int, int]:
    """int8 clamp bounds for a node's fused activation, TFLM's CalculateActivationRangeQuantized."""
    return fx.activation_range(attrs.get("act_min", -INF), attrs.get("act_max", INF),
                               out.q.s, out.q.zp)


def channel_multipliers(s_in: float, s_w: np.ndarray, s_out: float):
    """Per-channel (M, shift) from (double)s_in * (double)s_w[c] / (double)s_out, as TFLM."""
    real = (np.float64(s_in) * np.asarray(s_w, dtype=np.float32).astype(np.float64)) / np.float64(s_out)
    return fx.quantize_multipliers(real)


def check_accumulator(node, w: np.ndarray, bias, axis_out: int = 0) -> None:
    """Refuse a node whose int32 accumulator could overflow: |acc| <= sum|w| * 255 + |bias|."""
    w = np.asarray(w, dtype=np.int64)
    other = tuple(a for a in range(w.ndim) if a != axis_out)
    bound = np.abs(w).sum(axis=other) * 255
    if bias is not None:
        bound = bound + np.abs(np.asarray(bias, dtype=np.int64))
    worst = int(bound.max()) if bound.size else 0
    if worst > fx.INT32_MAX:
        raise OverflowError(f"node {node.name!r} ({node.op}): the int32 accumulator can reach "
                            f"{worst} > 2^31-1; split the layer or reduce its fan-in")


def weighted_params(node, x, w, b, out, axis_out: int) -> dict:
    """Requantization params shared by Conv2D, DepthwiseConv2D and FullyConnected (TFLM Prepare):
    offsets, per-channel (multiplier, shift) and the fused activation's int8 clamp."""
    mult, shift = channel_multipliers(x.q.s, w.q.scale, out.q.s)
    check_accumulator(node, w.data, None if b is None else b.data, axis_out=axis_out)
    lo, hi = act_range(node.attrs, out)
    return dict(input_offset=-x.q.zp, output_offset=out.q.zp, multiplier=mult, shift=shift,
                per_channel=int(mult.size > 1), act_min=lo, act_max=hi)


def window_params(attrs: dict) -> dict:
    """Stride, dilation and top/left padding of a sliding-window op, as (h, w) pairs."""
    pads = attrs.get("pads", (0, 0, 0, 0))
    return dict(stride=tuple(int(s) for s in attrs.get("strides", (1, 1))),
                dilation=tuple(int(d) for d in attrs.get("dilations", (1, 1))),
                padding=(int(pads[0]), int(pads[1])))


def int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer matmul through float64 BLAS (exact while |sum| < 2^53), returned as int64."""
    return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)


def requant_out(acc, p: dict) -> np.ndarray:
    """Requantize an int32 accumulator with per-channel params, add the offset, clamp to int8."""
    y = fx.requantize(acc, p["multiplier"], p["shift"], fx.rounding_of(p)) + p["output_offset"]
    return fx.saturate(y, p["act_min"], p["act_max"])


# ------------------------------------------------------------------ backward helpers (training)
def grad_dtype(*arrays) -> np.dtype:
    """float64 when any operand is float64 (gradient checks), else float32 (training)."""
    wide = any(a is not None and a.dtype == np.float64 for a in arrays)
    return np.dtype(np.float64) if wide else np.dtype(np.float32)


def act_mask(dy: np.ndarray, y, act_min: float = -INF, act_max: float = INF, forward=None) -> np.ndarray:
    """dy where the fused activation passed its input (0 where it clamped).  ``y`` is the op's
    output (clamped values equal the bound exactly); ``forward()`` recomputes it when y is None."""
    if not (math.isfinite(act_min) or math.isfinite(act_max)):
        return dy
    if y is None:
        y = forward()
    t = np.asarray(y).dtype.type
    keep = (y > t(act_min)) & (y < t(act_max))
    return dy * keep


def sum_to_shape(g: np.ndarray, shape) -> np.ndarray:
    """Reduce a broadcast gradient back to ``shape`` (the adjoint of numpy broadcasting)."""
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)
