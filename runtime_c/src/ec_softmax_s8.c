/* Softmax over rows, int8 in, int8 out (1/256, -128): TFLM's gemmlowp fixed-point algorithm.
 * OVERLAP: none allowed (the contract assumes no overlap for softmax). */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"
#include "ec_gemmlowp.h"

/* exp(x - max) in Q0.31 for an input difference diff >= diff_min: Q5.26 rescale, then exp. */
static int32_t ec_softmax_exp(const ec_softmax_params *p, int32_t diff)
{
    const int32_t shifted = (int32_t)((uint32_t)diff << p->input_left_shift);
    return ec_exp_on_negative_values(ec_saturating_rounding_doubling_high_mul(shifted, p->input_multiplier), 5);
}

ec_status ec_softmax_s8(const ec_softmax_params *p, int32_t rows, int32_t row_size,
                        const int8_t *input, int8_t *output)
{
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *x = input + r * row_size;
        int8_t *y = output + r * row_size;
        int32_t max = INT8_MIN;
        for (int32_t i = 0; i < row_size; i++) {
            max = x[i] > max ? x[i] : max;
        }
        /* Sum of exps in Q12.19; row_size <= 4095 keeps it below 2^31. */
        int32_t sum = 0;
        for (int32_t i = 0; i < row_size; i++) {
            const int32_t diff = x[i] - max;
            if (diff >= p->diff_min) {
                sum += ec_rounding_divide_by_pot(ec_softmax_exp(p, diff), 12);
            }
        }
        int32_t bits_over_unit;
        const int32_t recip = ec_get_reciprocal(sum, 12, &bits_over_unit);
        /* TFLM aborts when exponent > 31 (sum >= 512); every output then rounds to 0: -128. */
        const int32_t exponent = bits_over_unit + 31 - 8;
        for (int32_t i = 0; i < row_size; i++) {
            const int32_t diff = x[i] - max;
            int32_t v = INT8_MIN;
            if (diff >= p->diff_min && exponent <= 31) {
                const int32_t e = ec_softmax_exp(p, diff);
                v = ec_rounding_divide_by_pot(ec_saturating_rounding_doubling_high_mul(recip, e), exponent) + INT8_MIN;
            }
            y[i] = ec_sat_s8(v, INT8_MIN, INT8_MAX);
        }
    }
    return EC_OK;
}
