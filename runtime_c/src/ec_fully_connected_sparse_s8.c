/* Fully connected with sparse int8 weights (ec_sparse_filter bitmask format): only the non-zero
 * weights are multiplied; the sum, and so the output, equals ec_fully_connected_s8's. */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"
#include "ec_sparse.h"

ec_status ec_fully_connected_sparse_s8(const ec_context *ctx, const ec_fc_params *p, const ec_quant_params *q,
                                       const ec_dims *input_dims, const int8_t *input,
                                       const ec_dims *filter_dims, const ec_sparse_filter *filter,
                                       const int32_t *bias,
                                       const ec_dims *output_dims, int8_t *output)
{
    const int32_t rows = input_dims->n;
    const int32_t depth = filter_dims->c;
    const int32_t out_ch = filter_dims->n;
    const int32_t blocks = (depth + 7) / 8;
    (void)ctx;
    (void)output_dims;
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *x = input + r * depth;
        const uint8_t *mask = filter->mask;
        const int8_t *v = filter->values;
        for (int32_t o = 0; o < out_ch; o++) {
            int32_t acc = bias ? bias[o] : 0;
            for (int32_t k = 0; k < blocks; k++) {
                const int8_t *xb = x + 8 * k;
                for (uint32_t m = *mask++; m != 0u; m &= m - 1u) {
                    acc += (xb[ec_sparse_lowest_bit[m]] + p->input_offset) * *v++;
                }
            }
            const int32_t k = q->is_per_channel ? o : 0;
            acc = ec_multiply_by_quantized_multiplier(acc, q->multiplier[k], q->shift[k]);
            *output++ = ec_sat_s8(acc + p->output_offset, p->activation.min, p->activation.max);
        }
    }
    return EC_OK;
}
