/* kiln on QEMU's mps2-an386 (Cortex-M4): the device library behind the FTCD listener on UART0,
 * with its storage in the raw-flash log store over flash kept in RAM. UART1 carries a log line
 * per handled bundle with its cost (ticks of the 25 MHz timer, peak heap and stack), which
 * bench/firmware reads; the factory link on UART0 carries nothing but FTCD frames. */
#include "cortex_m.h"

#include "kiln/device.h"
#include "kiln/ftcd.h"
#include "kiln/kv_flash.h"

/* The geometry of factory_client --flash (kiln/flash_file.h), so that a --storage file of this
 * device can be read there too. */
#define FLASH_SECTOR_SIZE  16384u
#define FLASH_SECTOR_COUNT 32u
#define FLASH_PROGRAM_SIZE 8u
/* Largest accepted bundle: the biggest recorded one (a 6-certificate chain) is 4.3 KB. */
#define REQUEST_BUFFER_SIZE 8192u
#define OUTPUT_BUFFER_SIZE  4096u
#define HEAP_SIZE           (48u * 1024u)

static uint8_t flash_memory[FLASH_SECTOR_SIZE * FLASH_SECTOR_COUNT];
static uint8_t store_work[1024];
static uint8_t heap_arena[HEAP_SIZE] __attribute__((aligned(8)));
static uint8_t request_buffer[REQUEST_BUFFER_SIZE];
static uint8_t output_buffer[OUTPUT_BUFFER_SIZE];

static kiln_flash flash;
static kiln_kv_flash store;
static kiln_kv_backend store_backend;
static kiln_device device;
static kiln_ftcd_listener listener;
static uint32_t handling_since;

static kiln_device *firmware_device(void)
{
    return &device;
}

static void on_notice(void *ctx, const kiln_ftcd_notice *notice)
{
    (void)ctx;
    switch (notice->kind) {
    case KILN_FTCD_NOTICE_HANDLING:
        handling_since = kiln_cm_timer_ticks();
        break;
    case KILN_FTCD_NOTICE_HANDLED:
        kiln_cm_uart_put_value(KILN_CM_UART1,
                               "handled ticks=", kiln_cm_timer_ticks() - handling_since);
        kiln_cm_uart_put_value(KILN_CM_UART1, "heap_peak=", (uint32_t)kiln_cm_heap_peak());
        kiln_cm_uart_put_value(KILN_CM_UART1, "stack_peak=", (uint32_t)kiln_cm_stack_peak());
        break;
    case KILN_FTCD_NOTICE_REJECTED:
        kiln_cm_uart_put_value(KILN_CM_UART1, "rejected status=", (uint32_t)notice->status);
        break;
    case KILN_FTCD_NOTICE_ANSWERED:
        kiln_cm_uart_put_value(KILN_CM_UART1, "answered status=", (uint32_t)notice->status);
        break;
    default:
        break;
    }
}

static bool setup(void)
{
    kiln_cm_ram_flash_init(&flash, flash_memory, FLASH_SECTOR_SIZE, FLASH_SECTOR_COUNT,
                           FLASH_PROGRAM_SIZE);
    int attached = kiln_cm_ram_flash_attach_host_file();
    if (attached < 0) {
        kiln_cm_uart_puts(KILN_CM_UART1, "kiln: the storage file cannot be used\n");
        return false;
    }
    kiln_cm_uart_puts(KILN_CM_UART1,
                      attached ? "kiln: storage file attached\n" : "kiln: storage in RAM only\n");
    if (kiln_kv_flash_mount(&store, &flash, store_work, sizeof(store_work)) != KILN_KV_OK) {
        return false;
    }
    kiln_kv_flash_backend(&store, &store_backend);
    const kiln_device_config cfg = {
        .kv = &store_backend,
        .root_key = kiln_cm_root_key,
        .entropy = kiln_cm_entropy,
    };
    kiln_device_setup(&device, &cfg);
    kiln_set_default_device(firmware_device);
    if (kiln_fcc_init(&device) != FCC_STATUS_SUCCESS) {
        return false;
    }
    const kiln_ftcd_config lcfg = {
        .dev = &device,
        .request_buffer = request_buffer,
        .request_buffer_size = sizeof(request_buffer),
        .output_buffer = output_buffer,
        .output_buffer_size = sizeof(output_buffer),
        .notify = on_notice,
    };
    return kiln_ftcd_init(&listener, &lcfg) == FTCD_STATUS_SUCCESS;
}

static void send_output(void)
{
    size_t n = 0;
    const uint8_t *out = kiln_ftcd_output(&listener, &n);
    if (out != NULL && n > 0) {
        kiln_cm_uart_write(KILN_CM_UART0, out, n);
        kiln_ftcd_output_sent(&listener, n);
    }
}

/* A UART never closes: after a finished or refused run the next device's run begins on the
 * same line, as factory_client's serial listener does with --forever. */
static void serve(void)
{
    kiln_ftcd_stream_begins(&listener);
    for (;;) {
        uint8_t byte;
        if (!kiln_cm_uart_try_read(KILN_CM_UART0, &byte)) {
            continue;
        }
        size_t used = 0;
        kiln_ftcd_event ev = KILN_FTCD_CONTINUE;
        do {
            ev = kiln_ftcd_feed(&listener, &byte, 1, &used);
            send_output();
        } while (used == 0 && ev == KILN_FTCD_CONTINUE);
        if (ev == KILN_FTCD_END_OK || ev == KILN_FTCD_END_FAILED) {
            kiln_ftcd_restart(&listener);
            kiln_ftcd_stream_begins(&listener);
        }
    }
}

int main(void)
{
    kiln_cm_timer_start();
    kiln_cm_uart_init(KILN_CM_UART0);
    kiln_cm_uart_init(KILN_CM_UART1);
    kiln_cm_heap_init(heap_arena, sizeof(heap_arena));
    if (!setup()) {
        kiln_cm_uart_puts(KILN_CM_UART1, "kiln: setup failed\n");
        return 1;
    }
    kiln_cm_uart_puts(KILN_CM_UART1, "kiln: ready\n");
    serve();
    return 0;
}
