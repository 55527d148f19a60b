/* Helpers of ec_depthwise_conv2d_3x3_s8 (runtime_c/src/ec_depthwise_conv2d_3x3_s8.c, whose comment
 * describes the layouts), kept apart for the file-size budget: the ring conversion of the DSP /
 * portable path and the Helium path.  Include only from that file. */
#ifndef EC_DW3X3_H
#define EC_DW3X3_H

#include <string.h>
#include "ec_types.h"
#include "ec_fixedpoint.h"
#if EC_HAS_DSP
#include "ec_dsp.h"
#endif

EC_INLINE int32_t dw_pack(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)hi << 16) | ((uint32_t)lo & 0xFFFFu));
}

/* Word w (columns 2w, 2w + 1 of the padded row) of every channel into its copies in one slot: group
 * g holds words s*g .. s*g + s (K = s + 1 words per channel), so word w goes to (w / s, w % s) and,
 * when w % s == 0, also to (w / s - 1, s).  ma / mb: all ones where column 2w / 2w + 1 is inside the
 * input (xa / xb point at it), 0 where it is padding (the pointer is then any valid row pixel). */
EC_INLINE void dw_load_word(int32_t *slot, int32_t w, const int8_t *xa, const int8_t *xb, int32_t ma, int32_t mb,
                            int32_t c_n, int32_t s, int32_t G, int32_t off)
{
    const int32_t K = s + 1, g1 = w / s, p1 = w % s;
    int32_t *d1 = g1 < G ? slot + g1 * c_n * K + p1 : NULL;
    int32_t *d2 = p1 == 0 && g1 >= 1 && g1 - 1 < G ? slot + (g1 - 1) * c_n * K + s : NULL;
    if (d1 == NULL) {         /* only the second copy: write it through d1 */
        d1 = d2;
        d2 = NULL;
    }
    if (d1 == NULL) {
        return;
    }
    int32_t c = 0;
#if EC_HAS_DSP
    const int32_t off2 = dw_pack(off, off);
    for (; c + 4 <= c_n; c += 4) {
        const int32_t va = ec_read_s8x4(xa + c), vb = ec_read_s8x4(xb + c);
        const int32_t ea = EC_SADD16(EC_SXTB16(va), off2) & ma, eb = EC_SADD16(EC_SXTB16(vb), off2) & mb;
        const int32_t oa = EC_SADD16(EC_SXTB16_ROR8(va), off2) & ma, ob = EC_SADD16(EC_SXTB16_ROR8(vb), off2) & mb;
        const int32_t v0 = EC_PKHBB(ea, eb), v1 = EC_PKHBB(oa, ob), v2 = EC_PKHTT(ea, eb), v3 = EC_PKHTT(oa, ob);
        d1[0] = v0;
        d1[K] = v1;
        d1[2 * K] = v2;
        d1[3 * K] = v3;
        d1 += 4 * K;
        if (d2 != NULL) {
            d2[0] = v0;
            d2[K] = v1;
            d2[2 * K] = v2;
            d2[3 * K] = v3;
            d2 += 4 * K;
        }
    }
#endif
    for (; c < c_n; c++) {
        const int32_t v = dw_pack((xa[c] + off) & ma, (xb[c] + off) & mb);
        *d1 = v;
        d1 += K;
        if (d2 != NULL) {
            *d2 = v;
            d2 += K;
        }
    }
}

#if !EC_HAS_MVE
/* Input row `row` (in_w x C int8) into one ring slot: words 0 .. s * G of the padded row that hold
 * input columns (the ring is cleared once per call). */
static void dw_load_row(int32_t *slot, const int8_t *row, int32_t in_w, int32_t c_n, int32_t pad, int32_t s,
                        int32_t G, int32_t off)
{
    for (int32_t w = 0; w <= s * G; w++) {
        const int32_t xa = 2 * w - pad, xb = xa + 1;
        const int32_t ina = xa >= 0 && xa < in_w, inb = xb >= 0 && xb < in_w;
        if (ina && inb) {
            dw_load_word(slot, w, row + xa * c_n, row + xb * c_n, -1, -1, c_n, s, G, off);
        } else if (ina || inb) {        /* words of padding only keep the zeros of the initial clear */
            const int8_t *xa_p = row + (ina ? xa : 0) * c_n, *xb_p = row + (inb ? xb : 0) * c_n;
            dw_load_word(slot, w, xa_p, xb_p, ina ? -1 : 0, inb ? -1 : 0, c_n, s, G, off);
        }
    }
}

