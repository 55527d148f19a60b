/* Arm semihosting (BKPT 0xAB on M-profile): the few calls the test firmware needs.
 * Only for running under a debugger or QEMU (-semihosting): on a bare board the BKPT halts. */
#ifndef EC_SEMIHOST_H
#define EC_SEMIHOST_H

#include <stdint.h>

int32_t ec_sh_open(const char *path, int32_t mode);   /* mode: 1 = "rb", 5 = "wb"; -1 on error */
int32_t ec_sh_close(int32_t fd);
int32_t ec_sh_read(int32_t fd, void *buf, int32_t n);  /* bytes NOT read (0 = all read) */
int32_t ec_sh_write(int32_t fd, const void *buf, int32_t n);  /* bytes NOT written */
void ec_sh_puts(const char *s);                       /* to the host's stderr/console */
void ec_sh_exit(int ok);                              /* end the QEMU run: exit code 0 if ok, else 1 */

#endif /* EC_SEMIHOST_H */
