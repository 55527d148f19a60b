/* The QEMU test firmware behind 'edgecompile run': reads input samples from the host file
 * ec_inputs.bin over semihosting, runs the model on each, times every inference with SysTick and
 * writes outputs and tick counts to ec_outputs.bin.  With -icount shift=0 QEMU advances its virtual
 * clock by 1 ns per instruction, so ticks x (1e9 / clock_hz) = instructions (one tick of granularity).
 *
 * ec_inputs.bin:  u32 magic "ECIN", u32 samples, u32 input bytes per sample, u32 output bytes per
 *                 sample, then the samples (all inputs of sample 0, then sample 1, ...).
 * ec_outputs.bin: u32 magic "ECOU", u32 samples, u32 nodes, then per sample {i32 status, u32 ticks,
 *                 output bytes}, then u32 ticks per node of sample 0 run with per-node hooks. */
#include <stdint.h>

#include "ec_run_model.h"
#include "ec_semihost.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_COUNTFLAG (1u << 16)
#define EC_RUN_OVERFLOW 0xFFFFFFFFu
#define MAGIC_IN 0x4E494345u   /* "ECIN" */
#define MAGIC_OUT 0x554F4345u  /* "ECOU" */

volatile uint32_t ec_run_node_ticks[EC_RUN_NUM_NODES];
volatile uint32_t ec_run_node_t0;

static int8_t in_buf[EC_RUN_IN_TOTAL];
static int8_t out_buf[EC_RUN_OUT_TOTAL];
static const int32_t in_sizes[EC_RUN_NUM_INPUTS] = EC_RUN_IN_SIZES;
static const int32_t out_sizes[EC_RUN_NUM_OUTPUTS] = EC_RUN_OUT_SIZES;

static void fail(const char *why)
{
    ec_sh_puts("ec_run: ");
    ec_sh_puts(why);
    ec_sh_puts("\n");
    ec_sh_exit(0);
}

void ec_fault(int code)
{
    fail(code == 3 ? "HardFault" : "unexpected exception");
}

static void put_u32(int32_t fd, uint32_t v)
{
    if (ec_sh_write(fd, &v, 4) != 0) {
        fail("cannot write ec_outputs.bin");
    }
}

/* One timed inference: SysTick restarted from 0, so one wrap (2^24 ticks) would be detected. */
static uint32_t timed_invoke(const int8_t *const in[], int8_t *const out[], int32_t *status)
{
    SYST_CVR = 0u;
    uint32_t t0 = SYST_CVR;
    *status = EC_RUN_INVOKE(in, out);
    uint32_t t1 = SYST_CVR;
    if (SYST_CSR & SYST_COUNTFLAG) {
        return EC_RUN_OVERFLOW;
    }
    return (t0 - t1) & 0xFFFFFFu;
}

int main(void)
{
    const int8_t *in[EC_RUN_NUM_INPUTS];
    int8_t *out[EC_RUN_NUM_OUTPUTS];
    int32_t off = 0;
    for (int k = 0; k < EC_RUN_NUM_INPUTS; k++) {
        in[k] = in_buf + off;
        off += in_sizes[k];
    }
    off = 0;
    for (int k = 0; k < EC_RUN_NUM_OUTPUTS; k++) {
        out[k] = out_buf + off;
        off += out_sizes[k];
    }
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 5u;  /* enable, processor clock, no interrupt */

    int32_t fin = ec_sh_open("ec_inputs.bin", 1);
    int32_t fout = ec_sh_open("ec_outputs.bin", 5);
    uint32_t hdr[4];
    if (fin < 0 || fout < 0) {
        fail("cannot open ec_inputs.bin / ec_outputs.bin");
    }
    if (ec_sh_read(fin, hdr, (int32_t)sizeof hdr) != 0 || hdr[0] != MAGIC_IN
        || hdr[2] != (uint32_t)EC_RUN_IN_TOTAL || hdr[3] != (uint32_t)EC_RUN_OUT_TOTAL) {
        fail("ec_inputs.bin does not match this model");
    }
    put_u32(fout, MAGIC_OUT);
    put_u32(fout, hdr[1]);
    put_u32(fout, (uint32_t)EC_RUN_NUM_NODES);
    for (uint32_t s = 0; s < hdr[1]; s++) {
        int32_t status;
        if (ec_sh_read(fin, in_buf, (int32_t)sizeof in_buf) != 0) {
            fail("ec_inputs.bin is truncated");
        }
        uint32_t ticks = timed_invoke(in, out, &status);
        put_u32(fout, (uint32_t)status);
        put_u32(fout, ticks);
        if (ec_sh_write(fout, out_buf, (int32_t)sizeof out_buf) != 0) {
            fail("cannot write ec_outputs.bin");
        }
        if (s == 0) {
            (void)EC_RUN_INVOKE_PROFILED(in, out);
        }
    }
    for (int k = 0; k < EC_RUN_NUM_NODES; k++) {
        put_u32(fout, ec_run_node_ticks[k]);
    }
    ec_sh_close(fin);
    ec_sh_close(fout);
    ec_sh_exit(1);
    return 0;
}
