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

/* EC_DW3X3_ASM: the DSP path's assembly loops (optimized GCC builds, TFLM's double rounding) */
#if EC_HAS_DSP && EC_ASM && !EC_SINGLE_ROUNDING
#define EC_DW3X3_ASM 1
#else
#define EC_DW3X3_ASM 0
#endif

EC_INLINE int32_t dw_pack(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)hi << 16) | ((uint32_t)lo & 0xFFFFu));
}

#if !EC_HAS_MVE
/* One word (two columns of the padded row as int16 pairs) of every channel at d1 and d2, K words
 * apart from channel to channel (d2 == d1: one copy); xa / xb: the C channels of the two columns. */
EC_INLINE void dw_load_word(int32_t *d1, int32_t *d2, const int8_t *xa, const int8_t *xb, int32_t c_n, int32_t K)
{
    int32_t c = 0;
#if EC_HAS_DSP && !EC_DW3X3_ASM
    for (; c + 4 <= c_n; c += 4) {
        const int32_t va = ec_read_s8x4(xa + c), vb = ec_read_s8x4(xb + c);
        const int32_t lo = EC_PKHBB(va, vb), hi = EC_PKHTT(va, vb);    /* channels c, c + 1 / c + 2, c + 3 */
        const int32_t v0 = EC_SXTB16(lo), v1 = EC_SXTB16_ROR8(lo), v2 = EC_SXTB16(hi), v3 = EC_SXTB16_ROR8(hi);
        d1[0] = v0;
        d1[K] = v1;
        d1[2 * K] = v2;
        d1[3 * K] = v3;
        d1 += 4 * K;
        d2[0] = v0;
        d2[K] = v1;
        d2[2 * K] = v2;
        d2[3 * K] = v3;
        d2 += 4 * K;
    }
#endif
    for (; c < c_n; c++) {
        const int32_t v = dw_pack(xa[c], xb[c]);
        *d1 = v;
        d1 += K;
        *d2 = v;
        d2 += K;
    }
}

/* n words of value v at p */
static void dw_fill(int32_t *p, int32_t n, int32_t v)
{
#if EC_DW3X3_ASM
    __asm__ volatile(               /* n >= 2: one word if n is odd, then pairs */
        "lsrs %[n], %[n], #1\n\t"
        "it cs\n\t"
        "strcs %[v], [%[p]], #4\n\t"
        "1:\n\t"
        "strd %[v], %[v], [%[p]], #8\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [p] "+r"(p), [n] "+r"(n)
        : [v] "r"(v)
        : "cc", "memory");
#else
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        p[i] = v;
        p[i + 1] = v;
        p[i + 2] = v;
        p[i + 3] = v;
    }
    for (; i < n; i++) {
        p[i] = v;
    }
#endif
}

#if EC_DW3X3_ASM
/* Channels 0 .. c4 - 1 (c4 = 4k > 0) of n words from x (the first column a of the first word;
 * column b at x + ob): d1 the first word's place, d2 its copy (d2 == d1: one copy).  A run of n > 1
 * words: ob = C, both columns inside the row, d2 != d1 (s = 1: group - 1, word 1; s = 2: n even from
 * an even word, group - 1, word 2; the odd words have one copy).  Per 4 channels and word 2 LDR,
 * 2 PKH, 4 SXTB16, 8 STR (4 for s = 2's odd words). */
#define EC_DW3X3_CONV(KB) \
    "ldr %[vb], [%[x], %[ob]]\n\t" \
    "ldr %[va], [%[x]], #4\n\t" \
    "pkhbt %[lo], %[va], %[vb], lsl #16\n\t" \
    "pkhtb %[hi], %[vb], %[va], asr #16\n\t" \
    "sxtb16 %[va], %[lo]\n\t" \
    "sxtb16 %[vb], %[lo], ror #8\n\t" \
    "sxtb16 %[lo], %[hi]\n\t" \
    "sxtb16 %[hi], %[hi], ror #8\n\t" \
    "str %[vb], [%[d1], #" #KB "]\n\t" \
    "str %[lo], [%[d1], #2*" #KB "]\n\t" \
    "str %[hi], [%[d1], #3*" #KB "]\n\t" \
    "str %[va], [%[d1]], #4*" #KB "\n\t"
#define EC_DW3X3_COPY(KB) \
    "str %[vb], [%[d2], #" #KB "]\n\t" \
    "str %[lo], [%[d2], #2*" #KB "]\n\t" \
    "str %[hi], [%[d2], #3*" #KB "]\n\t" \
    "str %[va], [%[d2]], #4*" #KB "\n\t"
#define EC_DW3X3_CONV_OPS \
    : [x] "+r"(x), [d1] "+r"(d1), [d2] "+r"(d2), [n] "+r"(n), [e] "=&r"(e), [va] "=&r"(va), [vb] "=&r"(vb), \
      [lo] "=&r"(lo), [hi] "=&r"(hi) \
    : [ob] "r"(ob), [cn] "r"(c_n), [c4] "r"(c4) \
    : "cc", "memory"

