/* Reset handler and vector table for a Cortex-M (ARMv7-M), CMSIS-style: the linker script
 * provides the symbols below. The stack is painted so that its high-water mark can be read. */
#include "cortex_m.h"

#include <string.h>

extern uint32_t __data_load__, __data_start__, __data_end__;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __stack_limit__, __stack_top__;

int main(void);
void kiln_cm_reset_handler(void);
void kiln_cm_fault_handler(void);

#define STACK_PAINT 0x5AA5C33Cu

/* Runs before .data and .bss exist: plain loops, no library calls. */
void kiln_cm_reset_handler(void)
{
    uint32_t *src = &__data_load__;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0;
    }
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &__stack_limit__; p < sp - 16; p++) {
        *p = STACK_PAINT;
    }
    main();
    for (;;) {
        __asm__ volatile("wfi");
    }
}

size_t kiln_cm_stack_peak(void)
{
    const uint32_t *p = &__stack_limit__;
    while (p < &__stack_top__ && *p == STACK_PAINT) {
        p++;
    }
    return (size_t)((const uint8_t *)&__stack_top__ - (const uint8_t *)p);
}

/* A fault stops the device and says so on the log UART. */
void kiln_cm_fault_handler(void)
{
    kiln_cm_uart_puts(KILN_CM_UART1, "FAULT\n");
    for (;;) {
        __asm__ volatile("wfi");
    }
}

typedef void (*vector_fn)(void);

/* Initial stack pointer, reset, then the ARMv7-M exceptions; the board's interrupts are unused
 * (everything is polled). */
__attribute__((section(".vectors"), used)) static const vector_fn vector_table[16] = {
    (vector_fn)(uintptr_t)&__stack_top__,
    kiln_cm_reset_handler,
    kiln_cm_fault_handler, /* NMI */
    kiln_cm_fault_handler, /* HardFault */
    kiln_cm_fault_handler, /* MemManage */
    kiln_cm_fault_handler, /* BusFault */
    kiln_cm_fault_handler, /* UsageFault */
    0,
    0,
    0,
    0,
    kiln_cm_fault_handler, /* SVCall */
    kiln_cm_fault_handler, /* DebugMonitor */
    0,
    kiln_cm_fault_handler, /* PendSV */
    kiln_cm_fault_handler, /* SysTick */
};
