/* FCC life cycle, device time, factory disable and internal slots. */
#include "fcc_internal.h"

#include <string.h>

static void slot_key(char *key, const char *slot)
{
    kcm_make_key(key, KCM_NS_INTERNAL, KCM_T_INTERNAL, (const uint8_t *)slot, strlen(slot));
}

kcm_status_e fcc_slot_read(kiln_device *dev, const char *slot, uint8_t *buf, size_t cap,
                           size_t *len)
{
    char key[KILN_KV_MAX_KEY];
    slot_key(key, slot);
    return kcm_record_read(dev, key, buf, cap, len);
}

kcm_status_e fcc_slot_write(kiln_device *dev, const char *slot, const uint8_t *data, size_t len)
{
    char key[KILN_KV_MAX_KEY];
    slot_key(key, slot);
    return kcm_record_put(dev, key, data, len);
}

bool fcc_slot_exists(kiln_device *dev, const char *slot)
{
    char key[KILN_KV_MAX_KEY];
    slot_key(key, slot);
    return kcm_record_exists(dev, key);
}

/* KCM starts on first use; a failure reads as its FCC status. */
static fcc_status_e start_kcm(kiln_device *dev)
{
    return fcc_convert_kcm_status(kiln_kcm_init(dev));
}

fcc_status_e kiln_fcc_init(kiln_device *dev)
{
    if (dev->fcc_ready) {
        return FCC_STATUS_SUCCESS;
    }
    fcc_status_e st = start_kcm(dev);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    dev->fcc_ready = true;
    dev->session_finished = true;
    return FCC_STATUS_SUCCESS;
}

fcc_status_e kiln_fcc_finalize(kiln_device *dev)
{
    if (!dev->fcc_ready) {
        return FCC_STATUS_NOT_INITIALIZED;
    }
    kiln_kcm_finalize(dev);
    dev->fcc_ready = false;
    return FCC_STATUS_SUCCESS;
}

fcc_status_e kiln_fcc_storage_delete(kiln_device *dev)
{
    fcc_status_e st = start_kcm(dev);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    kcm_txn_abort(dev);
    if (dev->cfg.kv->wipe(dev->cfg.kv->ctx) != KILN_KV_OK) {
        return FCC_STATUS_KCM_STORAGE_ERROR;
    }
    dev->time = 0;
    return FCC_STATUS_SUCCESS;
}

fcc_status_e kiln_fcc_verify_device_configured_4mbed_cloud(kiln_device *dev)
{
    if (!dev->fcc_ready) {
        return FCC_STATUS_NOT_INITIALIZED;
    }
    fcc_output out;
    fcc_output_init(&out);
    fcc_status_e st = fcc_verify_device(dev, &out);
    fcc_output_free(&out);
    return st;
}

fcc_status_e kiln_fcc_time_set(kiln_device *dev, uint64_t time)
{
    fcc_status_e st = start_kcm(dev);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    dev->time = time;
    /* Little endian, by 32-bit halves: a 64-bit shift is long code on a 32-bit core. */
    uint32_t low = (uint32_t)time, high = (uint32_t)(time >> 32);
    uint8_t t[8];
    for (int i = 0; i < 4; i++) {
        t[i] = (uint8_t)(low >> (8 * i));
        t[i + 4] = (uint8_t)(high >> (8 * i));
    }
    return fcc_slot_write(dev, KCM_SLOT_SAVED_TIME, t, sizeof(t)) == KCM_STATUS_SUCCESS
               ? FCC_STATUS_SUCCESS
               : FCC_STATUS_STORE_ERROR;
}

fcc_status_e kiln_fcc_is_factory_disabled(kiln_device *dev, bool *disabled)
{
    if (disabled == NULL) {
        return FCC_STATUS_INVALID_PARAMETER;
    }
    fcc_status_e st = start_kcm(dev);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    *disabled = fcc_slot_exists(dev, KCM_SLOT_FACTORY_DONE);
    return FCC_STATUS_SUCCESS;
}

fcc_status_e kiln_fcc_factory_disable(kiln_device *dev)
{
    fcc_status_e st = start_kcm(dev);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    if (fcc_slot_exists(dev, KCM_SLOT_FACTORY_DONE)) {
        return FCC_STATUS_SUCCESS;
    }
    static const uint8_t one[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    return fcc_slot_write(dev, KCM_SLOT_FACTORY_DONE, one, sizeof(one)) == KCM_STATUS_SUCCESS
               ? FCC_STATUS_SUCCESS
               : FCC_STATUS_STORE_ERROR;
}

bool kiln_fcc_is_session_finished(kiln_device *dev)
{
    return dev->session_finished;
}
