/* Fully connected, int8 activations and weights, int32 bias (TFLM reference arithmetic); the
 * blocked matrix product (DSP and Helium paths) is ec_matmul.h's.  lower.py folds input_offset *
 * sum(w) into the bias and passes input_offset = 0 where it can, which skips the offset adds (the
 * int32 sums are the same); p->fast_requant, when lower proved its bounds, selects ec_requant_fast.
 * Scratch (ctx): EC_MAT_SCRATCH_BYTES(rows, depth, out_ch), the DSP path's int16 rows and int32
 * sums; a single row may run without scratch (ctx->size 0: lower's memory-saving choice, about 10%
 * slower).  Rows (pixels of a pointwise conv) are written in order, at most 2 per block (Helium: 4)
 * (OVERLAP contract).  p->wide_filter (DSP cores, --optimize speed): the filter is ec_matmul.h's wide layout
 * (int16 weight pairs, bias and requantization inside) and the scratch
 * EC_MAT_WIDE_SCRATCH_BYTES(rows, depth).  p->out_stride (0: out_ch): bytes between output rows (a
 * channel concat's slice written in place). */
#include "ec_runtime.h"
#include "ec_matmul.h"

ec_status ec_fully_connected_s8(const ec_context *ctx, const ec_fc_params *p, const ec_quant_params *q,
                                const ec_dims *input_dims, const int8_t *input,
                                const ec_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias,
                                const ec_dims *output_dims, int8_t *output)
{
    const int32_t rows = input_dims->n, depth = filter_dims->c, out_ch = filter_dims->n;
    const int32_t ys = p->out_stride ? p->out_stride : out_ch;
    (void)output_dims;
#if EC_HAS_DSP && !EC_HAS_MVE && EC_MAT_WIDE
    if (p->wide_filter) {             /* int16 weight pairs (lower, --optimize speed), offset folded */
        if (ctx == NULL || ctx->buf == NULL || ctx->size < EC_MAT_WIDE_SCRATCH_BYTES(rows, depth) ||
            p->input_offset != 0) {
            return EC_ARG_ERROR;
        }
        ec_mat_mult_wide_s8(input, rows, (const int32_t *)(const void *)filter, out_ch, depth,
                            p->wide_filter - 1, p->output_offset, p->activation, output, ys, ctx->buf);
        return EC_OK;
    }
#endif
#if EC_MAT_INT8_CODE
    const int direct = EC_MAT_ROW_DIRECT && ctx != NULL && ctx->size == 0 && rows == 1;
    if (!direct && (ctx == NULL || ctx->buf == NULL || ctx->size < EC_MAT_SCRATCH_BYTES(rows, depth, out_ch))) {
        return EC_ARG_ERROR;
    }
    ec_mat_mult_s8(input, rows, filter, out_ch, depth, p->input_offset, bias, q, p->fast_requant,
                   p->output_offset, p->activation, output, ys, direct ? NULL : ctx->buf);
    return EC_OK;
#else
    (void)bias, (void)q;
    return EC_ARG_ERROR;              /* int8 weights in a model pinned to int16 ones (EC_MAT_INT8 0) */
#endif
}
