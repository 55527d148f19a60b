/* gemmlowp fixed-point math used by TFLM's int8 softmax, bit-exact.
 * Twin of edgecompile/quant/gemmlowp.py (same names without the ec_ prefix).
 * A value in Qk.(31-k) is a raw int32; products are ec_saturating_rounding_doubling_high_mul.
 * Left shifts go through uint32 (shifting negative values is undefined in C99). */
#ifndef EC_GEMMLOWP_H
#define EC_GEMMLOWP_H

#include <stdint.h>
#include "ec_config.h"
#include "ec_fixedpoint.h"

#define EC_Q0_ONE INT32_MAX              /* 1.0 saturated in Q0.31 */

/* gemmlowp.py: saturating_rounding_multiply_by_pot, exponent > 0 (saturating left shift) */
EC_INLINE int32_t ec_saturating_shift_left(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp.py: rounding_half_sum ((a + b) / 2, ties away from zero) */
EC_INLINE int32_t ec_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* gemmlowp.py: count_leading_zeros (of x as uint32) */
EC_INLINE int32_t ec_count_leading_zeros(uint32_t x)
{
#if defined(__GNUC__)
    return x == 0u ? 32 : (int32_t)__builtin_clz(x);
#else
    int32_t n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* gemmlowp.py: one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out, Newton-Raphson in Q2.29) */
EC_INLINE int32_t ec_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t half_denominator = ec_rounding_half_sum(a, EC_Q0_ONE);
    int32_t x = 1515870810 + ec_saturating_rounding_doubling_high_mul(half_denominator, -1010580540);
    for (int32_t i = 0; i < 3; i++) {
        const int32_t one_minus_dx = (1 << 29) - ec_saturating_rounding_doubling_high_mul(half_denominator, x);
        x += ec_saturating_shift_left(ec_saturating_rounding_doubling_high_mul(x, one_minus_dx), 2);
    }
    return ec_saturating_shift_left(x, 1);
}

/* gemmlowp.py: exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.31) */
EC_INLINE int32_t ec_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t c = 1895147668;                              /* exp(-1/8) */
    const int32_t x = a + (1 << 28);
    const int32_t x2 = ec_saturating_rounding_doubling_high_mul(x, x);
    const int32_t x3 = ec_saturating_rounding_doubling_high_mul(x2, x);
    const int32_t x4_over_4 = ec_rounding_divide_by_pot(ec_saturating_rounding_doubling_high_mul(x2, x2), 2);
    const int32_t poly = ec_rounding_divide_by_pot(
        ec_saturating_rounding_doubling_high_mul(x4_over_4 + x3, 715827883) + x2, 1);
    return c + ec_saturating_rounding_doubling_high_mul(c, x + poly);
}

/* gemmlowp.py: exp_on_negative_values for a <= 0 in Q(integer_bits), 1 <= integer_bits <= 5;
 * result in Q0.31. */
EC_INLINE int32_t ec_exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t frac = 31 - integer_bits;
    const int32_t quarter = 1 << (frac - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    int32_t result = ec_exp_on_interval_between_negative_one_quarter_and_0_excl(
        ec_saturating_shift_left(a_mod_quarter_minus_quarter, integer_bits));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    for (int32_t e = -2; e < integer_bits; e++) {         /* exp(-2^e) factors */
        if (remainder & (1 << (frac + e))) {
            result = ec_saturating_rounding_doubling_high_mul(result, barrel[e + 2]);
        }
    }
    return a == 0 ? EC_Q0_ONE : result;
}

/* gemmlowp.py: get_reciprocal.  1/x for x > 0 in Q(x_integer_digits):
 * returns r with 1/x = r / 2^31 / 2^(*num_bits_over_unit). */
EC_INLINE int32_t ec_get_reciprocal(int32_t x, int32_t x_integer_digits, int32_t *num_bits_over_unit)
{
    const int32_t headroom_plus_one = ec_count_leading_zeros((uint32_t)x);
    const uint32_t shifted = ((uint32_t)x << headroom_plus_one) - 0x80000000u;
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return ec_one_over_one_plus_x_for_x_in_0_1((int32_t)shifted);
}

#endif /* EC_GEMMLOWP_H */
