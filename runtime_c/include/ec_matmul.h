/* The int8 matrix product shared by the fully connected, pointwise and im2col conv kernels (inline,
 * so each kernel file stays self-contained): output[r][o] = requant(bias[o] + sum_i (x[r][i] +
 * offset) * w[o][i]), x [rows, depth] and w [out_ch, depth] row-major int8.  offset = 0 when lower
 * folded input_offset * sum(w) into the bias at compile time (every specialised variant).
 *
 * Paths (the int32 sums are the same on all of them, so the outputs are bit-identical):
 *  - EC_HAS_MVE (Helium, M55; ec_mve.h): 2 rows or more in blocks of 4 rows (pixels), packed
 *    into the scratch with their 16-byte chunks interleaved; per output channel one weight load
 *    and 4 VMLADAVA per 16 deep (the depth tail: a VCTP8-predicated weight load), the 4 sums of
 *    the channel requantized as one vector with its scalars and stored with a stride of out_ch
 *    (hand-scheduled loop, double rounding; C with single rounding or no bias).  One row: 4
 *    channels per block.  offset != 0 runs the DSP path.
 *  - EC_HAS_DSP (M4, M7, M33): rows in pairs; the pair is widened once into the scratch buffer as
 *    int16 in the SXTB16 order, interleaved per 4 inputs ([x0 0,2][x0 1,3][x1 0,2][x1 1,3], the
 *    offset added there), so each 4-deep step of a 2 rows x 2 channels block is one 4-word load,
 *    two weight words, 4 SXTB16 and 8 SMLAD (inline asm on GCC targets); an odd last row runs 1
 *    row x 4 channels.  The int32 sums go to the scratch and each output row is requantized in one
 *    loop (ec_requant_fast when lower proved its bounds: rq); the depth % 4 tail is scalar from the
 *    int8 rows.  Needs EC_MAT_SCRATCH_BYTES(rows, depth, out_ch).
 *  - EC_HAS_DSP without Helium, weights widened at compile time (--optimize speed, EC_MAT_WIDE):
 *    ec_mat_mult_wide_s8 below, 24 instructions per 32 MACs (2 rows, requantization with a fast
 *    k and the full int8 range: one inline-assembly loop over the channel pairs).
 *  - portable: 2 rows x 2 channels of scalar MACs.
 * An odd last channel is computed as a duplicate of its neighbour and not stored.
 * OVERLAP contract: output rows are written in order, at most 2 rows (pixels) per block (Helium:
 * 4), and a block's input rows are read (into the scratch or the accumulators) before its outputs
 * are written, so an output may overlap its dead input as plan_memory allows (<=
 * EC_PIXELS_IN_FLIGHT pixels). */
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

/* EC_MAT_INT8_CODE: the int8-weight product is compiled: everywhere except on DSP cores without
 * Helium in a model whose every product layer has int16 weights (ec_config.h's EC_MAT_INT8 0). */
#define EC_MAT_INT8_CODE (EC_MAT_INT8 || !(EC_HAS_DSP && !EC_HAS_MVE && EC_MAT_WIDE))

/* Scratch bytes ec_mat_mult_s8 uses: the DSP path's int16 rows and int32 accumulators of 1 or 2
 * rows; 2 rows or more at least the Helium path's packed block of 4 rows, 4 * depth rounded up to
 * 16 (twin: dense_variants.mat_scratch). */
#define EC_MAT_SCRATCH_DSP(rows, depth, out_ch) (((rows) > 1 ? 2 : 1) * (2 * ((depth) & ~3) + 4 * (out_ch)))
#define EC_MAT_SCRATCH_BYTES(rows, depth, out_ch)                                                          \
    ((rows) > 1 && EC_MAT_SCRATCH_DSP(rows, depth, out_ch) < 4 * (((depth) + 15) & ~15)                   \
         ? 4 * (((depth) + 15) & ~15) : EC_MAT_SCRATCH_DSP(rows, depth, out_ch))

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
#if EC_ASM && defined(__ARM_FEATURE_DSP)
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

/* One 4-deep step of 1 row x 4 channels in the assembly loops below: the int16 pairs xe, xo of the
 * row times the int8 words at P0 + s, P0 (post-increment), P2 + s, P2 (post-increment) into a1, a0,
 * a3, a2 (P0, P2: the operand names of the two channel-pair pointers). */