#endif

#if EC_HAS_DSP && !defined(EC_EMULATE_DSP) && !EC_SINGLE_ROUNDING
#define EC_DW3X3_ASM 1
/* dw_pair for all c_n >= 1 channels with the whole int8 activation range, in assembly (GCC spills
 * this loop): the same instructions as the C -- SMLAD / SMLAxy on the ring words, SMMULR +
 * ec_requant_fast's adds and shift, SSAT -- 40 per channel and pixel pair instead of ~53. */
/* requantize u and v (ec_requant_fast), SSAT, store at o[c_n] and o[0], next channel */
#define EC_DW3X3_ASM_TAIL \
    "asr %[z], %[z], #16\n\t"                   /* e */ \
    "ldrd %[x], %[y], [%[t], #-8]\n\t"          /* multiplier, k */ \
    "smmulr %[u], %[u], %[x]\n\t" \
    "add %[u], %[u], %[u], asr #31\n\t" \
    "add %[u], %[u], %[y]\n\t" \
    "asr %[u], %[u], %[z]\n\t" \
    "ssat %[u], #8, %[u]\n\t" \
    "smmulr %[v], %[v], %[x]\n\t" \
    "add %[v], %[v], %[v], asr #31\n\t" \
    "add %[v], %[v], %[y]\n\t" \
    "asr %[v], %[v], %[z]\n\t" \
    "ssat %[v], #8, %[v]\n\t" \
    "ldr %[a], %[cn]\n\t" \
    "strb %[v], [%[o], %[a]]\n\t" \
    "strb %[u], [%[o]], #1\n\t" \
    "ldr %[a], %[end]\n\t" \
    "cmp %[o], %[a]\n\t" \
    "bne 1b\n\t"

