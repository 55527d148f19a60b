/* Per-node timing hooks for the QEMU test firmware: force-included (-include) when model.c is compiled
 * a second time as NAME_profiled_invoke_multi.  Each node's SysTick ticks land in ec_run_node_ticks. */
#ifndef EC_RUN_HOOKS_H
#define EC_RUN_HOOKS_H

#include <stdint.h>

extern volatile uint32_t ec_run_node_ticks[];
extern volatile uint32_t ec_run_node_t0;

#define EC_RUN_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define EC_BEFORE_NODE(id) (ec_run_node_t0 = EC_RUN_SYST_CVR)
#define EC_AFTER_NODE(id, buf, nbytes) (ec_run_node_ticks[(id)] = (ec_run_node_t0 - EC_RUN_SYST_CVR) & 0xFFFFFFu)

#endif /* EC_RUN_HOOKS_H */
