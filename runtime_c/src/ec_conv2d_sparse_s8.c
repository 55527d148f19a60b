/* Conv2D (groups >= 1) with sparse int8 weights (ec_sparse_filter bitmask format): only the non-zero
 * weights of the valid taps are multiplied, so the output equals ec_conv2d_s8's.  Per output pixel
 * the valid taps form a rectangle [ky0, ky1) x [kx0, kx1); the mask bytes of the other (padded)
 * taps are only counted, to advance the value pointer. */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"
#include "ec_window.h"
#include "ec_sparse.h"

/* set bits in the n mask bytes at m */
static int32_t ec_conv_count(const uint8_t *m, int32_t n)
{
    int32_t c = 0;
    for (int32_t i = 0; i < n; i++) {
        c += ec_sparse_nibble_bits[m[i] & 15u] + ec_sparse_nibble_bits[m[i] >> 4];
    }
    return c;
}

ec_status ec_conv2d_sparse_s8(const ec_context *ctx, const ec_conv_params *p, const ec_quant_params *q,
                              const ec_dims *input_dims, const int8_t *input,
                              const ec_dims *filter_dims, const ec_sparse_filter *filter,
                              const int32_t *bias,
                              const ec_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, group_c = filter_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t out_per_group = out_c / p->groups;
    const int32_t blocks = (group_c + 7) / 8;
    const int32_t step_x = p->dilation.w * in_c, step_y = p->dilation.h * in_w * in_c;
    const int32_t off = p->input_offset;
    (void)ctx;
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in_n = input + n * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * p->stride.h - p->padding.h;
            int32_t ky0, ky1;
            ec_tap_range(y0, p->dilation.h, k_h, in_h, &ky0, &ky1);
            ky0 = ky0 < k_h ? ky0 : k_h;                     /* a window wholly in the padding */
            ky1 = ky1 < k_h ? ky1 : k_h;
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * p->stride.w - p->padding.w;
                int32_t kx0, kx1;
                ec_tap_range(x0, p->dilation.w, k_w, in_w, &kx0, &kx1);
                kx0 = kx0 < k_w ? kx0 : k_w;
                kx1 = kx1 < k_w ? kx1 : k_w;
                const int32_t ky_end = kx0 < kx1 ? ky1 : ky0;      /* no valid column: no valid tap */
                const int32_t skip_top = ky0 * k_w * blocks, skip_bottom = (k_h - ky_end) * k_w * blocks;
                const int32_t skip_left = kx0 * blocks, skip_right = (k_w - kx1) * blocks;
                const int32_t corner = ((y0 + ky0 * p->dilation.h) * in_w + x0 + kx0 * p->dilation.w) * in_c;
                const uint8_t *mask = filter->mask;
                const int8_t *v = filter->values;
                for (int32_t oc = 0; oc < out_c; oc++) {
                    int32_t acc = bias ? bias[oc] : 0;
                    const int32_t g_off = corner + (oc / out_per_group) * group_c;
                    v += ec_conv_count(mask, skip_top);
                    mask += skip_top;
                    for (int32_t ky = ky0; ky < ky_end; ky++) {
                        v += ec_conv_count(mask, skip_left);
                        mask += skip_left;
                        const int32_t row = g_off + (ky - ky0) * step_y;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int8_t *x = in_n + row + (kx - kx0) * step_x;
                            for (int32_t k = 0; k < blocks; k++) {
                                const int8_t *xb = x + 8 * k;
                                for (uint32_t m = *mask++; m != 0u; m &= m - 1u) {
                                    acc += (xb[ec_sparse_lowest_bit[m]] + off) * *v++;
                                }
                            }
                        }
                        v += ec_conv_count(mask, skip_right);
                        mask += skip_right;
                    }
                    v += ec_conv_count(mask, skip_bottom);
                    mask += skip_bottom;
                    const int32_t k = q->is_per_channel ? oc : 0;
                    acc = ec_multiply_by_quantized_multiplier(acc, q->multiplier[k], q->shift[k]);
                    *output++ = ec_sat_s8(acc + p->output_offset, p->activation.min, p->activation.max);
                }
            }
        }
    }
    return EC_OK;
}
