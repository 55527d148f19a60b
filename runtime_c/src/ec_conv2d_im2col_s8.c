/* Conv2D with one group as a matrix product: for each pair of output pixels (raster order) the two
 * input patches [KH, KW, C_IN] are copied into the scratch buffer, padded taps holding the input
 * zero point, and ec_mat_mult_s8 multiplies them by the filter with input_offset 0 and the
 * effective bias (bias + input_offset * sum(w), folded at compile time).  A padded tap then adds
 * zero_point * w, which the folded term cancels, so the int32 sums equal ec_conv2d_s8's.
 * The filter is re-laid out at compile time (dense_variants.py): [C_OUT, DEPTH4], each row the
 * KH * KW * C_IN weights followed by zeros up to a multiple of 4, so the product has no depth tail;
 * the patches get zeros there too.
 * Scratch (ctx, exact size from dense_variants.im2col_scratch): the two int8 patches (2 * DEPTH4
 * bytes), then EC_MAT_SCRATCH_BYTES(2, DEPTH4, C_OUT) for the product (p->wide_filter, DSP cores,
 * --optimize speed: the filter is ec_matmul.h's wide layout, EC_MAT_WIDE_SCRATCH_BYTES(2, DEPTH4); DEPTH4
 * the tap-row-padded depth when lower padded the rows, C_IN % 4 != 0: ec_matmul.h's ec_wide_patch_rp).
 * p->out_stride (0: C_OUT): bytes between output pixels (a channel concat's slice written in place).
 * OVERLAP contract: 2 output pixels per block, in raster order; both patches are copied before the
 * block's outputs are written.  Helium: ec_mve.h's ec_mve_im2col, 4 pixels per block likewise. */
#include <string.h>
#include "ec_runtime.h"
#include "ec_matmul.h"

/* memcpy (src) / memset (src NULL) of a tap row without a library call: 4 bytes at a time through
 * unaligned words, then the 0-3 last bytes (Helium: 16 at a time, predicated). */
static void ec_put(int8_t *dst, const int8_t *src, int8_t fill, int32_t n)
{
#if EC_HAS_MVE
    for (int32_t i = 0; i < n; i += 16) {          /* 16 bytes per predicated load / store */
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, src ? vldrbq_z_s8(src + i, p) : vdupq_n_s8(fill), p);
    }
    return;
#endif
    const uint32_t word = 0x01010101u * (uint8_t)fill;
    int8_t *const end = dst + (n & ~3);
    if (src) {
        for (; dst != end; dst += 4, src += 4) {
            memcpy(dst, src, 4);
        }
        if (n & 2) {
            memcpy(dst, src, 2);
            dst += 2;
            src += 2;
        }
        if (n & 1) {
            *dst = *src;
        }
    } else {
        for (; dst != end; dst += 4) {
            memcpy(dst, &word, 4);
        }
        if (n & 2) {
            memcpy(dst, &word, 2);
            dst += 2;
        }
        if (n & 1) {
            *dst = fill;
        }
    }
}

#if EC_HAS_DSP && !EC_HAS_MVE && EC_MAT_WIDE
/* dst[4 g], dst[4 g + 1] = the SXTB16 lanes of input word g of src, up to tail (4 words per group). */
static inline int32_t *ec_wide_copy(int32_t *dst, int32_t *const tail, const int8_t *src)
{
    if ((tail - dst) & 4) {                             /* an odd number of groups */
        const int32_t a = ec_read_s8x4(src);
        dst[0] = EC_SXTB16(a);
        dst[1] = EC_SXTB16_ROR8(a);
        dst += 4;
        src += 4;
    }
#if EC_ASM && defined(__ARM_FEATURE_DSP)
    if (dst != tail) {                                  /* two groups per step: 10 instructions */
        int32_t a, b, e;
        __asm__ volatile(
            "1:\n\t"
            "ldr    %[a], [%[src]], #4\n\t"
            "ldr    %[b], [%[src]], #4\n\t"
            "sxtb16 %[e], %[a]\n\t"
            "sxtb16 %[a], %[a], ror #8\n\t"
            "strd   %[e], %[a], [%[dst]], #16\n\t"
            "sxtb16 %[e], %[b]\n\t"
            "sxtb16 %[b], %[b], ror #8\n\t"
            "strd   %[e], %[b], [%[dst]], #16\n\t"
            "cmp    %[dst], %[tail]\n\t"
            "bne    1b\n\t"
            : [dst] "+&r"(dst), [src] "+&r"(src), [a] "=&r"(a), [b] "=&r"(b), [e] "=&r"(e)
            : [tail] "r"(tail)
            : "cc", "memory");
    }
#else
    for (; dst != tail; dst += 8, src += 8) {           /* two groups per step */
        const int32_t a = ec_read_s8x4(src), b = ec_read_s8x4(src + 4);
        dst[0] = EC_SXTB16(a);
        dst[1] = EC_SXTB16_ROR8(a);
        dst[4] = EC_SXTB16(b);
        dst[5] = EC_SXTB16_ROR8(b);
    }
#endif
    return dst;
}

