/* Kernel test firmware (tests/qemu_kernels.py): runs every case of the generated table ec_cases[]
 * on each of its samples, timing each call with SysTick, and writes per call {i32 status, u32 ticks,
 * output bytes} to ec_outputs.bin over semihosting. */
#include <stdint.h>

#include "ec_cases.h"
#include "ec_semihost.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static int8_t out_buf[EC_CASES_MAX_OUT];

static void fail(const char *why)
{
    ec_sh_puts("ec_cases: ");
    ec_sh_puts(why);
    ec_sh_puts("\n");
    ec_sh_exit(0);
}

void ec_fault(int code)
{
    fail(code == 3 ? "HardFault" : "unexpected exception");
}

static void put(int32_t fd, const void *p, int32_t n)
{
    if (ec_sh_write(fd, p, n) != 0) {
        fail("cannot write ec_outputs.bin");
    }
}

int main(void)
{
    int32_t fout = ec_sh_open("ec_outputs.bin", 5);
    if (fout < 0) {
        fail("cannot open ec_outputs.bin");
    }
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 5u;
    for (int32_t k = 0; k < ec_num_cases; k++) {
        const ec_case *c = &ec_cases[k];
        for (int32_t s = 0; s < c->samples; s++) {
            int8_t *const out[1] = {out_buf};
            int32_t rec[2];
            for (int32_t i = 0; i < c->out_size; i++) {
                out_buf[i] = (int8_t)0x5A;
            }
            SYST_CVR = 0u;
            uint32_t t0 = SYST_CVR;
            rec[0] = c->fn(c->in[s], out);
            uint32_t t1 = SYST_CVR;
            rec[1] = (int32_t)((t0 - t1) & 0xFFFFFFu);
            put(fout, rec, 8);
            put(fout, out_buf, c->out_size);
        }
    }
    ec_sh_close(fout);
    ec_sh_exit(1);
    return 0;
}
