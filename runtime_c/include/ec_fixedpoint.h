/* Integer requantization, bit-exact with TFLM (gemmlowp) and CMSIS-NN.
 * Twin of edgecompile/quant/fixedpoint.py: same names without the ec_ prefix. */
#ifndef EC_FIXEDPOINT_H
#define EC_FIXEDPOINT_H

#include <stdint.h>
#include "ec_config.h"

/* fixedpoint.py: saturating_rounding_doubling_high_mul */
EC_INLINE int32_t ec_saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    /* round(a*b / 2^31), ties toward +inf: (p + 2^30) >> 31 with an arithmetic shift. */
    const int64_t p = (int64_t)a * (int64_t)b + ((int64_t)1 << 30);
    return (int32_t)(p >> 31);
}

/* fixedpoint.py: rounding_divide_by_pot (ties away from zero) */
EC_INLINE int32_t ec_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* fixedpoint.py: multiply_by_quantized_multiplier.  shift > 0 is a left shift. */
EC_INLINE int32_t ec_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift)
{
#if EC_SINGLE_ROUNDING
    const int32_t total = 31 - shift;
    const int64_t r = (int64_t)x * multiplier + ((int64_t)1 << (total - 1));
    return (int32_t)(r >> total);
#else
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    /* x * 2^left wraps like TFLM's int32 multiply; compilers treat signed overflow as UB, so
     * do it in uint32 (the result is identical whenever TFLM's is defined). */
    const int32_t a = (int32_t)((uint32_t)x << left);
    return ec_rounding_divide_by_pot(ec_saturating_rounding_doubling_high_mul(a, multiplier), right);
#endif
}

/* fixedpoint.py: saturate, for one value and an activation range */
EC_INLINE int8_t ec_sat_s8(int32_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

#endif /* EC_FIXEDPOINT_H */
