/* Conv2D with one group as a matrix product: for each pair of output pixels (raster order) the two
 * input patches [KH, KW, C_IN] are copied into the scratch buffer, padded taps holding the input
 * zero point, and ec_mat_mult_s8 multiplies them by the filter with input_offset 0 and the
 * effective bias (bias + input_offset * sum(w), folded at compile time).  A padded tap then adds
 * zero_point * w, which the folded term cancels, so the int32 sums equal ec_conv2d_s8's.
 * The filter is re-laid out at compile time (dense_variants.py): [C_OUT, DEPTH4], each row the
 * KH * KW * C_IN weights followed by zeros up to a multiple of 4, so the product has no depth tail;
 * the patches get zeros there too.
 * Scratch (ctx, exact size from dense_variants.im2col_scratch): the two int8 patches (2 * DEPTH4
 * bytes), then EC_MAT_SCRATCH_BYTES(2, DEPTH4, C_OUT) for the product.
 * p->wide_filter (DSP cores, --optimize speed, dilation.w 1 only): the filter is ec_matmul.h's wide layout
 * with each tap row padded to a multiple of 4 (C_IN % 4 != 0), DEPTH4 = KH * that; the pixels' int16
 * rows are widened straight from the input (ec_wide_patch) into EC_MAT_WIDE_SCRATCH_BYTES(2, DEPTH4)
 * after 2 * DEPTH4 bytes of tap-row assembly space; a model with int16 weights in every product layer
 * has no int8 patch code (EC_MAT_INT8_CODE).
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
/* dst[0], dst[1] of each group (4 words: one row of ec_mat_wide_rows' two) up to tail = the SXTB16
 * lanes of the next input word of src. */
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

/* The wide product's row of the output pixel whose window starts at input (y0, x0) (p->wide_filter,
 * dilation.w 1), widened without an int8 patch into dst (one row of ec_mat_wide_rows' two-row layout:
 * 4 words per group, this row's 2 at dst): per tap row its KW * C_IN inputs then zeros up to rw, a
 * multiple of 4 (KW * C_IN when C_IN % 4 == 0, else lower padded the filter's tap rows the same way),
 * read straight from the input when the tap row is inside it (the up to 3 bytes past it, still inside
 * the input's avail bytes, meet zero weights), else assembled in tmp (padded taps the zero point); the
 * pad groups up to end zero. */
static void ec_wide_patch(int32_t *dst, int32_t *const end, const int8_t *in_n, int32_t avail, int32_t y0,
                          int32_t x0, const ec_conv_params *p, const ec_dims *in, int32_t k_h, int32_t k_w,
                          int32_t rw, int8_t zp, int8_t *tmp)
{
    const int32_t in_c = in->c, row = k_w * in_c;
    const int32_t lo = x0 < 0 ? -x0 : 0, hi0 = x0 + k_w > in->w ? in->w - x0 : k_w, hi = hi0 < lo ? lo : hi0;
    const int32_t y1 = y0 + (k_h - 1) * p->dilation.h;
    if (lo == 0 && hi == k_w && y0 >= 0 && y1 < in->h && (y1 * in->w + x0) * in_c + rw <= avail) {
        const int8_t *src = in_n + (y0 * in->w + x0) * in_c;          /* inside: k_h runs of rw bytes */
        for (int32_t ky = 0; ky < k_h; ky++, src += p->dilation.h * in->w * in_c) {
            dst = ec_wide_copy(dst, dst + rw, src);
        }
    } else {
        const int32_t zz = (int32_t)(((uint32_t)(uint16_t)zp << 16) | (uint16_t)zp);  /* zp, zp */
        for (int32_t ky = 0; ky < k_h; ky++) {
            const int32_t iy = y0 + ky * p->dilation.h;
            if (iy < 0 || iy >= in->h) {                        /* a padding row: zero points */
                for (int32_t *const tail = dst + rw; dst != tail; dst += 4) {
                    dst[0] = dst[1] = zz;
                }
                continue;
            }
            const int8_t *src = in_n + (iy * in->w + x0 + lo) * in_c;
            if (lo != 0 || hi != k_w || (iy * in->w + x0) * in_c + rw > avail) {
                const int32_t a = lo * in_c, b = hi * in_c;     /* tmp's bytes past row meet zero */
                ec_put(tmp, NULL, zp, a);                       /* weights */
                ec_put(tmp + a, src, 0, b - a);
                ec_put(tmp + b, NULL, zp, row - b);
                src = tmp;
            }
            dst = ec_wide_copy(dst, dst + rw, src);
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
#if EC_HAS_DSP && !EC_HAS_MVE && EC_MAT_WIDE     /* int16 weight pairs: rows widened from the input */
    const int32_t rw = (k_w * in_c + 3) & ~3, depthw = p->wide_filter ? k_h * rw : depth4;
    const int32_t groups = EC_MAT_WIDE_GROUPS(depthw), avail = input_dims->n * in_h * in_w * in_c;
    const int32_t mat_bytes = p->wide_filter ? EC_MAT_WIDE_SCRATCH_BYTES(2, depthw)
                                             : EC_MAT_SCRATCH_BYTES(2, depth4, out_c);
#else
    const int32_t depthw = depth4, mat_bytes = EC_MAT_SCRATCH_BYTES(2, depth4, out_c);
#endif
    if (p->groups != 1 || filter_dims->c != in_c || ctx == NULL || ctx->buf == NULL ||
        ctx->size < 2 * depthw + mat_bytes || (p->wide_filter && p->dilation.w != 1)) {
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
            if (p->wide_filter) {     /* the rows widened straight from the input */
                int32_t *const xs = (int32_t *)mat_scratch;
                for (int32_t r = 0; r < rows; r++) {
                    ec_wide_patch(xs + 2 * r, xs + 2 * r + 4 * groups, in_n, avail - n * in_h * in_w * in_c,
                                  oy * p->stride.h - p->padding.h, ox * p->stride.w - p->padding.w, p, input_dims,
                                  k_h, k_w, rw, zero_point, col);
                    if (++ox == out_w) {
                        ox = 0;
                        oy++;
                    }
                }
                for (int32_t g = 0; rows == 1 && g < groups; g++) {   /* the odd last pixel: one row's */
                    xs[2 * g] = xs[4 * g];                            /* layout (2 words per group) */
                    xs[2 * g + 1] = xs[4 * g + 1];
                }
                ec_mat_mult_wide_s8(NULL, rows, (const int32_t *)(const void *)filter, out_c, depthw,
                                    p->wide_filter - 1, p->output_offset, p->activation,
                                    output + (n * pixels + px) * ys, ys, mat_scratch);
                continue;
            }
#endif
#if EC_MAT_INT8_CODE       /* the int8 patches and weights */
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
            ec_mat_mult_s8(col, rows, filter, out_c, depth4, 0, effective_bias, q, p->fast_requant,
                           p->output_offset, p->activation, output + (n * pixels + px) * ys, ys, mat_scratch);
#else
            (void)q, (void)effective_bias;
            return EC_ARG_ERROR;      /* int8 weights in a model pinned to int16 ones (EC_MAT_INT8 0) */
#endif
        }
    }
    return EC_OK;
}
