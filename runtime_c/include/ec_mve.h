/* Helium (MVE, Cortex-M55) helpers shared by the kernels: vector requantization (the exact twin of
 * ec_multiply_by_quantized_multiplier, both roundings), the int8 matrix product of ec_matmul.h
 * (blocks of 4 rows packed in the scratch, 4 rows x 2 channels per step in hand-scheduled loops)
 * and the im2col convolution's patches.  Only included where EC_HAS_MVE is 1; MVE cannot run on
 * the host, so these paths are checked under QEMU mps3-an547 (benchmarks/boards.py, the QEMU
 * kernel tests, including the single-rounding firmware). */
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

/* {a0, a1, a2, a3} in two 2-lane moves (lane by lane through the intrinsics elsewhere). */
EC_INLINE int32x4_t ec_mve_vec4(int32_t a0, int32_t a1, int32_t a2, int32_t a3)
{
#if defined(__GNUC__)
    int32x4_t v;
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\tvmov %q0[3], %q0[1], %2, %4"
            : "=w"(v) : "r"(a0), "r"(a1), "r"(a2), "r"(a3));
    return v;
#else
    int32x4_t v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    return vsetq_lane_s32(a3, v, 3);
#endif
}

/* Lanes = 4 sums of one output channel (multiplier m, shift s): ec_multiply_by_quantized_multiplier
 * per lane with the channel's scalars (the by-scalar forms of VSHL, VQRDMULH, VRSHL).  Single
 * rounding, total shift t = 31 - s >= 33: VMULH's floor(x m / 2^32), then VRSHL's round half up by
 * t - 32 (the rounding constant 2^(t-1) is a multiple of 2^32, so the two floors are the one);
 * t = 32: VRMULH; s >= 0 (rare) lane by lane. */
EC_INLINE int32x4_t ec_mve_requant_ch(int32x4_t acc, int32_t m, int32_t s)
{
#if EC_SINGLE_ROUNDING
    if (s <= -2) {
        return vrshlq_n_s32(vmulhq_s32(acc, vdupq_n_s32(m)), s + 1);
    }
    if (s == -1) {
        return vrmulhq_s32(acc, vdupq_n_s32(m));
    }
    int32_t a[4];
    vst1q_s32(a, acc);
    for (int k = 0; k < 4; k++) {
        a[k] = ec_multiply_by_quantized_multiplier(a[k], m, s);
    }
    return vld1q_s32(a);
#else
    const int32_t right = s < 0 ? s : 0;
    const int32x4_t v = vqrdmulhq_n_s32(vshlq_r_s32(acc, s > 0 ? s : 0), m);
    return vrshlq_n_s32(vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, vdupq_n_s32(right)), 31)), right);
#endif
}

/* Packed blocks (rows >= 2): 4 rows (pixels) with their 16-byte chunks interleaved, chunk c of row
 * r at 64 * c + 16 * r, so one pointer and immediate offsets reach the 4 rows.  Bytes past a row's
 * depth are never multiplied by anything but the zeroing weight loads (or zero filter padding). */
#define EC_MVE_PACK_BYTES(depth) (4 * (((depth) + 15) & ~15))

/* The n (1-4) rows x [n, depth] into the packed block dst; rows past n repeat the last one. */
EC_INLINE void ec_mve_pack4(const int8_t *x, int32_t n, int32_t depth, int8_t *dst)
{
    for (int32_t r = 0; r < 4; r++) {
        const int8_t *src = x + (r < n ? r : n - 1) * depth;
        int8_t *d = dst + 16 * r;
        int32_t i = depth;
        for (; i >= 16; i -= 16) {
            vstrbq_s8(d, vldrbq_s8(src));
            src += 16;
            d += 64;
        }
        if (i > 0) {
            vstrbq_s8(d, vldrbq_z_s8(src, vctp8q((uint32_t)i)));
        }
    }
}

/* Lane r = dot(row r of the packed block xp, w) over depth: per 16 one weight load for the 4 rows
 * and 4 VMLADAVA; the depth % 16 tail through a zeroing predicated weight load. */
