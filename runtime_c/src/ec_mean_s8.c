/* Mean over H and W, int8 (TFLM QuantizedMeanOrSum): the 1/N factor is folded into the
 * multiplier at compile time, so per output y = MBQM(sum(q) - z_in * N, M', s') + z_out.
 * OVERLAP: none allowed (the contract assumes no overlap for mean). */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"

ec_status ec_mean_s8(const ec_mean_params *p, const ec_dims *input_dims, const int8_t *input,
                     const ec_dims *output_dims, int8_t *output)
{
    const int32_t count = input_dims->h * input_dims->w;
    const int32_t ch = input_dims->c;
    /* input_offset = -z_in, so this is -z_in * N, the zero point over the whole window. */
    const int32_t offset = p->input_offset * count;
    (void)output_dims;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in_b = input + b * count * ch;
        for (int32_t c = 0; c < ch; c++) {
            int32_t acc = 0;
            for (int32_t i = 0; i < count; i++) {
                acc += in_b[i * ch + c];
            }
            acc = ec_multiply_by_quantized_multiplier(acc + offset, p->multiplier, p->shift);
            *output++ = ec_sat_s8(acc + p->output_offset, -128, 127);
        }
    }
    return EC_OK;
}