EC_INLINE void dw_conv_asm(int32_t *d1, int32_t *d2, const int8_t *x, int32_t ob, int32_t c_n, int32_t c4, int32_t n,
                           int32_t s)
{
    const int8_t *e;
    int32_t va, vb, lo, hi;
    if (s == 1) {
        __asm__ volatile(
            "2:\n\t"
            "add %[e], %[x], %[c4]\n\t"
            "1:\n\t"
            EC_DW3X3_CONV(8) EC_DW3X3_COPY(8)
            "cmp %[x], %[e]\n\t"
            "bne 1b\n\t"
            "add %[x], %[x], %[cn]\n\t"                /* the next word's column a */
            "subs %[n], %[n], #1\n\t"
            "bne 2b\n\t"
            EC_DW3X3_CONV_OPS);
    } else {
        __asm__ volatile(
            "2:\n\t"
            "add %[e], %[x], %[c4]\n\t"
            "1:\n\t"
            EC_DW3X3_CONV(12) EC_DW3X3_COPY(12)
            "cmp %[x], %[e]\n\t"
            "bne 1b\n\t"
            "subs %[n], %[n], #1\n\t"
            "beq 4f\n\t"
            "add %[x], %[x], %[cn]\n\t"
            "sub %[d1], %[d2], #4\n\t"                 /* the odd word: (g, 1), before the copy at (g, 2) */
            "add %[e], %[x], %[c4]\n\t"
            "3:\n\t"
            EC_DW3X3_CONV(12)
            "cmp %[x], %[e]\n\t"
            "bne 3b\n\t"
            "add %[x], %[x], %[cn]\n\t"
            "sub %[d1], %[d1], #4\n\t"                 /* (g + 1, 1) -> (g + 1, 0) */
            "subs %[n], %[n], #1\n\t"
            "bne 2b\n\t"
            "4:\n\t"
            EC_DW3X3_CONV_OPS);
    }
}
#endif

/* Input row `row` (in_w x C int8) into one ring slot.  Group g holds words s*g .. s*g + s of the
 * padded row (K = s + 1 words per channel), so word w (columns 2w, 2w + 1) goes to (w / s, w % s)
 * and, when w % s == 0, also to (w / s - 1, s); a word with one copy is stored twice to the same
 * place (cheaper than a test per channel).  Words of padding only keep the zero-point fill, a
 * padding column of a word reads zrow (C bytes of the input zero point). */
static __attribute__((noinline)) void dw_load_row(int32_t *slot, const int8_t *row, const int8_t *zrow, int32_t in_w,
                                                  int32_t c_n, int32_t pad, int32_t s, int32_t G)
{
    const int32_t K = s + 1, gw = c_n * K, last = s * G, c4 = EC_DW3X3_ASM ? c_n & ~3 : 0;
    for (int32_t w = 0, xa = -pad; w <= last; w++, xa += 2) {
        if (xa + 1 < 0 || xa >= in_w) {
            continue;
        }
        int32_t *d1 = slot + (w >> (s - 1)) * gw + (w & (s - 1));
        int32_t *d2 = (w & (s - 1)) == 0 && w > 0 ? d1 - gw + s : d1;
        const int8_t *pa = xa >= 0 ? row + xa * c_n : zrow, *pb = xa + 1 < in_w ? row + (xa + 1) * c_n : zrow;
        d1 = w == last ? d2 : d1;
#if EC_DW3X3_ASM
        int32_t n = 1;
        if (c4 == c_n && d2 != d1 && pb == pa + c_n) {  /* a run of words inside the row (not the last) */
            n = (in_w - xa) >> 1 < last - w ? (in_w - xa) >> 1 : last - w;
            n = (n & ~(s - 1)) > 1 ? n & ~(s - 1) : 1;
        }
        if (c4 > 0) {
            dw_conv_asm(d1, d2, pa, (int32_t)((uintptr_t)pb - (uintptr_t)pa), c_n, c4, n, s);
        }
        w += n - 1;
        xa += 2 * (n - 1);
#endif
        dw_load_word(d1 + c4 * K, d2 + c4 * K, pa + c4, pb + c4, c_n - c4, K);
    }
}

#endif

#if EC_DW3X3_ASM
/* The whole-int8-range loops in assembly (GCC spills them): per channel LDM / LDRD of the table and
 * the ring words, SMLAD / SMLAxy, SMMULR + ec_requant_fast's adds and shift, SSAT.  The operands
 * live in fixed registers so that LDM can load the table (its register lists must ascend): r0..r2
 * ring rows, r3 table, r4 output, r5..r7 ring words, r8, r9, r11 taps, r10 / r12 the sums; the
 * second pixel's output r7 (stride 1) / lr (stride 2), the table's end lr (stride 1).  Per
 * channel: a pixel pair 35 instructions (stride 1) / 33 (stride 2), a single pixel 19. */
#define EC_DW3X3_REGS \
    register const int32_t *q0_ __asm__("r0") = q0; \
    register const int32_t *q1_ __asm__("r1") = q1; \
    register const int32_t *q2_ __asm__("r2") = q2; \
    register const int32_t *t_ __asm__("r3") = t; \
    register int8_t *o_ __asm__("r4") = o; \
    register int32_t a_ __asm__("r5"), b_ __asm__("r6"), x_ __asm__("r8"), y_ __asm__("r9"); \
    register int32_t u_ __asm__("r10"), z_ __asm__("r11")
#define EC_DW3X3_OUTS \
    [q0] "+r"(q0_), [q1] "+r"(q1_), [q2] "+r"(q2_), [t] "+r"(t_), [o] "+r"(o_), [u] "=&r"(u_), [a] "=&r"(a_), \
    [b] "=&r"(b_), [x] "=&r"(x_), [y] "=&r"(y_), [z] "=&r"(z_)
/* requantize one sum S (ec_requant_fast: x multiplier, y k, z e) and SSAT */
#define EC_DW3X3_RQ(S) \
    "smmulr %[" S "], %[" S "], %[x]\n\t" \
    "add %[" S "], %[" S "], %[" S "], asr #31\n\t" \
    "add %[" S "], %[" S "], %[y]\n\t" \
    "asr %[" S "], %[" S "], %[z]\n\t" \
    "ssat %[" S "], #8, %[" S "]\n\t"
