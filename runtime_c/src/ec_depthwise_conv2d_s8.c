/* Depthwise conv with a channel multiplier, int8 activations and weights, int32 bias (TFLM
 * reference arithmetic).  Output channel ic * ch_mult + m reads input channel ic.
 *
 * Padded taps are skipped: the valid tap range is computed once per output row and column, so the
 * tap loops have no bounds checks.  With EC_HAS_DSP and ch_mult == 1, channels go 4 at a time:
 * one 32-bit load of 4 input and 4 filter bytes per tap, SXTB16 to int16 pairs, SADD16 of the
 * input offset, SMLABB/SMLATT into 4 accumulators.  The scalar loop does the remaining channels.
 * 3x3 / multiplier 1 / stride 1-2 nodes are lowered to ec_depthwise_conv2d_3x3_s8 instead.
 * OVERLAP: one output pixel at a time in raster order, all its reads before its writes. */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"
#include "ec_window.h"
#if EC_HAS_DSP
#include "ec_dsp.h"
#endif

/* [lo, hi) of the taps k in [0, k_n) whose position start + k * dil lies in [0, size). */
EC_INLINE void ec_dw_store(int32_t acc, int32_t oc, const ec_quant_params *q, const ec_dw_conv_params *p,
                           int8_t *output)
{
    const int32_t k = q->is_per_channel ? oc : 0;
    const int32_t v = ec_multiply_by_quantized_multiplier(acc, q->multiplier[k], q->shift[k]);
    output[oc] = ec_sat_s8(v + p->output_offset, p->activation.min, p->activation.max);
}

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
    const int32_t dil_h = p->dilation.h, dil_w = p->dilation.w, ch_mult = p->ch_mult;
    const int32_t off = p->input_offset;
    const int32_t x_step = dil_w * in_c, x_row_step = dil_h * in_w * in_c, w_row_step = k_w * out_c;
#if EC_HAS_DSP
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)off << 16) | (uint16_t)off);
    const int32_t dsp_c = ch_mult == 1 ? out_c & ~3 : 0;
#endif
    (void)ctx;
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in_n = input + n * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * p->stride.h - p->padding.h;
            int32_t ky_lo, ky_hi;
            ec_tap_range(y0, dil_h, k_h, in_h, &ky_lo, &ky_hi);
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * p->stride.w - p->padding.w;
                int32_t kx_lo, kx_hi;
                ec_tap_range(x0, dil_w, k_w, in_w, &kx_lo, &kx_hi);
                /* the first valid tap of channel 0 */
                const int8_t *in_tap = in_n + ((y0 + ky_lo * dil_h) * in_w + x0 + kx_lo * dil_w) * in_c;
                const int8_t *w_tap = filter + (ky_lo * k_w + kx_lo) * out_c;
                const int32_t n_ky = ky_hi - ky_lo, n_kx = kx_hi - kx_lo;
                int32_t oc = 0;
#if EC_HAS_DSP
                for (; oc < dsp_c; oc += 4) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    if (bias) {
                        a0 = bias[oc];
                        a1 = bias[oc + 1];
                        a2 = bias[oc + 2];
                        a3 = bias[oc + 3];
                    }
                    const int8_t *x_row = in_tap + oc, *w_row = w_tap + oc;
                    for (int32_t ky = 0; ky < n_ky; ky++) {
                        const int8_t *x = x_row, *w = w_row;
                        for (int32_t kx = 0; kx < n_kx; kx++) {
                            const int32_t xv = ec_read_s8x4(x), wv = ec_read_s8x4(w);
                            const int32_t xe = EC_SADD16(EC_SXTB16(xv), off2);
                            const int32_t xo = EC_SADD16(EC_SXTB16_ROR8(xv), off2);
                            const int32_t we = EC_SXTB16(wv), wo = EC_SXTB16_ROR8(wv);
                            a0 = EC_SMLABB(xe, we, a0);
                            a2 = EC_SMLATT(xe, we, a2);
                            a1 = EC_SMLABB(xo, wo, a1);
                            a3 = EC_SMLATT(xo, wo, a3);
                            x += x_step;
                            w += out_c;
                        }
                        x_row += x_row_step;
                        w_row += w_row_step;
                    }
                    ec_dw_store(a0, oc, q, p, output);
                    ec_dw_store(a1, oc + 1, q, p, output);
                    ec_dw_store(a2, oc + 2, q, p, output);
                    ec_dw_store(a3, oc + 3, q, p, output);
                }
#endif
                for (; oc < out_c; oc++) {
                    int32_t acc = bias ? bias[oc] : 0;
                    const int32_t ic = oc / ch_mult;
                    for (int32_t ky = 0; ky < n_ky; ky++) {
                        const int8_t *x = in_tap + ky * x_row_step + ic;
                        const int8_t *w = w_tap + ky * w_row_step + oc;
                        for (int32_t kx = 0; kx < n_kx; kx++) {
                            acc += (*x + off) * *w;
                            x += x_step;
                            w += out_c;
                        }
                    }
                    ec_dw_store(acc, oc, q, p, output);
                }
                output += out_c;
            }
        }
    }
    return EC_OK;
}
