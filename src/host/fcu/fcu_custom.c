/* custom-properties of the configuration turned into bundle items: certificates and keys in
 * DER (Certificates, Keys), strings, integers and binary data (ConfigParams). Everything is read
 * and checked before the bundle is written, so a bad property fails the whole bundle. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fcu_prepare.h"

static void wipe_free(uint8_t *data, size_t len)
{
    if (data)
        OPENSSL_cleanse(data, len);
    free(data);
}

/* The property's bytes, from data-file or from data. */
static int property_data(const fcu *f, const fcu_custom_property *p, uint8_t **data, size_t *len,
                         fcu_error *err)
{
    if (p->data_file.text)
        return fcu__load_file_value(f, &p->data_file, data, len, err);
    *data = (uint8_t *)fcu__strdup(p->data.text);
    *len = strlen(p->data.text);
    return *data ? 0 : fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
}

static int certificate_der(const fcu_custom_property *p, fcu_custom_item *it, fcu_error *err)
{
    STACK_OF(X509) *certs = fcu__certs_parse(it->data, it->len);
    uint8_t *der = NULL;
    size_t dlen = 0;
    int rc = 0;
    if (!certs || fcu__x509_der(sk_X509_value(certs, 0), &der, &dlen) != 0) {
        free(der);
        rc = fcu__fail(err, FCU_STATUS_NOT_X509, p->name.text);
    } else {
        wipe_free(it->data, it->len);
        it->data = der;
        it->len = dlen;
    }
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

static EVP_PKEY *public_key_parse(const uint8_t *data, size_t len)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!key) {
        const unsigned char *q = data;
        key = d2i_PUBKEY(NULL, &q, (long)len);
    }
    ERR_clear_error();
    return key;
}

/* EC keys only: the device's custom keys are ECCPrivate or ECCPublic. */
static int key_der(const fcu_custom_property *p, fcu_custom_item *it, fcu_error *err)
{
    bool priv = p->type_code == FCU_CUSTOM_PRIVATE_KEY;
    EVP_PKEY *key = priv ? fcu__key_parse(it->data, it->len) : public_key_parse(it->data, it->len);
    unsigned char *der = NULL;
    int n = key && EVP_PKEY_is_a(key, "EC")
                ? (priv ? i2d_PrivateKey(key, &der) : i2d_PUBKEY(key, &der))
                : -1;
    EVP_PKEY_free(key);
    if (n <= 0) {
        OPENSSL_free(der);
        return fcu__fail(err, FCU_STATUS_KEY_FILE_LOAD, p->name.text);
    }
    uint8_t *copy = malloc((size_t)n);
    if (copy)
        memcpy(copy, der, (size_t)n);
    OPENSSL_cleanse(der, (size_t)n);
    OPENSSL_free(der);
    if (!copy)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    wipe_free(it->data, it->len);
    it->data = copy;
    it->len = (size_t)n;
    return 0;
}

static int integer_value(const fcu_config *cfg, const fcu_custom_property *p, fcu_custom_item *it,
                         fcu_error *err)
{
    char *end;
    errno = 0;
    it->value = strtoll((const char *)it->data, &end, 0);
    if (errno || end == (char *)it->data || *end)
        return fcu__config_invalid(cfg, p->name.text, &p->data, "must be an integer", err);
    return 0;
}

static int item_convert(const fcu_config *cfg, const fcu_custom_property *p, fcu_custom_item *it,
                        fcu_error *err)
{
    switch (p->type_code) {
    case FCU_CUSTOM_CERTIFICATE:
        return certificate_der(p, it, err);
    case FCU_CUSTOM_PRIVATE_KEY:
    case FCU_CUSTOM_PUBLIC_KEY:
        return key_der(p, it, err);
    case FCU_CUSTOM_STRING:
        if (strlen((const char *)it->data) != it->len)
            return fcu__config_invalid(cfg, p->name.text, &p->name,
                                       "a string must not contain NUL bytes", err);
        return 0;
    case FCU_CUSTOM_INTEGER:
        return integer_value(cfg, p, it, err);
    default:
        return 0;
    }
}

