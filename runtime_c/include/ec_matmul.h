/* The int8 matrix product shared by the fully connected, pointwise and im2col conv kernels (inline,
 * so each kernel file stays self-contained): output[r][o] = requant(bias[o] + sum_i (x[r][i] +
 * offset) * w[o][i]), x [rows, depth] and w [out_ch, depth] row-major int8.  offset = 0 when lower
 * folded input_offset * sum(w) into the bias at compile time (every specialised variant).
 *
 * Paths (the int32 sums are the same on all of them, so the outputs are bit-identical):
 *  - EC_HAS_MVE (Helium, M55): one row x 4 output channels; 16 int8 lanes per VLDRB, VMLADAVA
 *    dot products into scalar accumulators, the depth tail with VCTP8-predicated loads; the 4
 *    outputs requantized as one vector (ec_mve.h).  offset != 0 runs the DSP path.
 *  - EC_HAS_DSP (M4, M7, M33): rows in pairs; the pair is widened once into the scratch buffer as
 *    int16 in the SXTB16 order, interleaved per 4 inputs ([x0 0,2][x0 1,3][x1 0,2][x1 1,3], the
 *    offset added there), so each 4-deep step of a 2 rows x 2 channels block is one 4-word load,
 *    two weight words, 4 SXTB16 and 8 SMLAD (inline asm on GCC targets); an odd last row runs 1
 *    row x 4 channels.  The int32 sums go to the scratch and each output row is requantized in one
 *    loop (ec_requant_fast when lower proved its bounds: rq); the depth % 4 tail is scalar from the
 *    int8 rows.  Needs EC_MAT_SCRATCH_BYTES(rows, depth, out_ch).
 *  - portable: 2 rows x 2 channels of scalar MACs.
 * An odd last channel is computed as a duplicate of its neighbour and not stored.
 * OVERLAP contract: output rows are written in order, at most 2 rows (pixels) per block, and a
 * block's input rows are read (into the scratch or the accumulators) before its outputs are written,
 * so an output may overlap its dead input as plan_memory allows (<= EC_PIXELS_IN_FLIGHT pixels). */
#ifndef EC_MATMUL_H
#define EC_MATMUL_H

#include <stddef.h>
#include "ec_types.h"
#include "ec_fixedpoint.h"
#if EC_HAS_DSP
#include "ec_dsp.h"
#endif
#if EC_HAS_MVE
#include "ec_mve.h"
#endif

/* Scratch bytes ec_mat_mult_s8 uses: the DSP path's int16 rows and int32 accumulators of 1 or 2
 * rows (twin: dense_variants.mat_scratch). */
#define EC_MAT_SCRATCH_BYTES(rows, depth, out_ch) (((rows) > 1 ? 2 : 1) * (2 * ((depth) & ~3) + 4 * (out_ch)))

/* ec_requant_fast's k for right shift e: 2^(e-1) + (output_offset << e) (in range: lower checked). */
EC_INLINE int32_t ec_mat_k(int32_t e, int32_t output_offset)
{
    return (int32_t)(((uint32_t)1 << (e - 1)) + ((uint32_t)output_offset << e));
}

/* rq: 1 when lower proved ec_requant_fast exact for every channel (right shift e = -shift, the
 * output offset inside k), else 0: the generic requantization. */
EC_INLINE void ec_mat_store(int32_t acc, int32_t oc, const ec_quant_params *q, int32_t rq,
                            int32_t output_offset, ec_activation act, int8_t *out_row)
{
    const int32_t m = q->is_per_channel ? oc : 0;
    const int32_t e = -q->shift[m];
    const int32_t v = rq ? ec_requant_fast(2 * acc, q->multiplier[m], e, ec_mat_k(e, output_offset))
                         : ec_multiply_by_quantized_multiplier(acc, q->multiplier[m], q->shift[m]) + output_offset;
    out_row[oc] = ec_sat_s8(v, act.min, act.max);
}

