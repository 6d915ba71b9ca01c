/* A firmware integrator's Linux program against the installed device library: the original
 * API's statuses and texts link and answer. */
#include <stdio.h>
#include <string.h>

#include <fcc_status.h>
#include <kcm_status.h>
#include <key_config_manager.h>
#include <kiln/ftcd.h>
#include <mbed_factory_configurator_client.h>

int main(void)
{
    fcc_status_e st = fcc_init();
    if (st != FCC_STATUS_SUCCESS) {
        printf("fcc_init: %d\n", (int)st);
        return 1;
    }
    size_t len = 0;
    kcm_status_e k = kcm_item_get_data_size((const uint8_t *)"nope", 4, KCM_CONFIG_ITEM, &len);
    printf("kcm missing item: %d, listener %zu bytes\n", (int)k, sizeof(kiln_ftcd_listener));
    fcc_finalize();
    return k == KCM_STATUS_ITEM_NOT_FOUND ? 0 : 1;
}
