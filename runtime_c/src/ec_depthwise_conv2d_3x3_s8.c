/* Depthwise 3x3 convolution, channel multiplier 1, dilation 1, stride 1 or 2, padding <= 2 (chosen
 * at compile time by edgecompile/ops/dw_variants.py, which also builds the table; the table is the
 * only weights input).  This comment describes the DSP / portable path; the Helium path (gathered
 * windows, VMLADAV) and its table are described in ec_dw3x3.h.
 *
 * Scratch: a ring of 3 input rows, then C bytes of the input zero point (zrow).  A row is G =
 * ceil(out_w / 2) groups, one per output pixel pair; group g holds, channel after channel, the K =
 * s + 1 int32 words s*g .. s*g + s of the padded row, word j the int16 pair (x[2j - pad_left],
 * x[2j + 1 - pad_left]) of the raw input (a word shared by two groups is stored in both).  The
 * input offset is folded into the bias, so padding columns and rows hold the input zero point,
 * whose taps add (zp + input_offset) x w = 0: every tap adds its exact TFLM term without a bounds
 * test.  The ring starts filled with zero points; a row that only has padding in a word leaves
 * that word alone.
 * Table, 8 int32 per channel in the order the loop reads them: t0, t1, t4 = tap (ky, 0)
 * | tap (ky, 1) << 16 for ky = 0, 1, 2, t2 = 2 x (bias + input_offset x the sum of the taps),
 * t3 = tap (0, 2) | tap (1, 2) << 16, t5 = e | tap (2, 2) << 16, t6 = multiplier, t7 = rounding
 * constant k of ec_requant_fast (taps doubled too, so the sums are 2 * acc).
 *
 * Output pixels go in pairs (a last single pixel for an odd width), each pair channel by channel:
 * stride 1 reads two words per tap row (columns 2g..2g+3: SMLAD + SMLABT for the first pixel,
 * SMLATB + SMLABT + SMLATT for the second), stride 2 three words (columns 4g..4g+5: two SMLAD +
 * two SMLABx).  The DSP build runs these loops and the ring conversion in assembly (ec_dw3x3.h;
 * whole int8 range, then a clamp pass for narrower activations); the C loops are the portable /
 * emulated / single-rounding twin.
 *
 * OVERLAP: output rows are written in raster order (the DSP build's clamp pass rewrites a row
 * right after it).  Before the first write of output row oy every input row that row reads has been
 * copied into the ring, and no input row after those is read until the row is complete.  So every
 * write happens after all the input reads that a one-pixel-at-a-time raster kernel does before it,
 * and no input is read later than such a kernel reads it: the kernel is correct for any overlap
 * that such a kernel (and hence the EC_PIXELS_IN_FLIGHT contract) allows. */
#include <string.h>

#include "ec_runtime.h"
#include "ec_fixedpoint.h"
#include "ec_dw3x3.h"
#if EC_HAS_DSP
#include "ec_dsp.h"
#define DW_AD(x, w, a) EC_SMLAD((x), (w), (a))
#define DW_BB(x, w, a) EC_SMLABB((x), (w), (a))
#define DW_BT(x, w, a) EC_SMLABT((x), (w), (a))
#define DW_TB(x, w, a) EC_SMLATB((x), (w), (a))
#define DW_TT(x, w, a) EC_SMLATT((x), (w), (a))
#else
EC_INLINE int32_t dw_lo(int32_t v)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)v & 0xFFFFu);
}
EC_INLINE int32_t dw_hi(int32_t v)
{
    return v >> 16;
}
#define DW_AD(x, w, a) ((a) + dw_lo(x) * dw_lo(w) + dw_hi(x) * dw_hi(w))
#define DW_BB(x, w, a) ((a) + dw_lo(x) * dw_lo(w))
#define DW_BT(x, w, a) ((a) + dw_lo(x) * dw_hi(w))
#define DW_TB(x, w, a) ((a) + dw_hi(x) * dw_lo(w))
#define DW_TT(x, w, a) ((a) + dw_hi(x) * dw_hi(w))
#endif