#if EC_HAS_DSP
/* Rows x0 (and x1 unless NULL) widened to int16 pairs plus offset, 4 inputs per 2 (4) words. */
EC_INLINE void ec_mat_widen(const int8_t *x0, const int8_t *x1, int32_t groups, int32_t offset, int32_t *dst)
{
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset);
    for (int32_t g = 0; g < groups; g++) {
        const int32_t a = ec_read_s8x4(x0 + 4 * g);
        dst[0] = EC_SADD16(EC_SXTB16(a), off2);
        dst[1] = EC_SADD16(EC_SXTB16_ROR8(a), off2);
        dst += 2;
        if (x1 != NULL) {
            const int32_t b = ec_read_s8x4(x1 + 4 * g);
            dst[0] = EC_SADD16(EC_SXTB16(b), off2);
            dst[1] = EC_SADD16(EC_SXTB16_ROR8(b), off2);
            dst += 2;
        }
    }
}

/* acc[2 * row + channel] += 4 * groups deep dot products of the two widened rows xs with the
 * channels w0 and w0 + w_stride (w_stride 0: a duplicate channel).  On the target the loop is
 * hand-scheduled (18 instructions per 16 MACs; the compiler spills with 14 live values); the C
 * loop (host emulation, other compilers) is the same arithmetic.  Every operand is early-clobber:
 * GCC may otherwise give an in/out operand the register of an input holding the same value. */
