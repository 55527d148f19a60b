/* Constant padding of a 4-D NHWC tensor.  Output rows (n, h, w) that fall in the padding are
 * filled with p->value; the others get before.c fill, the input's channel row, after.c fill. */
#include <string.h>

#include "ec_runtime.h"

ec_status ec_pad_s8(const ec_pad_params *p, const ec_dims *input_dims, const int8_t *input,
                    const ec_dims *output_dims, int8_t *output)
{
    const ec_dims *b = &p->before;
    const ec_dims *in = input_dims;
    const ec_dims *out = output_dims;
    const int value = (int)(int8_t)p->value;  /* memset takes the byte as an int */
    if (b->c < 0 || p->after.c < 0 ||
        out->n != b->n + in->n + p->after.n || out->h != b->h + in->h + p->after.h ||
        out->w != b->w + in->w + p->after.w || out->c != b->c + in->c + p->after.c) {
        return EC_ARG_ERROR;
    }
    for (int32_t n = 0; n < out->n; n++) {
        const int32_t in_n = n - b->n;
        for (int32_t h = 0; h < out->h; h++) {
            const int32_t in_h = h - b->h;
            for (int32_t w = 0; w < out->w; w++) {
                const int32_t in_w = w - b->w;
                if (in_n < 0 || in_n >= in->n || in_h < 0 || in_h >= in->h || in_w < 0 || in_w >= in->w) {
                    memset(output, value, (size_t)out->c);
                } else {
                    const int8_t *row = input + ((in_n * in->h + in_h) * in->w + in_w) * in->c;
                    memset(output, value, (size_t)b->c);
                    memcpy(output + b->c, row, (size_t)in->c);
                    memset(output + b->c + in->c, value, (size_t)p->after.c);
                }
                output += out->c;
            }
        }
    }
    return EC_OK;
}