EC_INLINE int32x4_t ec_mve_dot_packed(const int8_t *xp, const int8_t *w, int32_t depth)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int32_t i = depth >> 4; i > 0; i--) {
        const int8x16_t wv = vldrbq_s8(w);
        a0 = vmladavaq_s8(a0, vldrbq_s8(xp), wv);
        a1 = vmladavaq_s8(a1, vldrbq_s8(xp + 16), wv);
        a2 = vmladavaq_s8(a2, vldrbq_s8(xp + 32), wv);
        a3 = vmladavaq_s8(a3, vldrbq_s8(xp + 48), wv);
        xp += 64;
        w += 16;
    }
    if (depth & 15) {
        const int8x16_t wv = vldrbq_z_s8(w, vctp8q((uint32_t)(depth & 15)));
        a0 = vmladavaq_s8(a0, vldrbq_s8(xp), wv);
        a1 = vmladavaq_s8(a1, vldrbq_s8(xp + 16), wv);
        a2 = vmladavaq_s8(a2, vldrbq_s8(xp + 32), wv);
        a3 = vmladavaq_s8(a3, vldrbq_s8(xp + 48), wv);
    }
    return ec_mve_vec4(a0, a1, a2, a3);
}

#if EC_ASM && !EC_SINGLE_ROUNDING
/* One output channel of a packed block per iteration, hand-scheduled (GCC spills the C form):
 * per 16 deep one weight load, the 4 row loads and 4 VMLADAV(A), the first chunk starting the
 * sums (FIRST; depth < 16: ONLY, its weight load predicated by P0), the others in a low-overhead
 * loop, the depth % 16 tail (TAIL) with the weight load predicated by P0; then the 4 sums as one
 * vector plus the bias, ec_mve_requant_ch's double rounding with the channel's multiplier and
 * shift (by-scalar VQRDMULH / VRSHL; RQ), the output offset, the clamp, and a VSTRB scatter with
 * a stride of out_ch.  The 4 sums double as the requantization scalars. */
#define EC_MVE_CHUNK(OP, WLOAD, XPOST)                                                             \
    WLOAD                                                                                          \
    "vldrb.8 %q[x1], [%[xw], #16]\n\t"                                                             \
    "vldrb.8 %q[x2], [%[xw], #32]\n\t"                                                             \
    "vldrb.8 %q[x3], [%[xw], #48]\n\t"                                                             \
    "vldrb.8 %q[x0], [%[xw]]" XPOST "\n\t"                                                         \
    OP " %[a0], %q[x0], %q[wv]\n\t"                                                                \
    OP " %[a1], %q[x1], %q[wv]\n\t"                                                                \
    OP " %[a2], %q[x2], %q[wv]\n\t"                                                                \
    OP " %[a3], %q[x3], %q[wv]\n\t"
#define EC_MVE_WLOAD "vldrb.8 %q[wv], [%[w]], #16\n\t"
#define EC_MVE_WLOAD_P "vpst\n\tvldrbt.8 %q[wv], [%[w]]\n\t"
#define EC_MVE_WSTEP "ldr %[xw], %[rem]\n\tadd %[w], %[w], %[xw]\n\t"       /* past the tail */
#define EC_MVE_BLOCK_FIRST                                                                         \
    EC_MVE_CHUNK("vmladav.s8", EC_MVE_WLOAD, ", #64")                                              \
    "wls lr, %[cnt], 3f\n\t"                                                                       \
    "2:\n\t"                                                                                       \
    EC_MVE_CHUNK("vmladava.s8", EC_MVE_WLOAD, ", #64")                                             \
    "le lr, 2b\n\t"                                                                                \
    "3:\n\t"
#define EC_MVE_BLOCK_ONLY EC_MVE_CHUNK("vmladav.s8", EC_MVE_WLOAD_P, "") EC_MVE_WSTEP
#define EC_MVE_BLOCK_TAIL EC_MVE_CHUNK("vmladava.s8", EC_MVE_WLOAD_P, "") EC_MVE_WSTEP
/* a0 = multiplier, a1 = shift: ec_mve_requant_ch's double rounding; RQ_FAST when lower proved
 * every right shift >= 1 (rq): no left shift, and the fix-up for ties needs no mask. */
#define EC_MVE_RQ_ANY                                                                              \
    "bic %[a2], %[a1], %[a1], asr #31\n\t"                                                         \
    "and %[a1], %[a1], %[a1], asr #31\n\t"                                                         \
    "vshl.s32 %q[x0], %[a2]\n\t"                                                                   \
    "vqrdmulh.s32 %q[x0], %q[x0], %[a0]\n\t"                                                       \
    "vdup.32 %q[x1], %[a1]\n\t"                                                                    \
    "vand %q[x1], %q[x0], %q[x1]\n\t"                                                              \
    "vshr.s32 %q[x1], %q[x1], #31\n\t"                                                             \
    "vqadd.s32 %q[x0], %q[x0], %q[x1]\n\t"                                                         \
    "vrshl.s32 %q[x0], %[a1]\n\t"
