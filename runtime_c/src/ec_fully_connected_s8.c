/* Fully connected, int8 activations and weights, int32 bias (TFLM reference arithmetic). */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"

ec_status ec_fully_connected_s8(const ec_context *ctx, const ec_fc_params *p, const ec_quant_params *q,
                                const ec_dims *input_dims, const int8_t *input,
                                const ec_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias,
                                const ec_dims *output_dims, int8_t *output)
{
    const int32_t rows = input_dims->n;
    const int32_t depth = filter_dims->c;
    const int32_t out_ch = filter_dims->n;
    (void)ctx;
    (void)output_dims;
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *x = input + r * depth;
        for (int32_t o = 0; o < out_ch; o++) {
            const int8_t *w = filter + o * depth;
            int32_t acc = bias ? bias[o] : 0;
            for (int32_t i = 0; i < depth; i++) {
                acc += (x[i] + p->input_offset) * w[i];
            }
            const int32_t k = q->is_per_channel ? o : 0;
            acc = ec_multiply_by_quantized_multiplier(acc, q->multiplier[k], q->shift[k]);
            *output++ = ec_sat_s8(acc + p->output_offset, p->activation.min, p->activation.max);
        }
    }
    return EC_OK;
}
