/* Elementwise add of two same-shape int8 tensors, exact TFLM add arithmetic through tables.
 *
 * TFLM rescales each input as MultiplyByQuantizedMultiplier((x + offset) << 20, m, shift), a function
 * of one int8: edgecompile/ops/add_variants.py tabulates it (doubled) for the 256 values of each
 * input, so an element costs two table loads, one add and ec_requant_fast (whose bounds the lowering
 * checked).  Elementwise and reading element i before writing it: correct in place. */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"
#if EC_HAS_DSP
#include "ec_dsp.h"
#endif
#if EC_HAS_MVE
#include <arm_mve.h>
#endif

ec_status ec_add_lut_s8(const ec_add_lut_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                        int32_t size)
{
    const int32_t *t1 = p->table + 128, *t2 = p->table + 384;
    const int32_t m = p->multiplier, e = p->right_shift, k = p->k;
    const int32_t lo = p->activation.min, hi = p->activation.max;
    int32_t i = 0;
#if EC_HAS_MVE && !EC_SINGLE_ROUNDING
    /* Helium, 4 elements per step (tail predicated): the table entries by VLDRW gathers indexed with
     * the sign-extended bytes (addresses wrap like the scalar t1[x]), VRMULH of the doubled sum = SRDHM
     * of the sum, RoundingDivideByPOT as VRSHL after subtracting 1 from negatives, offset, clamp. */
    const int32_t out_off = (k - (1 << (e - 1))) >> e;
    const int32x4_t vlo = vdupq_n_s32(lo), vhi = vdupq_n_s32(hi), vm = vdupq_n_s32(m);
    for (; i < size; i += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(size - i));
        const uint32x4_t x1 = vreinterpretq_u32_s32(vldrbq_z_s32(input1 + i, pr));
        const uint32x4_t x2 = vreinterpretq_u32_s32(vldrbq_z_s32(input2 + i, pr));
        const int32x4_t sum = vaddq_s32(vldrwq_gather_shifted_offset_z_s32(t1, x1, pr),
                                        vldrwq_gather_shifted_offset_z_s32(t2, x2, pr));
        int32x4_t v = vrmulhq_s32(sum, vm);
        v = vrshlq_n_s32(vaddq_s32(v, vshrq_n_s32(v, 31)), -e);
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, out_off), vlo), vhi);
        vstrbq_p_s32(output + i, v, pr);
    }
#endif
#if EC_HAS_DSP
    if (lo == -128 && hi == 127) {
        for (; i < size; i++) {
            const int32_t v = ec_requant_fast(t1[input1[i]] + t2[input2[i]], m, e, k);
            output[i] = (int8_t)EC_SSAT8(v);
        }
    }
#endif
    for (; i < size; i++) {
        output[i] = ec_sat_s8(ec_requant_fast(t1[input1[i]] + t2[input2[i]], m, e, k), lo, hi);
    }
    return EC_OK;
}