#define EC_MVE_RQ_FAST                                                                             \
    "vqrdmulh.s32 %q[x0], %q[x0], %[a0]\n\t"                                                       \
    "vshr.s32 %q[x1], %q[x0], #31\n\t"                                                             \
    "vqadd.s32 %q[x0], %q[x0], %q[x1]\n\t"                                                         \
    "vrshl.s32 %q[x0], %[a1]\n\t"
#define EC_MVE_BLOCK_ASM(HEAD, TAIL, ST, RQ)                                                       \
    __asm__ volatile(                                                                              \
        "1:\n\t"                                                                                   \
        "mov %[xw], %[xp]\n\t"                                                                     \
        HEAD                                                                                       \
        TAIL                                                                                       \
        "vmov %q[x0][2], %q[x0][0], %[a0], %[a2]\n\t"                                              \
        "vmov %q[x0][3], %q[x0][1], %[a1], %[a3]\n\t"                                              \
        "ldr %[a0], [%[bp]], #4\n\t"                                                               \
        "vadd.i32 %q[x0], %q[x0], %[a0]\n\t"                                                       \
        "ldr %[a0], [%[mp]], #" ST "\n\t"                                                          \
        "ldr %[a1], [%[sp]], #" ST "\n\t"                                                          \
        RQ                                                                                         \
        "ldr %[a0], %[ooff]\n\t"                                                                   \
        "vadd.i32 %q[x0], %q[x0], %[a0]\n\t"                                                       \
        "vmax.s32 %q[x0], %q[x0], %q[lo]\n\t"                                                      \
        "vmin.s32 %q[x0], %q[x0], %q[hi]\n\t"                                                      \
        "vstrb.32 %q[x0], [%[y], %q[offs]]\n\t"                                                    \
        "adds %[y], #1\n\t"                                                                        \
        "subs %[n], #1\n\t"                                                                        \
        "bne 1b\n\t"                                                                               \
        : [w] "+&r"(w), [y] "+&r"(y), [n] "+&r"(n), [bp] "+&r"(bp), [mp] "+&r"(mp), [sp] "+&r"(sp),   \
          [xw] "=&r"(xw), [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3),          \
          [wv] "=&w"(wv), [x0] "=&w"(x0), [x1] "=&w"(x1), [x2] "=&w"(x2), [x3] "=&w"(x3)            \
        : [xp] "r"(xp), [cnt] "r"(cnt), [rem] "m"(rem), [ooff] "m"(output_offset), [lo] "w"(lo),  \
          [hi] "w"(hi), [offs] "w"(offs), [p] "Up"(p)                                              \
        : "lr", "cc", "memory")
#define EC_MVE_BLOCK_VARIANTS(ST, RQ)                                                              \
    do {                                                                                           \
        if (cnt < 0) {                                                                             \
            EC_MVE_BLOCK_ASM(EC_MVE_BLOCK_ONLY, "", ST, RQ);                                       \
        } else if (rem) {                                                                          \
            EC_MVE_BLOCK_ASM(EC_MVE_BLOCK_FIRST, EC_MVE_BLOCK_TAIL, ST, RQ);                       \
        } else {                                                                                   \
            EC_MVE_BLOCK_ASM(EC_MVE_BLOCK_FIRST, "", ST, RQ);                                      \
        }                                                                                          \
    } while (0)

/* ec_mve_block4 for n >= 1 channels of out_ch (stride) with a bias (not inlined: the loop needs 13
 * core registers of its own).  A block of rows < 4 rows: the lanes past the last row (its copies) store to the last row
 * again, the same value. */
static __attribute__((noinline, unused)) void ec_mve_block4_asm(const int8_t *xp, int32_t rows, const int8_t *w,
                                                                int32_t n, int32_t stride, int32_t depth,
                                                                const int32_t *bp, const ec_quant_params *q,
                                                                int32_t rq, int32_t output_offset, ec_activation act,
                                                                int8_t *y)
{
    const uint32x4_t lane = vminq_u32(vidupq_n_u32(0, 1), vdupq_n_u32((uint32_t)rows - 1));
    const uint32x4_t offs = vmulq_n_u32(lane, (uint32_t)stride);
    const int32x4_t lo = vdupq_n_s32(act.min), hi = vdupq_n_s32(act.max);
    const int32_t *mp = q->multiplier, *sp = q->shift;
    const int32_t cnt = (depth >> 4) - 1, rem = depth & 15;   /* the chunks after the first */
    const mve_pred16_t p = vctp8q((uint32_t)rem);
    int32_t xw, a0, a1, a2, a3;
    int8x16_t wv, x0, x1, x2, x3;
    if (rq && q->is_per_channel) {
        EC_MVE_BLOCK_VARIANTS("4", EC_MVE_RQ_FAST);
    } else if (q->is_per_channel) {
        EC_MVE_BLOCK_VARIANTS("4", EC_MVE_RQ_ANY);
    } else {
        EC_MVE_BLOCK_VARIANTS("0", EC_MVE_RQ_ANY);
    }
    (void)xw;
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    (void)wv;
    (void)x0;
    (void)x1;
    (void)x2;
    (void)x3;
}

