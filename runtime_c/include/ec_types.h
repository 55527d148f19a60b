/* Types shared by the edgecompile kernels.  Dims are NHWC: {n, h, w, c}. */
#ifndef EC_TYPES_H
#define EC_TYPES_H

#include <stdint.h>

typedef enum {
    EC_OK = 0,
    EC_ARG_ERROR = -1,
    EC_NO_IMPL = -2
} ec_status;

typedef struct { int32_t n, h, w, c; } ec_dims;
typedef struct { int32_t w, h; } ec_tile;
typedef struct { int32_t min, max; } ec_activation;     /* int8 clamp bounds */
typedef struct { void *buf; int32_t size; } ec_context;  /* scratch buffer (may be empty) */

/* Requantization multipliers: per channel when is_per_channel, else element 0 for all. */
typedef struct {
    const int32_t *multiplier;    /* Q31, in [2^30, 2^31 - 1] (or 0) */
    const int32_t *shift;         /* > 0 left shift, < 0 right shift */
    int32_t is_per_channel;
} ec_quant_params;

typedef struct {
    int32_t input_offset;         /* negative of the input zero point */
    int32_t output_offset;        /* the output zero point */
    ec_tile stride;
    ec_tile padding;              /* top/left padding; bottom/right follow from output dims */
    ec_tile dilation;
    int32_t groups;               /* 1 = regular conv; input channels per group = filter c */
    ec_activation activation;
    int32_t fast_requant;         /* 1: lower proved ec_requant_fast exact for every channel */
    int32_t wide_filter;          /* ec_matmul.h's wide filter (DSP cores, --optimize speed): 1 + its rq mode */
    int32_t out_stride;           /* bytes between output pixels, 0: C_OUT (im2col only; a channel concat's slice) */
} ec_conv_params;

typedef struct {
    int32_t input_offset;         /* negative of the input zero point */
    int32_t output_offset;
    int32_t ch_mult;              /* output channels per input channel */
    ec_tile stride;
    ec_tile padding;
    ec_tile dilation;
    ec_activation activation;
} ec_dw_conv_params;

typedef struct {
    int32_t input_offset;         /* negative of the input zero point */
    int32_t output_offset;
    ec_activation activation;
    int32_t fast_requant;         /* 1: lower proved ec_requant_fast exact for every channel */
    int32_t wide_filter;          /* ec_matmul.h's wide filter (DSP cores, --optimize speed): 1 + its rq mode */
    int32_t out_stride;           /* bytes between output rows, 0: out_ch (a channel concat's slice) */
} ec_fc_params;

typedef struct {
    ec_tile stride;
    ec_tile padding;              /* top/left */
    ec_activation activation;
} ec_pool_params;

typedef struct {
    int32_t input_offset;         /* negative of the input zero point */
    int32_t output_offset;
    int32_t multiplier;           /* 1/N already folded in (TFLM MEAN) */
    int32_t shift;
} ec_mean_params;

typedef struct {
    int32_t input1_offset;        /* negatives of the input zero points */
    int32_t input2_offset;
    int32_t output_offset;
    int32_t left_shift;           /* 20 for int8 */
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    ec_activation activation;
} ec_add_params;

/* Add through rescaling tables (ops/add_variants.py): table[x + 128] / table[256 + x + 128] = twice
 * input 1's / input 2's rescaled value; the sum goes through ec_requant_fast(multiplier, right_shift, k). */
typedef struct {
    const int32_t *table;         /* 512 entries */
    int32_t multiplier, right_shift, k;
    ec_activation activation;
} ec_add_lut_params;

typedef struct {
    int32_t input_multiplier;     /* beta * input scale in Q5.26, as TFLM */
    int32_t input_left_shift;
    int32_t diff_min;
} ec_softmax_params;

typedef struct {
    ec_dims before;               /* padding before each of n, h, w, c */
    ec_dims after;
    int32_t value;                /* the quantized pad value (usually the zero point) */
} ec_pad_params;

/* Sparse int8 filter, bitmask format (edgecompile/ops/sparse.py).  The filter [C_OUT, KH, KW, C] is
 * seen as C_OUT x TAPS rows of C weights (TAPS = KH * KW; 1 for fully connected).  For each output
 * channel and tap, in that order, ceil(C / 8) mask bytes: bit j of byte k set <=> channel 8k + j is
 * non-zero (bits past C are 0).  values: the non-zero weights in (output channel, tap, channel) order. */
typedef struct {
    const uint8_t *mask;
    const int8_t *values;
} ec_sparse_filter;

#endif /* EC_TYPES_H */
