/* CMSDK APB UART (ARM DDI 0479): DATA, STATE (bit 0 TX full, bit 1 RX full), CTRL (bit 0 TX
 * enable, bit 1 RX enable), BAUDDIV. Polled. QEMU's model moves no byte while BAUDDIV < 16. */
#include "cortex_m.h"

#define UART_DATA(b)    (*(volatile uint32_t *)((b) + 0x00u))
#define UART_STATE(b)   (*(volatile uint32_t *)((b) + 0x04u))
#define UART_CTRL(b)    (*(volatile uint32_t *)((b) + 0x08u))
#define UART_BAUDDIV(b) (*(volatile uint32_t *)((b) + 0x10u))

#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define CTRL_TX_EN    0x1u
#define CTRL_RX_EN    0x2u

#define SYSTEM_CLOCK_HZ 25000000u
#define BAUD            115200u

void kiln_cm_uart_init(uint32_t base)
{
    UART_BAUDDIV(base) = SYSTEM_CLOCK_HZ / BAUD;
    UART_CTRL(base) = CTRL_TX_EN | CTRL_RX_EN;
}

bool kiln_cm_uart_try_read(uint32_t base, uint8_t *byte)
{
    if ((UART_STATE(base) & STATE_RX_FULL) == 0) {
        return false;
    }
    *byte = (uint8_t)UART_DATA(base);
    return true;
}

void kiln_cm_uart_write(uint32_t base, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while ((UART_STATE(base) & STATE_TX_FULL) != 0) {
        }
        UART_DATA(base) = data[i];
    }
}

void kiln_cm_uart_puts(uint32_t base, const char *text)
{
    while (*text != '\0') {
        kiln_cm_uart_write(base, (const uint8_t *)text++, 1);
    }
}

void kiln_cm_uart_put_value(uint32_t base, const char *text, uint32_t value)
{
    char digits[11];
    size_t n = sizeof(digits);
    do {
        digits[--n] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0 && n > 0);
    kiln_cm_uart_puts(base, text);
    kiln_cm_uart_write(base, (const uint8_t *)digits + n, sizeof(digits) - n);
    kiln_cm_uart_write(base, (const uint8_t *)"\n", 1);
}

/* CMSDK APB timer 0: CTRL (bit 0 enable), VALUE counts down from RELOAD at the system clock. */
#define TIMER0_CTRL   (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE  (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

void kiln_cm_timer_start(void)
{
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1;
}

uint32_t kiln_cm_timer_ticks(void)
{
    return 0xFFFFFFFFu - TIMER0_VALUE;
}