/* multiplier, k (t at the next channel), both sums requantized (the shift: e, the low byte of z) */
#define EC_DW3X3_RQ2 \
    "ldrd %[x], %[y], [%[t], #-8]\n\t" \
    EC_DW3X3_RQ("u") EC_DW3X3_RQ("v")

/* np pixel pairs (ox, ox + 1), ox = 0, 2, .. of one row from group 0, every channel (dw_pair's
 * arithmetic); the pair loop (table back to its start, outputs 2 C further) is part of the assembly. */
#define EC_DW3X3_NEXT_PAIR \
    "ldr %[a], %[np]\n\t" \
    "subs %[a], %[a], #1\n\t" \
    "str %[a], %[np]\n\t" \
    "beq 9f\n\t" \
    "ldr %[t], %[tab]\n\t" \
    "ldr %[a], %[cn]\n\t" \
    "add %[o], %[o], %[a]\n\t" \
    "add %[o2], %[o2], %[a]\n\t" \
    "b 1b\n\t" \
    "9:\n\t"

EC_INLINE void dw_pairs_full_asm(const int32_t *q0, const int32_t *q1, const int32_t *q2, const int32_t *t,
                                 int8_t *o, int32_t c_n, int32_t s, int32_t np)
{
    const int32_t *const tab = t;
    EC_DW3X3_REGS;
    register int32_t v_ __asm__("r12");
    if (s == 1) {
        register int8_t *o2_ __asm__("r7") = o + c_n;
        register const int32_t *tend_ __asm__("lr") = t + 8 * c_n;
        __asm__ volatile(
            "1:\n\t"
            "ldm %[t]!, {%[x], %[y], %[u], %[z]}\n\t"     /* taps (0, 0..1), (1, 0..1), 2 x bias, (0..1, 2) */
            "ldrd %[a], %[b], [%[q0]], #8\n\t"           /* columns ox..ox+3 of tap row 0 */
            "smlatb %[v], %[a], %[x], %[u]\n\t"
            "smlad %[u], %[a], %[x], %[u]\n\t"
            "smlabt %[v], %[b], %[x], %[v]\n\t"
            "smlabb %[u], %[b], %[z], %[u]\n\t"
            "smlatb %[v], %[b], %[z], %[v]\n\t"
            "ldrd %[a], %[b], [%[q1]], #8\n\t"
            "smlad %[u], %[a], %[y], %[u]\n\t"
            "smlatb %[v], %[a], %[y], %[v]\n\t"
            "smlabt %[v], %[b], %[y], %[v]\n\t"
            "smlabt %[u], %[b], %[z], %[u]\n\t"
            "smlatt %[v], %[b], %[z], %[v]\n\t"
            "ldrd %[x], %[z], [%[t]], #16\n\t"           /* taps (2, 0..1), e | tap (2, 2) << 16 */
            "ldrd %[a], %[b], [%[q2]], #8\n\t"
            "smlad %[u], %[a], %[x], %[u]\n\t"
            "smlatb %[v], %[a], %[x], %[v]\n\t"
            "smlabt %[v], %[b], %[x], %[v]\n\t"
            "smlabt %[u], %[b], %[z], %[u]\n\t"
            "smlatt %[v], %[b], %[z], %[v]\n\t"
            EC_DW3X3_RQ2
            "strb %[v], [%[o2]], #1\n\t"
            "strb %[u], [%[o]], #1\n\t"
            "cmp %[t], %[tend]\n\t"
            "bne 1b\n\t"
            EC_DW3X3_NEXT_PAIR
            : EC_DW3X3_OUTS, [v] "=&r"(v_), [o2] "+r"(o2_), [np] "+m"(np)
            : [tend] "r"(tend_), [tab] "m"(tab), [cn] "m"(c_n)
            : "cc", "memory");
    } else {
        register int32_t c_ __asm__("r7");
        register int8_t *o2_ __asm__("lr") = o + c_n;
        const int32_t *const tend = t + 8 * c_n;
        __asm__ volatile(
            "1:\n\t"
            "ldm %[t]!, {%[x], %[y], %[u], %[z]}\n\t"
            "ldm %[q0]!, {%[a], %[b], %[c]}\n\t"         /* columns 2ox..2ox+5 */
            "smlad %[v], %[b], %[x], %[u]\n\t"
            "smlad %[u], %[a], %[x], %[u]\n\t"
            "smlabb %[u], %[b], %[z], %[u]\n\t"
            "smlabb %[v], %[c], %[z], %[v]\n\t"
            "ldm %[q1]!, {%[a], %[b], %[c]}\n\t"
            "smlad %[u], %[a], %[y], %[u]\n\t"
            "smlabt %[u], %[b], %[z], %[u]\n\t"
            "smlad %[v], %[b], %[y], %[v]\n\t"
            "smlabt %[v], %[c], %[z], %[v]\n\t"
            "ldrd %[x], %[z], [%[t]], #16\n\t"
            "ldm %[q2]!, {%[a], %[b], %[c]}\n\t"
            "smlad %[u], %[a], %[x], %[u]\n\t"
            "smlabt %[u], %[b], %[z], %[u]\n\t"
            "smlad %[v], %[b], %[x], %[v]\n\t"
            "smlabt %[v], %[c], %[z], %[v]\n\t"
            EC_DW3X3_RQ2
            "strb %[v], [%[o2]], #1\n\t"
            "strb %[u], [%[o]], #1\n\t"
            "ldr %[a], %[tend]\n\t"
            "cmp %[t], %[a]\n\t"
            "bne 1b\n\t"
            EC_DW3X3_NEXT_PAIR
            : EC_DW3X3_OUTS, [v] "=&r"(v_), [c] "=&r"(c_), [o2] "+r"(o2_), [np] "+m"(np)
            : [tend] "m"(tend), [tab] "m"(tab), [cn] "m"(c_n)
            : "cc", "memory");
    }
}