/* The wide product's rows without the int8 patch (p->wide_filter, C_IN % 4 == 0, dilation.w 1): the
 * patch of the pixel at input (y0, x0) widened straight from the input into one row of the two-row
 * int16 buffer dst (ec_mat_wide_rows' layout: 4 words per 4-deep group, this row's 2 at dst), padded
 * taps as the zero point's pair, the pad groups up to EC_MAT_WIDE_GROUPS zero. */
static void ec_wide_patch(int32_t *dst, const int8_t *in_n, int32_t y0, int32_t x0, const ec_conv_params *p,
                          const ec_dims *in, int32_t k_h, int32_t k_w, int32_t zp2)
{
    const int32_t in_c = in->c, row = k_w * in_c;
    int32_t *const end = dst + 4 * EC_MAT_WIDE_GROUPS(k_h * row);
    if (x0 >= 0 && x0 + k_w <= in->w && y0 >= 0 && y0 + (k_h - 1) * p->dilation.h < in->h) {
        for (int32_t ky = 0; ky < k_h; ky++) {          /* inside the input: k_h contiguous tap rows */
            dst = ec_wide_copy(dst, dst + row, in_n + ((y0 + ky * p->dilation.h) * in->w + x0) * in_c);
        }
        for (; dst != end; dst += 4) {
            dst[0] = dst[1] = 0;
        }
        return;
    }
    for (int32_t ky = 0; ky < k_h; ky++) {
        const int32_t iy = y0 + ky * p->dilation.h;
        int32_t lo = k_w, hi = k_w;
        if (iy >= 0 && iy < in->h) {
            lo = x0 < 0 ? -x0 : 0;
            hi = x0 + k_w > in->w ? in->w - x0 : k_w;
            hi = hi < lo ? lo : hi;
        }
        int32_t *const seg = dst + (lo * in_c);           /* 4 words per 4 inputs */
        int32_t *const tail = dst + (hi * in_c);
        for (; dst != seg; dst += 4) {
            dst[0] = dst[1] = zp2;
        }
        const int8_t *src = hi > lo ? in_n + (iy * in->w + x0 + lo) * in_c : in_n;
        dst = ec_wide_copy(dst, tail, src);
        for (int32_t *const next = dst + (k_w - hi) * in_c; dst != next; dst += 4) {
            dst[0] = dst[1] = zp2;
        }
    }
    for (; dst != end; dst += 4) {
        dst[0] = dst[1] = 0;
    }
}

#endif


