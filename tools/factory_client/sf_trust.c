#include "sf_trust.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A trust file holds a few public keys; anything much larger is not one. */
#define TRUST_FILE_MAX (64 * 1024)

static const char PEM_BEGIN[] = "-----BEGIN PUBLIC KEY-----";
static const char PEM_END[] = "-----END PUBLIC KEY-----";
static const char ID_LABEL[] = "Factory-ID:";

void fc_sf_trust_free(fc_sf_trust *t)
{
    for (size_t i = 0; i < t->count; i++) {
        free(t->pems[i]);
    }
    memset(t, 0, sizeof(*t));
}

kiln_sf_trust fc_sf_trust_table(const fc_sf_trust *t)
{
    kiln_sf_trust table = {t->keys, t->count};
    return table;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "factory_client: cannot open factory trust file %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    char *text = calloc(1, TRUST_FILE_MAX + 1);
    size_t n = text != NULL ? fread(text, 1, TRUST_FILE_MAX + 1, f) : 0;
    int failed = text == NULL || ferror(f) || n > TRUST_FILE_MAX;
    fclose(f);
    if (failed) {
        fprintf(stderr, "factory_client: cannot read factory trust file %s (at most %d bytes)\n",
                path, TRUST_FILE_MAX);
        free(text);
        return NULL;
    }
    return text;
}

/* Reads "Factory-ID: N" (decimal or 0x hex, 32 bits) at id; *end receives where it stops. */
static int parse_factory_id(const char *id, uint32_t *out, const char **end)
{
    const char *p = id + strlen(ID_LABEL);
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '-' || *p == '+') {
        return -1;
    }
    char *stop = NULL;
    errno = 0;
    unsigned long long v = strtoull(p, &stop, 0);
    if (stop == p || errno != 0 || v > UINT32_MAX) {
        return -1;
    }
    *out = (uint32_t)v;
    *end = stop;
    return 0;
}

int fc_sf_trust_load(const char *path, fc_sf_trust *t)
{
    memset(t, 0, sizeof(*t));
    char *text = read_text(path);
    if (text == NULL) {
        return -1;
    }
    const char *pos = text;
    int rc = 0;
    const char *id;
    while ((id = strstr(pos, ID_LABEL)) != NULL) {
        uint32_t factory_id = 0;
        const char *after = NULL;
        const char *b = NULL, *e = NULL;
        if (parse_factory_id(id, &factory_id, &after) == 0) {
            b = strstr(after, PEM_BEGIN);
            e = b != NULL ? strstr(b, PEM_END) : NULL;
        }
        if (e == NULL) {
            fprintf(stderr,
                    "factory_client: %s: \"%s\" needs a 32-bit number followed by a PEM public "
                    "key\n",
                    path, ID_LABEL);
            rc = -1;
            break;
        }
        if (t->count == FC_SF_TRUST_MAX) {
            fprintf(stderr, "factory_client: %s: more than %d factory keys\n", path,
                    FC_SF_TRUST_MAX);
            rc = -1;
            break;
        }
        e += strlen(PEM_END);
        size_t len = (size_t)(e - b);
        char *pem = malloc(len + 2);
        if (pem == NULL) {
            fprintf(stderr, "factory_client: out of memory\n");
            rc = -1;
            break;
        }
        memcpy(pem, b, len);
        pem[len] = '\n';
        pem[len + 1] = '\0';
        t->pems[t->count] = pem;
        t->keys[t->count].factory_id = factory_id;
        t->keys[t->count].key = (const uint8_t *)pem;
        t->keys[t->count].key_len = len + 2; /* PEM for Mbed TLS counts the NUL */
        t->count++;
        pos = e;
    }
    free(text);
    if (rc == 0 && t->count == 0) {
        fprintf(stderr, "factory_client: no \"%s\" key found in %s\n", ID_LABEL, path);
        rc = -1;
    }
    if (rc != 0) {
        fc_sf_trust_free(t);
    }
    return rc;
}