EC_INLINE void dw_pair_full_asm(const int32_t *q0, const int32_t *q1, const int32_t *q2, const int32_t *t,
                                int8_t *o, int32_t c_n, int32_t s)
{
    const int8_t *end = o + c_n;
    int32_t u, v, a, b, x, y, z;
    if (s == 1) {
        __asm__ volatile(
            "1:\n\t"
            "ldrd %[x], %[y], [%[t]], #32\n\t"       /* w0, w1; t advances to the next channel */
            "ldrd %[u], %[z], [%[t], #-24]\n\t"      /* 2 * bias, taps (0, 2) | (1, 2) */
            "mov %[v], %[u]\n\t"
            "ldrd %[a], %[b], [%[q0]], #8\n\t"       /* columns c..c+3 of tap row 0 */
            "smlad %[u], %[a], %[x], %[u]\n\t"
            "smlatb %[v], %[a], %[x], %[v]\n\t"
            "smlabt %[v], %[b], %[x], %[v]\n\t"
            "smlabb %[u], %[b], %[z], %[u]\n\t"
            "smlatb %[v], %[b], %[z], %[v]\n\t"
            "ldrd %[a], %[b], [%[q1]], #8\n\t"
            "smlad %[u], %[a], %[y], %[u]\n\t"
            "smlatb %[v], %[a], %[y], %[v]\n\t"
            "smlabt %[v], %[b], %[y], %[v]\n\t"
            "smlabt %[u], %[b], %[z], %[u]\n\t"
            "smlatt %[v], %[b], %[z], %[v]\n\t"
            "ldrd %[x], %[z], [%[t], #-16]\n\t"      /* w2, tap (2, 2) | e << 16 */
            "ldrd %[a], %[b], [%[q2]], #8\n\t"
            "smlad %[u], %[a], %[x], %[u]\n\t"
            "smlatb %[v], %[a], %[x], %[v]\n\t"
            "smlabt %[v], %[b], %[x], %[v]\n\t"
            "smlabb %[u], %[b], %[z], %[u]\n\t"
            "smlatb %[v], %[b], %[z], %[v]\n\t"
            EC_DW3X3_ASM_TAIL
            : [q0] "+r"(q0), [q1] "+r"(q1), [q2] "+r"(q2), [t] "+r"(t), [o] "+r"(o), [u] "=&r"(u), [v] "=&r"(v),
              [a] "=&r"(a), [b] "=&r"(b), [x] "=&r"(x), [y] "=&r"(y), [z] "=&r"(z)
            : [cn] "m"(c_n), [end] "m"(end)
            : "cc", "memory");
    } else {
        __asm__ volatile(
            "1:\n\t"
            "ldrd %[x], %[y], [%[t]], #32\n\t"
            "ldrd %[u], %[z], [%[t], #-24]\n\t"
            "mov %[v], %[u]\n\t"
            "ldrd %[a], %[b], [%[q0]], #12\n\t"      /* columns 2c..2c+3, then 2c+4..2c+5 */
            "smlad %[u], %[a], %[x], %[u]\n\t"
            "ldr %[a], [%[q0], #-4]\n\t"
            "smlabb %[u], %[b], %[z], %[u]\n\t"
            "smlad %[v], %[b], %[x], %[v]\n\t"
            "smlabb %[v], %[a], %[z], %[v]\n\t"
            "ldrd %[a], %[b], [%[q1]], #12\n\t"
            "smlad %[u], %[a], %[y], %[u]\n\t"
            "ldr %[a], [%[q1], #-4]\n\t"
            "smlabt %[u], %[b], %[z], %[u]\n\t"
            "smlad %[v], %[b], %[y], %[v]\n\t"
            "smlabt %[v], %[a], %[z], %[v]\n\t"
            "ldrd %[x], %[z], [%[t], #-16]\n\t"
            "ldrd %[a], %[b], [%[q2]], #12\n\t"
            "smlad %[u], %[a], %[x], %[u]\n\t"
            "ldr %[a], [%[q2], #-4]\n\t"
            "smlabb %[u], %[b], %[z], %[u]\n\t"
            "smlad %[v], %[b], %[x], %[v]\n\t"
            "smlabb %[v], %[a], %[z], %[v]\n\t"
            EC_DW3X3_ASM_TAIL
            : [q0] "+r"(q0), [q1] "+r"(q1), [q2] "+r"(q2), [t] "+r"(t), [o] "+r"(o), [u] "=&r"(u), [v] "=&r"(v),
              [a] "=&r"(a), [b] "=&r"(b), [x] "=&r"(x), [y] "=&r"(y), [z] "=&r"(z)
            : [cn] "m"(c_n), [end] "m"(end)
            : "cc", "memory");
    }
}
#endif

#if EC_HAS_MVE
#include <arm_mve.h>

/* Helium: int16 planes.  A ring slot holds, per channel, the padded input row (x + input_offset, 0
 * for padding) as int16, laid out so that the tap (ky, kx) of 4 consecutive output pixels is one
 * VLDRH.S32 at an immediate offset, followed by a VMLA by the scalar weight: stride 1 as the plain row
 * of 4 * G4 + 2 columns (G4 = ceil(out_w / 4)); stride 2 as G4 groups of 12 int16 for pixels
 * ox..ox+3: columns 2ox..2ox+6 (even), 2ox+1..2ox+7 (odd), 2ox+2..2ox+8 (even, stored twice).
 * Output rows in raster order, each channel by channel in blocks of 4 pixels (the OVERLAP argument
 * above holds unchanged). */
EC_INLINE int32_t dw_mve_plane(int32_t out_w, int32_t s)
{
    return s == 1 ? (out_w + 3) / 4 * 4 + 2 : (out_w + 3) / 4 * 12;
}

/* One input pixel's C channels (+ offset) into position 0 of the C planes at dst (plane stride P). */
EC_INLINE void dw_mve_col(int16_t *dst, const int8_t *src, int32_t c_n, int32_t P, uint16x8_t offs, int32_t off)
{
    int32_t c = 0;
    for (; c + 8 <= c_n; c += 8) {
        vstrhq_scatter_shifted_offset_s16(dst, offs, vaddq_n_s16(vldrbq_s16(src + c), (int16_t)off));
        dst += 8 * P;
    }
    if (c < c_n) {
        const mve_pred16_t pr = vctp16q((uint32_t)(c_n - c));
        vstrhq_scatter_shifted_offset_p_s16(dst, offs, vaddq_n_s16(vldrbq_z_s16(src + c, pr), (int16_t)off), pr);
    }
}