/* The last output pixel of an odd row (dw_single's arithmetic); KB: bytes per channel of a group.
 * The second LDM: taps (2, 0..1), e | tap (2, 2) << 16, multiplier, k into r8, r9, r11, r12. */
#define EC_DW3X3_SINGLE_ASM(KB) __asm__ volatile( \
    "1:\n\t" \
    "ldm %[t]!, {%[x], %[y], %[u], %[z]}\n\t" \
    "ldrd %[a], %[b], [%[q0]], #" #KB "\n\t" \
    "smlad %[u], %[a], %[x], %[u]\n\t" \
    "smlabb %[u], %[b], %[z], %[u]\n\t" \
    "ldrd %[a], %[b], [%[q1]], #" #KB "\n\t" \
    "smlad %[u], %[a], %[y], %[u]\n\t" \
    "smlabt %[u], %[b], %[z], %[u]\n\t" \
    "ldm %[t]!, {%[x], %[y], %[z], %[k]}\n\t" \
    "ldrd %[a], %[b], [%[q2]], #" #KB "\n\t" \
    "smlad %[u], %[a], %[x], %[u]\n\t" \
    "smlabt %[u], %[b], %[y], %[u]\n\t" \
    "smmulr %[u], %[u], %[z]\n\t" \
    "add %[u], %[u], %[u], asr #31\n\t" \
    "add %[u], %[u], %[k]\n\t" \
    "asr %[u], %[u], %[y]\n\t" \
    "ssat %[u], #8, %[u]\n\t" \
    "strb %[u], [%[o]], #1\n\t" \
    "cmp %[o], %[end]\n\t" \
    "bne 1b\n\t" \
    : EC_DW3X3_OUTS, [k] "=&r"(k_) \
    : [end] "r"(end) \
    : "cc", "memory")

EC_INLINE void dw_single_full_asm(const int32_t *q0, const int32_t *q1, const int32_t *q2, const int32_t *t,
                                  int8_t *o, int32_t c_n, int32_t s)
{
    const int8_t *end = o + c_n;
    EC_DW3X3_REGS;
    register int32_t k_ __asm__("r12");
    if (s == 1) {
        EC_DW3X3_SINGLE_ASM(8);
    } else {
        EC_DW3X3_SINGLE_ASM(12);
    }
}
#endif

#if EC_HAS_MVE
#include <arm_mve.h>

/* Helium: the 9 taps of one output pixel and channel are one VMLADAV.S8 of a gathered 16-byte window
 * (raw int8 inputs, the input offset folded into the table's bias: padding holds the input zero
 * point, whose taps add (zp + offset) * w = 0) by the channel's tap vector, 4 pixels per block
 * whose sums go into the lanes of one vector for the requantization.  Scratch: C planes of
 * dw_mve_cols columns x 8 bytes, input row y in byte y & 7 of each column (a ring of 8 rows).
 * Stride 1: blocks of 2 x 2 pixels (output rows oy, oy + 1, columns ox, ox + 1), one gather of the
 * 4 x 4 window (lane ky * 4 + kx), tap vectors shifted by 0, 1, 4, 5 lanes; stride 2: blocks of 1 x 4
 * pixels, two gathers of 3 x 5 windows (lane ky * 5 + kx), tap vectors shifted by 0, 2 lanes.
 * Table, 10 int32 per channel (ops/dw_variants.py): bias + offset x the sum of the taps, multiplier,
 * k of ec_requant_fast, 24 - e, 8 zero bytes (so the shifted loads read zeros), the tap vector.
 * Requantization: ec_requant_fast on the lanes (VQRDMULH = SRDHM, or VQDMULH for single rounding),
 * then VQSHL by 24 - e saturates (a truncating right shift when e > 24), so (lane >> 24) is the
 * result clamped to int8.
 * A pass is up to two groups of blocks (stride 1: output rows oy .. oy + 3, stride 2: oy, oy + 1), so
 * a channel's vectors are loaded once per pass.
 * OVERLAP: every pass loads all its input rows before its first write and reads no input row later
 * than a raster kernel would (the argument in ec_depthwise_conv2d_3x3_s8.c holds for passes). */
EC_INLINE int32_t dw_mve_cols(int32_t out_w, int32_t s)
{
    return s == 1 ? (out_w + 1) / 2 * 2 + 2 : (out_w + 3) / 4 * 8 + 1;
}

/* (0, 1, 2, 3) (not VIDUP: GCC 12 does not model its write-back of the start register) */
EC_INLINE uint32x4_t dw_mve_iota(void)
{
    static const uint32_t iota[4] = {0u, 1u, 2u, 3u};
    return vld1q_u32(iota);
}