EC_INLINE void ec_mat_dsp_2x2(const int32_t *EC_RESTRICT xs, const int8_t *EC_RESTRICT w0, int32_t w_stride,
                              int32_t groups, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int32_t *const end = xs + 4 * groups;
#if defined(__GNUC__) && !defined(EC_EMULATE_DSP) && defined(__ARM_FEATURE_DSP)
    if (groups > 0) {
        int32_t x0e, x0o, x1e, x1o, wa, wt;
        const int32_t stride = w_stride - 4;
        __asm__ volatile(
            "1:\n\t"
            "ldrd   %[x1e], %[x1o], [%[xs], #8]\n\t"
            "ldrd   %[x0e], %[x0o], [%[xs]], #16\n\t"
            "ldr    %[wa], [%[w]], #4\n\t"
            "sxtb16 %[wt], %[wa]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[a00], %[x0e], %[wt], %[a00]\n\t"
            "smlad  %[a00], %[x0o], %[wa], %[a00]\n\t"
            "smlad  %[a10], %[x1e], %[wt], %[a10]\n\t"
            "smlad  %[a10], %[x1o], %[wa], %[a10]\n\t"
            "ldr    %[wa], [%[w], %[stride]]\n\t"
            "sxtb16 %[wt], %[wa]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[a01], %[x0e], %[wt], %[a01]\n\t"
            "smlad  %[a01], %[x0o], %[wa], %[a01]\n\t"
            "smlad  %[a11], %[x1e], %[wt], %[a11]\n\t"
            "smlad  %[a11], %[x1o], %[wa], %[a11]\n\t"
            "cmp    %[xs], %[end]\n\t"
            "bne    1b\n\t"
            : [a00] "+&r"(a00), [a01] "+&r"(a01), [a10] "+&r"(a10), [a11] "+&r"(a11), [xs] "+&r"(xs),
              [w] "+&r"(w0),
              [x0e] "=&r"(x0e), [x0o] "=&r"(x0o), [x1e] "=&r"(x1e), [x1o] "=&r"(x1o), [wa] "=&r"(wa),
              [wt] "=&r"(wt)
            : [stride] "r"(stride), [end] "r"(end)
            : "cc", "memory");
    }
#else
    while (xs != end) {
        const int32_t x0e = xs[0], x0o = xs[1], x1e = xs[2], x1o = xs[3];
        const int32_t wa = ec_read_s8x4(w0), wb = ec_read_s8x4(w0 + w_stride);
        int32_t we = EC_SXTB16(wa), wo = EC_SXTB16_ROR8(wa);
        xs += 4;
        w0 += 4;
        a00 = EC_SMLAD(x0e, we, a00);
        a00 = EC_SMLAD(x0o, wo, a00);
        a10 = EC_SMLAD(x1e, we, a10);
        a10 = EC_SMLAD(x1o, wo, a10);
        we = EC_SXTB16(wb);
        wo = EC_SXTB16_ROR8(wb);
        a01 = EC_SMLAD(x0e, we, a01);
        a01 = EC_SMLAD(x0o, wo, a01);
        a11 = EC_SMLAD(x1e, we, a11);
        a11 = EC_SMLAD(x1o, wo, a11);
    }
#endif
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* acc[k] += 4 * groups deep dot products of one widened row xs with the channels w0 + k * stride
 * (stride 0: duplicates); hand-scheduled on the target like ec_mat_dsp_2x2 (24 per 16 MACs). */
EC_INLINE void ec_mat_dsp_1x4(const int32_t *EC_RESTRICT xs, const int8_t *w0, int32_t stride, int32_t groups,
                              int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int32_t *const end = xs + 2 * groups;
    const int8_t *w2 = w0 + 2 * stride;
#if defined(__GNUC__) && !defined(EC_EMULATE_DSP) && defined(__ARM_FEATURE_DSP)
    if (groups > 0) {
        int32_t xe, xo, wa, wt;
        __asm__ volatile(
            "1:\n\t"
            "ldrd   %[xe], %[xo], [%[xs]], #8\n\t"
            "ldr    %[wa], [%[w0], %[s]]\n\t"
            "sxtb16 %[wt], %[wa]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[a1], %[xe], %[wt], %[a1]\n\t"
            "smlad  %[a1], %[xo], %[wa], %[a1]\n\t"
            "ldr    %[wa], [%[w0]], #4\n\t"
            "sxtb16 %[wt], %[wa]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[a0], %[xe], %[wt], %[a0]\n\t"
            "smlad  %[a0], %[xo], %[wa], %[a0]\n\t"
            "ldr    %[wa], [%[w2], %[s]]\n\t"
            "sxtb16 %[wt], %[wa]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[a3], %[xe], %[wt], %[a3]\n\t"
            "smlad  %[a3], %[xo], %[wa], %[a3]\n\t"
            "ldr    %[wa], [%[w2]], #4\n\t"
            "sxtb16 %[wt], %[wa]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[a2], %[xe], %[wt], %[a2]\n\t"
            "smlad  %[a2], %[xo], %[wa], %[a2]\n\t"
            "ldr    %[wt], %[end]\n\t"
            "cmp    %[xs], %[wt]\n\t"
            "bne    1b\n\t"
            : [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), [xs] "+&r"(xs), [w0] "+&r"(w0),
              [w2] "+&r"(w2), [xe] "=&r"(xe), [xo] "=&r"(xo), [wa] "=&r"(wa), [wt] "=&r"(wt)
            : [s] "r"(stride), [end] "m"(end)
            : "cc", "memory");
    }
#else
    while (xs != end) {
        const int32_t xe = xs[0], xo = xs[1];
        const int32_t wa = ec_read_s8x4(w0), wb = ec_read_s8x4(w0 + stride);
        const int32_t wc = ec_read_s8x4(w2), wd = ec_read_s8x4(w2 + stride);
        xs += 2;
        a0 = ec_smlad_s8x4(xe, xo, wa, a0);
        a1 = ec_smlad_s8x4(xe, xo, wb, a1);
        a2 = ec_smlad_s8x4(xe, xo, wc, a2);
        a3 = ec_smlad_s8x4(xe, xo, wd, a3);
        w0 += 4;
        w2 += 4;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* y[o] = requant(acc[o]) for one output row (the requantization kept out of the MAC loops'
 * register pressure). */
EC_INLINE void ec_mat_requant_row(const int32_t *acc, int32_t n, const ec_quant_params *q, int32_t rq,
                                  int32_t output_offset, ec_activation act, int8_t *y)
{
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t step = q->is_per_channel ? 1 : 0;
    if (rq) {
        for (int32_t o = 0; o < n; o++) {
            const int32_t e = -*shift;
            y[o] = ec_sat_s8(ec_requant_fast(2 * acc[o], *mult, e, ec_mat_k(e, output_offset)), act.min, act.max);
            mult += step;
            shift += step;
        }
        return;
    }
    for (int32_t o = 0; o < n; o++) {
        const int32_t v = ec_multiply_by_quantized_multiplier(acc[o], *mult, *shift);
        y[o] = ec_sat_s8(v + output_offset, act.min, act.max);
        mult += step;
        shift += step;
    }
}

/* scratch: the widened rows (4 * d4 bytes), then the int32 accumulators of the 2 rows (8 * out_ch). */
EC_INLINE void ec_mat_mult_dsp(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch,
                               int32_t depth, int32_t off, const int32_t *bias, const ec_quant_params *q,
                               int32_t rq, int32_t output_offset, ec_activation act, int8_t *output, int32_t *xs)
{
    const int32_t groups = depth >> 2, d4 = depth & ~3;
    int32_t *const acc0 = xs + (rows > 1 ? d4 : d4 / 2);   /* after 4 * d4 (2 * d4) bytes */
    int32_t r = 0;
    for (; r + 1 < rows; r += 2) {
        const int8_t *x0 = input + r * depth, *x1 = x0 + depth;
        int32_t *const acc1 = acc0 + out_ch;
        ec_mat_widen(x0, x1, groups, off, xs);
        for (int32_t o = 0; o < out_ch; o += 2) {
            const int32_t o1 = o + 1 < out_ch ? o + 1 : o;
            const int8_t *w0 = filter + o * depth;
            int32_t acc[4];
            acc[0] = acc[2] = bias ? bias[o] : 0;
            acc[1] = acc[3] = bias ? bias[o1] : 0;
            ec_mat_dsp_2x2(xs, w0, (o1 - o) * depth, groups, acc);
            acc0[o] = acc[0];
            acc1[o] = acc[2];
            acc0[o1] = acc[1];        /* o1 == o: the same value again */
            acc1[o1] = acc[3];
        }
        for (int32_t i = d4; i < depth; i++) {
            const int32_t xa = x0[i] + off, xb = x1[i] + off;
            for (int32_t o = 0; o < out_ch; o++) {
                const int32_t wv = filter[o * depth + i];
                acc0[o] += xa * wv;
                acc1[o] += xb * wv;
            }
        }
        ec_mat_requant_row(acc0, out_ch, q, rq, output_offset, act, output + r * out_ch);
        ec_mat_requant_row(acc1, out_ch, q, rq, output_offset, act, output + (r + 1) * out_ch);
    }
    if (r < rows) {                   /* one row (rows == 1, or the odd last): 4 channels at a time */
        const int8_t *x0 = input + r * depth;
        ec_mat_widen(x0, NULL, groups, off, xs);
        int32_t o = 0;
        for (; o + 3 < out_ch; o += 4) {
            int32_t acc[4] = {0, 0, 0, 0};
            if (bias) {
                acc[0] = bias[o];
                acc[1] = bias[o + 1];
                acc[2] = bias[o + 2];
                acc[3] = bias[o + 3];
            }
            ec_mat_dsp_1x4(xs, filter + o * depth, depth, groups, acc);
            acc0[o] = acc[0];
            acc0[o + 1] = acc[1];
            acc0[o + 2] = acc[2];
            acc0[o + 3] = acc[3];
        }
        for (; o < out_ch; o++) {         /* the last out_ch % 4 channels, each as 4 duplicates */
            int32_t acc[4] = {0, 0, 0, 0};
            acc[0] = bias ? bias[o] : 0;
            ec_mat_dsp_1x4(xs, filter + o * depth, 0, groups, acc);
            acc0[o] = acc[0];
        }
        for (int32_t i = d4; i < depth; i++) {
            const int32_t xa = x0[i] + off;
            for (int32_t o = 0; o < out_ch; o++) {
                acc0[o] += xa * filter[o * depth + i];
            }
        }
        ec_mat_requant_row(acc0, out_ch, q, rq, output_offset, act, output + r * out_ch);
    }
}
#endif

#if EC_HAS_DSP
/* One row without scratch (lower's memory-saving choice, params scratch_bytes = 0): each input word
 * is unpacked once per 4 output channels (SXTB16 even/odd lanes, offset added by SADD16) and each
 * channel's sum is requantized as soon as it is complete, so nothing is stored between channels.
 * With the offset folded (off == 0) the loop is hand-scheduled: 26 instructions per 16 MACs
 * against the widened product's 24 (which also pays for the widening).  The same sums. */
EC_INLINE void ec_mat_row_direct(const int8_t *x, const int8_t *filter, int32_t out_ch, int32_t depth,
                                 int32_t off, const int32_t *bias, const ec_quant_params *q, int32_t rq,
                                 int32_t output_offset, ec_activation act, int8_t *output)
{
    const int32_t groups = depth >> 2, d4 = groups << 2;
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)off << 16) | (uint16_t)off);
    for (int32_t o = 0; o < out_ch; o += 4) {          /* channels past the end: duplicates, not stored */
        const int32_t o1 = o + 1 < out_ch ? o + 1 : o, o2 = o + 2 < out_ch ? o + 2 : o1;
        const int32_t o3 = o + 3 < out_ch ? o + 3 : o2;
        const int8_t *EC_RESTRICT w0 = filter + o * depth, *EC_RESTRICT w1 = filter + o1 * depth;
        const int8_t *EC_RESTRICT w2 = filter + o2 * depth, *EC_RESTRICT w3 = filter + o3 * depth;
        int32_t a0 = bias ? bias[o] : 0, a1 = bias ? bias[o1] : 0;
        int32_t a2 = bias ? bias[o2] : 0, a3 = bias ? bias[o3] : 0;
        int32_t g = 0;
#if defined(__GNUC__) && !defined(EC_EMULATE_DSP) && defined(__ARM_FEATURE_DSP)
        if (off == 0 && groups > 0 && o3 - o2 == o2 - o1 && o2 - o1 == o1 - o) {
            /* offset folded into the bias (lower): 26 instructions per 16 MACs, hand-scheduled */
            const int8_t *xp = x, *p0 = w0, *p2 = w2;
            const int8_t *const end = x + 4 * groups;
            const int32_t s = (int32_t)(w1 - w0);
            int32_t xe, xo, wa, wt;
            __asm__ volatile(
                "1:\n\t"
                "ldr    %[xe], [%[x]], #4\n\t"
                "sxtb16 %[xo], %[xe], ror #8\n\t"
                "sxtb16 %[xe], %[xe]\n\t"
                "ldr    %[wa], [%[p0], %[s]]\n\t"
                "sxtb16 %[wt], %[wa]\n\t"
                "sxtb16 %[wa], %[wa], ror #8\n\t"
                "smlad  %[a1], %[xe], %[wt], %[a1]\n\t"
                "smlad  %[a1], %[xo], %[wa], %[a1]\n\t"
                "ldr    %[wa], [%[p0]], #4\n\t"
                "sxtb16 %[wt], %[wa]\n\t"
                "sxtb16 %[wa], %[wa], ror #8\n\t"
                "smlad  %[a0], %[xe], %[wt], %[a0]\n\t"
                "smlad  %[a0], %[xo], %[wa], %[a0]\n\t"
                "ldr    %[wa], [%[p2], %[s]]\n\t"
                "sxtb16 %[wt], %[wa]\n\t"
                "sxtb16 %[wa], %[wa], ror #8\n\t"
                "smlad  %[a3], %[xe], %[wt], %[a3]\n\t"
                "smlad  %[a3], %[xo], %[wa], %[a3]\n\t"
                "ldr    %[wa], [%[p2]], #4\n\t"
                "sxtb16 %[wt], %[wa]\n\t"
                "sxtb16 %[wa], %[wa], ror #8\n\t"
                "smlad  %[a2], %[xe], %[wt], %[a2]\n\t"
                "smlad  %[a2], %[xo], %[wa], %[a2]\n\t"
                "ldr    %[wt], %[end]\n\t"
                "cmp    %[x], %[wt]\n\t"
                "bne    1b\n\t"
                : [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), [x] "+&r"(xp), [p0] "+&r"(p0),
                  [p2] "+&r"(p2), [xe] "=&r"(xe), [xo] "=&r"(xo), [wa] "=&r"(wa), [wt] "=&r"(wt)
                : [s] "r"(s), [end] "m"(end)
                : "cc", "memory");
            g = 4 * groups;
        }
#endif
        for (; g < 4 * groups; g += 4) {
            const int32_t xv = ec_read_s8x4(x + g);
            const int32_t xe = EC_SADD16(EC_SXTB16(xv), off2), xo = EC_SADD16(EC_SXTB16_ROR8(xv), off2);
            a0 = ec_smlad_s8x4(xe, xo, ec_read_s8x4(w0 + g), a0);
            a1 = ec_smlad_s8x4(xe, xo, ec_read_s8x4(w1 + g), a1);
            a2 = ec_smlad_s8x4(xe, xo, ec_read_s8x4(w2 + g), a2);
            a3 = ec_smlad_s8x4(xe, xo, ec_read_s8x4(w3 + g), a3);
        }
        for (int32_t i = d4; i < depth; i++) {
            const int32_t xi = x[i] + off;
            a0 += xi * w0[i];
            a1 += xi * w1[i];
            a2 += xi * w2[i];
            a3 += xi * w3[i];
        }
        const int32_t acc[4] = {a0, a1, a2, a3};
        ec_quant_params qo = *q;              /* the block's channels */
        if (q->is_per_channel) {
            qo.multiplier += o;
            qo.shift += o;
        }
        ec_mat_requant_row(acc, out_ch - o < 4 ? out_ch - o : 4, &qo, rq, output_offset, act, output + o);
    }
}
#endif