/* Input row `row` into one slot of C planes of P int16 (only input columns are written: padding
 * columns keep the zeros of the initial clear). */
static void dw_mve_load_row(int16_t *slot, const int8_t *row, int32_t in_w, int32_t c_n, int32_t pad, int32_t s,
                            int32_t P, int32_t off)
{
    const uint16x8_t offs = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)P);
    const int32_t g4 = P / 12;
    for (int32_t x = 0; x < in_w; x++) {
        const uint32_t j = (uint32_t)(x + pad), e = j >> 1, e1 = e - 1u;
        int32_t i1, i2 = -1;                /* the positions of column j in a plane (-1: none) */
        if (s == 1) {
            i1 = (int32_t)j < P ? (int32_t)j : -1;
        } else if (j & 1u) {
            i1 = (int32_t)(e >> 2) < g4 ? (int32_t)((e >> 2) * 12u + 4u + (e & 3u)) : -1;
        } else {
            i1 = (int32_t)(e >> 2) < g4 ? (int32_t)((e >> 2) * 12u + (e & 3u)) : -1;
            i2 = e >= 1u && (int32_t)(e1 >> 2) < g4 ? (int32_t)((e1 >> 2) * 12u + 8u + (e1 & 3u)) : -1;
        }
        if (i1 >= 0) {
            dw_mve_col(slot + i1, row + x * c_n, c_n, P, offs, off);
        }
        if (i2 >= 0) {
            dw_mve_col(slot + i2, row + x * c_n, c_n, P, offs, off);
        }
    }
}

/* requantized (per-channel multiplier m, shift sh), offset and clamped lanes */
EC_INLINE int32x4_t dw_mve_requant(int32x4_t acc, int32_t m, int32_t sh, int32_t out_off, int32x4_t lo,
                                   int32x4_t hi)
{
#if EC_SINGLE_ROUNDING
    int32_t lanes[4];
    vst1q_s32(lanes, acc);
    for (int32_t i = 0; i < 4; i++) {
        lanes[i] = ec_multiply_by_quantized_multiplier(lanes[i], m, sh);
    }
    int32x4_t v = vld1q_s32(lanes);
#else
    /* exact double rounding: VQRDMULH = SRDHM (m >= 0, no saturation case); RoundingDivideByPOT =
     * VRSHL by the shift (negative: the lowering checked it) after subtracting 1 from negatives */
    int32x4_t v = vqrdmulhq_n_s32(acc, m);
    v = vrshlq_n_s32(vaddq_s32(v, vshrq_n_s32(v, 31)), sh);
#endif
    return vminq_s32(vmaxq_s32(vaddq_n_s32(v, out_off), lo), hi);
}

#if !EC_SINGLE_ROUNDING
/* One tap: LDRSH the doubled weight at table byte W, VLDRH.S32 4 columns at byte A of row pointer R. */
#define EC_DW_MVE_TAP(W, R, A) "ldrsh %[rt], [%[t], #" #W "]\n\tvldrh.s32 q1, [%[" #R "], #" #A "]\n\t" \
    "vmla.s32 q0, q1, %[rt]\n\t"
#define EC_DW_MVE_LAST(W, R, STEP) "ldrsh %[rt], [%[t], #" #W "]\n\tvldrh.s32 q1, [%[" #R "]], #" #STEP "\n\t" \
    "vmla.s32 q0, q1, %[rt]\n\t"
/* The ceil(out_w / 4) 4-pixel blocks of one channel (GCC spills the weights and constants of the C loop):
 * per block the 9 taps as LDRSH of the doubled weight from the table + VLDRH.S32 + VMLA, then VRMULH
 * by the multiplier (= SRDHM of the undoubled sum, exact as |acc| < 2^30), RoundingDivideByPOT as in
 * dw_mve_requant, offset, clamp, one scatter store predicated on the pixels left: 41 instructions.
 * vk: lo, hi, store offsets (0, C, 2C, 3C), output offset, 4 lanes each.  T1 / T2: bytes of taps
 * kx = 1, 2; STEP: of a block. */