/* Input row `row` (or zero-point padding if NULL) into byte `slot` of every column of the C planes. */
static __attribute__((noinline)) void dw_mve_load_row(int8_t *ring, const int8_t *row, int32_t in_w, int32_t c_n,
                                                      int32_t pad, int32_t wp, int32_t slot, int8_t zp)
{
    const uint32x4_t offs = vmulq_n_u32(dw_mve_iota(), (uint32_t)(8 * wp));
    if (row == NULL) {
        const uint32x4_t cols = vmulq_n_u32(dw_mve_iota(), 8u);
        const int32x4_t z = vdupq_n_s32(zp);
        for (int32_t i = 0; i < c_n * wp; i += 4) {
            vstrbq_scatter_offset_p_s32(ring + 8 * i + slot, cols, z, vctp32q((uint32_t)(c_n * wp - i)));
        }
        return;
    }
    const int32_t x_hi = in_w < wp - pad ? in_w : wp - pad;
    if (c_n <= 16) {            /* 16 columns of one channel per byte gather (offsets x * C < 256) */
        static const uint8_t iota16[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        const uint8x16_t i16 = vld1q_u8(iota16);
        const uint8x16_t from = vmulq_n_u8(i16, (uint8_t)c_n), to = vshlq_n_u8(i16, 3);
        for (int32_t x = 0; x < x_hi; x += 16) {
            const int8_t *src = row + x * c_n, *end = src + c_n;
            int8_t *dst = ring + (x + pad) * 8 + slot;
            if (x + 16 <= x_hi) {
                for (; src != end; src++, dst += 8 * wp) {
                    vstrbq_scatter_offset_s8(dst, to, vldrbq_gather_offset_s8(src, from));
                }
            } else {
                const mve_pred16_t pr = vctp8q((uint32_t)(x_hi - x));
                for (; src != end; src++, dst += 8 * wp) {
                    vstrbq_scatter_offset_p_s8(dst, to, vldrbq_gather_offset_z_s8(src, from, pr), pr);
                }
            }
        }
        return;
    }
    if ((x_hi + 7) / 8 * (5 * c_n + 6) < x_hi * (10 * (c_n / 16) + 8)) {   /* 8 columns per gather */
        static const uint16_t iota8[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        const uint16x8_t i8 = vld1q_u16(iota8);
        const uint16x8_t from = vmulq_n_u16(i8, (uint16_t)c_n), to = vshlq_n_u16(i8, 3);
        for (int32_t x = 0; x < x_hi; x += 8) {
            const int8_t *src = row + x * c_n, *end = src + c_n;
            int8_t *dst = ring + (x + pad) * 8 + slot;
            if (x + 8 <= x_hi) {
                for (; src != end; src++, dst += 8 * wp) {
                    vstrbq_scatter_offset_s16(dst, to, vldrbq_gather_offset_s16(src, from));
                }
            } else {
                const mve_pred16_t pr = vctp16q((uint32_t)(x_hi - x));
                for (; src != end; src++, dst += 8 * wp) {
                    vstrbq_scatter_offset_p_s16(dst, to, vldrbq_gather_offset_z_s16(src, from, pr), pr);
                }
            }
        }
        return;
    }
    const uint32x4_t by4 = vmulq_n_u32(offs, 4u), offs1 = vaddq_n_u32(by4, (uint32_t)(8 * wp));
    const uint32x4_t offs2 = vaddq_n_u32(by4, (uint32_t)(16 * wp)), offs3 = vaddq_n_u32(by4, (uint32_t)(24 * wp));
    const int32_t c16 = c_n & ~15;
    for (int32_t x = 0; x < x_hi; x++) {
        const int8_t *src = row + x * c_n;
        int8_t *dst = ring + (x + pad) * 8 + slot;
        for (const int8_t *end = src + c16; src != end; src += 16) {    /* byte j of word i: channel 4 i + j */
            const uint32x4_t v = vreinterpretq_u32_s8(vld1q_s8(src));
            vstrbq_scatter_offset_u32((uint8_t *)dst, by4, v);
            vstrbq_scatter_offset_u32((uint8_t *)dst, offs1, vshrq_n_u32(v, 8));
            vstrbq_scatter_offset_u32((uint8_t *)dst, offs2, vshrq_n_u32(v, 16));
            vstrbq_scatter_offset_u32((uint8_t *)dst, offs3, vshrq_n_u32(v, 24));
            dst += 128 * wp;
        }
        if (c16 != c_n) {
            int32_t c = c16;
            for (; c + 4 <= c_n; c += 4) {
                vstrbq_scatter_offset_s32(dst, offs, vldrbq_s32(src + c - c16));
                dst += 32 * wp;
            }
            if (c < c_n) {
                const mve_pred16_t pr = vctp32q((uint32_t)(c_n - c));
                vstrbq_scatter_offset_p_s32(dst, offs, vldrbq_z_s32(src + c - c16, pr), pr);
            }
        }
    }
}

/* n bytes of value zp at p */
EC_INLINE void dw_mve_fill(int8_t *p, int32_t n, int8_t zp)
{
    const int8x16_t z = vdupq_n_s8(zp);
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        vst1q_s8(p + i, z);
    }
    if (i < n) {
        vstrbq_p_s8(p + i, z, vctp8q((uint32_t)(n - i)));
    }
}

/* four int32 into the lanes of one vector (two VMOVs; the first register goes to the lower lane) */
EC_INLINE int32x4_t dw_mve_lanes(int32_t a, int32_t b, int32_t c, int32_t d)
{
    int32x4_t v;
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\tvmov %q0[3], %q0[1], %2, %4" : "=&w"(v) : "r"(a), "r"(b), "r"(c), "r"(d));
    return v;
}

/* vk: per group g (0, 1) at vk + 12 g: the window offsets (16 bytes; group 1's window rows are 2 input
 * rows further), the store offsets (4 x int32: stride 1 pixels (0, 0), (0, 1), (1, 0), (1, 1) of a
 * block, stride 2 pixels 0..3), the stride-2 second window's offsets (4 columns further). */
EC_INLINE void dw_mve_offsets(int32_t vk[24], uint8x16_t cols, uint8x16_t rows, int32_t y0, int32_t c_n,
                              int32_t out_w, int32_t s)
{
    const uint32x4_t i4 = dw_mve_iota();
    const uint32x4_t so = s == 1 ? vaddq_u32(vmulq_n_u32(vandq_u32(i4, vdupq_n_u32(1)), (uint32_t)c_n),
                                             vmulq_n_u32(vshrq_n_u32(i4, 1), (uint32_t)(out_w * c_n)))
                                 : vmulq_n_u32(i4, (uint32_t)c_n);
    for (int32_t g = 0; g < 2; g++) {
        const uint8x16_t offs = vaddq_u8(cols, vandq_u8(vaddq_n_u8(rows, (uint8_t)((y0 + 2 * g) & 7)), vdupq_n_u8(7)));
        vst1q_u8((uint8_t *)(vk + 12 * g), offs);
        vst1q_u32((uint32_t *)(vk + 12 * g + 4), so);
        vst1q_u8((uint8_t *)(vk + 12 * g + 8), vaddq_n_u8(offs, 32));
    }
}

/* Predicates of a group of `rows` output rows (stride 1: 1 or 2): pr[0] for its blocks but the last,
 * pr[1] for the last. */
EC_INLINE void dw_mve_preds(int32_t pr[2], int32_t out_w, int32_t s, int32_t rows)
{
    const int32_t last = s == 1 ? 2 - (out_w & 1) : out_w - (out_w - 1) / 4 * 4;
    pr[0] = s == 1 && rows == 1 ? 0x00FF : 0xFFFF;
    pr[1] = s == 1 ? (last == 2 ? pr[0] : pr[0] & 0x0F0F) : (1 << (4 * last)) - 1;
}

/* One block of 4 pixels in C (activation ranges narrower than int8): the window gathers, the tap
 * sums, ec_requant_fast on the lanes, clamp, one scatter store on the predicate pr. */
EC_INLINE void dw_mve_block(const int8_t *r, const int32_t *vk, const int32_t *t, int8_t *o, mve_pred16_t pr,
                            int32_t lo, int32_t hi, int32_t s)
{
    const uint8x16_t offs = vld1q_u8((const uint8_t *)vk);
    const int8_t *wv = (const int8_t *)(t + 6);
    const int8x16_t w0 = vld1q_s8(wv), w1 = vld1q_s8(wv - (s == 1 ? 1 : 2));
    const int8x16_t x = vldrbq_gather_offset_s8(r, offs);
    int32_t a0, a1, a2, a3;
    a0 = vmladavq_s8(x, w0);
    a1 = vmladavq_s8(x, w1);
    if (s == 1) {
        a2 = vmladavq_s8(x, vld1q_s8(wv - 4));
        a3 = vmladavq_s8(x, vld1q_s8(wv - 5));
    } else {
        const int8x16_t y = vldrbq_gather_offset_s8(r, vld1q_u8((const uint8_t *)(vk + 8)));
        a2 = vmladavq_s8(y, w0);
        a3 = vmladavq_s8(y, w1);
    }
    int32x4_t v = vaddq_n_s32(dw_mve_lanes(a0, a1, a2, a3), t[0]);
#if EC_SINGLE_ROUNDING
    v = vqdmulhq_n_s32(v, t[1]);
#else
    v = vqrdmulhq_n_s32(v, t[1]);
    v = vaddq_s32(v, vshrq_n_s32(v, 31));
#endif
    v = vshrq_n_s32(vqshlq_r_s32(vaddq_n_s32(v, t[2]), t[3]), 24);
    v = vminq_s32(vmaxq_s32(v, vdupq_n_s32(lo)), vdupq_n_s32(hi));
    vstrbq_scatter_offset_p_s32(o, vld1q_u32((const uint32_t *)vk + 4), v, pr);
}

/* One group of a pass in C, block by block over the channels (activation ranges narrower than int8). */
static __attribute__((noinline)) void dw_mve_group_c(const int8_t *ring, int32_t plane, const int32_t *vk,
                                                     const int32_t *table, int8_t *o, int32_t c_n, int32_t out_w,
                                                     int32_t lo, int32_t hi, int32_t s, int32_t rows)
{
    const int32_t step = s == 1 ? 2 : 4, nb = (out_w - 1) / step;
    int32_t pr[2];
    dw_mve_preds(pr, out_w, s, rows);
    for (int32_t b = 0; b <= nb; b++) {
        for (int32_t c = 0; c < c_n; c++) {
            dw_mve_block(ring + c * plane + b * 8 * step * s, vk, table + 10 * c, o + b * step * c_n + c,
                         (mve_pred16_t)pr[b == nb], lo, hi, s);
        }
    }
}

/* A whole-int8-range pass in assembly (GCC spills the C loops): channel by channel the tap vectors
 * and constants, then per group the blocks: the gathers, 4 VMLADAV, the lanes, ec_requant_fast,
 * VQSHL / VSHR, one scatter store, 18 instructions at stride 1 (LOOP_STORE predicated for a single
 * stride-1 row); each group's last block stores on its last predicate.  st (int32): 0 ring and 1
 * output pointers of the channel, 2 plane bytes, 3 table end, 4 blocks before the last, 5 group 1
 * exists, 6 group 1's output offset, 8..11 the groups' loop / last predicates, 12.. vk
 * (dw_mve_offsets). */
#if EC_SINGLE_ROUNDING
#define EC_DW_MVE_RQ "vqdmulh.s32 q0, q0, %[m]\n\t"
#else
#define EC_DW_MVE_RQ "vqrdmulh.s32 q0, q0, %[m]\n\tvshr.s32 q3, q0, #31\n\tvadd.i32 q0, q0, q3\n\t"
#endif
#define EC_DW_MVE_TAIL(STORE) \
    "vmov q0[2], q0[0], %[a0], %[a2]\n\tvmov q0[3], q0[1], %[a1], %[a3]\n\tvadd.i32 q0, q0, %[b]\n\t" EC_DW_MVE_RQ \
    "vadd.i32 q0, q0, %[k]\n\tvqshl.s32 q0, %[sh]\n\tvshr.s32 q0, q0, #24\n\t" STORE
#define EC_DW_MVE_SUMS1 "vldrb.u8 q0, [%[r], q1]\n\tvmladav.s8 %[a0], q0, q4\n\tvmladav.s8 %[a1], q0, q5\n\t" \
    "vmladav.s8 %[a2], q0, q6\n\tvmladav.s8 %[a3], q0, q7\n\t"
#define EC_DW_MVE_SUMS2 "vldrb.u8 q0, [%[r], q1]\n\tvldrb.u8 q3, [%[r], q6]\n\tvmladav.s8 %[a0], q0, q4\n\t" \
    "vmladav.s8 %[a1], q0, q5\n\tvmladav.s8 %[a2], q3, q4\n\tvmladav.s8 %[a3], q3, q5\n\t"
#define EC_DW_MVE_STORE "vstrb.32 q0, [%[o], q2]\n\t"
#define EC_DW_MVE_STORE_P "vpst\n\tvstrbt.32 q0, [%[o], q2]\n\t"
/* one group: P0 = its loop predicate (st byte PR), the blocks, P0 = its last predicate, the last block */
#define EC_DW_MVE_GROUP(SUMS, R_STEP, LOOP_STORE, G, PR, PR_LAST) \
    "ldr %[a0], [%[st], #" #PR "]\n\tvmsr p0, %[a0]\n\twls lr, %[a1], 2" #G "f\n" \
    "1" #G ":\n\t" SUMS EC_DW_MVE_TAIL(LOOP_STORE) \
    "add %[r], %[r], #" #R_STEP "\n\tadd %[o], %[o], %[os]\n\tle lr, 1" #G "b\n" \
    "2" #G ":\n\tldr %[a0], [%[st], #" #PR_LAST "]\n\tvmsr p0, %[a0]\n\t" SUMS EC_DW_MVE_TAIL(EC_DW_MVE_STORE_P)
#define EC_DW_MVE_PASS_ASM(LOAD_W, LOAD_O0, LOAD_O1, SUMS, R_STEP, LOOP_STORE) __asm__ volatile( \
    "vldrw.32 q2, [%[st], #64]\n" \
    "9:\n\t" LOAD_W "ldrd %[k], %[sh], [%[t], #8]\n\tldrd %[b], %[m], [%[t]], #40\n\t" \
    "ldrd %[r], %[o], [%[st]]\n\tvldrw.32 q1, [%[st], #48]\n\t" LOAD_O0 "ldr %[a1], [%[st], #16]\n\t" \
    EC_DW_MVE_GROUP(SUMS, R_STEP, LOOP_STORE, 0, 32, 36) \
    "ldr %[a3], [%[st], #20]\n\tcmp %[a3], #0\n\tbeq 3f\n\tvldrw.32 q1, [%[st], #96]\n\t" LOAD_O1 \
    "ldrd %[r], %[o], [%[st]]\n\tldr %[a1], [%[st], #24]\n\tadd %[o], %[o], %[a1]\n\tldr %[a1], [%[st], #16]\n\t" \
    EC_DW_MVE_GROUP(SUMS, R_STEP, LOOP_STORE, 1, 40, 44) \
    "3:\n\tldrd %[r], %[o], [%[st]]\n\tldr %[a0], [%[st], #8]\n\tadd %[r], %[r], %[a0]\n\tadd %[o], %[o], #1\n\t" \
    "strd %[r], %[o], [%[st]]\n\tldr %[a0], [%[st], #12]\n\tcmp %[t], %[a0]\n\tbne 9b\n" \
    : [r] "=&r"(r), [o] "=&r"(o), [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), \
      [b] "=&r"(b), [m] "=&r"(m), [k] "=&r"(k), [sh] "=&r"(sh), [t] "+&r"(t) \
    : [st] "r"(st), [os] "r"(ostep) \
    : "lr", "cc", "memory", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13", \
      "d14", "d15")
#define EC_DW_MVE_W1 "vldrb.8 q4, [%[t], #24]\n\tvldrb.8 q5, [%[t], #23]\n\tvldrb.8 q6, [%[t], #20]\n\t" \
    "vldrb.8 q7, [%[t], #19]\n\t"

#if EC_ASM
/* One whole-int8-range pass of `rows` output rows (stride 1: 1..4, stride 2: 1, 2), st[12..] holding
 * vk; s, loop_pred (some group has a single stride-1 row) are literals. */
EC_INLINE void dw_mve_pass_asm(const int8_t *ring, int32_t plane, int32_t st[36], const int32_t *t, int8_t *o,
                               int32_t c_n, int32_t out_w, int32_t rows, int32_t s, int loop_pred)
{
    const int32_t step = s == 1 ? 2 : 4, g_rows = 3 - s, ostep = step * c_n;
    const int8_t *r;
    int32_t a0, a1, a2, a3, b, m, k, sh;
    st[0] = (int32_t)(uintptr_t)ring;
    st[1] = (int32_t)(uintptr_t)o;
    st[2] = plane;
    st[3] = (int32_t)(uintptr_t)(t + 10 * c_n);
    st[4] = (out_w - 1) / step;
    st[5] = rows > g_rows;
    st[6] = g_rows * out_w * c_n;
    dw_mve_preds(st + 8, out_w, s, rows < g_rows ? rows : g_rows);
    dw_mve_preds(st + 10, out_w, s, rows - g_rows);
    if (s == 2) {
        EC_DW_MVE_PASS_ASM("vldrb.8 q4, [%[t], #24]\n\tvldrb.8 q5, [%[t], #22]\n\t", "vldrw.32 q6, [%[st], #80]\n\t",
                           "vldrw.32 q6, [%[st], #128]\n\t", EC_DW_MVE_SUMS2, 64, EC_DW_MVE_STORE);
    } else if (loop_pred) {
        EC_DW_MVE_PASS_ASM(EC_DW_MVE_W1, "", "", EC_DW_MVE_SUMS1, 16, EC_DW_MVE_STORE_P);
    } else {
        EC_DW_MVE_PASS_ASM(EC_DW_MVE_W1, "", "", EC_DW_MVE_SUMS1, 16, EC_DW_MVE_STORE);
    }
    (void)r;
    (void)o;
}

/* the assembly passes as separate functions (their registers are their own) */
#define EC_DW_MVE_PASS(NAME, S, LOOP_PRED) \
    static __attribute__((noinline)) void NAME(const int8_t *ring, int32_t plane, int32_t st[36], const int32_t *t, \
                                               int8_t *o, int32_t c_n, int32_t out_w, int32_t rows) \
    { \
        dw_mve_pass_asm(ring, plane, st, t, o, c_n, out_w, rows, S, LOOP_PRED); \
    }
EC_DW_MVE_PASS(dw_mve_pass_s1, 1, 0)
EC_DW_MVE_PASS(dw_mve_pass_s1_rows, 1, 1)
EC_DW_MVE_PASS(dw_mve_pass_s2, 2, 0)
#endif /* EC_ASM */

static ec_status dw_mve(const ec_context *ctx, const ec_dw_conv_params *p, const ec_dims *input_dims,
                        const int8_t *input, const int32_t *table, const ec_dims *output_dims, int8_t *output)
{
    /* per window lane: the column byte kx * 8 and the tap row ky (stride 1: 4 x 4, stride 2: 3 x 5) */
    static const uint8_t col1[16] = {0, 8, 16, 24, 0, 8, 16, 24, 0, 8, 16, 24, 0, 8, 16, 24};
    static const uint8_t row1[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
    static const uint8_t col2[16] = {0, 8, 16, 24, 32, 0, 8, 16, 24, 32, 0, 8, 16, 24, 32, 0};
    static const uint8_t row2[16] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0};
    const int32_t in_h = input_dims->h, in_w = input_dims->w, c_n = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t s = p->stride.w, pad_t = p->padding.h, pad_l = p->padding.w;
    const int32_t lo = p->activation.min, hi = p->activation.max;
    const int full = lo == -128 && hi == 127;
    const int8_t zp = (int8_t)-p->input_offset;
    const int32_t wp = dw_mve_cols(out_w, s), plane = 8 * wp, g_rows = 3 - s;
    int8_t *ring = (int8_t *)ctx->buf;
    if (ring == NULL || ctx->size < c_n * plane || (s != 1 && s != 2)) {
        return EC_ARG_ERROR;
    }
    const uint8x16_t cols = vld1q_u8(s == 1 ? col1 : col2), rows = vld1q_u8(s == 1 ? row1 : row2);
    dw_mve_fill(ring, c_n * plane, zp);
    int32_t real = 0;                       /* slots holding an input row (bit per slot) */
    for (int32_t n = 0; n < input_dims->n; n++) {
        const int8_t *in_n = input + n * in_h * in_w * c_n;
        int32_t held[8] = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN};
        for (int32_t oy = 0; oy < out_h; oy += 2 * g_rows) {
            const int32_t y0 = oy * s - pad_t, n_rows = out_h - oy < 2 * g_rows ? out_h - oy : 2 * g_rows;
            for (int32_t y = y0; y < y0 + (n_rows - 1) * s + 3; y++) {     /* the pass's input rows */
                if (held[y & 7] == y) {
                    continue;
                }
                if (y >= 0 && y < in_h) {
                    dw_mve_load_row(ring, in_n + y * in_w * c_n, in_w, c_n, pad_l, wp, y & 7, zp);
                } else if (real & (1 << (y & 7))) {        /* padding over an input row (else zp already) */
                    dw_mve_load_row(ring, NULL, in_w, c_n, pad_l, wp, y & 7, zp);
                }
                real = y >= 0 && y < in_h ? real | (1 << (y & 7)) : real & ~(1 << (y & 7));
                held[y & 7] = y;
            }
            int32_t st[36];                   /* the assembly's state, st + 12: vk */
            int32_t *vk = st + 12;
            dw_mve_offsets(vk, cols, rows, y0, c_n, out_w, s);
            int8_t *o = output + ((n * out_h + oy) * out_w) * c_n;
            if (!full || !EC_ASM) {       /* the C path: other activations, or no assembly */
                for (int32_t g = 0; g * g_rows < n_rows; g++) {
                    const int32_t r = n_rows - g * g_rows < g_rows ? n_rows - g * g_rows : g_rows;
                    dw_mve_group_c(ring, plane, vk + 12 * g, table, o + g * g_rows * out_w * c_n, c_n, out_w, lo, hi,
                                   s, r);
                }
            }
#if EC_ASM
            else if (s == 2) {
                dw_mve_pass_s2(ring, plane, st, table, o, c_n, out_w, n_rows);
            } else if (n_rows == 4) {
                dw_mve_pass_s1(ring, plane, st, table, o, c_n, out_w, n_rows);
            } else {
                dw_mve_pass_s1_rows(ring, plane, st, table, o, c_n, out_w, n_rows);
            }
#endif
        }
    }
    return EC_OK;
}

#endif /* EC_HAS_MVE */

#endif /* EC_DW3X3_H */
