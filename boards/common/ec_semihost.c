/* Arm semihosting calls: operation number in r0, pointer to an argument block in r1, result in r0. */
#include "ec_semihost.h"

#include <string.h>

enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_WRITE = 0x05, SYS_READ = 0x06,
       SYS_EXIT = 0x18 };
enum { ADP_APPLICATION_EXIT = 0x20026, ADP_RUNTIME_ERROR = 0x20023 };

static int32_t sh_call(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int32_t ec_sh_open(const char *path, int32_t mode)
{
    const uint32_t a[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
    return sh_call(SYS_OPEN, a);
}

int32_t ec_sh_close(int32_t fd)
{
    const uint32_t a[1] = {(uint32_t)fd};
    return sh_call(SYS_CLOSE, a);
}

int32_t ec_sh_read(int32_t fd, void *buf, int32_t n)
{
    const uint32_t a[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)n};
    return sh_call(SYS_READ, a);
}

int32_t ec_sh_write(int32_t fd, const void *buf, int32_t n)
{
    const uint32_t a[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)n};
    return sh_call(SYS_WRITE, a);
}

void ec_sh_puts(const char *s)
{
    (void)sh_call(SYS_WRITE0, s);
}

void ec_sh_exit(int ok)
{
    /* On AArch32 SYS_EXIT takes the reason code itself; QEMU maps ApplicationExit to status 0. */
    (void)sh_call(SYS_EXIT, (const void *)(uintptr_t)(ok ? ADP_APPLICATION_EXIT : ADP_RUNTIME_ERROR));
    for (;;) {
    }
}
