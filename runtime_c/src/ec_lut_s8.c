/* Table lookup for int8 element-wise functions (Logistic, Tanh): output[i] = lut[input[i] + 128].
 * The table is built on the host by running TFLM's fixed-point kernel on all 256 inputs.
 * Elementwise, element i read before it is written: correct in place (OVERLAP contract). */
#include "ec_runtime.h"

ec_status ec_lut_s8(const int8_t *lut, int32_t size, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < size; i++) {
        output[i] = lut[input[i] + 128];
    }
    return EC_OK;
}
