"""Bit-exact NumPy twin of runtime_c/include/ec_fixedpoint.h (TFLM/gemmlowp integer arithmetic).

Same function names and argument order as the C side without the ``ec_`` prefix.  All array
arithmetic is in int64 holding int32 values.  See shared/reference/int8_arithmetic.md §1.3-1.5.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

# Requantization rounding modes (``compile --rounding``), mirrored by EC_SINGLE_ROUNDING in the
# generated ec_config.h.  "double" is TFLM's default (SRDHM + RoundingDivideByPOT); "single" is
# CMSIS-NN built with CMSIS_NN_USE_SINGLE_ROUNDING (one rounding of the 64-bit product).  The mode
# travels as an explicit argument / the ``params["rounding"]`` entry of the nodes that requantize
# an accumulator (conv, depthwise, fully connected, add, mean); there is no global state.
DOUBLE_ROUNDING = "double"
SINGLE_ROUNDING = "single"
ROUNDING_MODES = (DOUBLE_ROUNDING, SINGLE_ROUNDING)


def _round_half_away(x: float) -> int:
    """std::round: half away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real ~= M * 2^(shift - 31), M in [2^30, 2^31 - 1]."""
    real = float(real)
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    m = _round_half_away(q * (1 << 31))
    assert m <= (1 << 31)
    if m == (1 << 31):
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(m), int(shift)


def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of quantize_multiplier (one pair per channel), as int32 arrays."""
    pairs = [quantize_multiplier(r) for r in np.asarray(reals, dtype=np.float64).ravel()]
    return (np.array([p[0] for p in pairs], dtype=np.int32),
            np.array([p[1] for p in pairs], dtype=np.int32))


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SRDHM on int32 values: round((a*b) / 2^31), ties toward +inf; MIN*MIN saturates."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    h = (a * b + (1 << 30)) >> 31
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, h)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift, rounding: str = DOUBLE_ROUNDING):
    """TFLM MultiplyByQuantizedMultiplier for int32 x (any shape; multiplier/shift broadcast)."""
    x = np.asarray(x, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    if rounding == SINGLE_ROUNDING:
        # CMSIS-NN arm_nn_requantize: ((x*M >> (30-s)) + 1) >> 1 in int64 (= (x*M + 2^(30-s)) >>
        # (31-s)), cast to int32 at the end; defined for -31 <= s <= 30 (see check_single_shift).
        total = 31 - s
        return wrap_int32((x * m + (np.int64(1) << (total - 1))) >> total)
    if rounding != DOUBLE_ROUNDING:
        raise ValueError(f"unknown rounding mode {rounding!r} (choose from {', '.join(ROUNDING_MODES)})")
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    a = wrap_int32(x << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(a, m), right)


def requantize(acc, multiplier, shift, rounding: str = DOUBLE_ROUNDING):
    """Alias used by kernels: int32 accumulator -> scaled int32 (before adding the output offset)."""
    return multiply_by_quantized_multiplier(acc, multiplier, shift, rounding)


def rounding_of(p: dict) -> str:
    """The rounding mode a node's params carry (nodes lowered before the option existed: double)."""
    return p.get("rounding", DOUBLE_ROUNDING)


def check_single_shift(shift) -> None:
    """Single rounding shifts right by 31 - shift, so it needs shift <= 30 (CMSIS-NN's documented
    range; TFLITE_SINGLE_ROUNDING's QuantizeMultiplier clamps to it).  Multipliers >= 2^30 only."""
    s = np.asarray(shift)
    if s.size and int(s.max()) > 30:
        raise ValueError(f"requantization shift {int(s.max())} > 30 cannot use single rounding "
                         f"(a rescale factor >= 2^30)")


def wrap_int32(x):
    """Two's-complement wrap to int32 (what the C does on overflow-free paths; asserts no overflow)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturate(x, lo: int = -128, hi: int = 127) -> np.ndarray:
    """Clamp to [lo, hi] and return int8 (ec_sat_s8 with an activation range)."""
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi).astype(np.int8)


def quantize_value(f: float, scale: float, zero_point: int) -> int:
    """TFLM's activation-range helper: z + (int)TfLiteRound(f / s), evaluated in float32."""
    r = np.float32(f) / np.float32(scale)
    return int(zero_point) + _round_half_away(float(r))


def activation_range(act_min: float, act_max: float, scale: float, zero_point: int) -> tuple[int, int]:
    """Clamp bounds for a fused activation [act_min, act_max] (real units; +-inf = none)."""
    lo, hi = -128, 127
    if math.isfinite(act_min):
        lo = max(lo, quantize_value(act_min, scale, zero_point))
    if math.isfinite(act_max):
        hi = min(hi, quantize_value(act_max, scale, zero_point))
    return lo, hi
