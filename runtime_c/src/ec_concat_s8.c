/* Concatenation along one axis: a pure copy (all inputs share the output's quantization).
 * Each input i is viewed as [outer, inner_sizes[i]]; output row o is input rows o side by side. */
#include <string.h>

#include "ec_runtime.h"

ec_status ec_concat_s8(int32_t outer, int32_t num_inputs, const int8_t *const *inputs,
                       const int32_t *inner_sizes, int8_t *output)
{
    if (outer < 0 || num_inputs < 1) {
        return EC_ARG_ERROR;
    }
    for (int32_t o = 0; o < outer; o++) {
        for (int32_t i = 0; i < num_inputs; i++) {
            const int32_t inner = inner_sizes[i];
            memcpy(output, inputs[i] + o * inner, (size_t)inner);
            output += inner;
        }
    }
    return EC_OK;
}