/* Two output channels per iteration (the row loads shared: 16 instructions per 16 deep for 8 sums
 * against 20), per-channel parameters, a bias: 8 sums in the 8 even core registers
 * (VMLADAV's), the rest of the state in st (ec_mve_pair_state, its byte offsets in the asm: xp 0,
 * cnt 4, rem 8, depth 12, ooff 16, bp 20, mp 24, sp 28, pairs 32; loaded where used). */
typedef struct {
    const int8_t *xp;
    int32_t cnt, rem, depth, ooff;
    const int32_t *bp, *mp, *sp;
    int32_t pairs;
} ec_mve_pair_state;
/* EC_MVE_CHUNK for the first channel of the pair, then its second channel's weights (WB) times the
 * same 4 rows into b0..b3 */
#define EC_MVE_CHUNK2(OP, WA, WB, XPOST)                                                           \
    EC_MVE_CHUNK(OP, WA, XPOST)                                                                    \
    WB                                                                                             \
    OP " %[b0], %q[x0], %q[wv]\n\t"                                                                \
    OP " %[b1], %q[x1], %q[wv]\n\t"                                                                \
    OP " %[b2], %q[x2], %q[wv]\n\t"                                                                \
    OP " %[b3], %q[x3], %q[wv]\n\t"
#define EC_MVE_TAIL2                                                                               \
    EC_MVE_CHUNK2("vmladava.s8", "vpst\n\tvldrbt.8 %q[wv], [%[wa]]\n\t",                            \
                  "vpst\n\tvldrbt.8 %q[wv], [%[wb]]\n\t", "")
/* the first chunk starting the sums, the others in a loop (depth >= 16); ONLY2: depth < 16 */
#define EC_MVE_FIRST2                                                                              \
    "ldr %[ct], [%[st], #4]\n\t"                                                                   \
    EC_MVE_CHUNK2("vmladav.s8", "vldrb.8 %q[wv], [%[wa]], #16\n\t",                                \
                  "vldrb.8 %q[wv], [%[wb]], #16\n\t", ", #64")                                     \
    "cmp %[ct], #0\n\t"                                                                            \
    "beq 3f\n\t"                                                                                   \
    "2:\n\t"                                                                                       \
    EC_MVE_CHUNK2("vmladava.s8", "vldrb.8 %q[wv], [%[wa]], #16\n\t",                               \
                  "vldrb.8 %q[wv], [%[wb]], #16\n\t", ", #64")                                     \
    "subs %[ct], #1\n\t"                                                                           \
    "bne 2b\n\t"                                                                                   \
    "3:\n\t"
#define EC_MVE_ONLY2                                                                               \
    EC_MVE_CHUNK2("vmladav.s8", "vpst\n\tvldrbt.8 %q[wv], [%[wa]]\n\t",                             \
                  "vpst\n\tvldrbt.8 %q[wv], [%[wb]]\n\t", "")
#define EC_MVE_WADV2_TAIL "ldr %[a0], [%[st], #8]\n\tadd %[wa], %[wb], %[a0]\n\t"   /* past the tail */
/* V = the sums, T a vector temporary, M / S / L the multiplier, shift and a scalar temporary */
#define EC_MVE_RQ2_ANY(V, T, M, S, L)                                                              \
    "bic %[" L "], %[" S "], %[" S "], asr #31\n\t"                                                \
    "and %[" S "], %[" S "], %[" S "], asr #31\n\t"                                                \
    "vshl.s32 %q[" V "], %[" L "]\n\t"                                                             \
    "vqrdmulh.s32 %q[" V "], %q[" V "], %[" M "]\n\t"                                              \
    "vdup.32 %q[" T "], %[" S "]\n\t"                                                              \
    "vand %q[" T "], %q[" V "], %q[" T "]\n\t"                                                     \
    "vshr.s32 %q[" T "], %q[" T "], #31\n\t"                                                       \
    "vqadd.s32 %q[" V "], %q[" V "], %q[" T "]\n\t"                                                \
    "vrshl.s32 %q[" V "], %[" S "]\n\t"