/* requantized, offset and clamped; `full`: the activation is the whole int8 range (one SSAT) */
EC_INLINE int8_t dw_out(int32_t acc2, const int32_t *t, int32_t lo, int32_t hi, int full)
{
    const int32_t v = ec_requant_fast(acc2, t[6], t[5] & 0xFFFF, t[7]);
#if EC_HAS_DSP
    if (full) {
        return (int8_t)EC_SSAT8(v);
    }
#else
    (void)full;
#endif
    return ec_sat_s8(v, lo, hi);
}

#if !EC_DW3X3_ASM
/* Output pixels (ox, ox + 1) of one row, every channel; q0..q2 at channel 0 of group ox / 2 in the
 * three tap rows (s + 1 consecutive words per channel). */
EC_INLINE void dw_pair(const int32_t *q0, const int32_t *q1, const int32_t *q2, const int32_t *t,
                       int8_t *o, int32_t c_n, int32_t lo, int32_t hi, int32_t s, int full)
{
    for (int32_t c = 0; c < c_n; c++) {
        int32_t u = t[2], v = t[2];
        if (s == 1) {              /* columns ox..ox+3: words (ox, ox+1), (ox+2, ox+3) */
            const int32_t a0 = q0[0], b0 = q0[1], a1 = q1[0], b1 = q1[1], a2 = q2[0], b2 = q2[1];
            u = DW_AD(a0, t[0], u);
            u = DW_BB(b0, t[3], u);
            v = DW_TB(a0, t[0], v);
            v = DW_BT(b0, t[0], v);
            v = DW_TB(b0, t[3], v);
            u = DW_AD(a1, t[1], u);
            u = DW_BT(b1, t[3], u);
            v = DW_TB(a1, t[1], v);
            v = DW_BT(b1, t[1], v);
            v = DW_TT(b1, t[3], v);
            u = DW_AD(a2, t[4], u);
            u = DW_BT(b2, t[5], u);
            v = DW_TB(a2, t[4], v);
            v = DW_BT(b2, t[4], v);
            v = DW_TT(b2, t[5], v);
        } else {                   /* columns 2ox..2ox+5: three words */
            const int32_t a0 = q0[0], b0 = q0[1], c0 = q0[2];
            u = DW_AD(a0, t[0], u);
            u = DW_BB(b0, t[3], u);
            v = DW_AD(b0, t[0], v);
            v = DW_BB(c0, t[3], v);
            const int32_t a1 = q1[0], b1 = q1[1], c1 = q1[2];
            u = DW_AD(a1, t[1], u);
            u = DW_BT(b1, t[3], u);
            v = DW_AD(b1, t[1], v);
            v = DW_BT(c1, t[3], v);
            const int32_t a2 = q2[0], b2 = q2[1], c2 = q2[2];
            u = DW_AD(a2, t[4], u);
            u = DW_BT(b2, t[5], u);
            v = DW_AD(b2, t[4], v);
            v = DW_BT(c2, t[5], v);
        }
        o[0] = dw_out(u, t, lo, hi, full);
        o[c_n] = dw_out(v, t, lo, hi, full);
        o++;
        t += 8;
        q0 += s + 1;
        q1 += s + 1;
        q2 += s + 1;
    }
}

/* The last output pixel of an odd row (columns s * ox .. s * ox + 2). */
EC_INLINE void dw_single(const int32_t *q0, const int32_t *q1, const int32_t *q2, const int32_t *t,
                         int8_t *o, int32_t c_n, int32_t lo, int32_t hi, int32_t K, int full)
{
    for (int32_t c = 0; c < c_n; c++) {
        int32_t u = t[2];
        u = DW_AD(q0[0], t[0], u);
        u = DW_BB(q0[1], t[3], u);
        u = DW_AD(q1[0], t[1], u);
        u = DW_BT(q1[1], t[3], u);
        u = DW_AD(q2[0], t[4], u);
        u = DW_BT(q2[1], t[5], u);
        o[c] = dw_out(u, t, lo, hi, full);
        t += 8;
        q0 += K;
        q1 += K;
        q2 += K;
    }
}


#endif

