/* Fully connected, int8 activations and weights, int32 bias (TFLM reference arithmetic); the
 * blocked matrix product (and its DSP path) is ec_matmul.h's.  lower.py folds input_offset * sum(w)
 * into the bias and passes input_offset = 0 where it can, which skips the offset adds (the int32
 * sums are the same). */
#include "ec_runtime.h"
#include "ec_matmul.h"

ec_status ec_fully_connected_s8(const ec_context *ctx, const ec_fc_params *p, const ec_quant_params *q,
                                const ec_dims *input_dims, const int8_t *input,
                                const ec_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias,
                                const ec_dims *output_dims, int8_t *output)
{
    (void)ctx;
    (void)output_dims;
    ec_mat_mult_s8(input, input_dims->n, filter, filter_dims->n, filter_dims->c, p->input_offset, bias, q,
                   p->output_offset, p->activation, output);
    return EC_OK;
}
