/* edgecompile runtime: every public kernel.  Plain declarations only (cffi can parse it).
 *
 * Conventions: tensors are int8 NHWC; dims are ec_dims {n, h, w, c}; argument order is
 * context, op params, quant params, then (dims, data) for input, filter, bias, output.
 * Every kernel returns EC_OK.  Nothing allocates; scratch, if any, comes in ec_context. */
#ifndef EC_RUNTIME_H
#define EC_RUNTIME_H

#include <stdint.h>
#include "ec_types.h"

#define EC_RUNTIME_ABI_VERSION 1

/* Conv2D, groups >= 1.  input [N, H, W, C_IN]; filter [C_OUT, KH, KW, C_IN / groups];
 * bias [C_OUT] int32 or NULL; output [N, OH, OW, C_OUT]. */
ec_status ec_conv2d_s8(const ec_context *ctx, const ec_conv_params *p, const ec_quant_params *q,
                       const ec_dims *input_dims, const int8_t *input,
                       const ec_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const ec_dims *output_dims, int8_t *output);

/* Conv2D (one group) through im2col: two output pixels' patches are copied into the scratch buffer
 * (padded taps hold the input zero point) and multiplied as fully connected rows.  filter is
 * [C_OUT, DEPTH4]: each row KH * KW * C_IN weights then zeros up to DEPTH4, a multiple of 4.  bias is
 * the EFFECTIVE bias, bias + input_offset * sum(w) per output channel (folded at compile time).
 * Needs ctx->size >= 2 * DEPTH4 + EC_MAT_SCRATCH_BYTES(2, DEPTH4, C_OUT) (ec_matmul.h), else
 * EC_ARG_ERROR. */
ec_status ec_conv2d_im2col_s8(const ec_context *ctx, const ec_conv_params *p, const ec_quant_params *q,
                              const ec_dims *input_dims, const int8_t *input,
                              const ec_dims *filter_dims, const int8_t *filter,
                              const int32_t *effective_bias,
                              const ec_dims *output_dims, int8_t *output);

/* Depthwise conv.  input [N, H, W, C]; filter [1, KH, KW, C * ch_mult]; bias [C * ch_mult]. */
ec_status ec_depthwise_conv2d_s8(const ec_context *ctx, const ec_dw_conv_params *p,
                                 const ec_quant_params *q,
                                 const ec_dims *input_dims, const int8_t *input,
                                 const ec_dims *filter_dims, const int8_t *filter,
                                 const int32_t *bias,
                                 const ec_dims *output_dims, int8_t *output);

/* Depthwise 3x3, channel multiplier 1, dilation 1, stride 1 or 2 (stride.w == stride.h), padding
 * <= 2.  table from ops/dw_variants.py, the only weights read (q, filter and bias are unused, the
 * generated code passes NULL for q, filter and bias): DSP / portable 8 int32 per channel (taps as
 * doubled int16 pairs, doubled bias, multiplier, right shift, rounding constant), Helium 10 int32 per
 * channel (bias with the input offset folded in, multiplier, rounding constant, 24 - shift, the taps
 * as a 16-byte window vector); p->ch_mult and p->dilation are ignored.  Needs ctx->size >= the ring
 * of dw_variants.scratch_3x3, else EC_ARG_ERROR. */
ec_status ec_depthwise_conv2d_3x3_s8(const ec_context *ctx, const ec_dw_conv_params *p, const ec_quant_params *q,
                                     const ec_dims *input_dims, const int8_t *input, const int8_t *filter,
                                     const int32_t *bias, const int32_t *table,
                                     const ec_dims *output_dims, int8_t *output);

/* Fully connected.  input [ROWS, C_IN] as dims {n = ROWS, 1, 1, c = C_IN};
 * filter [C_OUT, C_IN] as {n = C_OUT, 1, 1, c = C_IN}; output {n = ROWS, 1, 1, c = C_OUT}.
 * Needs ctx->size >= EC_MAT_SCRATCH_BYTES(ROWS, C_IN, C_OUT) (ec_matmul.h), else EC_ARG_ERROR. */