ec_status ec_depthwise_conv2d_3x3_s8(const ec_context *ctx, const ec_dw_conv_params *p, const ec_quant_params *q,
                                     const ec_dims *input_dims, const int8_t *input, const int8_t *filter,
                                     const int32_t *bias, const int32_t *table,
                                     const ec_dims *output_dims, int8_t *output)
{
    (void)filter;       /* NULL: the table replaces the filter and bias inputs */
    (void)bias;
#if EC_HAS_MVE
    (void)q;
    return dw_mve(ctx, p, input_dims, input, table, output_dims, output);
#else
    (void)q;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, c_n = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t s = p->stride.w, pad_t = p->padding.h, pad_l = p->padding.w;
    const int32_t lo = p->activation.min, hi = p->activation.max, zp = -p->input_offset;
    const int full = lo == -128 && hi == 127;
    const int32_t G = (out_w + 1) / 2, slot_words = G * c_n * (s + 1), zz = dw_pack(zp, zp);
    int32_t *ring = (int32_t *)ctx->buf;
    if (ring == NULL || ctx->size < 3 * slot_words * 4 + c_n || ((uintptr_t)ring & 3u) != 0 || (s != 1 && s != 2)) {
        return EC_ARG_ERROR;
    }
    int8_t *zrow = (int8_t *)(ring + 3 * slot_words);
    dw_fill(ring, 3 * slot_words, zz);
    memset(zrow, zp, (size_t)c_n);
    int32_t *r0 = ring, *r1 = ring + slot_words, *r2 = ring + 2 * slot_words;   /* the last three rows loaded */
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in_n = input + n * in_h * in_w * c_n;
        int32_t y = -pad_t;                 /* the next input row into the ring (into r0's slot, the oldest) */
        for (int32_t oy = 0; oy < out_h; oy++) {
            for (; y < oy * s - pad_t + 3; y++) {
                int32_t *d = r0;
                if (y >= 0 && y < in_h) {
                    dw_load_row(d, in_n + y * in_w * c_n, zrow, in_w, c_n, pad_l, s, G);
                } else if (n > 0 || y >= 0) {       /* a padding row (the ring starts as one) */
                    dw_fill(d, slot_words, zz);
                }
                r0 = r1;
                r1 = r2;
                r2 = d;
            }
            int8_t *orow = output + ((n * out_h + oy) * out_w) * c_n;
#if EC_DW3X3_ASM
            if (out_w >= 2) {
                dw_pairs_full_asm(r0, r1, r2, table, orow, c_n, s, out_w / 2);
            }
            if (out_w & 1) {
                const int32_t j = (out_w / 2) * c_n * (s + 1);      /* the last group */
                dw_single_full_asm(r0 + j, r1 + j, r2 + j, table, orow + (out_w - 1) * c_n, c_n, s);
            }
            if (!full) {            /* the assembly saturates to int8: clamp the row to the activation */
                for (int32_t i = 0; i < out_w * c_n; i++) {
                    orow[i] = (int8_t)ec_sat_s8(orow[i], lo, hi);
                }
            }
#else
            for (int32_t ox = 0; ox < out_w; ox += 2) {
                const int32_t j = (ox / 2) * c_n * (s + 1);      /* group ox / 2 */
                int8_t *o = orow + ox * c_n;
                const int32_t o2 = ox + 1 < out_w ? c_n : 0;     /* the second pixel's output, 0: none */
                if (o2 == 0) {
                    if (full) {
                        dw_single(r0 + j, r1 + j, r2 + j, table, o, c_n, lo, hi, s + 1, 1);
                    } else {
                        dw_single(r0 + j, r1 + j, r2 + j, table, o, c_n, lo, hi, s + 1, 0);
                    }
                } else if (s == 1 && full) {
                    dw_pair(r0 + j, r1 + j, r2 + j, table, o, c_n, lo, hi, 1, 1);
                } else if (s == 1) {
                    dw_pair(r0 + j, r1 + j, r2 + j, table, o, c_n, lo, hi, 1, 0);
                } else if (full) {
                    dw_pair(r0 + j, r1 + j, r2 + j, table, o, c_n, lo, hi, 2, 1);
                } else {
                    dw_pair(r0 + j, r1 + j, r2 + j, table, o, c_n, lo, hi, 2, 0);
                }
            }
#endif
        }
    }
    return EC_OK;
#endif
}
