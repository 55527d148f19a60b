/* Conv2D with one group as a matrix product: for each pair of output pixels the two input patches
 * [KH, KW, C_IN] are copied into a stack buffer, padded taps holding the input zero point, and
 * ec_mat_mult_s8 (the FC kernel's product) multiplies them by the [C_OUT, KH * KW * C_IN] filter with input_offset 0
 * and the effective bias (bias + input_offset * sum(w), folded at compile time).  A padded tap then
 * adds zero_point * w, which the folded term cancels, so the int32 sums equal ec_conv2d_s8's.  This
 * makes small-channel layers (the first layer) and 3x3 layers run the FC kernel's blocked inner
 * loop (DSP: SMLAD) over long contiguous rows. */
#include <string.h>
#include "ec_runtime.h"
#include "ec_matmul.h"

ec_status ec_conv2d_im2col_s8(const ec_context *ctx, const ec_conv_params *p, const ec_quant_params *q,
                              const ec_dims *input_dims, const int8_t *input,
                              const ec_dims *filter_dims, const int8_t *filter,
                              const int32_t *effective_bias,
                              const ec_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t depth = k_h * k_w * in_c;
    const int32_t pixels = out_h * out_w;
    const int8_t zero_point = (int8_t)(-p->input_offset);
    int8_t col[2 * EC_IM2COL_MAX_K];
    if (p->groups != 1 || filter_dims->c != in_c || depth > EC_IM2COL_MAX_K) {
        return EC_ARG_ERROR;
    }
    (void)ctx;
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in_n = input + n * in_h * in_w * in_c;
        for (int32_t px = 0; px < pixels; px += 2) {
            const int32_t rows = px + 1 < pixels ? 2 : 1;
            for (int32_t r = 0; r < rows; r++) {
                const int32_t oy = (px + r) / out_w, ox = (px + r) % out_w;
                const int32_t y0 = oy * p->stride.h - p->padding.h, x0 = ox * p->stride.w - p->padding.w;
                int8_t *dst = col + r * depth;
                for (int32_t ky = 0; ky < k_h; ky++) {
                    const int32_t iy = y0 + ky * p->dilation.h;
                    for (int32_t kx = 0; kx < k_w; kx++) {
                        const int32_t ix = x0 + kx * p->dilation.w;
                        if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                            memset(dst, zero_point, (size_t)in_c);
                        } else {
                            memcpy(dst, in_n + (iy * in_w + ix) * in_c, (size_t)in_c);
                        }
                        dst += in_c;
                    }
                }
            }
            ec_mat_mult_s8(col, rows, filter, out_c, depth, 0, effective_bias, q, p->output_offset,
                           p->activation, output + (n * pixels + px) * out_c);
        }
    }
    return EC_OK;
}