#define EC_MAT_1X4_STEP(P0, P2)                                                                    \
    "ldr    %[wa], [%[" P0 "], %[s]]\n\t"                                                            \
    "sxtb16 %[wt], %[wa]\n\tsxtb16 %[wa], %[wa], ror #8\n\t"                                        \
    "smlad  %[a1], %[xe], %[wt], %[a1]\n\tsmlad  %[a1], %[xo], %[wa], %[a1]\n\t"                    \
    "ldr    %[wa], [%[" P0 "]], #4\n\t"                                                              \
    "sxtb16 %[wt], %[wa]\n\tsxtb16 %[wa], %[wa], ror #8\n\t"                                        \
    "smlad  %[a0], %[xe], %[wt], %[a0]\n\tsmlad  %[a0], %[xo], %[wa], %[a0]\n\t"                    \
    "ldr    %[wa], [%[" P2 "], %[s]]\n\t"                                                            \
    "sxtb16 %[wt], %[wa]\n\tsxtb16 %[wa], %[wa], ror #8\n\t"                                        \
    "smlad  %[a3], %[xe], %[wt], %[a3]\n\tsmlad  %[a3], %[xo], %[wa], %[a3]\n\t"                    \
    "ldr    %[wa], [%[" P2 "]], #4\n\t"                                                              \
    "sxtb16 %[wt], %[wa]\n\tsxtb16 %[wa], %[wa], ror #8\n\t"                                        \
    "smlad  %[a2], %[xe], %[wt], %[a2]\n\tsmlad  %[a2], %[xo], %[wa], %[a2]\n\t"

/* acc[k] += 4 * groups deep dot products of one widened row xs with the channels w0, w0 + stride,
 * w2, w2 + stride (duplicates allowed); hand-scheduled on the target like ec_mat_dsp_2x2, two groups
 * per step (45 instructions per 32 MACs), an odd number of groups entering at the second. */
