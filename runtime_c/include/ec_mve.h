/* Helium (MVE, Cortex-M55) helpers shared by the kernels: vector requantization (the exact twin of
 * ec_multiply_by_quantized_multiplier's double rounding) and the int8 matrix product of
 * ec_matmul.h.  Only included where EC_HAS_MVE is 1; MVE cannot run on the host, so these paths are
 * checked under QEMU mps3-an547 (benchmarks/boards.py, the QEMU kernel tests). */
#ifndef EC_MVE_H
#define EC_MVE_H

#include <arm_mve.h>
#include "ec_types.h"
#include "ec_fixedpoint.h"

/* Per lane: ec_multiply_by_quantized_multiplier(acc, mult, shift).  VQRDMULH is
 * saturating_rounding_doubling_high_mul (INT32_MIN * INT32_MIN saturates alike); the left shift
 * wraps like the uint32 shift; rounding_divide_by_pot's ties away from zero = VRSHL's round half
 * up after subtracting 1 from negative values (saturating: INT32_MIN stays, and is exact).  With
 * EC_SINGLE_ROUNDING the lanes go through the scalar function. */
EC_INLINE int32x4_t ec_mve_requantize(int32x4_t acc, int32x4_t mult, int32x4_t shift)
{
#if EC_SINGLE_ROUNDING
    int32_t a[4], m[4], s[4];
    vst1q_s32(a, acc);
    vst1q_s32(m, mult);
    vst1q_s32(s, shift);
    for (int k = 0; k < 4; k++) {
        a[k] = ec_multiply_by_quantized_multiplier(a[k], m[k], s[k]);
    }
    return vld1q_s32(a);
#else
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t right = vminq_s32(shift, zero);            /* -(right shift) */
    const int32x4_t v = vqrdmulhq_s32(vshlq_s32(acc, vmaxq_s32(shift, zero)), mult);
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(v, right), 31);
    return vrshlq_s32(vqaddq_s32(v, fixup), right);
#endif
}

/* Requantize the accumulators of the 4 channels oc.. and store them at out + oc; full: all 4
 * lanes (unpredicated), else the lanes under p. */
EC_INLINE void ec_mve_store4(int32x4_t acc, int32_t oc, int full, mve_pred16_t p, const ec_quant_params *q,
                             int32_t output_offset, ec_activation act, int8_t *out)
{
    int32x4_t mult, shift;
    if (!q->is_per_channel) {
        mult = vdupq_n_s32(q->multiplier[0]);
        shift = vdupq_n_s32(q->shift[0]);
    } else if (full) {
        mult = vldrwq_s32(q->multiplier + oc);
        shift = vldrwq_s32(q->shift + oc);
    } else {
        mult = vldrwq_z_s32(q->multiplier + oc, p);
        shift = vldrwq_z_s32(q->shift + oc, p);
    }
    int32x4_t v = vaddq_n_s32(ec_mve_requantize(acc, mult, shift), output_offset);
    v = vminq_s32(vmaxq_s32(v, vdupq_n_s32(act.min)), vdupq_n_s32(act.max));
    if (full) {
        vstrbq_s32(out + oc, v);
    } else {
        vstrbq_p_s32(out + oc, v, p);
    }
}

/* acc lane k += dot(x, w + k * depth) over depth int8: 16 per VMLADAVA, the depth % 16 tail with
 * zeroing predicated loads (the zero lanes of x add nothing). */
EC_INLINE int32x4_t ec_mve_dot4(const int8_t *x, const int8_t *w, int32_t depth, int32x4_t acc)
{
    const int8_t *w1 = w + depth, *w2 = w1 + depth, *w3 = w2 + depth;
    int32_t a0 = vgetq_lane_s32(acc, 0), a1 = vgetq_lane_s32(acc, 1);
    int32_t a2 = vgetq_lane_s32(acc, 2), a3 = vgetq_lane_s32(acc, 3);
    for (int32_t i = depth >> 4; i > 0; i--) {
        const int8x16_t xv = vldrbq_s8(x);
        a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w));
        a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w1));
        a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w2));
        a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w3));
        x += 16;
        w += 16;
        w1 += 16;
        w2 += 16;
        w3 += 16;
    }
    if (depth & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(depth & 15));
        const int8x16_t xv = vldrbq_z_s8(x, p);
        a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w, p));
        a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1, p));
        a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2, p));
        a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3, p));
    }
    acc = vsetq_lane_s32(a0, acc, 0);
    acc = vsetq_lane_s32(a1, acc, 1);
    acc = vsetq_lane_s32(a2, acc, 2);
    return vsetq_lane_s32(a3, acc, 3);
}

/* Two rows x0, x1 at once (the weight loads shared): ra lane k += dot(x0, w + k * depth), rb the
 * same for x1. */