#define EC_MVE_RQ2_FAST(V, T, M, S, L)                                                             \
    "vqrdmulh.s32 %q[" V "], %q[" V "], %[" M "]\n\t"                                              \
    "vshr.s32 %q[" T "], %q[" V "], #31\n\t"                                                       \
    "vqadd.s32 %q[" V "], %q[" V "], %q[" T "]\n\t"                                                \
    "vrshl.s32 %q[" V "], %[" S "]\n\t"
#define EC_MVE_PAIR_ASM(HEAD, TAIL, WADV, RQ)                                                                \
    __asm__ volatile(                                                                              \
        "1:\n\t"                                                                                   \
        "ldr %[xw], [%[st]]\n\t"                                                                   \
        HEAD                                                                                       \
        TAIL                                                                                       \
        "vmov %q[x0][2], %q[x0][0], %[a0], %[a2]\n\t"                                              \
        "vmov %q[x0][3], %q[x0][1], %[a1], %[a3]\n\t"                                              \
        "vmov %q[x1][2], %q[x1][0], %[b0], %[b2]\n\t"                                              \
        "vmov %q[x1][3], %q[x1][1], %[b1], %[b3]\n\t"                                              \
        WADV                                                                                       \
        "ldr %[a0], [%[st], #12]\n\t"                                                              \
        "add %[wb], %[wa], %[a0]\n\t"                                                              \
        "ldr %[a0], [%[st], #20]\n\t"                                                              \
        "ldrd %[a1], %[a2], [%[a0]], #8\n\t"                                                       \
        "str %[a0], [%[st], #20]\n\t"                                                              \
        "vadd.i32 %q[x0], %q[x0], %[a1]\n\t"                                                       \
        "vadd.i32 %q[x1], %q[x1], %[a2]\n\t"                                                       \
        "ldr %[a0], [%[st], #24]\n\t"                                                              \
        "ldrd %[a1], %[a2], [%[a0]], #8\n\t"                                                       \
        "str %[a0], [%[st], #24]\n\t"                                                              \
        "ldr %[a0], [%[st], #28]\n\t"                                                              \
        "ldrd %[a3], %[b0], [%[a0]], #8\n\t"                                                       \
        "str %[a0], [%[st], #28]\n\t"                                                              \
        RQ("x0", "x2", "a1", "a3", "b1")                                                           \
        RQ("x1", "x3", "a2", "b0", "b2")                                                           \
        "ldr %[a0], [%[st], #16]\n\t"                                                              \
        "vadd.i32 %q[x0], %q[x0], %[a0]\n\t"                                                       \
        "vadd.i32 %q[x1], %q[x1], %[a0]\n\t"                                                       \
        "vmax.s32 %q[x0], %q[x0], %q[lo]\n\t"                                                      \
        "vmax.s32 %q[x1], %q[x1], %q[lo]\n\t"                                                      \
        "vmin.s32 %q[x0], %q[x0], %q[hi]\n\t"                                                      \
        "vmin.s32 %q[x1], %q[x1], %q[hi]\n\t"                                                      \
        "vstrb.32 %q[x0], [%[y], %q[offs]]\n\t"                                                    \
        "adds %[y], #1\n\t"                                                                        \
        "vstrb.32 %q[x1], [%[y], %q[offs]]\n\t"                                                    \
        "adds %[y], #1\n\t"                                                              \
        "ldr %[a0], [%[st], #32]\n\t"                                                              \
        "subs %[a0], #1\n\t"                                                                       \
        "str %[a0], [%[st], #32]\n\t"                                                              \
        "bne 1b\n\t"                                                                               \
        : [wa] "+&r"(wa), [wb] "+&r"(wb), [y] "+&r"(y), [xw] "=&r"(xw), [ct] "=&r"(ct), [a0] "=&Te"(a0),         \
          [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [b0] "=&Te"(b0), [b1] "=&Te"(b1),      \
          [b2] "=&Te"(b2), [b3] "=&Te"(b3), [wv] "=&w"(wv), [x0] "=&w"(x0), [x1] "=&w"(x1),         \
          [x2] "=&w"(x2), [x3] "=&w"(x3)                                                           \
        : [st] "r"(&st), [lo] "w"(lo), [hi] "w"(hi), [offs] "w"(offs), [p] "Up"(p)                 \
        : "cc", "memory")

/* pairs (>= 1) channel pairs of a packed block of rows (1-4) rows, per-channel
 * parameters, a bias; returns past them (w: the next channel's weights). */
static __attribute__((noinline, unused)) void ec_mve_pairs_asm(const int8_t *xp, int32_t rows, const int8_t *w,
                                                               int32_t pairs, int32_t out_ch, int32_t depth,
                                                               const int32_t *bp, const ec_quant_params *q,
                                                               int32_t rq, int32_t output_offset,
                                                               ec_activation act, int8_t *y)
{
    const uint32x4_t lane = vminq_u32(vidupq_n_u32(0, 1), vdupq_n_u32((uint32_t)rows - 1));
    const uint32x4_t offs = vmulq_n_u32(lane, (uint32_t)out_ch);
    const int32x4_t lo = vdupq_n_s32(act.min), hi = vdupq_n_s32(act.max);
    const mve_pred16_t p = vctp8q((uint32_t)(depth & 15));
    ec_mve_pair_state st = {xp, (depth >> 4) - 1, depth & 15, depth, output_offset, bp, q->multiplier, q->shift,
                            pairs};
    const int8_t *wa = w, *wb = w + depth;
    int32_t xw, ct, a0, a1, a2, a3, b0, b1, b2, b3;
    int8x16_t wv, x0, x1, x2, x3;
    if (rq) {
        if (depth < 16) {
            EC_MVE_PAIR_ASM(EC_MVE_ONLY2, "", EC_MVE_WADV2_TAIL, EC_MVE_RQ2_FAST);
        } else if (depth & 15) {
            EC_MVE_PAIR_ASM(EC_MVE_FIRST2, EC_MVE_TAIL2, EC_MVE_WADV2_TAIL, EC_MVE_RQ2_FAST);
        } else {
            EC_MVE_PAIR_ASM(EC_MVE_FIRST2, "", "mov %[wa], %[wb]\n\t", EC_MVE_RQ2_FAST);
        }
    } else if (depth < 16) {
        EC_MVE_PAIR_ASM(EC_MVE_ONLY2, "", EC_MVE_WADV2_TAIL, EC_MVE_RQ2_ANY);
    } else if (depth & 15) {
        EC_MVE_PAIR_ASM(EC_MVE_FIRST2, EC_MVE_TAIL2, EC_MVE_WADV2_TAIL, EC_MVE_RQ2_ANY);
    } else {
        EC_MVE_PAIR_ASM(EC_MVE_FIRST2, "", "mov %[wa], %[wb]\n\t", EC_MVE_RQ2_ANY);
    }
    (void)wa;
    (void)wb;
    (void)xw;
    (void)ct;
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    (void)b0;
    (void)b1;
    (void)b2;
    (void)b3;
    (void)wv;
    (void)x0;
    (void)x1;
    (void)x2;
    (void)x3;
}
#undef EC_MVE_PAIR_ASM
#undef EC_MVE_CHUNK2
#undef EC_MVE_TAIL2
#undef EC_MVE_WADV2_TAIL
#undef EC_MVE_FIRST2
#undef EC_MVE_ONLY2
#undef EC_MVE_RQ2_ANY
#undef EC_MVE_RQ2_FAST
#undef EC_MVE_BLOCK_ASM
#undef EC_MVE_BLOCK_VARIANTS
#undef EC_MVE_CHUNK
#undef EC_MVE_WLOAD
#undef EC_MVE_WLOAD_P
#undef EC_MVE_WSTEP
#undef EC_MVE_BLOCK_FIRST
#undef EC_MVE_BLOCK_ONLY
#undef EC_MVE_BLOCK_TAIL
#undef EC_MVE_RQ_ANY
#undef EC_MVE_RQ_FAST
#endif

/* The outputs of a packed block of n (1-4) rows: per output channel the 4 sums (weights read once),
 * requantized as one vector with the channel's scalars and stored with a stride of out_ch (VSTRB
 * scatter; lanes past n not stored).  filter [out_ch, depth]; y: the block's first output row, ys
 * bytes between rows (out_ch, or a channel concat's total channels).
 * With a bias and double rounding (GCC, optimizing): ec_mve_pairs_asm over channel pairs
 * (per-channel parameters), ec_mve_block4_asm for the rest; rows past n of the packed block must
 * then repeat row n - 1 (their lanes store to row n - 1 again, the same values). */
EC_INLINE void ec_mve_block4(const int8_t *xp, int32_t n, const int8_t *filter, int32_t out_ch, int32_t depth,
                             const int32_t *bias, const ec_quant_params *q, int32_t rq, int32_t output_offset,
                             ec_activation act, int8_t *y, int32_t ys)
{
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)ys);
    const int32x4_t lo = vdupq_n_s32(act.min), hi = vdupq_n_s32(act.max);
    const int32_t step = q->is_per_channel ? 1 : 0;
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const mve_pred16_t pr = vctp32q((uint32_t)n);
    (void)rq;