EC_INLINE void ec_mat_dsp_1x4(const int32_t *EC_RESTRICT xs, const int8_t *w0, const int8_t *w2, int32_t stride,
                              int32_t groups, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int32_t *const end = xs + 2 * groups;
#if EC_ASM && defined(__ARM_FEATURE_DSP)
    if (groups > 0) {
        int32_t xe, xo, wa, wt;
        __asm__ volatile(
            "ldr    %[wt], %[end]\n\t"
            "sub    %[wt], %[wt], %[xs]\n\t"
            "tst    %[wt], #8\n\t"
            "bne    2f\n\t"
            "1:\n\t"
            "ldrd   %[xe], %[xo], [%[xs]], #8\n\t"
            EC_MAT_1X4_STEP("w0", "w2")
            "2:\n\t"
            "ldrd   %[xe], %[xo], [%[xs]], #8\n\t"
            EC_MAT_1X4_STEP("w0", "w2")
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
                               int32_t rq, int32_t output_offset, ec_activation act, int8_t *output, int32_t ys,
                               int32_t *xs)
{
    const int32_t groups = depth >> 2, d4 = depth & ~3;
    int32_t *const acc0 = xs + (rows > 1 ? d4 : d4 / 2);   /* after 4 * d4 (2 * d4) bytes */
    for (int32_t r = 0; r < rows; r += 2) {
        const int32_t n = r + 1 < rows ? 2 : 1;           /* rows in this block */
        const int8_t *x0 = input + r * depth;
        if (n == 2) {
            int32_t *const acc1 = acc0 + out_ch;
            ec_mat_widen(x0, x0 + depth, groups, off, xs);
            for (int32_t o = 0; o < out_ch; o += 2) {
                const int32_t o1 = o + 1 < out_ch ? o + 1 : o;
                const int8_t *w0 = filter + o * depth;
                int32_t acc[4];
                acc[0] = acc[2] = bias ? bias[o] : 0;
                acc[1] = acc[3] = bias ? bias[o1] : 0;
                ec_mat_dsp_2x2(xs, w0, (o1 - o) * depth, groups, acc);
                acc0[o] = acc[0];
                acc1[o] = acc[2];
                acc0[o1] = acc[1];    /* o1 == o: the same value again */
                acc1[o1] = acc[3];
            }
        } else {                      /* one row (rows == 1, or the odd last): 4 channels at a time */
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
                ec_mat_dsp_1x4(xs, filter + o * depth, filter + (o + 2) * depth, depth, groups, acc);
                acc0[o] = acc[0];
                acc0[o + 1] = acc[1];
                acc0[o + 2] = acc[2];
                acc0[o + 3] = acc[3];
            }
            if (o < out_ch) {         /* the last 1-3 channels as (o, o, o, o), (o, o+1, o, o+1), (o, o+1, o+1, o+2) */
                const int32_t s = out_ch - o > 1, c = s ? out_ch - 2 : o;
                int32_t acc[4] = {0, 0, 0, 0};
                ec_mat_dsp_1x4(xs, filter + o * depth, filter + c * depth, s * depth, groups, acc);
                for (int32_t k = 0; k < 4; k++) {  /* a duplicate stores the same sum again */
                    const int32_t ch = (k < 2 ? o : c) + (k & 1) * s;
                    acc0[ch] = acc[k] + (bias ? bias[ch] : 0);
                }
            }
        }
        for (int32_t i = d4; i < depth; i++) {    /* the depth % 4 tail from the int8 rows */
            for (int32_t k = 0; k < n; k++) {
                const int32_t xa = x0[k * depth + i] + off;
                for (int32_t o = 0; o < out_ch; o++) {
                    acc0[k * out_ch + o] += xa * filter[o * depth + i];
                }
            }
        }
        ec_mat_requant_row(acc0, out_ch, q, rq, output_offset, act, output + r * ys);
        if (n == 2) {
            ec_mat_requant_row(acc0 + out_ch, out_ch, q, rq, output_offset, act, output + (r + 1) * ys);
        }
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
#if EC_ASM && defined(__ARM_FEATURE_DSP)
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
                EC_MAT_1X4_STEP("p0", "p2")
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

#if EC_HAS_DSP && !EC_HAS_MVE && EC_MAT_WIDE
/* The product over compile-time widened weights (compile --optimize speed; twin layout:
 * dense_variants.wide_filter), input offset 0.  The filter, int32 words: output channels in pairs
 * (an odd last channel paired with zeros), per pair a header of 8 words (bias, multiplier, k and
 * right shift e of ec_requant_fast, interleaved: b0 b1 m0 m1 k0 k1 e0 e1; the kernel's bias and
 * quant arrays are not read), then the depth zero-padded to a multiple of 8 and per 4-deep group
 * the int16 pairs [w0 0,2][w0 1,3][w1 0,2][w1 1,3], i.e. the SXTB16 lanes of the rows widened as
 * on the int8 path.  A 2 rows x 2 channels group is one LDM of the 4 weight words,
 * an LDRD per row and 8 SMLAD: 24 instructions per 32 MACs unrolled twice (int8 weights: 18 per
 * 16).  Each block is requantized and stored as soon as it is complete (no int32 sums in the
 * scratch, no depth tail), rows in pairs as on the int8 path (OVERLAP contract: 2 pixels per block).
 * Scratch: the widened rows, EC_MAT_WIDE_SCRATCH_BYTES(rows, depth) bytes, 4-byte aligned; input
 * NULL: the caller has put the two rows (rows == 2) there already. */
#define EC_MAT_WIDE_GROUPS(depth) ((((depth) + 7) >> 3) * 2)
#define EC_MAT_WIDE_SCRATCH_BYTES(rows, depth) (((rows) > 1 ? 16 : 8) * EC_MAT_WIDE_GROUPS(depth))

/* Rows x0 (and x1 unless NULL) as int16 pairs in the SXTB16 order, zero-padded to the filter's
 * groups: [x0 0,2][x0 1,3][x1 0,2][x1 1,3] per 4 inputs (one row: [x0 0,2][x0 1,3]). */
EC_INLINE void ec_mat_wide_rows(const int8_t *x0, const int8_t *x1, int32_t depth, int32_t *dst)
{
    const int32_t groups = depth >> 2, step = x1 != NULL ? 4 : 2;
    int32_t *const end = dst + step * EC_MAT_WIDE_GROUPS(depth);
    for (int32_t g = 0; g < groups; g++, dst += step) {
        const int32_t a = ec_read_s8x4(x0 + 4 * g);
        dst[0] = EC_SXTB16(a);
        dst[1] = EC_SXTB16_ROR8(a);
        if (x1 != NULL) {
            const int32_t b = ec_read_s8x4(x1 + 4 * g);
            dst[2] = EC_SXTB16(b);
            dst[3] = EC_SXTB16_ROR8(b);
        }
    }
    if (depth & 3) {                  /* the last partial group, zero-padded */
        uint32_t a = 0, b = 0;
        for (int32_t i = (depth & 3) - 1; i >= 0; i--) {
            a = (a << 8) | (uint8_t)x0[4 * groups + i];
            b = (b << 8) | (x1 != NULL ? (uint8_t)x1[4 * groups + i] : 0u);
        }
        dst[0] = EC_SXTB16((int32_t)a);
        dst[1] = EC_SXTB16_ROR8((int32_t)a);
        if (x1 != NULL) {
            dst[2] = EC_SXTB16((int32_t)b);
            dst[3] = EC_SXTB16_ROR8((int32_t)b);
        }
        dst += step;
    }
    while (dst != end) {              /* the pad group (an odd number of groups): at most 4 words */
        *(volatile int32_t *)dst = 0; /* (volatile: not a memset call) */
        dst++;
    }
}

#if EC_ASM && defined(__ARM_FEATURE_DSP)
/* one 4-deep group of one row: its two words (post-increment) times the pair's four weight words */
#define EC_MAT_WIDE_ROW(a0, a1)                                  \
    "ldrd   %[xe], %[xo], [%[xs]], #8\n\t"                       \
    "smlad  %[" a0 "], %[xe], %[w0e], %[" a0 "]\n\t"             \
    "smlad  %[" a0 "], %[xo], %[w0o], %[" a0 "]\n\t"             \
    "smlad  %[" a1 "], %[xe], %[w1e], %[" a1 "]\n\t"             \
    "smlad  %[" a1 "], %[xo], %[w1o], %[" a1 "]\n\t"
/* LDM needs its registers in ascending order: the four weight words live in r8-r11 */
#define EC_MAT_WIDE_LDM "ldm    %[w]!, {%[w0e], %[w0o], %[w1e], %[w1o]}\n\t"
#endif

#if EC_ASM && defined(__ARM_FEATURE_DSP)
/* one 4-deep group of two rows: 11 instructions per 16 MACs */
#define EC_MAT_WIDE_G2 EC_MAT_WIDE_LDM EC_MAT_WIDE_ROW("a00", "a01") EC_MAT_WIDE_ROW("a10", "a11")
/* groups (even) groups of two rows from xs to end, 4 per step, entered at the third when groups % 4 is 2
 * (the rows' 16 * groups bytes then have bit 5 set): 46 instructions per 64 MACs, one copy of the code */
#define EC_MAT_WIDE_2X2_BODY                                                                               \
    "2:\n\t" EC_MAT_WIDE_G2 EC_MAT_WIDE_G2 "3:\n\t" EC_MAT_WIDE_G2 EC_MAT_WIDE_G2                         \
    "cmp    %[xs], %[end]\n\t" "bne    2b\n\t"
#define EC_MAT_WIDE_2X2_LOOP                                                                               \
    "sub    %[xe], %[end], %[xs]\n\t" "tst    %[xe], #32\n\t" "bne    3f\n\t" EC_MAT_WIDE_2X2_BODY
#endif

/* acc[2 * row + channel] += the dot products of the widened rows xs (two rows when two, else one)
 * with the channel pair's weights w, over groups (even) 4-deep groups. */
EC_INLINE void ec_mat_wide_block(const int32_t *xs, const int32_t *w, int32_t groups, int32_t two, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int32_t *const end = xs + (two ? 4 : 2) * groups;
#if EC_ASM && defined(__ARM_FEATURE_DSP)
    register int32_t w0e __asm__("r8");
    register int32_t w0o __asm__("r9");
    register int32_t w1e __asm__("r10");
    register int32_t w1o __asm__("r11");
    int32_t xe, xo;
    if (two) {
        __asm__ volatile(EC_MAT_WIDE_2X2_LOOP
                         : [a00] "+&r"(a00), [a01] "+&r"(a01), [a10] "+&r"(a10), [a11] "+&r"(a11), [xs] "+&r"(xs),
                           [w] "+&r"(w), [xe] "=&r"(xe), [xo] "=&r"(xo), [w0e] "=&r"(w0e), [w0o] "=&r"(w0o),
                           [w1e] "=&r"(w1e), [w1o] "=&r"(w1o)
                         : [end] "r"(end)
                         : "cc", "memory");
    } else {
        __asm__ volatile(
            "1:\n\t"
            EC_MAT_WIDE_LDM EC_MAT_WIDE_ROW("a00", "a01")
            EC_MAT_WIDE_LDM EC_MAT_WIDE_ROW("a00", "a01")
            "cmp    %[xs], %[end]\n\t"
            "bne    1b\n\t"
            : [a00] "+&r"(a00), [a01] "+&r"(a01), [xs] "+&r"(xs), [w] "+&r"(w), [xe] "=&r"(xe),
              [xo] "=&r"(xo), [w0e] "=&r"(w0e), [w0o] "=&r"(w0o), [w1e] "=&r"(w1e), [w1o] "=&r"(w1o)
            : [end] "r"(end)
            : "cc", "memory");
    }
#else
    while (xs != end) {
        a00 = EC_SMLAD(xs[1], w[1], EC_SMLAD(xs[0], w[0], a00));
        a01 = EC_SMLAD(xs[1], w[3], EC_SMLAD(xs[0], w[2], a01));
        if (two) {
            a10 = EC_SMLAD(xs[3], w[1], EC_SMLAD(xs[2], w[0], a10));
            a11 = EC_SMLAD(xs[3], w[3], EC_SMLAD(xs[2], w[2], a11));
        }
        xs += two ? 4 : 2;
        w += 4;
    }
#endif
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* One output of the sum a (twice the sum when rq > 0: lower doubled the weights and bias), multiplier m,
 * right shift e (-shift); rq (dense_variants.wide_requant): 0 generic, 1 ec_requant_fast with
 * k = ec_mat_k(e, output_offset), 2 with k = 2^(e-1) and the offset added after. */
EC_INLINE int8_t ec_mat_wide_out(int32_t a, int32_t m, int32_t k, int32_t e, int32_t rq, int32_t output_offset,
                                 ec_activation act)
{
    const int32_t v = rq ? ec_requant_fast(a, m, e, k) + (rq == 2 ? output_offset : 0)
                         : ec_multiply_by_quantized_multiplier(a, m, -e) + output_offset;
    return (int8_t)ec_sat_s8(v, act.min, act.max);
}

#if EC_ASM && defined(__ARM_FEATURE_DSP)
#if EC_SINGLE_ROUNDING
#define EC_MAT_WIDE_RQ(a, m) "smmul  %[" a "], %[" a "], %[" m "]\n\t"
#else
#define EC_MAT_WIDE_RQ(a, m)                                                                               \
    "smmulr %[" a "], %[" a "], %[" m "]\n\t" "add    %[" a "], %[" a "], %[" a "], asr #31\n\t"
#endif
/* one output, ec_mat_wide_out's rq > 0 with the full int8 activation range (add: rq 2's output offset
 * from xe) */
#define EC_MAT_WIDE_OUT(a, m, k, e, add)                                                                   \
    EC_MAT_WIDE_RQ(a, m) "add    %[" a "], %[" a "], %[" k "]\n\t" "asr    %[" a "], %[" a "], %[" e "]\n\t" \
    add(a) "ssat   %[" a "], #8, %[" a "]\n\t"
#define EC_MAT_WIDE_ADD(a) "add    %[" a "], %[" a "], %[xe]\n\t"
#define EC_MAT_WIDE_NOADD(a) ""
/* the address of the block loop's entry into s_entry (Thumb bit set): label 3 (its second half) when
 * the rows' bytes from xs to end have bit `bit` set (groups % 4 == 2), else label 2 */
#define EC_MAT_WIDE_ENTRY(bit)                                                                             \
    "ldr    %[xs], %[s_xs]\n\t" "ldr    %[end], %[s_end]\n\t" "sub    %[xe], %[end], %[xs]\n\t"           \
    "tst    %[xe], #" bit "\n\t" "ite    eq\n\t" "adreq.w %[xe], 2f\n\t" "adrne.w %[xe], 3f\n\t"          \
    "orr    %[xe], %[xe], #1\n\t" "str    %[xe], %[s_entry]\n\t"
/* the pair's header (at w - s_pb once the block has run) into w0e..w1o, xo, end as m0 m1 k0 k1 e0 e1 */
#define EC_MAT_WIDE_HEADER                                                                                 \
    "ldr    %[xe], %[s_pb]\n\t" "sub    %[xe], %[w], %[xe]\n\t"                                             \
    "ldrd   %[w0e], %[w0o], [%[xe], #8]\n\t" "ldrd   %[w1e], %[w1o], [%[xe], #16]\n\t"                      \
    "ldrd   %[xo], %[end], [%[xe], #24]\n\t"
/* per pair: the bias into the 4 sums, the 2 x 2 block over the groups, the header (at w - pb) into
 * w0e..w1o, xo, end as m0 m1 k0 k1 e0 e1, the 4 outputs stored (ldadd: rq 2's offset into xe) */
#define EC_MAT_WIDE_PAIRS_ASM(ldadd, add)                                                                  \
    __asm__ volatile(                                                                                      \
        EC_MAT_WIDE_ENTRY("32")                                                                            \
        "1:\n\t" "ldr    %[xs], %[s_xs]\n\t" "ldr    %[end], %[s_end]\n\t"                                 \
        "ldrd   %[a00], %[a01], [%[w]], #32\n\t" "mov    %[a10], %[a00]\n\t" "mov    %[a11], %[a01]\n\t"    \
        "ldr    pc, %[s_entry]\n\t" EC_MAT_WIDE_2X2_BODY                                                     \
        EC_MAT_WIDE_HEADER ldadd                                                                           \
        EC_MAT_WIDE_OUT("a00", "w0e", "w1e", "xo", add) EC_MAT_WIDE_OUT("a10", "w0e", "w1e", "xo", add)     \
        EC_MAT_WIDE_OUT("a01", "w0o", "w1o", "end", add) EC_MAT_WIDE_OUT("a11", "w0o", "w1o", "end", add)   \
        "ldr    %[xs], %[s_y0]\n\t" "ldr    %[xe], %[s_y1]\n\t"                                             \
        "strb   %[a00], [%[xs]], #1\n\t" "strb   %[a01], [%[xs]], #1\n\t"                                  \
        "strb   %[a10], [%[xe]], #1\n\t" "strb   %[a11], [%[xe]], #1\n\t"                                  \
        "str    %[xs], %[s_y0]\n\t" "str    %[xe], %[s_y1]\n\t" "ldr    %[xo], %[s_yend]\n\t"              \
        "cmp    %[xs], %[xo]\n\t" "bne    1b\n\t"                                                           \
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11), [w0e] "=&r"(w0e),       \
          [w0o] "=&r"(w0o), [w1e] "=&r"(w1e), [w1o] "=&r"(w1o), [xe] "=&r"(xe), [xo] "=&r"(xo),             \
          [xs] "=&r"(x), [end] "=&r"(end), [w] "+&r"(w), [s_y0] "+m"(st[0]), [s_y1] "+m"(st[1]),            \
          [s_entry] "=m"(st[7])                                                                              \
        : [s_xs] "m"(st[2]), [s_end] "m"(st[3]), [s_pb] "m"(st[4]), [s_add] "m"(st[5]), [s_yend] "m"(st[6]) \
        : "cc", "memory")

/* ec_mat_wide_pairs for two rows, rq 1 or 2 and the full activation range over the first pairs * 2
 * (> 0) channels, all in one loop (the pair loop's pointers in memory, the 13 registers for the
 * block): 4 outputs in 26 (rq 1) or 30 instructions plus 19 of pair overhead; the block loop is
 * entered at its third group when groups % 4 is 2, through the address kept in st[7] (one LDR PC per
 * pair).  Returns the next pair's filter. */
EC_INLINE const int32_t *ec_mat_wide_pairs_asm(const int32_t *xs, const int32_t *w, int32_t pairs, int32_t groups,
                                               int32_t rq, int32_t output_offset, int8_t *y0, int8_t *y1)
{
    int32_t st[8] = {(int32_t)(uintptr_t)y0, (int32_t)(uintptr_t)y1, (int32_t)(uintptr_t)xs,
                     (int32_t)(uintptr_t)(xs + 4 * groups), 4 * (8 + 4 * groups), output_offset,
                     (int32_t)(uintptr_t)(y0 + 2 * pairs), 0};
    register int32_t w0e __asm__("r8");
    register int32_t w0o __asm__("r9");
    register int32_t w1e __asm__("r10");
    register int32_t w1o __asm__("r11");
    int32_t a00, a01, a10, a11, xe, xo, end;
    const int32_t *x;
    if (rq == 1) {
        EC_MAT_WIDE_PAIRS_ASM("", EC_MAT_WIDE_NOADD);
    } else {
        EC_MAT_WIDE_PAIRS_ASM("ldr    %[xe], %[s_add]\n\t", EC_MAT_WIDE_ADD);
    }
    (void)a00, (void)a01, (void)a10, (void)a11, (void)xe, (void)xo, (void)end, (void)x;
    (void)w0e, (void)w0o, (void)w1e, (void)w1o;
    return w;
}
#undef EC_MAT_WIDE_PAIRS_ASM

/* ec_mat_wide_pairs for one row (a fully connected layer's batch of 1, an odd last pixel), rq 1 or 2
 * and the full activation range over the first pairs * 2 (> 0) channels: 2 outputs in 14
 * instructions plus 9 of pair overhead, the groups 4 per step (6 instructions per 8 MACs each),
 * entered at the third when groups % 4 is 2 (the row's 8 * groups bytes then have bit 4 set) through
 * the address kept in st[4]; add is rq 2's output offset (0 for rq 1).  Returns the next pair's
 * filter. */
EC_INLINE const int32_t *ec_mat_wide_row_asm(const int32_t *xs, const int32_t *w, int32_t pairs, int32_t groups,
                                             int32_t add, int8_t *y)
{
    int32_t st[5] = {(int32_t)(uintptr_t)xs, (int32_t)(uintptr_t)(xs + 2 * groups), 4 * (8 + 4 * groups), add, 0};
    register int32_t w0e __asm__("r8");
    register int32_t w0o __asm__("r9");
    register int32_t w1e __asm__("r10");
    register int32_t w1o __asm__("r11");
    int8_t *const y_end = y + 2 * pairs;
    int32_t a00, a01, xe, xo, end;
    const int32_t *x;
#define EC_MAT_WIDE_G1 EC_MAT_WIDE_LDM EC_MAT_WIDE_ROW("a00", "a01")
    __asm__ volatile(
        EC_MAT_WIDE_ENTRY("16")
        "1:\n\t" "ldr    %[xs], %[s_xs]\n\t" "ldr    %[end], %[s_end]\n\t"
        "ldrd   %[a00], %[a01], [%[w]], #32\n\t" "ldr    pc, %[s_entry]\n\t"
        "2:\n\t" EC_MAT_WIDE_G1 EC_MAT_WIDE_G1 "3:\n\t" EC_MAT_WIDE_G1 EC_MAT_WIDE_G1
        "cmp    %[xs], %[end]\n\t" "bne    2b\n\t"
        EC_MAT_WIDE_HEADER "ldr    %[xe], %[s_add]\n\t"
        EC_MAT_WIDE_OUT("a00", "w0e", "w1e", "xo", EC_MAT_WIDE_ADD)
        EC_MAT_WIDE_OUT("a01", "w0o", "w1o", "end", EC_MAT_WIDE_ADD)
        "strb   %[a00], [%[y]], #1\n\t" "strb   %[a01], [%[y]], #1\n\t"
        "cmp    %[y], %[y_end]\n\t" "bne    1b\n\t"
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [w0e] "=&r"(w0e), [w0o] "=&r"(w0o), [w1e] "=&r"(w1e),
          [w1o] "=&r"(w1o), [xe] "=&r"(xe), [xo] "=&r"(xo), [xs] "=&r"(x), [end] "=&r"(end), [w] "+&r"(w),
          [y] "+&r"(y), [s_entry] "=m"(st[4])
        : [y_end] "r"(y_end), [s_xs] "m"(st[0]), [s_end] "m"(st[1]), [s_pb] "m"(st[2]), [s_add] "m"(st[3])
        : "cc", "memory");
#undef EC_MAT_WIDE_G1
#undef EC_MAT_WIDE_ENTRY
#undef EC_MAT_WIDE_HEADER
    (void)a00, (void)a01, (void)xe, (void)xo, (void)end, (void)x, (void)w0e, (void)w0o, (void)w1e, (void)w1o;
    return w;
}
#endif

/* Every channel pair of the widened rows xs (one or two: two): y0[o] (y1[o]) for all o; the common
 * case (rq > 0, the full activation range) in ec_mat_wide_pairs_asm / ec_mat_wide_row_asm, the rest
 * (an odd last channel, other activations, rq 0) in C. */
EC_INLINE void ec_mat_wide_pairs(const int32_t *xs, const int32_t *w, int32_t out_ch, int32_t groups, int32_t two,
                                 int32_t rq, int32_t output_offset, ec_activation act, int8_t *y0, int8_t *y1)
{
    int8_t *const y_end = y0 + out_ch;
#if EC_ASM && defined(__ARM_FEATURE_DSP)
    if (rq && act.min == -128 && act.max == 127 && out_ch > 1) {
        w = two ? ec_mat_wide_pairs_asm(xs, w, out_ch >> 1, groups, rq, output_offset, y0, y1)
                : ec_mat_wide_row_asm(xs, w, out_ch >> 1, groups, rq == 2 ? output_offset : 0, y0);
        y0 += out_ch & ~1;
        y1 += out_ch & ~1;
    }
#endif
    while (y0 != y_end) {
        const int32_t *const h = w;       /* the pair's header: b0 b1 m0 m1 k0 k1 e0 e1 */
        int32_t acc[4] = {h[0], h[1], h[0], h[1]};
        ec_mat_wide_block(xs, h + 8, groups, two, acc);
        w = h + 8 + 4 * groups;
        for (int32_t c = 0; c < 2 && y0 != y_end; c++, y0++, y1++) {  /* an odd last channel: its */
            for (int32_t r = 0; r <= two; r++) {                    /* pair's zeros not stored */
                (r ? y1 : y0)[0] = ec_mat_wide_out(acc[2 * r + c], h[2 + c], h[4 + c], h[6 + c], rq,
                                                   output_offset, act);
            }
        }
    }
}
#undef EC_MAT_WIDE_2X2_LOOP

EC_INLINE void ec_mat_product_wide(const int8_t *input, int32_t rows, const int32_t *filter, int32_t out_ch,
                                   int32_t depth, int32_t rq, int32_t output_offset, ec_activation act,
                                   int8_t *output, int32_t ys, int32_t *xs)
{
    const int32_t groups = EC_MAT_WIDE_GROUPS(depth);
    for (int32_t r = 0; r < rows; r += 2) {
        const int32_t two = r + 1 < rows;
        int8_t *const y0 = output + r * ys;
        if (input != NULL) {          /* NULL: the caller widened the rows into xs (im2col) */
            ec_mat_wide_rows(input + r * depth, two ? input + (r + 1) * depth : NULL, depth, xs);
        }
        ec_mat_wide_pairs(xs, filter, out_ch, groups, two, rq, output_offset, act, y0, y0 + ys);
    }
}

/* ec_mat_product_wide compiled once (runtime_c/src/ec_mat_mult_s8.c). */
void ec_mat_mult_wide_s8(const int8_t *input, int32_t rows, const int32_t *filter, int32_t out_ch, int32_t depth,
                         int32_t rq, int32_t output_offset, ec_activation act, int8_t *output, int32_t ys,
                         void *scratch);
#endif

EC_INLINE void ec_mat_mult_portable(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch,
                                    int32_t depth, int32_t off, const int32_t *bias, const ec_quant_params *q,
                                    int32_t rq, int32_t output_offset, ec_activation act, int8_t *output,
                                    int32_t ys)
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
            ec_mat_store(acc[0], o, q, rq, output_offset, act, output + r * ys);
            if (o1 != o) {
                ec_mat_store(acc[1], o1, q, rq, output_offset, act, output + r * ys);
            }
            if (r1 != r) {          /* skip the duplicates of an odd last channel or row */
                ec_mat_store(acc[2], o, q, rq, output_offset, act, output + r1 * ys);
                if (o1 != o) {
                    ec_mat_store(acc[3], o1, q, rq, output_offset, act, output + r1 * ys);
                }
            }
        }
    }
}

