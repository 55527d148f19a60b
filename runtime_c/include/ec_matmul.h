/* The int8 matrix product shared by the fully connected and im2col conv kernels (inline, so each
 * kernel file stays self-contained): output[r][o] = requant(bias[o] + sum_i (x[r][i] + offset) *
 * w[o][i]).  Blocked 2 rows x 2 output channels so every loaded input and weight is used twice; an
 * odd last row or channel is computed as a duplicate of its neighbour and not stored.  With
 * EC_HAS_DSP the depth runs 4 at a time (SXTB16 + SMLAD on int16 pairs); the scalar loop does the
 * rest.  offset = 0 (input zero point folded into the bias at compile time) skips the offset adds. */
#ifndef EC_MATMUL_H
#define EC_MATMUL_H

#include "ec_types.h"
#include "ec_fixedpoint.h"
#if EC_HAS_DSP
#include "ec_dsp.h"
#endif

#if EC_HAS_DSP
/* acc[r][o] += sum over 4*blocks depth of (x_r + offset) * w_o, four at a time; row 1 and channel 1
 * are at x0 + stride and w0 + stride (one stride register keeps the loop within the 14 registers). */
EC_INLINE void ec_fc_dsp_block(const int8_t *x0, const int8_t *w0, int32_t stride, int32_t blocks,
                               int32_t offset, int32_t acc[4], int add_offset)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset);
    const int8_t *const x0_end = x0 + 4 * blocks;
    while (x0 != x0_end) {
        const int32_t xa = ec_read_s8x4(x0), wa = ec_read_s8x4(w0);
        int32_t x0e = EC_SXTB16(xa), x0o = EC_SXTB16_ROR8(xa);
        if (add_offset) {
            x0e = EC_SADD16(x0e, off2);
            x0o = EC_SADD16(x0o, off2);
        }
        const int32_t wae = EC_SXTB16(wa), wao = EC_SXTB16_ROR8(wa);
        a00 = EC_SMLAD(x0e, wae, a00);
        a00 = EC_SMLAD(x0o, wao, a00);
        const int32_t wb = ec_read_s8x4(w0 + stride);
        const int32_t wbe = EC_SXTB16(wb), wbo = EC_SXTB16_ROR8(wb);
        a01 = EC_SMLAD(x0e, wbe, a01);
        a01 = EC_SMLAD(x0o, wbo, a01);
        const int32_t xb = ec_read_s8x4(x0 + stride);
        int32_t x1e = EC_SXTB16(xb), x1o = EC_SXTB16_ROR8(xb);
        if (add_offset) {
            x1e = EC_SADD16(x1e, off2);
            x1o = EC_SADD16(x1o, off2);
        }
        a10 = EC_SMLAD(x1e, wae, a10);
        a10 = EC_SMLAD(x1o, wao, a10);
        a11 = EC_SMLAD(x1e, wbe, a11);
        a11 = EC_SMLAD(x1o, wbo, a11);
        x0 += 4;
        w0 += 4;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* acc[0] += sum (x + offset) * w0, acc[1] += sum (x + offset) * w1: one row (rows == 1 or the odd last). */
EC_INLINE void ec_fc_dsp_row(const int8_t *x0, const int8_t *w0, const int8_t *w1, int32_t blocks, int32_t offset,
                             int32_t acc[4], int add_offset)
{
    int32_t a0 = acc[0], a1 = acc[1];
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset);
    const int8_t *const x0_end = x0 + 4 * blocks;
    while (x0 != x0_end) {
        const int32_t xa = ec_read_s8x4(x0);
        int32_t xe = EC_SXTB16(xa), xo = EC_SXTB16_ROR8(xa);
        if (add_offset) {
            xe = EC_SADD16(xe, off2);
            xo = EC_SADD16(xo, off2);
        }
        const int32_t wa = ec_read_s8x4(w0), wb = ec_read_s8x4(w1);
        a0 = EC_SMLAD(xe, EC_SXTB16(wa), a0);
        a0 = EC_SMLAD(xo, EC_SXTB16_ROR8(wa), a0);
        a1 = EC_SMLAD(xe, EC_SXTB16(wb), a1);
        a1 = EC_SMLAD(xo, EC_SXTB16_ROR8(wb), a1);
        x0 += 4;
        w0 += 4;
        w1 += 4;
    }
    acc[0] = a0;
    acc[1] = a1;
}
#endif