EC_INLINE void ec_mve_dot4x2(const int8_t *x0, const int8_t *x1, const int8_t *w, int32_t depth, int32x4_t *ra,
                             int32x4_t *rb)
{
    const int8_t *w1 = w + depth, *w2 = w1 + depth, *w3 = w2 + depth;
    int32_t a0 = vgetq_lane_s32(*ra, 0), a1 = vgetq_lane_s32(*ra, 1);
    int32_t a2 = vgetq_lane_s32(*ra, 2), a3 = vgetq_lane_s32(*ra, 3);
    int32_t b0 = a0, b1 = a1, b2 = a2, b3 = a3;
#define EC_MVE_STEP_4X2(LOAD)                                                                       \
    do {                                                                                            \
        const int8x16_t xa = LOAD(x0), xb = LOAD(x1);                                               \
        int8x16_t wv = LOAD(w);                                                                     \
        a0 = vmladavaq_s8(a0, xa, wv);                                                              \
        b0 = vmladavaq_s8(b0, xb, wv);                                                              \
        wv = LOAD(w1);                                                                              \
        a1 = vmladavaq_s8(a1, xa, wv);                                                              \
        b1 = vmladavaq_s8(b1, xb, wv);                                                              \
        wv = LOAD(w2);                                                                              \
        a2 = vmladavaq_s8(a2, xa, wv);                                                              \
        b2 = vmladavaq_s8(b2, xb, wv);                                                              \
        wv = LOAD(w3);                                                                              \
        a3 = vmladavaq_s8(a3, xa, wv);                                                              \
        b3 = vmladavaq_s8(b3, xb, wv);                                                              \
    } while (0)
#define EC_MVE_LOAD(ptr) vldrbq_s8(ptr)
#define EC_MVE_LOAD_TAIL(ptr) vldrbq_z_s8(ptr, p)
    for (int32_t i = depth >> 4; i > 0; i--) {
        EC_MVE_STEP_4X2(EC_MVE_LOAD);
        x0 += 16;
        x1 += 16;
        w += 16;
        w1 += 16;
        w2 += 16;
        w3 += 16;
    }
    if (depth & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(depth & 15));
        EC_MVE_STEP_4X2(EC_MVE_LOAD_TAIL);
    }
#undef EC_MVE_STEP_4X2
#undef EC_MVE_LOAD
#undef EC_MVE_LOAD_TAIL
    int32x4_t v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    *ra = vsetq_lane_s32(a3, v, 3);
    v = vdupq_n_s32(b0);
    v = vsetq_lane_s32(b1, v, 1);
    v = vsetq_lane_s32(b2, v, 2);
    *rb = vsetq_lane_s32(b3, v, 3);
}

/* output[r][o] = requant(bias[o] + sum_i x[r][i] * w[o][i]) (the input offset folded into bias):
 * one row x 4 channels per block, each block's 4 sums requantized as one vector and stored; a last
 * partial block (1-3 channels) recomputes the row's last 4 channels and stores the new ones.  Rows
 * and their blocks in order (OVERLAP: an output row is written only while its own input row is
 * read).  Fewer than 4 channels in all: scalar VMLADAVA loops. */
EC_INLINE void ec_mve_mat_mult_s8(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch,
                                  int32_t depth, const int32_t *bias, const ec_quant_params *q,
                                  int32_t output_offset, ec_activation act, int8_t *output)
{
    int32_t r = 0;
    if (out_ch % 4 == 0) {            /* rows in pairs: 2 output pixels per block, in order */
        for (; r + 1 < rows; r += 2) {
            const int8_t *x = input + r * depth;
            int8_t *y = output + r * out_ch;
            for (int32_t o = 0; o < out_ch; o += 4) {
                int32x4_t a = bias ? vldrwq_s32(bias + o) : vdupq_n_s32(0), b;
                ec_mve_dot4x2(x, x + depth, filter + o * depth, depth, &a, &b);
                ec_mve_store4(a, o, 1, 0, q, output_offset, act, y);
                ec_mve_store4(b, o, 1, 0, q, output_offset, act, y + out_ch);
            }
        }
    }
    for (; r < rows; r++) {
        const int8_t *x = input + r * depth;
        int8_t *y = output + r * out_ch;
        int32_t o = 0;
        for (; o + 3 < out_ch; o += 4) {
            const int32x4_t b = bias ? vldrwq_s32(bias + o) : vdupq_n_s32(0);
            ec_mve_store4(ec_mve_dot4(x, filter + o * depth, depth, b), o, 1, 0, q, output_offset, act, y);
        }
        if (o < out_ch && out_ch >= 4) {
            const int32_t back = 4 - (out_ch - o);
            const mve_pred16_t p = vctp32q((uint32_t)(out_ch - o));
            const int32x4_t b = bias ? vldrwq_s32(bias + out_ch - 4) : vdupq_n_s32(0);
            int32_t t[4];
            vst1q_s32(t, ec_mve_dot4(x, filter + (out_ch - 4) * depth, depth, b));
            ec_mve_store4(vldrwq_z_s32(t + back, p), o, 0, p, q, output_offset, act, y);   /* lanes back.. */
        } else if (o < out_ch) {
            for (int32_t k = o; k < out_ch; k++) {
                const int8_t *w = filter + k * depth;
                int32_t a = bias ? bias[k] : 0;
                for (int32_t i = 0; i < depth; i += 16) {
                    const mve_pred16_t pk = vctp8q((uint32_t)(depth - i));
                    a = vmladavaq_s8(a, vldrbq_z_s8(x + i, pk), vldrbq_z_s8(w + i, pk));
                }
                const int32_t m = q->is_per_channel ? k : 0;
                const int32_t v = ec_multiply_by_quantized_multiplier(a, q->multiplier[m], q->shift[m]);
                y[k] = ec_sat_s8(v + output_offset, act.min, act.max);
            }
        }
    }
}

#endif /* EC_MVE_H */
