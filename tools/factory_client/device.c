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

struct fc_device {
    kiln_linux_device linux_dev;
    void *flash_handle;
};

fc_device *fc_device_open(const fc_options *opt, int index)
{
    fc_device *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        fprintf(stderr, "factory_client: out of memory\n");
        return NULL;
    }
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
            free(d);
            return NULL;
        }
        if (fc_flash_backend_open(path, &kv, &d->flash_handle) != 0) {
            fprintf(stderr, "factory_client: cannot open flash file %s\n", path);
            free(d);
            return NULL;
        }
        char key_path[4200];
        snprintf(key_path, sizeof(key_path), "%s.rootkey", path);
        kiln_linux_device_setup(&d->linux_dev, kv, key_path);
    } else {
        int rc = kiln_linux_device_open_dir(&d->linux_dev, path);
        if (rc != KILN_KV_OK) {
            fprintf(stderr, "factory_client: cannot open storage %s: %s\n", path,
                    kiln_kv_status_to_string(rc));
            free(d);
            return NULL;
        }
    }
    kiln_device *dev = &d->linux_dev.dev;
    fcc_status_e st = kiln_fcc_init(dev);
    if (st != FCC_STATUS_SUCCESS) {
        fprintf(stderr, "factory_client: fcc_init failed: %d %s (%s)\n", st, fcc_status_name(st),
                fcc_status_to_string(st));
        fc_device_close(d);
        return NULL;
    }
    if (opt->time != 0) {
        dev->time = opt->time;
    }
    return d;
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
    if (d->linux_dev.dev.fcc_ready) {
        kiln_fcc_finalize(&d->linux_dev.dev);
    } else {
        kiln_kcm_finalize(&d->linux_dev.dev);
    }
    if (d->flash_handle != NULL && fc_flash_backend_close != NULL) {
        fc_flash_backend_close(d->flash_handle);
    }
    free(d);
}