EC_INLINE void ec_mat_mult_portable(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch,
                                    int32_t depth, int32_t off, const int32_t *bias, const ec_quant_params *q,
                                    int32_t rq, int32_t output_offset, ec_activation act, int8_t *output)
{
    for (int32_t r = 0; r < rows; r += 2) {
        const int32_t r1 = r + 1 < rows ? r + 1 : r;
        const int8_t *EC_RESTRICT x0 = input + r * depth;
        const int8_t *EC_RESTRICT x1 = input + r1 * depth;
        for (int32_t o = 0; o < out_ch; o += 2) {
            const int32_t o1 = o + 1 < out_ch ? o + 1 : o;
            const int8_t *EC_RESTRICT w0 = filter + o * depth;
            const int8_t *EC_RESTRICT w1 = filter + o1 * depth;
            int32_t acc[4];       /* [row][channel]: 00, 01, 10, 11 */
            acc[0] = acc[2] = bias ? bias[o] : 0;
            acc[1] = acc[3] = bias ? bias[o1] : 0;
            for (int32_t i = 0; i < depth; i++) {
                const int32_t xa = x0[i] + off, xb = x1[i] + off;
                const int32_t wa = w0[i], wb = w1[i];
                acc[0] += xa * wa;
                acc[1] += xa * wb;
                acc[2] += xb * wa;
                acc[3] += xb * wb;
            }
            ec_mat_store(acc[0], o, q, rq, output_offset, act, output + r * out_ch);
            if (o1 != o) {
                ec_mat_store(acc[1], o1, q, rq, output_offset, act, output + r * out_ch);
            }
            if (r1 != r) {          /* skip the duplicates of an odd last channel or row */
                ec_mat_store(acc[2], o, q, rq, output_offset, act, output + r1 * out_ch);
                if (o1 != o) {
                    ec_mat_store(acc[3], o1, q, rq, output_offset, act, output + r1 * out_ch);
                }
            }
        }
    }
}