#if EC_ASM && !EC_SINGLE_ROUNDING
    if (bias != NULL) {
        int32_t o = 0;
        if (out_ch >= 2 && step) {     /* channel pairs, then an odd last one */
            o = out_ch & ~1;
            ec_mve_pairs_asm(xp, n, filter, o / 2, ys, depth, bias, q, rq, output_offset, act, y);
            if (o == out_ch) {
                return;
            }
        }
        ec_quant_params qo = *q;
        qo.multiplier += o * step;
        qo.shift += o * step;
        ec_mve_block4_asm(xp, n, filter + o * depth, out_ch - o, ys, depth, bias + o, &qo, rq,
                          output_offset, act, y + o);
        return;
    }
#endif
    for (int32_t o = 0; o < out_ch; o++) {
        int32x4_t v = ec_mve_dot_packed(xp, filter, depth);
        filter += depth;
        if (bias) {
            v = vaddq_n_s32(v, bias[o]);
        }
        v = vaddq_n_s32(ec_mve_requant_ch(v, *mult, *shift), output_offset);
        v = vminq_s32(vmaxq_s32(v, lo), hi);
        if (n == 4) {
            vstrbq_scatter_offset_s32(y, offs, v);
        } else {
            vstrbq_scatter_offset_p_s32(y, offs, v, pr);
        }
        y++;
        mult += step;
        shift += step;
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

/* output[r][o] = requant(bias[o] + sum_i x[r][i] * w[o][i]) (the input offset folded into bias).
 * Two rows or more: blocks of 4 rows in order, each packed into the scratch (EC_MVE_PACK_BYTES)
 * and multiplied by ec_mve_block4 (OVERLAP: a block reads only its own input rows before and while
 * it writes its own output rows).  One row (no scratch needed): 4 channels per block, VMLADAVA
 * into 4 scalars, the 4 sums requantized as one vector; a last partial block (1-3 channels)
 * recomputes the row's last 4 channels and stores the new ones; fewer than 4 channels in all:
 * scalar VMLADAVA loops. */
EC_INLINE void ec_mve_mat_mult_s8(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch,
                                  int32_t depth, const int32_t *bias, const ec_quant_params *q, int32_t rq,
                                  int32_t output_offset, ec_activation act, int8_t *output, int32_t ys,
                                  void *scratch)
{
    if (rows > 1) {
        for (int32_t r = 0; r < rows; r += 4) {
            const int32_t n = rows - r < 4 ? rows - r : 4;
            ec_mve_pack4(input + r * depth, n, depth, (int8_t *)scratch);
            ec_mve_block4((const int8_t *)scratch, n, filter, out_ch, depth, bias, q, rq, output_offset, act,
                          output + r * ys, ys);
        }
        return;
    }
    const int8_t *x = input;
    int8_t *y = output;
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

/* The im2col convolution (ec_conv2d_im2col_s8.c) on Helium: patches straight into packed blocks. */

/* n bytes from src (NULL: fill) at byte j of one patch of a packed block (blk = the block + 16 *
 * patch; ec_mve.h: chunk c of patch r at 64 * c + 16 * r), one predicated load / store per piece
 * within a 16-byte chunk. */
EC_INLINE void ec_put_packed(int8_t *blk, int32_t j, const int8_t *src, int8_t fill, int32_t n)
{
    while (n > 0) {
        const int32_t room = 16 - (j & 15), c = room < n ? room : n;
        const mve_pred16_t pc = vctp8q((uint32_t)c);
        int8_t *const d = blk + 4 * (j & ~15) + (j & 15);
        vstrbq_p_s8(d, src ? vldrbq_z_s8(src, pc) : vdupq_n_s8(fill), pc);
        src = src ? src + c : NULL;
        j += c;
        n -= c;
    }
}

/* The offsets from a patch's first input byte of its bytes j < D16 (dilation.w 1, no padded tap),
 * per 16-byte chunk the 8 even then the 8 odd ones (a 16-bit gather each, narrowed into the even
 * and odd byte lanes); bytes past the depth read offset 0 (they meet zero weights only). */
EC_INLINE void ec_gather_offsets(uint16_t *offs, int32_t d16, int32_t depth, int32_t row, int32_t ystep)
{
    for (int32_t j = 0, ky = 0, x = 0; j < d16; j++) {
        offs[(j & ~15) + ((j & 1) << 3) + ((j & 15) >> 1)] = (uint16_t)(j < depth ? ky * ystep + x : 0);
        if (++x == row) {
            x = 0;
            ky++;
        }
    }
}

/* One patch (no padded tap) from its first input byte base: per chunk two 16-bit gathers, narrowed
 * into the even and odd bytes (VMOVNB / VMOVNT), one store. */
EC_INLINE void ec_gather_patch(int8_t *blk, const int8_t *base, const uint16_t *offs, int32_t chunks)
{
    for (int32_t c = 0; c < chunks; c++) {
        const int16x8_t e = vldrbq_gather_offset_s16(base, vld1q_u16(offs));
        const int16x8_t o = vldrbq_gather_offset_s16(base, vld1q_u16(offs + 8));
        vstrbq_s8(blk, vmovntq_s16(vmovnbq_s16(vdupq_n_s8(0), e), o));
        offs += 16;
        blk += 64;
    }
}

/* ec_conv2d_im2col_s8 on Helium: 4 output pixels per block (raster order, OVERLAP: the block's 4
 * patches are copied before its outputs are written), their patches written straight into the
 * packed layout of ec_mve_block4 at col (EC_MVE_PACK_BYTES(DEPTH4) <= the scratch: EC_MAT_SCRATCH_BYTES); a last
 * block of 1-3 pixels repeats its last patch.  Patch bytes past the depth meet zero filter padding
 * or predicated-off weights only.  offs (NULL: none): ec_gather_offsets' table (2 * D16 bytes,
 * when the scratch has room and they fit 16 bits), for the pixels without a padded tap. */
static __attribute__((noinline, unused)) void ec_mve_im2col(const ec_conv_params *p, const ec_quant_params *q,
                                                            const ec_dims *input_dims, const int8_t *input,
                                                            const ec_dims *filter_dims, const int8_t *filter,
                                                            const int32_t *bias, const ec_dims *output_dims,
                                                            int8_t *output, int32_t ys, int8_t *col,
                                                            uint16_t *offs)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, row = k_w * in_c;
    const int32_t out_w = output_dims->w, out_c = output_dims->c;
    const int32_t depth4 = (k_h * row + 3) & ~3, pixels = output_dims->h * out_w;
    const int32_t y_span = (k_h - 1) * p->dilation.h + 1, chunks = (depth4 + 15) >> 4;
    const int8_t zp = (int8_t)(-p->input_offset);
    if (offs) {
        ec_gather_offsets(offs, 16 * chunks, k_h * row, row, p->dilation.h * in_w * in_c);
    }
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in_n = input + n * in_h * in_w * in_c;
        for (int32_t px = 0; px < pixels; px += 4) {
            const int32_t rows = pixels - px < 4 ? pixels - px : 4;
            for (int32_t r = 0; r < 4; r++) {
                const int32_t pix = px + (r < rows ? r : rows - 1), oy = pix / out_w, ox = pix - oy * out_w;
                const int32_t y0 = oy * p->stride.h - p->padding.h, x0 = ox * p->stride.w - p->padding.w;
                int8_t *const blk = col + 16 * r;
                if (offs && y0 >= 0 && y0 + y_span <= in_h && x0 >= 0 && x0 + k_w <= in_w) {
                    ec_gather_patch(blk, in_n + (y0 * in_w + x0) * in_c, offs, chunks);
                    continue;
                }
                for (int32_t ky = 0, j = 0; ky < k_h; ky++, j += row) {
                    const int32_t iy = y0 + ky * p->dilation.h;
                    if (iy < 0 || iy >= in_h) {
                        ec_put_packed(blk, j, NULL, zp, row);
                    } else if (p->dilation.w == 1) {          /* the row's taps are contiguous */
                        int32_t lo = x0 < 0 ? -x0 : 0, hi = x0 + k_w > in_w ? in_w - x0 : k_w;
                        hi = hi < lo ? lo : hi;
                        ec_put_packed(blk, j, NULL, zp, lo * in_c);
                        ec_put_packed(blk, j + lo * in_c, in_n + (iy * in_w + x0 + lo) * in_c, 0, (hi - lo) * in_c);
                        ec_put_packed(blk, j + hi * in_c, NULL, zp, (k_w - hi) * in_c);
                    } else {
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t ix = x0 + kx * p->dilation.w;
                            const int8_t *src = ix < 0 || ix >= in_w ? NULL : in_n + (iy * in_w + ix) * in_c;
                            ec_put_packed(blk, j + kx * in_c, src, zp, in_c);
                        }
                    }
                }
            }
            ec_mve_block4(col, rows, filter, out_c, depth4, bias, q, p->fast_requant, p->output_offset, p->activation,
                          output + (n * pixels + px) * ys, ys);
        }
    }
}

#endif /* EC_MVE_H */
