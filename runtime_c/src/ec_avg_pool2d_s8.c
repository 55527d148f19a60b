/* Average pooling, int8 (TFLM reference arithmetic): the sum of the raw values over the valid
 * taps divided by their count, rounding half away from zero, then the activation clamp.
 * Input and output share quantization, so no requantization happens.
 * With EC_HAS_DSP and at most 256 taps, channels go 4 at a time: one 32-bit load per tap, SXTB16
 * (and its ROR #8 form) + SADD16 into two int16 pairs, exact since |sum| <= 256 * 128.
 * OVERLAP: one output pixel at a time in raster order, all its reads before its writes. */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"
#if EC_HAS_DSP
#include "ec_dsp.h"
#endif

/* sum / count rounded half away from zero (C division truncates), clamped */
EC_INLINE int8_t ec_avg_out(int32_t acc, int32_t count, const ec_pool_params *p)
{
    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
    return ec_sat_s8(acc, p->activation.min, p->activation.max);
}

ec_status ec_avg_pool2d_s8(const ec_pool_params *p, const ec_dims *input_dims, const int8_t *input,
                           const ec_tile *filter, const ec_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    for (int32_t b = 0; b < output_dims->n; b++) {
        const int8_t *in_b = input + b * in_h * in_w * ch;
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t y0 = oy * p->stride.h - p->padding.h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 = filter->h < in_h - y0 ? filter->h : in_h - y0;
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t x0 = ox * p->stride.w - p->padding.w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 = filter->w < in_w - x0 ? filter->w : in_w - x0;
                /* Number of valid taps; a window wholly in the padding (rejected by prepare)
                 * would divide 0 by 1 instead of by 0. */
                const int32_t rows = ky1 > ky0 ? ky1 - ky0 : 0;
                const int32_t cols = kx1 > kx0 ? kx1 - kx0 : 0;
                const int32_t count = rows * cols > 0 ? rows * cols : 1;
                int32_t c = 0;
#if EC_HAS_DSP
                for (; count <= 256 && c + 4 <= ch; c += 4) {
                    int32_t e = 0, o = 0;             /* int16 sums of channels (c, c+2), (c+1, c+3) */
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *row = in_b + ((y0 + ky) * in_w + x0) * ch + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int32_t v = ec_read_s8x4(row + kx * ch);
                            e = EC_SADD16(e, EC_SXTB16(v));
                            o = EC_SADD16(o, EC_SXTB16_ROR8(v));
                        }
                    }
                    const int32_t sums[4] = {(int16_t)(uint16_t)((uint32_t)e & 0xFFFFu),
                                             (int16_t)(uint16_t)((uint32_t)o & 0xFFFFu), e >> 16, o >> 16};
                    for (int32_t k = 0; k < 4; k++) {   /* one copy of the division in flash */
                        *output++ = ec_avg_out(sums[k], count, p);
                    }
                }
#endif
                for (; c < ch; c++) {
                    int32_t acc = 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *row = in_b + ((y0 + ky) * in_w + x0) * ch + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            acc += row[kx * ch];
                        }
                    }
                    *output++ = ec_avg_out(acc, count, p);
                }
            }
        }
    }
    return EC_OK;
}