/* The product: Helium, DSP or portable path; rq: see ec_mat_store; scratch holds at least
 * EC_MAT_SCRATCH_BYTES(rows, depth, out_ch) bytes, 4-byte aligned, or is NULL when rows == 1 (the
 * slower scratch-free row, EC_MAT_ROW_DIRECT). */
EC_INLINE void ec_mat_product(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch, int32_t depth,
                              int32_t off, const int32_t *bias, const ec_quant_params *q, int32_t rq,
                              int32_t output_offset, ec_activation act, int8_t *output, void *scratch)
{
#if EC_HAS_MVE
    if (off == 0) {
        (void)rq;
        (void)scratch;
        ec_mve_mat_mult_s8(input, rows, filter, out_ch, depth, bias, q, output_offset, act, output);
        return;
    }
#endif
#if EC_HAS_DSP
#if EC_MAT_ROW_DIRECT
    if (scratch == NULL) {            /* one row, no scratch: see ec_mat_row_direct */
        ec_mat_row_direct(input, filter, out_ch, depth, off, bias, q, rq, output_offset, act, output);
        return;
    }
#endif
    ec_mat_mult_dsp(input, rows, filter, out_ch, depth, off, bias, q, rq, output_offset, act, output,
                    (int32_t *)scratch);
#else
    (void)scratch;
    ec_mat_mult_portable(input, rows, filter, out_ch, depth, off, bias, q, rq, output_offset, act, output);
#endif
}

/* ec_mat_product compiled once (runtime_c/src/ec_mat_mult_s8.c): the kernels call this copy to keep
 * one in flash; a kernel in a hot loop on Helium cores may inline ec_mat_product instead. */
void ec_mat_mult_s8(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch, int32_t depth,
                    int32_t off, const int32_t *bias, const ec_quant_params *q, int32_t rq, int32_t output_offset,
                    ec_activation act, int8_t *output, void *scratch);

#endif /* EC_MATMUL_H */