#define EC_DW_MVE_ASM(T1, T2, STEP) __asm__ volatile( \
    "vldrw.32 q4, [%[vk]]\n\tvldrw.32 q5, [%[vk], #16]\n\tvldrw.32 q6, [%[vk], #32]\n\t" \
    "vldrw.32 q7, [%[vk], #48]\n\tldr %[rt], [%[t], #8]\n\tvdup.32 q2, %[rt]\n\t" \
    "ldr %[rt], [%[t], #24]\n\tvdup.32 q3, %[rt]\n\tldr %[rt], [%[t], #20]\n\tasr %[rt], %[rt], #16\n\t" \
    "rsb %[nsh], %[rt], #0\n\tdls lr, %[n]\n" \
    "1:\n\tvmov q0, q2\n\t" \
    EC_DW_MVE_TAP(2, a0, T1) EC_DW_MVE_TAP(12, a0, T2) EC_DW_MVE_LAST(0, a0, STEP) \
    EC_DW_MVE_TAP(6, a1, T1) EC_DW_MVE_TAP(14, a1, T2) EC_DW_MVE_LAST(4, a1, STEP) \
    EC_DW_MVE_TAP(18, a2, T1) EC_DW_MVE_TAP(20, a2, T2) EC_DW_MVE_LAST(16, a2, STEP) \
    "vrmulh.s32 q0, q0, q3\n\tvshr.s32 q1, q0, #31\n\tvadd.i32 q0, q0, q1\n\tvrshl.s32 q0, %[nsh]\n\t" \
    "vadd.i32 q0, q0, q7\n\tvmax.s32 q0, q0, q4\n\tvmin.s32 q0, q0, q5\n\tvctp.32 %[left]\n\t" \
    "vpst\n\tvstrbt.32 q0, [%[o], q6]\n\tsubs %[left], %[left], #4\n\tadd %[o], %[o], %[oc]\n\tle lr, 1b\n\t" \
    : [a0] "+l"(a0), [a1] "+l"(a1), [a2] "+l"(a2), [o] "+r"(o), [rt] "=&r"(rt), [nsh] "=&r"(nsh), \
      [left] "+r"(left) \
    : [t] "r"(t), [oc] "r"(oc), [n] "r"(n), [vk] "r"(vk) \
    : "lr", "memory", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", \
      "d13", "d14", "d15")

EC_INLINE void dw_mve_blocks_asm(const int16_t *a0, const int16_t *a1, const int16_t *a2, int8_t *o,
                                 const int32_t *t, int32_t oc, int32_t out_w, const int32_t *vk, int32_t s)
{
    const int32_t n = (out_w + 3) / 4;
    int32_t rt, nsh, left = out_w;
    if (s == 1) {
        EC_DW_MVE_ASM(2, 4, 8);
    } else {
        EC_DW_MVE_ASM(8, 16, 24);
    }
}
#endif

/* One output row, channel by channel, 4 pixels per block; s is a literal at each call. */
EC_INLINE void dw_mve_row(const int16_t *r0, const int16_t *r1, const int16_t *r2, int32_t P, const int8_t *filter,
                          const int32_t *bias, const ec_quant_params *q, const ec_dw_conv_params *p,
                          const int32_t *table, int8_t *orow, int32_t out_w, int32_t c_n, int32_t s)
{
    const int32_t step = s == 1 ? 4 : 12, t1 = s == 1 ? 1 : 4, t2 = s == 1 ? 2 : 8;
    const uint32x4_t out_offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)c_n);
    const int32x4_t lo = vdupq_n_s32(p->activation.min), hi = vdupq_n_s32(p->activation.max);
#if !EC_SINGLE_ROUNDING
    int32_t vk[16];
    vst1q_s32(vk, lo);
    vst1q_s32(vk + 4, hi);
    vst1q_s32(vk + 8, vreinterpretq_s32_u32(out_offs));
    vst1q_s32(vk + 12, vdupq_n_s32(p->output_offset));
#else
    (void)table;
