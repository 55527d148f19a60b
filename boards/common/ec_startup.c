/* Cortex-M startup shared by every board: vector table, reset handler (.data copy, .bss zero,
 * FPU/MVE enable), default exception handlers.  Symbols come from ec_sections.ld. */
#include <stdint.h>

#ifndef EC_NUM_IRQ
#define EC_NUM_IRQ 32   /* external interrupt lines in the vector table (board.toml "irqs") */
#endif

extern uint32_t __StackTop;
extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);

void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void SecureFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void ec_fault(int code) __attribute__((weak));

typedef void (*ec_vector)(void);

/* The initial stack pointer, then the exception vectors.  Interrupt vectors are left 0: nothing here
 * enables an interrupt (a stray one faults into HardFault_Handler); add handlers when you do. */
__attribute__((section(".isr_vector"), used))
const struct {
    const void *initial_sp;
    ec_vector vectors[15 + EC_NUM_IRQ];
} ec_vector_table = {
    &__StackTop,
    {
        [0] = Reset_Handler,
        [1] = NMI_Handler,
        [2] = HardFault_Handler,
        [3] = MemManage_Handler,
        [4] = BusFault_Handler,
        [5] = UsageFault_Handler,
        [6] = SecureFault_Handler,
        [10] = SVC_Handler,
        [11] = DebugMon_Handler,
        [13] = PendSV_Handler,
        [14] = SysTick_Handler,
    },
};

#define EC_SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* Full access to CP10/CP11 (FPU, and MVE on Armv8.1-M) before any floating-point or vector
     * instruction: with -mfloat-abi=hard the C library may use VFP registers. */
    EC_SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    const uint32_t *src = &__data_load__;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
    (void)main();
    for (;;) {
    }
}

/* Weak: the test firmware overrides it to report the fault over semihosting. */
void ec_fault(int code)
{
    (void)code;
    for (;;) {
    }
}

void HardFault_Handler(void)
{
    ec_fault(3);
}

void Default_Handler(void)
{
    ec_fault(0);
}