int fcu__custom_items_load(const fcu *f, const fcu_config *cfg, fcu_custom_items *out,
                           fcu_error *err)
{
    memset(out, 0, sizeof(*out));
    if (cfg->custom_count == 0)
        return 0;
    out->items = calloc(cfg->custom_count, sizeof(*out->items));
    if (!out->items)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    for (size_t i = 0; i < cfg->custom_count; i++) {
        const fcu_custom_property *p = &cfg->custom[i];
        fcu_custom_item *it = &out->items[i];
        it->name = p->name.text;
        it->type_code = p->type_code;
        int rc = property_data(f, p, &it->data, &it->len, err);
        if (rc)
            return rc;
        out->count = i + 1;
        rc = item_convert(cfg, p, it, err);
        if (rc)
            return rc;
    }
    return 0;
}

void fcu__custom_items_free(fcu_custom_items *c)
{
    for (size_t i = 0; i < c->count; i++)
        wipe_free(c->items[i].data, c->items[i].len);
    free(c->items);
    memset(c, 0, sizeof(*c));
}

static const int extra_type_codes[] = {
    [FCU_PROPERTY_STRING] = FCU_CUSTOM_STRING,
    [FCU_PROPERTY_INTEGER] = FCU_CUSTOM_INTEGER,
    [FCU_PROPERTY_BINARY] = FCU_CUSTOM_BINARY,
};

/* Refuses what the bundle could not carry or would carry ambiguously; earlier[0..index) are
 * the properties already accepted. */
static int extra_check(const fcu_extra_property *props, size_t index, fcu_error *err)
{
    const fcu_extra_property *p = &props[index];
    if (!p->name || !*p->name)
        return fcu__fail(err, FCU_STATUS_VALIDATION, "custom property",
                         "a per-device property needs a name");
    if ((unsigned)p->type > FCU_PROPERTY_BINARY)
        return fcu__fail(err, FCU_STATUS_VALIDATION, p->name,
                         "unknown per-device property type (string, integer or binary)");
    if (p->len && !p->data)
        return fcu__fail(err, FCU_STATUS_VALIDATION, p->name, "no data");
    if (p->type == FCU_PROPERTY_STRING && p->len && memchr(p->data, '\0', p->len))
        return fcu__fail(err, FCU_STATUS_VALIDATION, p->name,
                         "a string must not contain NUL bytes");
    for (size_t i = 0; i < index; i++)
        if (strcmp(props[i].name, p->name) == 0)
            return fcu__fail(err, FCU_STATUS_VALIDATION, p->name,
                             "the per-device property is given twice");
    return 0;
}

/* The item called name, or a new one at the end (items has room for it). */
static fcu_custom_item *item_named(fcu_custom_items *items, const char *name)
{
    for (size_t i = 0; i < items->count; i++)
        if (strcmp(items->items[i].name, name) == 0) {
            wipe_free(items->items[i].data, items->items[i].len);
            memset(&items->items[i], 0, sizeof(items->items[i]));
            return &items->items[i];
        }
    fcu_custom_item *it = &items->items[items->count++];
    memset(it, 0, sizeof(*it));
    return it;
}

int fcu__custom_items_add_extra(fcu_custom_items *items, const fcu_extra_property *props,
                                size_t count, fcu_error *err)
{
    if (count == 0)
        return 0;
    fcu_custom_item *grown = realloc(items->items, (items->count + count) * sizeof(*grown));
    if (!grown)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    items->items = grown;
    for (size_t i = 0; i < count; i++) {
        int rc = extra_check(props, i, err);
        if (rc)
            return rc;
        const fcu_extra_property *p = &props[i];
        /* A string is written as text: keep it NUL-terminated. */
        uint8_t *copy = malloc(p->len + 1);
        if (!copy)
            return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
        if (p->len)
            memcpy(copy, p->data, p->len);
        copy[p->len] = '\0';
        fcu_custom_item *it = item_named(items, p->name);
        it->name = p->name;
        it->type_code = extra_type_codes[p->type];
        it->data = copy;
        it->len = p->len;
        it->value = p->value;
    }
    return 0;
}