#endif
    for (int32_t c = 0; c < c_n; c++) {
        const int16_t *a0 = r0 + c * P, *a1 = r1 + c * P, *a2 = r2 + c * P;
        int8_t *o = orow + c;
        int32_t ox = 0;
#if !EC_SINGLE_ROUNDING
        dw_mve_blocks_asm(a0, a1, a2, o, table + 8 * c, 4 * c_n, out_w, vk, s);
        continue;
#endif
        const int8_t *f = filter + c;
        const int32_t w0 = f[0], w1 = f[c_n], w2 = f[2 * c_n], w3 = f[3 * c_n], w4 = f[4 * c_n];
        const int32_t w5 = f[5 * c_n], w6 = f[6 * c_n], w7 = f[7 * c_n], w8 = f[8 * c_n];
        const int32_t k = q->is_per_channel ? c : 0;
        const int32_t m = q->multiplier[k], sh = q->shift[k], b = bias ? bias[c] : 0;
        for (; ox < out_w; ox += 4) {
            int32x4_t acc = vdupq_n_s32(b);
            acc = vmlaq_n_s32(acc, vldrhq_s32(a0), w0);
            acc = vmlaq_n_s32(acc, vldrhq_s32(a0 + t1), w1);
            acc = vmlaq_n_s32(acc, vldrhq_s32(a0 + t2), w2);
            acc = vmlaq_n_s32(acc, vldrhq_s32(a1), w3);
            acc = vmlaq_n_s32(acc, vldrhq_s32(a1 + t1), w4);
            acc = vmlaq_n_s32(acc, vldrhq_s32(a1 + t2), w5);
            acc = vmlaq_n_s32(acc, vldrhq_s32(a2), w6);
            acc = vmlaq_n_s32(acc, vldrhq_s32(a2 + t1), w7);
            acc = vmlaq_n_s32(acc, vldrhq_s32(a2 + t2), w8);
            vstrbq_scatter_offset_p_s32(o, out_offs, dw_mve_requant(acc, m, sh, p->output_offset, lo, hi),
                                        vctp32q((uint32_t)(out_w - ox)));
            o += 4 * c_n;
            a0 += step;
            a1 += step;
            a2 += step;
        }
    }
}

static ec_status dw_mve(const ec_context *ctx, const ec_dw_conv_params *p, const ec_quant_params *q,
                        const ec_dims *input_dims, const int8_t *input, const int8_t *filter, const int32_t *bias,
                        const int32_t *table, const ec_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, c_n = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t s = p->stride.w, pad_t = p->padding.h, pad_l = p->padding.w, off = p->input_offset;
    const int32_t P = dw_mve_plane(out_w, s), slot_n = c_n * P;
    int16_t *ring = (int16_t *)ctx->buf;
    if (ring == NULL || ctx->size < 3 * slot_n * 2 || ((uintptr_t)ring & 1u) != 0 || (s != 1 && s != 2)) {
        return EC_ARG_ERROR;
    }
    memset(ring, 0, (size_t)slot_n * 6u);
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in_n = input + n * in_h * in_w * c_n;
        int32_t held[3] = {INT32_MIN, INT32_MIN, INT32_MIN};
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * s - pad_t;
            for (int32_t y = y0; y < y0 + 3; y++) {
                const int32_t slot = (y + 3) % 3;
                if (held[slot] != y) {
                    if (y < 0 || y >= in_h) {
                        memset(ring + slot * slot_n, 0, (size_t)slot_n * 2u);
                    } else {
                        dw_mve_load_row(ring + slot * slot_n, in_n + y * in_w * c_n, in_w, c_n, pad_l, s, P, off);
                    }
                    held[slot] = y;
                }
            }
            const int16_t *r0 = ring + ((y0 + 3) % 3) * slot_n;
            const int16_t *r1 = ring + ((y0 + 4) % 3) * slot_n;
            const int16_t *r2 = ring + ((y0 + 5) % 3) * slot_n;
            int8_t *orow = output + ((n * out_h + oy) * out_w) * c_n;
            if (s == 1) {
                dw_mve_row(r0, r1, r2, P, filter, bias, q, p, table, orow, out_w, c_n, 1);
            } else {
                dw_mve_row(r0, r1, r2, P, filter, bias, q, p, table, orow, out_w, c_n, 2);
            }
        }
    }
    return EC_OK;
}

#endif /* EC_HAS_MVE */

#endif /* EC_DW3X3_H */