EC_INLINE void ec_mat_store(int32_t acc, int32_t oc, const ec_quant_params *q, int32_t output_offset,
                            ec_activation act, int8_t *out_row)
{
    const int32_t m = q->is_per_channel ? oc : 0;
    const int32_t v = ec_multiply_by_quantized_multiplier(acc, q->multiplier[m], q->shift[m]);
    out_row[oc] = ec_sat_s8(v + output_offset, act.min, act.max);
}

EC_INLINE void ec_mat_mult_s8(const int8_t *input, int32_t rows, const int8_t *filter, int32_t out_ch,
                               int32_t depth, int32_t off, const int32_t *bias, const ec_quant_params *q,
                               int32_t output_offset, ec_activation act, int8_t *output)
{
    for (int32_t r = 0; r < rows; r += 2) {
        const int32_t r1 = r + 1 < rows ? r + 1 : r;
        const int8_t *EC_RESTRICT x0 = input + r * depth;
        const int8_t *EC_RESTRICT x1 = input + r1 * depth;
        for (int32_t o = 0; o < out_ch; o += 2) {
            const int32_t o1 = o + 1 < out_ch ? o + 1 : o;
            const int8_t *EC_RESTRICT w0 = filter + o * depth;
            const int8_t *EC_RESTRICT w1 = filter + o1 * depth;
            int32_t acc[4];       /* [row][channel]: 00, 01, 10, 11 */
            acc[0] = acc[2] = bias ? bias[o] : 0;
            acc[1] = acc[3] = bias ? bias[o1] : 0;
            int32_t i = 0;
#if EC_HAS_DSP
            if (r1 != r && o1 != o) {     /* a full 2 x 2 block: rows and channels depth apart */
                if (off == 0) {
                    ec_fc_dsp_block(x0, w0, depth, depth >> 2, 0, acc, 0);
                } else {
                    ec_fc_dsp_block(x0, w0, depth, depth >> 2, off, acc, 1);
                }
            } else {                      /* an odd last row or channel: one row at a time */
                int32_t acc1[4] = {acc[2], acc[3], 0, 0};
                const int32_t blocks1 = r1 != r ? depth >> 2 : 0;
                if (off == 0) {
                    ec_fc_dsp_row(x0, w0, w1, depth >> 2, 0, acc, 0);
                    ec_fc_dsp_row(x1, w0, w1, blocks1, 0, acc1, 0);
                } else {
                    ec_fc_dsp_row(x0, w0, w1, depth >> 2, off, acc, 1);
                    ec_fc_dsp_row(x1, w0, w1, blocks1, off, acc1, 1);
                }
                acc[2] = acc1[0];
                acc[3] = acc1[1];
            }
            i = depth & ~3;
#endif
            for (; i < depth; i++) {
                const int32_t xa = x0[i] + off, xb = x1[i] + off;
                const int32_t wa = w0[i], wb = w1[i];
                acc[0] += xa * wa;
                acc[1] += xa * wb;
                acc[2] += xb * wa;
                acc[3] += xb * wb;
            }
            ec_mat_store(acc[0], o, q, output_offset, act, output + r * out_ch);
            if (o1 != o) {
                ec_mat_store(acc[1], o1, q, output_offset, act, output + r * out_ch);
            }
            if (r1 != r) {          /* skip the duplicates of an odd last channel or row */
                ec_mat_store(acc[2], o, q, output_offset, act, output + r1 * out_ch);
                if (o1 != o) {
                    ec_mat_store(acc[3], o1, q, output_offset, act, output + r1 * out_ch);
                }
            }
        }
    }
}

#endif /* EC_MATMUL_H */
