/* Files the configuration names (server CAs, CRLs, custom data), relative to the FCU home.
 * Certificates are kept in DER while their file is unchanged. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "fcu_prepare.h"

int fcu__load_file_value(const fcu *f, const fcu_value *v, uint8_t **data, size_t *len,
                         fcu_error *err)
{
    char *path = fcu__path_join(f->home, v->text);
    if (!path)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    int e = fcu__read_file(path, data, len);
    int rc = 0;
    /* A reserved FCU_*_DIR the user never set stands for a folder under the home: naming the
     * variable would send them looking for a setting they did not make. */
    const char *set = v->env ? getenv(v->env) : NULL;
    bool defaulted = v->env && strncmp(v->env, "FCU_", 4) == 0 && (set == NULL || *set == '\0');
    if (e == ENOENT && defaulted)
        rc = fcu__fail(err, FCU_STATUS_HOME_FILE_MISSING, path, f->home);
    else if (e == ENOENT && v->env)
        rc = fcu__fail(err, FCU_STATUS_ENV_FILE_MISSING, path, v->env);
    else if (e == EACCES)
        rc = fcu__fail(err, FCU_STATUS_NO_PERMISSION, path);
    else if (e)
        rc = fcu__fail_detail(err, strerror(e), FCU_STATUS_FILE_LOAD, path);
    free(path);
    return rc;
}

static fcu_resource_entry *cache_find(fcu *f, const char *path, const struct stat *st)
{
    for (size_t i = 0; i < FCU_RESOURCE_CACHE; i++) {
        fcu_resource_entry *e = &f->resources_cache[i];
        if (e->path && strcmp(e->path, path) == 0 && e->dev == st->st_dev && e->ino == st->st_ino &&
            e->size == st->st_size && e->mtime.tv_sec == st->st_mtim.tv_sec &&
            e->mtime.tv_nsec == st->st_mtim.tv_nsec)
            return e;
    }
    return NULL;
}

static void cache_store(fcu *f, const char *path, const struct stat *st, const uint8_t *der,
                        size_t len)
{
    fcu_resource_entry *e = &f->resources_cache[f->next_cache_slot];
    f->next_cache_slot = (f->next_cache_slot + 1) % FCU_RESOURCE_CACHE;
    free(e->path);
    free(e->der);
    memset(e, 0, sizeof(*e));
    e->path = fcu__strdup(path);
    e->der = malloc(len);
    if (!e->path || !e->der) {
        free(e->path);
        free(e->der);
        memset(e, 0, sizeof(*e));
        return;
    }
    memcpy(e->der, der, len);
    e->der_len = len;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
}

void fcu__resources_free(fcu *f)
{
    for (size_t i = 0; i < FCU_RESOURCE_CACHE; i++) {
        free(f->resources_cache[i].path);
        free(f->resources_cache[i].der);
    }
}

static int copy_cached(const fcu_resource_entry *hit, uint8_t **der, size_t *der_len,
                       fcu_error *err)
{
    *der = malloc(hit->der_len);
    if (!*der)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    memcpy(*der, hit->der, hit->der_len);
    *der_len = hit->der_len;
    return 0;
}

int fcu__load_cert_value(fcu *f, const fcu_value *v, uint8_t **der, size_t *der_len, fcu_error *err)
{
    char *path = fcu__path_join(f->home, v->text);
    struct stat st;
    fcu_resource_entry *hit = path && stat(path, &st) == 0 ? cache_find(f, path, &st) : NULL;
    if (hit) {
        free(path);
        return copy_cached(hit, der, der_len, err);
    }
    uint8_t *data;
    size_t len;
    int rc = fcu__load_file_value(f, v, &data, &len, err);
    if (rc) {
        free(path);
        return rc;
    }
    STACK_OF(X509) *certs = fcu__certs_parse(data, len);
    free(data);
    if (!certs) {
        rc = fcu__fail(err, FCU_STATUS_NOT_X509, path ? path : v->text);
        free(path);
        return rc;
    }
    if (fcu__x509_der(sk_X509_value(certs, 0), der, der_len) != 0)
        rc = fcu__fail(err, FCU_STATUS_GENERAL, "cannot encode certificate");
    else if (path && stat(path, &st) == 0)
        cache_store(f, path, &st, *der, *der_len);
    sk_X509_pop_free(certs, X509_free);
    free(path);
    return rc;
}
