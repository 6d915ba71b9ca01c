/* Opening simulated devices for factory_client's commands. */
#include "fc.h"

#include "kiln/port_linux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Provided by the raw-flash backend when it is linked in. */
int fc_flash_backend_open(const char *path, const kiln_kv_backend **kv, void **handle)
    __attribute__((weak));
void fc_flash_backend_close(void *handle) __attribute__((weak));
void fc_flash_power_cut(void *handle, uint64_t after_ops) __attribute__((weak));
bool fc_flash_power_lost(void *handle) __attribute__((weak));

struct fc_device {
    kiln_linux_device linux_dev;
    void *flash_handle;
};

static void device_stop(fc_device *d);

/* Sets up d's storage and FCC; 0, or -1 after printing. */
static int device_start(fc_device *d, const fc_options *opt, int index)
{
    char path[4096];
    const char *base = opt->flash ? opt->flash : opt->storage;
    if (base == NULL) {
        base = "kiln-storage";
    }
    if (opt->devices > 1) {
        snprintf(path, sizeof(path), opt->flash ? "%s.%d" : "%s/dev-%d", base, index);
        if (!opt->flash) {
            /* The parent directory holds one storage directory per device. */
            kiln_dir_kv parent;
            kiln_dir_kv_open(&parent, base);
        }
    } else {
        snprintf(path, sizeof(path), "%s", base);
    }
    if (opt->flash) {
        const kiln_kv_backend *kv = NULL;
        if (fc_flash_backend_open == NULL) {
            fprintf(stderr, "factory_client: --flash is not available in this build\n");
            return -1;
        }
        if (fc_flash_backend_open(path, &kv, &d->flash_handle) != 0) {
            fprintf(stderr, "factory_client: cannot open flash file %s\n", path);
            return -1;
        }
        char key_path[4200];
        snprintf(key_path, sizeof(key_path), "%s.rootkey", path);
        kiln_linux_device_setup(&d->linux_dev, kv, key_path);
    } else {
        int rc = kiln_linux_device_open_dir(&d->linux_dev, path);
        if (rc != KILN_KV_OK) {
            fprintf(stderr, "factory_client: cannot open storage %s: %s\n", path,
                    kiln_kv_status_to_string(rc));
            return -1;
        }
    }
    kiln_device *dev = &d->linux_dev.dev;
    fcc_status_e st = kiln_fcc_init(dev);
    if (st != FCC_STATUS_SUCCESS) {
        fprintf(stderr, "factory_client: fcc_init failed: %d %s (%s)\n", st, fcc_status_name(st),
                fcc_status_to_string(st));
        device_stop(d);
        return -1;
    }
    if (opt->time != 0) {
        dev->time = opt->time;
    }
    return 0;
}

fc_device *fc_device_open(const fc_options *opt, int index)
{
    fc_device *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        fprintf(stderr, "factory_client: out of memory\n");
        return NULL;
    }
    if (device_start(d, opt, index) != 0) {
        free(d);
        return NULL;
    }
    return d;
}

/* Closes what device_start set up, keeping d itself. */
static void device_stop(fc_device *d)
{
    if (d->linux_dev.dev.fcc_ready) {
        kiln_fcc_finalize(&d->linux_dev.dev);
    } else {
        kiln_kcm_finalize(&d->linux_dev.dev);
    }
    if (d->flash_handle != NULL && fc_flash_backend_close != NULL) {
        fc_flash_backend_close(d->flash_handle);
    }
    d->flash_handle = NULL;
}

bool fc_device_can_cut_power(const fc_device *d)
{
    return d->flash_handle != NULL && fc_flash_power_cut != NULL;
}

void fc_device_cut_power(fc_device *d, uint64_t after_ops)
{
    if (fc_device_can_cut_power(d)) {
        fc_flash_power_cut(d->flash_handle, after_ops);
    }
}

bool fc_device_power_lost(const fc_device *d)
{
    return fc_device_can_cut_power(d) && fc_flash_power_lost(d->flash_handle);
}

int fc_device_reboot(fc_device *d, const fc_options *opt, int index)
{
    device_stop(d);
    /* Set up again in place: the kiln_device keeps its address (the listener points at it). */
    memset(d, 0, sizeof(*d));
    return device_start(d, opt, index);
}

kiln_device *fc_device_kiln(fc_device *d)
{
    return &d->linux_dev.dev;
}

void fc_device_close(fc_device *d)
{
    if (d == NULL) {
        return;
    }
    device_stop(d);
    free(d);
}
