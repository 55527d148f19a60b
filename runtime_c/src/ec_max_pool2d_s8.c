/* Max pooling, int8 (TFLM reference arithmetic): max over the valid taps of each window, then
 * the activation clamp.  Padded positions are skipped, never compared.
 * OVERLAP: one output pixel at a time in raster order, all its reads before its writes. */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"

ec_status ec_max_pool2d_s8(const ec_pool_params *p, const ec_dims *input_dims, const int8_t *input,
                           const ec_tile *filter, const ec_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    for (int32_t b = 0; b < output_dims->n; b++) {
        const int8_t *in_b = input + b * in_h * in_w * ch;
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            /* The window's first row, and the range of its rows inside the input. */
            const int32_t y0 = oy * p->stride.h - p->padding.h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 = filter->h < in_h - y0 ? filter->h : in_h - y0;
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t x0 = ox * p->stride.w - p->padding.w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 = filter->w < in_w - x0 ? filter->w : in_w - x0;
                for (int32_t c = 0; c < ch; c++) {
                    int32_t max = -128;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *row = in_b + ((y0 + ky) * in_w + x0) * ch + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int32_t v = row[kx * ch];
                            max = v > max ? v : max;
                        }
                    }
                    *output++ = ec_sat_s8(max, p->activation.min, p->activation.max);
                }
            }
        }
    }
    return EC_OK;
}
