"""Vectorized NumPy port of the gemmlowp fixed-point math behind TFLM's int8 SOFTMAX, LOGISTIC, TANH.

A gemmlowp ``FixedPoint<int32, k>`` is represented by its raw int32 values (held in int64 arrays)
plus the integer-bit count ``k`` passed alongside: real = raw / 2^(31 - k).  The product of two
fixed-point numbers is ``fx.saturating_rounding_doubling_high_mul`` (integer bits add up).
Twin of runtime_c/include/ec_gemmlowp.h (the subset the C runtime needs: softmax).
See shared/reference/int8_arithmetic.md §1.3 and §2.
"""
from __future__ import annotations

import math

import numpy as np

from . import fixedpoint as fx

INT32_MIN, INT32_MAX = fx.INT32_MIN, fx.INT32_MAX
srdhm = fx.saturating_rounding_doubling_high_mul
rdbpot = fx.rounding_divide_by_pot

# exp(-2^e) in Q0.31 for the barrel shifter of exp_on_negative_values, e = -2 .. 4
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """x * 2^exponent: saturating left shift for exponent > 0, rounding right shift for < 0."""
    x = _i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rdbpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x, src_bits: int, dst_bits: int) -> np.ndarray:
    """gemmlowp Rescale<dst_bits>: change the integer bits of a FixedPoint (saturating/rounding)."""
    return saturating_rounding_multiply_by_pot(x, src_bits - dst_bits)


def rounding_half_sum(a, b) -> np.ndarray:
    """(a + b) / 2 rounded to nearest, ties away from zero (C division of sum +- 1 by 2)."""
    t = _i64(a) + _i64(b)
    t = np.where(t >= 0, t + 1, t - 1)
    return np.where(t >= 0, t >> 1, -((-t) >> 1))


def count_leading_zeros(x) -> np.ndarray:
    """Leading zero bits of x as a uint32 (32 for 0, 0 for negative int32 values)."""
    x = _i64(x)
    bits = np.frexp(np.where(x > 0, x, 0).astype(np.float64))[1]   # bit length, exact below 2^53
    return np.where(x < 0, 0, 32 - bits).astype(np.int64)


def _newton_reciprocal(half_denominator) -> np.ndarray:
    """Three Newton-Raphson steps for 1 / half_denominator, result in Q2.29."""
    x = 1515870810 + srdhm(half_denominator, -1010580540)          # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus_dx = (1 << 29) - srdhm(half_denominator, x)
        x = x + rescale(srdhm(x, one_minus_dx), 4, 2)
    return x


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal(rounding_half_sum(a, INT32_MAX))
    return rescale(x, 1, 0)                                        # ExactMulByPot<-1>, then Q0.31


def one_minus_x_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """(1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal(rounding_half_sum(a, INT32_MAX))
    return rescale(x - (1 << 29), 2, 0)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31: Taylor expansion around -1/8."""
    c = 1895147668                                                 # exp(-1/8)
    x = _i64(a) + (1 << 28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4_over_4 = rdbpot(srdhm(x2, x2), 2)
    poly = rdbpot(srdhm(x4_over_4 + x3, 715827883) + x2, 1)       # 715827883 = 1/3
    return c + srdhm(c, x + poly)


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 given in Q(integer_bits), result in Q0.31."""
    a = _i64(a)
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_quarter, integer_bits, 0))
    remainder = a_mod_quarter_minus_quarter - a
    for e, multiplier in _EXP_BARREL:
        if integer_bits > e:
            hit = (remainder & (1 << (frac + e))) != 0
            result = np.where(hit, srdhm(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)   # below -32: zero
    return np.where(a == 0, INT32_MAX, result)


def logistic(a, integer_bits: int) -> np.ndarray:
    """1 / (1 + exp(-a)) for any a in Q(integer_bits), result in Q0.31."""
    a = _i64(a)
    positive = a > 0
    abs_a = np.where(positive, a, -a)
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs_a, integer_bits))
    if_negative = INT32_MAX - if_positive
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def tanh(a, integer_bits: int) -> np.ndarray:
    """tanh(a) for any a in Q(integer_bits), result in Q0.31."""
    a = _i64(a)
    negative = a < 0
    neg_abs = np.where(negative, a, -a)
    # exp(-2|a|): the same raw value read with one more integer bit (ExactMulByPot<1>)
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(neg_abs, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, -t, t))


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM GetReciprocal: 1/x for x > 0 in Q(x_integer_digits) as (Q0.31 raw, num_bits_over_unit).

    1/x = raw / 2^31 / 2^num_bits_over_unit.
    """
    x = _i64(x)
    headroom_plus_one = count_leading_zeros(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = (((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31)) & 0xFFFFFFFF
    shifted_sum_minus_one = fx.wrap_int32(shifted)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def calculate_input_radius(input_integer_bits: int, input_left_shift: int,
                           total_signed_bits: int = 31) -> int:
    """TFLM CalculateInputRadius: largest |x| whose rescaled value stays below 2^integer_bits."""
    if input_left_shift < 0:
        raise ValueError(f"input_left_shift {input_left_shift} < 0 (input scale too small)")
    r = (1.0 * ((1 << input_integer_bits) - 1) * float(1 << (total_signed_bits - input_integer_bits))
         / float(1 << input_left_shift))
    return int(math.floor(r))


def preprocess_softmax_scaling(beta: float, input_scale: float, input_integer_bits: int) -> tuple[int, int]:
    """TFLM PreprocessSoftmaxScaling (double rounding build): (multiplier, left_shift >= 0)."""
    real = min(float(beta) * float(input_scale) * float(1 << (31 - input_integer_bits)),
               float((1 << 31) - 1))
    m, shift = fx.quantize_multiplier(real)
    if shift < 0:
        raise ValueError(f"softmax beta * input scale = {beta * input_scale:g} is too small")
    return m, shift
