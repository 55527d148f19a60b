/* 4-D transpose: output axis i is input axis perm[i].  The output is written in order while the
 * input is walked with the permuted strides. */
#include "ec_runtime.h"

ec_status ec_transpose_s8(const int32_t *perm, const ec_dims *input_dims, const int8_t *input,
                          const ec_dims *output_dims, int8_t *output)
{
    const int32_t in_shape[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t out_shape[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
    const int32_t in_stride[4] = {input_dims->h * input_dims->w * input_dims->c,
                                  input_dims->w * input_dims->c, input_dims->c, 1};
    int32_t stride[4];   /* input stride of each output axis */
    int32_t seen = 0;
    for (int32_t i = 0; i < 4; i++) {
        const int32_t a = perm[i];
        if (a < 0 || a > 3 || (seen & (1 << a)) || out_shape[i] != in_shape[a]) {
            return EC_ARG_ERROR;
        }
        seen |= 1 << a;
        stride[i] = in_stride[a];
    }
    for (int32_t i0 = 0; i0 < out_shape[0]; i0++) {
        for (int32_t i1 = 0; i1 < out_shape[1]; i1++) {
            for (int32_t i2 = 0; i2 < out_shape[2]; i2++) {
                const int8_t *src = input + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                for (int32_t i3 = 0; i3 < out_shape[3]; i3++) {
                    *output++ = src[i3 * stride[3]];
                }
            }
        }
    }
    return EC_OK;
}
