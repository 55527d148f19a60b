/* Clamp (standalone Relu / Relu6 / Clip): input and output share quantization, so the real
 * bounds were turned into int8 bounds at compile time.  Elementwise, element i read before it is
 * written: correct in place (OVERLAP contract). */
#include "ec_runtime.h"
#include "ec_fixedpoint.h"

ec_status ec_clamp_s8(const ec_activation *act, int32_t size, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < size; i++) {
        output[i] = ec_sat_s8(input[i], act->min, act->max);
    }
    return EC_OK;
}