ec_status ec_conv2d_im2col_s8(const ec_context *ctx, const ec_conv_params *p, const ec_quant_params *q,
                              const ec_dims *input_dims, const int8_t *input,
                              const ec_dims *filter_dims, const int8_t *filter,
                              const int32_t *effective_bias,
                              const ec_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t depth = k_h * k_w * in_c, depth4 = (depth + 3) & ~3;
    const int32_t pixels = out_h * out_w, ys = p->out_stride ? p->out_stride : out_c;
    const int8_t zero_point = (int8_t)(-p->input_offset);
#if EC_HAS_DSP && !EC_HAS_MVE && EC_MAT_WIDE     /* int16 weight pairs: the widened rows only */
    const int32_t rw = k_h * ((k_w * in_c + 3) & ~3);   /* ec_wide_patch_rp: at most 16 more group MACs */
    const int32_t rowpad = p->wide_filter && (in_c & 3) && p->dilation.w == 1 &&   /* (twin: lower) */
                           (EC_MAT_WIDE_GROUPS(rw) - EC_MAT_WIDE_GROUPS(depth4)) * out_c <= 16;
    const int32_t depthw = rowpad ? rw : depth4;
    const int32_t mat_bytes = p->wide_filter ? EC_MAT_WIDE_SCRATCH_BYTES(2, depthw)
                                             : EC_MAT_SCRATCH_BYTES(2, depth4, out_c);
#else
    const int32_t depthw = depth4, mat_bytes = EC_MAT_SCRATCH_BYTES(2, depth4, out_c);
#endif
    if (p->groups != 1 || filter_dims->c != in_c || ctx == NULL || ctx->buf == NULL ||
        ctx->size < 2 * depthw + mat_bytes) {
        return EC_ARG_ERROR;
    }
    int8_t *const col = (int8_t *)ctx->buf;
    void *const mat_scratch = col + 2 * depthw;
#if EC_HAS_MVE      /* 4 pixels per block, packed patches (the check above covers EC_MVE_PACK_BYTES) */
    {
        const int32_t d16 = (depth4 + 15) & ~15, span = ((k_h - 1) * p->dilation.h * in_w + k_w) * in_c;
        uint16_t *const offs = p->dilation.w == 1 && span <= 65536 && ctx->size >= 6 * d16
                                   ? (uint16_t *)(void *)(col + 4 * d16) : NULL;
        ec_mve_im2col(p, q, input_dims, input, filter_dims, filter, effective_bias, output_dims, output, ys, col,
                      offs);
    }
    return EC_OK;
#endif
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in_n = input + n * in_h * in_w * in_c;
        int32_t oy = 0, ox = 0;
        for (int32_t px = 0; px < pixels; px += 2) {
            const int32_t rows = px + 1 < pixels ? 2 : 1;
#if EC_HAS_DSP && !EC_HAS_MVE && EC_MAT_WIDE
            if (rowpad) {
                for (int32_t r = 0; r < rows; r++) {
                    ec_wide_patch_rp((int32_t *)mat_scratch + 2 * r, 2 * rows, in_n,
                                     (input_dims->n - n) * in_h * in_w * in_c, oy * p->stride.h - p->padding.h,
                                     ox * p->stride.w - p->padding.w, p, input_dims, k_h, k_w, zero_point, col);
                    if (++ox == out_w) {
                        ox = 0;
                        oy++;
                    }
                }
                ec_mat_mult_wide_s8(NULL, rows, (const int32_t *)(const void *)filter, out_c, depthw,
                                    p->wide_filter - 1, p->output_offset, p->activation,
                                    output + (n * pixels + px) * ys, ys, mat_scratch);
                continue;
            }
            if (p->wide_filter && rows == 2 && (in_c & 3) == 0 && p->dilation.w == 1) {
                const int32_t zp2 = (int32_t)(((uint32_t)(uint16_t)zero_point << 16) | (uint16_t)zero_point);
                for (int32_t r = 0; r < 2; r++) {
                    ec_wide_patch((int32_t *)mat_scratch + 2 * r, in_n, oy * p->stride.h - p->padding.h,
                                  ox * p->stride.w - p->padding.w, p, input_dims, k_h, k_w, zp2);
                    if (++ox == out_w) {
                        ox = 0;
                        oy++;
                    }
                }
                ec_mat_mult_wide_s8(NULL, 2, (const int32_t *)(const void *)filter, out_c, depth4,
                                    p->wide_filter - 1, p->output_offset, p->activation,
                                    output + (n * pixels + px) * ys, ys, mat_scratch);
                continue;
            }
#endif
            for (int32_t r = 0; r < rows; r++) {
                const int32_t y0 = oy * p->stride.h - p->padding.h, x0 = ox * p->stride.w - p->padding.w;
                int8_t *dst = col + r * depth4;
                for (int32_t ky = 0; ky < k_h; ky++) {
                    const int32_t iy = y0 + ky * p->dilation.h;
                    if (iy < 0 || iy >= in_h) {
                        ec_put(dst, NULL, zero_point, k_w * in_c);
                    } else if (p->dilation.w == 1) {          /* the row's taps are contiguous */
                        int32_t lo = x0 < 0 ? -x0 : 0, hi = x0 + k_w > in_w ? in_w - x0 : k_w;
                        hi = hi < lo ? lo : hi;
                        if (lo > 0) {
                            ec_put(dst, NULL, zero_point, lo * in_c);
                        }
                        ec_put(dst + lo * in_c, in_n + (iy * in_w + x0 + lo) * in_c, 0, (hi - lo) * in_c);
                        if (hi < k_w) {
                            ec_put(dst + hi * in_c, NULL, zero_point, (k_w - hi) * in_c);
                        }
                    } else {
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t ix = x0 + kx * p->dilation.w;
                            const int8_t *src = ix < 0 || ix >= in_w ? NULL : in_n + (iy * in_w + ix) * in_c;
                            ec_put(dst + kx * in_c, src, zero_point, in_c);
                        }
                    }
                    dst += k_w * in_c;
                }
                if (depth4 != depth) {
                    ec_put(dst, NULL, 0, depth4 - depth);
                }
                if (++ox == out_w) {
                    ox = 0;
                    oy++;
                }
            }
#if EC_HAS_MVE       /* per pixel pair: the call would cost ~5% on Helium cores; inline there */
            ec_mat_product(col, rows, filter, out_c, depth4, 0, effective_bias, q, p->fast_requant,
                           p->output_offset, p->activation, output + (n * pixels + px) * ys, ys, mat_scratch);
#else
#if EC_HAS_DSP && EC_MAT_WIDE
            if (p->wide_filter) {
                ec_mat_mult_wide_s8(col, rows, (const int32_t *)(const void *)filter, out_c, depth4,
                                    p->wide_filter - 1, p->output_offset, p->activation,
                                    output + (n * pixels + px) * ys, ys, mat_scratch);
                continue;
            }
#endif
            ec_mat_mult_s8(col, rows, filter, out_c, depth4, 0, effective_bias, q, p->fast_requant,
                           p->output_offset, p->activation, output + (n * pixels + px) * ys, ys, mat_scratch);
#endif
        }
    }
    return EC_OK;
}