ec_status ec_fully_connected_s8(const ec_context *ctx, const ec_fc_params *p, const ec_quant_params *q,
                                const ec_dims *input_dims, const int8_t *input,
                                const ec_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias,
                                const ec_dims *output_dims, int8_t *output);

/* Pools: window filter {w, h}; average counts only the valid (unpadded) positions, as TFLM. */
ec_status ec_max_pool2d_s8(const ec_pool_params *p, const ec_dims *input_dims, const int8_t *input,
                           const ec_tile *filter, const ec_dims *output_dims, int8_t *output);
ec_status ec_avg_pool2d_s8(const ec_pool_params *p, const ec_dims *input_dims, const int8_t *input,
                           const ec_tile *filter, const ec_dims *output_dims, int8_t *output);

/* Mean over H and W: input [N, H, W, C] -> output [N, 1, 1, C]. */
ec_status ec_mean_s8(const ec_mean_params *p, const ec_dims *input_dims, const int8_t *input,
                     const ec_dims *output_dims, int8_t *output);

/* Add of two same-shape inputs of `size` elements through rescaling tables (ec_add_lut_params).
 * Elementwise: correct in place (output == input1 or input2). */
ec_status ec_add_lut_s8(const ec_add_lut_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                        int32_t size);

/* Add with 4-D broadcasting (a dim of 1 broadcasts). */
ec_status ec_add_s8(const ec_add_params *p,
                    const ec_dims *input1_dims, const int8_t *input1,
                    const ec_dims *input2_dims, const int8_t *input2,
                    const ec_dims *output_dims, int8_t *output);

/* Clamp: output = min(max(input, act.min), act.max) (input and output share quantization). */
ec_status ec_clamp_s8(const ec_activation *act, int32_t size, const int8_t *input, int8_t *output);

/* 256-entry lookup table (Logistic, Tanh): output[i] = lut[input[i] + 128]. */
ec_status ec_lut_s8(const int8_t *lut, int32_t size, const int8_t *input, int8_t *output);

/* Softmax over rows of row_size int8 values; output quantization is (1/256, -128). */
ec_status ec_softmax_s8(const ec_softmax_params *p, int32_t rows, int32_t row_size,
                        const int8_t *input, int8_t *output);

/* Concatenation along one axis: the tensors are viewed as [outer, inner_i]. */
ec_status ec_concat_s8(int32_t outer, int32_t num_inputs, const int8_t *const *inputs,
                       const int32_t *inner_sizes, int8_t *output);

/* Constant padding of a 4-D tensor. */
ec_status ec_pad_s8(const ec_pad_params *p, const ec_dims *input_dims, const int8_t *input,
                    const ec_dims *output_dims, int8_t *output);

/* 4-D transpose: output axis i is input axis perm[i] (axes in n, h, w, c order). */
ec_status ec_transpose_s8(const int32_t *perm, const ec_dims *input_dims, const int8_t *input,
                          const ec_dims *output_dims, int8_t *output);

/* Sparse variants: the filter in ec_sparse_filter's bitmask format, filter_dims as the dense
 * kernel's; only the non-zero weights are multiplied, outputs are identical to the dense kernel's. */
ec_status ec_fully_connected_sparse_s8(const ec_context *ctx, const ec_fc_params *p, const ec_quant_params *q,
                                       const ec_dims *input_dims, const int8_t *input,
                                       const ec_dims *filter_dims, const ec_sparse_filter *filter,
                                       const int32_t *bias,
                                       const ec_dims *output_dims, int8_t *output);
ec_status ec_conv2d_sparse_s8(const ec_context *ctx, const ec_conv_params *p, const ec_quant_params *q,
                              const ec_dims *input_dims, const int8_t *input,
                              const ec_dims *filter_dims, const ec_sparse_filter *filter,
                              const int32_t *bias,
                              const ec_dims *output_dims, int8_t *output);

#endif /* EC_RUNTIME_H */
