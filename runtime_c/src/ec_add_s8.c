/* Elementwise add, int8 (TFLM reference arithmetic), with 4-D broadcasting: an input dim of 1
 * is repeated along the output dim.  Both inputs are rescaled to a common scale with 20 bits
 * of headroom, added, and the sum is requantized to the output scale.  Same-shape residual adds
 * are lowered to ec_add_lut_s8 (ops/add_variants.py).  Element i is read before it is written:
 * correct in place when the output is an unbroadcast input (OVERLAP contract). */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"

/* Element strides of an input walked along the output dims (0 where the input broadcasts). */
static void ec_add_strides(const ec_dims *d, int32_t s[4])
{
    s[3] = d->c == 1 ? 0 : 1;
    s[2] = d->w == 1 ? 0 : d->c;
    s[1] = d->h == 1 ? 0 : d->w * d->c;
    s[0] = d->n == 1 ? 0 : d->h * d->w * d->c;
}

static int ec_add_compatible(const ec_dims *in, const ec_dims *out)
{
    return (in->n == out->n || in->n == 1) && (in->h == out->h || in->h == 1)
        && (in->w == out->w || in->w == 1) && (in->c == out->c || in->c == 1);
}

ec_status ec_add_s8(const ec_add_params *p,
                    const ec_dims *input1_dims, const int8_t *input1,
                    const ec_dims *input2_dims, const int8_t *input2,
                    const ec_dims *output_dims, int8_t *output)
{
    int32_t s1[4];
    int32_t s2[4];
    if (!ec_add_compatible(input1_dims, output_dims) || !ec_add_compatible(input2_dims, output_dims)) {
        return EC_ARG_ERROR;
    }
    ec_add_strides(input1_dims, s1);
    ec_add_strides(input2_dims, s2);
    for (int32_t n = 0; n < output_dims->n; n++) {
        for (int32_t h = 0; h < output_dims->h; h++) {
            for (int32_t w = 0; w < output_dims->w; w++) {
                const int8_t *a = input1 + n * s1[0] + h * s1[1] + w * s1[2];
                const int8_t *b = input2 + n * s2[0] + h * s2[1] + w * s2[2];
                for (int32_t c = 0; c < output_dims->c; c++) {
                    /* (x - z) * 2^left_shift fits: |x - z| <= 255 and left_shift is 20. */
                    const int32_t x1 = (a[c * s1[3]] + p->input1_offset) * (1 << p->left_shift);
                    const int32_t x2 = (b[c * s2[3]] + p->input2_offset) * (1 << p->left_shift);
                    const int32_t y1 = ec_multiply_by_quantized_multiplier(x1, p->input1_multiplier,
                                                                           p->input1_shift);
                    const int32_t y2 = ec_multiply_by_quantized_multiplier(x2, p->input2_multiplier,
                                                                           p->input2_shift);
                    const int32_t sum = ec_multiply_by_quantized_multiplier(y1 + y2, p->output_multiplier,
                                                                            p->output_shift);
                    *output++ = ec_sat_s8(sum + p->output_offset, p->activation.min, p->activation.max);
                }
            }
        }
    }
    return EC_OK;
}
