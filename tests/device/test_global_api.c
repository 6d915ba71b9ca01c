/* The original global API (fcc_init(), kcm_item_store(), ...) works on the device registered
 * with kiln_set_default_device(): a firmware's own device (here one on the RAM backend), or the
 * Linux port's directory device (registered by the port when the program starts), which opens
 * $KILN_STORAGE_DIR on first use or the directory given to kiln_linux_set_default_storage(). */
#define _GNU_SOURCE
#include "key_config_manager.h"
#include "mbed_factory_configurator_client.h"

#include "kiln/device.h"
#include "kiln/kv_ram.h"
#include "kiln/port_linux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tally_check.h"

static const uint8_t item_name[] = "greeting";
static const uint8_t item_value[] = "hello from the global API";

static kiln_kv_ram firmware_kv;
static kiln_device firmware_device;

static int fixed_root_key(void *ctx, uint8_t key[32])
{
    (void)ctx;
    memset(key, 0x5a, 32);
    return 0;
}

static kiln_device *firmware_source(void)
{
    return &firmware_device;
}

static kcm_status_e store_greeting(void)
{
    return kcm_item_store(item_name, sizeof(item_name) - 1, KCM_CONFIG_ITEM, false, item_value,
                          sizeof(item_value), NULL);
}

/* Reads the greeting from dev through the explicit-device API. */
static kcm_status_e read_greeting(kiln_device *dev, uint8_t *buf, size_t cap, size_t *len)
{
    return kiln_kcm_item_get_data(dev, item_name, sizeof(item_name) - 1, KCM_CONFIG_ITEM, buf, cap,
                                  len);
}

static void test_firmware_device(void)
{
    kiln_kv_ram_init(&firmware_kv);
    kiln_device_config cfg = {
        .kv = &firmware_kv.backend, .root_key = fixed_root_key, .entropy = kiln_linux_entropy};
    kiln_device_setup(&firmware_device, &cfg);
    kiln_set_default_device(firmware_source);
    CHECK(kiln_default_device() == &firmware_device);
    CHECK(fcc_init() == FCC_STATUS_SUCCESS);
    CHECK(firmware_device.fcc_ready);
    CHECK(store_greeting() == KCM_STATUS_SUCCESS);
    uint8_t buf[64];
    size_t len = 0;
    CHECK(read_greeting(&firmware_device, buf, sizeof(buf), &len) == KCM_STATUS_SUCCESS);
    CHECK(len == sizeof(item_value) && memcmp(buf, item_value, len) == 0);
    CHECK(fcc_finalize() == FCC_STATUS_SUCCESS);
    CHECK(!firmware_device.fcc_ready);
    kiln_kv_ram_free(&firmware_kv);
}

static int dir_has_records(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "test -n \"$(ls -A '%s' | grep -v '^\\.rootkey$')\"", dir);
    return system(cmd) == 0;
}

static void remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_linux_default_device(void)
{
    char env_dir[] = "/tmp/kiln-global-env-XXXXXX";
    char other_dir[] = "/tmp/kiln-global-other-XXXXXX";
    CHECK(mkdtemp(env_dir) != NULL && mkdtemp(other_dir) != NULL);

    /* Back from the firmware's device to the Linux one, then on to a new directory. */
    kiln_linux_use_default_device();
    CHECK(kiln_default_device() != &firmware_device);
    kiln_linux_set_default_storage(env_dir);
    CHECK(kcm_init() == KCM_STATUS_SUCCESS);
    CHECK(store_greeting() == KCM_STATUS_SUCCESS);
    CHECK(dir_has_records(env_dir));
    char key_path[4200];
    struct stat st;
    snprintf(key_path, sizeof(key_path), "%s/.rootkey", env_dir);
    CHECK(stat(key_path, &st) == 0 && (st.st_mode & 0777) == 0600);

    /* A second device on the same directory finds what the global API stored. */
    static kiln_linux_device check;
    uint8_t buf[64];
    size_t len = 0;
    CHECK(kiln_linux_device_open_dir(&check, env_dir) == KILN_KV_OK);
    CHECK(read_greeting(&check.dev, buf, sizeof(buf), &len) == KCM_STATUS_SUCCESS);
    CHECK(len == sizeof(item_value) && memcmp(buf, item_value, len) == 0);

    /* Another storage directory: a fresh device that does not have the item. */
    kiln_linux_set_default_storage(other_dir);
    size_t size = 0;
    CHECK(kcm_item_get_data_size(item_name, sizeof(item_name) - 1, KCM_CONFIG_ITEM, &size) ==
          KCM_STATUS_ITEM_NOT_FOUND);
    CHECK(!dir_has_records(other_dir));
    CHECK(store_greeting() == KCM_STATUS_SUCCESS);
    CHECK(dir_has_records(other_dir));

    remove_tree(env_dir);
    remove_tree(other_dir);
}

/* As before the device became a registration: a Linux program that never registers one gets
 * the directory device in $KILN_STORAGE_DIR. */
static void test_linux_device_without_registration(const char *dir)
{
    CHECK(fcc_init() == FCC_STATUS_SUCCESS);
    CHECK(store_greeting() == KCM_STATUS_SUCCESS);
    CHECK(dir_has_records(dir));
    CHECK(fcc_finalize() == FCC_STATUS_SUCCESS);
}

int main(void)
{
    char first_dir[] = "/tmp/kiln-global-first-XXXXXX";
    CHECK(mkdtemp(first_dir) != NULL);
    setenv("KILN_STORAGE_DIR", first_dir, 1);
    test_linux_device_without_registration(first_dir);
    test_firmware_device();
    test_linux_default_device();
    remove_tree(first_dir);
    if (failures != 0) {
        fprintf(stderr, "test_global_api: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_global_api: ok\n");
    return 0;
}
