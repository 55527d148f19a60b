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
    /* CMSIS-NN arm_nn_requantize with CMSIS_NN_USE_SINGLE_ROUNDING: one round-half-up of the 64-bit
     * product, ((x*M >> (30 - shift)) + 1) >> 1 == (x*M + 2^(30 - shift)) >> (31 - shift), kept in
     * int64 until the final cast (CMSIS-NN PR #220).  The compiler guarantees shift <= 30. */
    const int32_t total = 31 - shift;
    const int64_t r = (int64_t)x * multiplier + ((int64_t)1 << (total - 1));
    return (int32_t)(r >> total);
#else
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    /* x * 2^left wraps like TFLM's int32 multiply; compilers treat signed overflow as UB, so
     * do it in uint32 (the result is identical whenever TFLM's is defined). */
    const int32_t a = (int32_t)((uint32_t)x << left);
    /* SRDHM(a, multiplier) without its INT32_MIN * INT32_MIN test: multipliers are QuantizeMultiplier
     * results, >= 0 (ec_quant_params), so that case cannot occur and the result is the same. */
    const int32_t h = (int32_t)(((int64_t)a * multiplier + ((int64_t)1 << 30)) >> 31);
    return ec_rounding_divide_by_pot(h, right);
#endif
}

/* Requantization speed path for kernels whose lowering proved, per output channel at compile time
 * (ops/dw_variants.py fast_requant_k, ops/add_variants.py _fast_k): multiplier m >= 0, |acc| < 2^30, right shift e = -shift in
 * [1, 30] and k = 2^(e-1) + (output_offset << e) with |acc| + |k| < 2^31.  acc2 = 2 * acc (kernels
 * double weights and bias at compile time).  Returns exactly
 * ec_multiply_by_quantized_multiplier(acc, m, -e) + output_offset, in 3-4 instructions on DSP cores:
 *   double rounding: SRDHM(acc, m) = (2 acc m + 2^31) >> 32 = SMMULR(acc2, m) (no INT32_MIN case:
 *                    m >= 0), then RoundingDivideByPOT(x, e) = (x + 2^(e-1) - (x < 0)) >> e, with the
 *                    output offset's multiple of 2^e added before the shift;
 *   single rounding: (acc m + 2^(30+e)) >> (31+e) = (floor(acc2 m / 2^32) + 2^(e-1)) >> e. */
EC_INLINE int32_t ec_requant_fast(int32_t acc2, int32_t m, int32_t e, int32_t k)
{
#if EC_SINGLE_ROUNDING
    const int32_t x = (int32_t)(((int64_t)acc2 * m) >> 32);
    return (x + k) >> e;
#else
#if EC_HAS_DSP && !defined(EC_EMULATE_DSP)
    int32_t x;
    __asm__("smmulr %0, %1, %2" : "=r"(x) : "r"(acc2), "r"(m));
#else
    const int32_t x = (int32_t)(((int64_t)acc2 * m + ((int64_t)1 << 31)) >> 32);
#endif
    return (x + (x >> 31) + k) >> e;
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
