/* Depthwise conv with a channel multiplier, int8 activations and weights, int32 bias (TFLM
 * reference arithmetic).  Output channel ic * ch_mult + m reads input channel ic.
 * Padded taps are skipped; bottom/right padding follows from the output dims. */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"

ec_status ec_depthwise_conv2d_s8(const ec_context *ctx, const ec_dw_conv_params *p,
                                 const ec_quant_params *q,
                                 const ec_dims *input_dims, const int8_t *input,
                                 const ec_dims *filter_dims, const int8_t *filter,
                                 const int32_t *bias,
                                 const ec_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    (void)ctx;
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in_n = input + n * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * p->stride.h - p->padding.h;
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * p->stride.w - p->padding.w;
                for (int32_t oc = 0; oc < out_c; oc++) {
                    const int8_t *in_ch = in_n + oc / p->ch_mult;
                    int32_t acc = bias ? bias[oc] : 0;
                    for (int32_t ky = 0; ky < k_h; ky++) {
                        const int32_t iy = y0 + ky * p->dilation.h;
                        if (iy < 0 || iy >= in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t ix = x0 + kx * p->dilation.w;
                            if (ix < 0 || ix >= in_w) {
                                continue;
                            }
                            const int32_t x = in_ch[(iy * in_w + ix) * in_c];
                            acc += (x + p->input_offset) * filter[(ky * k_w + kx) * out_c + oc];
                        }
                    }
                    const int32_t k = q->is_per_channel ? oc : 0;
                    acc = ec_multiply_by_quantized_multiplier(acc, q->multiplier[k], q->shift[k]);
                    *output++ = ec_sat_s8(acc + p->output_offset, p->activation.min, p->activation.max);
                }
            }
        }
    }
    return EC_OK;
}
