/* The few DSP-extension (Armv7E-M / Armv8-M Mainline) intrinsics the kernels use, behind EC_ names.
 *
 * On a core with __ARM_FEATURE_DSP they map to the ACLE intrinsics of <arm_acle.h>.  With
 * EC_EMULATE_DSP (host builds) they are plain C with the same results, so the host parity tests
 * run the very DSP code paths the boards run.  Only include this where EC_HAS_DSP is 1. */
#ifndef EC_DSP_H
#define EC_DSP_H

#include <stdint.h>
#include <string.h>
#include "ec_config.h"

/* Four int8 as one 32-bit word, from any alignment (memcpy compiles to one LDR on Cortex-M). */
EC_INLINE int32_t ec_read_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

#if defined(EC_EMULATE_DSP)

EC_INLINE int32_t ec_pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16));
}

/* SXTB16: sign-extend bytes 0 and 2 into the two halfwords. */
EC_INLINE int32_t ec_sxtb16(int32_t x)
{
    const uint32_t u = (uint32_t)x;
    return ec_pack16((int8_t)(u & 0xFF), (int8_t)((u >> 16) & 0xFF));
}

/* SXTB16 after ROR #8: bytes 1 and 3. */
EC_INLINE int32_t ec_sxtb16_ror8(int32_t x)
{
    const uint32_t u = (uint32_t)x;
    return ec_pack16((int8_t)((u >> 8) & 0xFF), (int8_t)((u >> 24) & 0xFF));
}

/* SADD16: halfword-wise wrapping add. */
EC_INLINE int32_t ec_sadd16(int32_t a, int32_t b)
{
    const uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
    return ec_pack16((int16_t)(ua & 0xFFFF) + (int16_t)(ub & 0xFFFF),
                     (int16_t)(ua >> 16) + (int16_t)(ub >> 16));
}

/* SMLAD: acc + lo(a)*lo(b) + hi(a)*hi(b), wrapping like the instruction (Q flag ignored). */
EC_INLINE int32_t ec_smlad(int32_t a, int32_t b, int32_t acc)
{
    const uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
    const int32_t lo = (int32_t)(int16_t)(ua & 0xFFFF) * (int16_t)(ub & 0xFFFF);
    const int32_t hi = (int32_t)(int16_t)(ua >> 16) * (int16_t)(ub >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi);
}

/* SMLABB / SMLATT: acc + bottom(a)*bottom(b) / top(a)*top(b), wrapping. */
EC_INLINE int32_t ec_smlabb(int32_t a, int32_t b, int32_t acc)
{
    const int32_t prod = (int32_t)(int16_t)((uint32_t)a & 0xFFFF) * (int16_t)((uint32_t)b & 0xFFFF);
    return (int32_t)((uint32_t)acc + (uint32_t)prod);
}

EC_INLINE int32_t ec_smlatt(int32_t a, int32_t b, int32_t acc)
{
    const int32_t prod = (int32_t)(int16_t)((uint32_t)a >> 16) * (int16_t)((uint32_t)b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)prod);
}

/* SMLABT / SMLATB: acc + bottom(a)*top(b) / top(a)*bottom(b), wrapping. */
EC_INLINE int32_t ec_smlabt(int32_t a, int32_t b, int32_t acc)
{
    return ec_smlatt(ec_pack16(0, a), b, acc);
}

EC_INLINE int32_t ec_smlatb(int32_t a, int32_t b, int32_t acc)
{
    return ec_smlabb(a >> 16, b, acc);
}

#define EC_SXTB16(x) ec_sxtb16(x)
#define EC_SXTB16_ROR8(x) ec_sxtb16_ror8(x)
#define EC_SMLABT(a, b, acc) ec_smlabt((a), (b), (acc))
#define EC_SMLATB(a, b, acc) ec_smlatb((a), (b), (acc))
/* PKHBT a, b, LSL #16: bottom(a) | bottom(b) << 16.  PKHTB b, a, ASR #16: top(a) | top(b) << 16. */
#define EC_PKHBB(a, b) ec_pack16((a), (b))
#define EC_PKHTT(a, b) ec_pack16((a) >> 16, (b) >> 16)
#define EC_SSAT8(x) ((x) < -128 ? -128 : (x) > 127 ? 127 : (x))
#define EC_SADD16(a, b) ec_sadd16((a), (b))
#define EC_SMLAD(a, b, acc) ec_smlad((a), (b), (acc))
#define EC_SMLABB(a, b, acc) ec_smlabb((a), (b), (acc))
#define EC_SMLATT(a, b, acc) ec_smlatt((a), (b), (acc))

#else /* the real instructions */

#include <arm_acle.h>

#define EC_SXTB16(x) ((int32_t)__sxtb16((uint32_t)(x)))
/* SXTB16 with its ROR #8 operand (compilers do not fold a rotate into the intrinsic) */
EC_INLINE int32_t ec_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#define EC_SXTB16_ROR8(x) ec_sxtb16_ror8(x)
#define EC_SADD16(a, b) ((int32_t)__sadd16((int16x2_t)(a), (int16x2_t)(b)))
#define EC_SMLAD(a, b, acc) ((int32_t)__smlad((int16x2_t)(a), (int16x2_t)(b), (acc)))
#define EC_SMLABB(a, b, acc) ((int32_t)__smlabb((a), (b), (acc)))
#define EC_SMLATT(a, b, acc) ((int32_t)__smlatt((a), (b), (acc)))
#define EC_SMLABT(a, b, acc) ((int32_t)__smlabt((a), (b), (acc)))
#define EC_SMLATB(a, b, acc) ((int32_t)__smlatb((a), (b), (acc)))
/* bottom(a) | bottom(b) << 16 and top(a) | top(b) << 16 (PKHBT / PKHTB) */
EC_INLINE int32_t ec_pkhbb(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
EC_INLINE int32_t ec_pkhtt(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
}
#define EC_PKHBB(a, b) ec_pkhbb((a), (b))
#define EC_PKHTT(a, b) ec_pkhtt((a), (b))
#define EC_SSAT8(x) __ssat((x), 8)

#endif

/* acc + the 4-deep dot product of int8 word w with the int16 pairs xe (inputs 0, 2) and xo (inputs 1,
 * 3): SXTB16 splits w into the same even / odd lanes, two SMLADs add them. */
EC_INLINE int32_t ec_smlad_s8x4(int32_t xe, int32_t xo, int32_t w, int32_t acc)
{
    return EC_SMLAD(xo, EC_SXTB16_ROR8(w), EC_SMLAD(xe, EC_SXTB16(w), acc));
}

#endif /* EC_DSP_H */
