/* The blocked int8 matrix product shared by ec_fully_connected_s8 and ec_conv2d_im2col_s8 (one copy
 * of the code in flash; codegen ships this file with either kernel): ec_matmul.h's ec_mat_product,
 * and on DSP cores its int16-weight twin ec_mat_product_wide when a model uses it (EC_MAT_WIDE); a model
 * with int16 weights in every product layer leaves the int8 one out there (EC_MAT_INT8_CODE). */
#include "ec_matmul.h"

#if EC_MAT_INT8_CODE
void ec_mat_mult_s8(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch, int32_t depth,
                    int32_t off, const int32_t *bias, const ec_quant_params *q, int32_t rq, int32_t output_offset,
                    ec_activation act, int8_t *output, int32_t ys, void *scratch)
{
    ec_mat_product(input, rows, filter, out_ch, depth, off, bias, q, rq, output_offset, act, output, ys, scratch);
}
#endif

#if EC_HAS_DSP && !EC_HAS_MVE && EC_MAT_WIDE
void ec_mat_mult_wide_s8(const int8_t *input, int32_t rows, const int32_t *filter, int32_t out_ch, int32_t depth,
                         int32_t rq, int32_t output_offset, ec_activation act, int8_t *output, int32_t ys,
                         void *scratch)
{
    ec_mat_product_wide(input, rows, filter, out_ch, depth, rq, output_offset, act, output, ys, (int32_t *)scratch);
}
#endif
