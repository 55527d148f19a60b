/* Conv2D with groups, int8 activations and weights, int32 bias (TFLM reference arithmetic).
 *
 * Padded taps are skipped: the valid tap range is computed once per output row and column, so the
 * inner loop has no bounds checks.  With one group and no horizontal dilation the taps of a filter
 * row are one contiguous run of (kx range) * C_IN bytes in both input and filter; otherwise a run is
 * one tap's group channels.  Output channels go in pairs that share every input load (an odd last
 * channel of a group is computed twice and stored once).  With EC_HAS_DSP a run is consumed 4 at
 * a time (SXTB16, SADD16 of the input offset, SMLAD); the scalar loop does the rest. */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"
#include "ec_window.h"
#if EC_HAS_DSP
#include "ec_dsp.h"
#endif

#if EC_HAS_DSP
/* *a0 += sum (x + off) * w0, *a1 += sum (x + off) * w1 over 4 * blocks bytes; off2 = off in both halves. */
EC_INLINE void ec_conv_dsp_pair(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t blocks,
                                int32_t off2, int32_t *a0, int32_t *a1)
{
    int32_t s0 = *a0, s1 = *a1;
    const int8_t *const x_end = x + 4 * blocks;
    while (x != x_end) {
        const int32_t xv = ec_read_s8x4(x);
        const int32_t xe = EC_SADD16(EC_SXTB16(xv), off2), xo = EC_SADD16(EC_SXTB16_ROR8(xv), off2);
        const int32_t wa = ec_read_s8x4(w0), wb = ec_read_s8x4(w1);
        s0 = ec_smlad_s8x4(xe, xo, wa, s0);
        s1 = ec_smlad_s8x4(xe, xo, wb, s1);
        x += 4;
        w0 += 4;
        w1 += 4;
    }
    *a0 = s0;
    *a1 = s1;
}
#endif

/* [lo, hi) of the taps k in [0, k_n) whose position start + k * dil lies in [0, size). */
ec_status ec_conv2d_s8(const ec_context *ctx, const ec_conv_params *p, const ec_quant_params *q,
                       const ec_dims *input_dims, const int8_t *input,
                       const ec_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const ec_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, group_c = filter_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t groups = p->groups, out_per_group = out_c / p->groups;
    const int32_t dil_h = p->dilation.h, dil_w = p->dilation.w;
    const int32_t off = p->input_offset;
    const int32_t contiguous = groups == 1 && dil_w == 1;
#if EC_HAS_DSP
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)off << 16) | (uint16_t)off);
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
                const int32_t n_run = contiguous ? (kx_hi > kx_lo ? 1 : 0) : kx_hi - kx_lo;
                const int32_t run = contiguous ? (kx_hi - kx_lo) * in_c : group_c;
                const int32_t x_step = dil_w * in_c;
                for (int32_t g = 0; g < groups; g++) {
                    const int8_t *in_g = in_n + g * group_c + (x0 + kx_lo * dil_w) * in_c;
                    const int32_t oc_end = (g + 1) * out_per_group;
                    for (int32_t oc = g * out_per_group; oc < oc_end; oc += 2) {
                        const int32_t oc1 = oc + 1 < oc_end ? oc + 1 : oc;
                        int32_t a0 = bias ? bias[oc] : 0;
                        int32_t a1 = bias ? bias[oc1] : 0;
                        for (int32_t ky = ky_lo; ky < ky_hi; ky++) {
                            const int8_t *x = in_g + (y0 + ky * dil_h) * in_w * in_c;
                            const int8_t *w0 = filter + ((oc * k_h + ky) * k_w + kx_lo) * group_c;
                            const int8_t *w1 = filter + ((oc1 * k_h + ky) * k_w + kx_lo) * group_c;
                            for (int32_t r = 0; r < n_run; r++) {
                                const int8_t *EC_RESTRICT xr = x + r * x_step;
                                const int8_t *EC_RESTRICT wr0 = w0 + r * group_c;
                                const int8_t *EC_RESTRICT wr1 = w1 + r * group_c;
                                int32_t i = 0;
#if EC_HAS_DSP
                                ec_conv_dsp_pair(xr, wr0, wr1, run >> 2, off2, &a0, &a1);
                                i = run & ~3;
#endif
                                for (; i < run; i++) {
                                    const int32_t xv = xr[i] + off;
                                    a0 += xv * wr0[i];
                                    a1 += xv * wr1[i];
                                }
                            }
                        }
                        int32_t k = q->is_per_channel ? oc : 0;
                        int32_t v = ec_multiply_by_quantized_multiplier(a0, q->multiplier[k], q->shift[k]);
                        output[oc] = ec_sat_s8(v + p->output_offset, p->activation.min, p->activation.max);
                        if (oc1 != oc) {
                            k = q->is_per_channel ? oc1 : 0;
                            v = ec_multiply_by_quantized_multiplier(a1, q->multiplier[k], q->shift[k]);
                            output[oc1] = ec_sat_s8(v + p->output_offset, p->activation.min, p->activation.max);
                        }
                    }
                }
                output += out_c;
            }
        }
    }
    return EC_OK;
}