/* The product: Helium, DSP or portable path; rq: see ec_mat_store; output row r at output + r * ys
 * (ys >= out_ch: out_ch, or a channel concat's total channels with output at the slice's first);
 * scratch holds at least EC_MAT_SCRATCH_BYTES(rows, depth, out_ch) bytes, 4-byte aligned, or is NULL
 * when rows == 1 (the slower scratch-free row, EC_MAT_ROW_DIRECT). */
EC_INLINE void ec_mat_product(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch, int32_t depth,
                              int32_t off, const int32_t *bias, const ec_quant_params *q, int32_t rq,
                              int32_t output_offset, ec_activation act, int8_t *output, int32_t ys, void *scratch)
{
#if EC_HAS_MVE
    if (off == 0) {
        ec_mve_mat_mult_s8(input, rows, filter, out_ch, depth, bias, q, rq, output_offset, act, output, ys,
                           scratch);
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
    ec_mat_mult_dsp(input, rows, filter, out_ch, depth, off, bias, q, rq, output_offset, act, output, ys,
                    (int32_t *)scratch);
#else
    (void)scratch;
    ec_mat_mult_portable(input, rows, filter, out_ch, depth, off, bias, q, rq, output_offset, act, output, ys);
#endif
}

/* ec_mat_product compiled once (runtime_c/src/ec_mat_mult_s8.c): the kernels call this copy to keep
 * one in flash; a kernel in a hot loop on Helium cores may inline ec_mat_product instead. */
void ec_mat_mult_s8(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch, int32_t depth,
                    int32_t off, const int32_t *bias, const ec_quant_params *q, int32_t rq, int32_t output_offset,
                    ec_activation act, int8_t *output, int32_t ys, void *scratch);

#endif /* EC_MATMUL_H */
