/* factory_client sf HEX [--factory-trust FILE]: the simulated device answers one secure-factory
 * message (hex in, hex out on stdout). The trust file (factory_service's device-trust.pem) gives
 * the service public keys a firmware would hold, each after a "Factory-ID: N" line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc.h"
#include "kiln_sf.h"

#define MAX_TRUST   8
#define MAX_MESSAGE (64 * 1024)

typedef struct trust_file {
    char *text;
    kiln_sf_trust_key keys[MAX_TRUST];
    char *pems[MAX_TRUST];
    size_t count;
} trust_file;

static void trust_free(trust_file *t)
{
    for (size_t i = 0; i < t->count; i++) {
        free(t->pems[i]);
    }
    free(t->text);
}

static int trust_load(const char *path, trust_file *t)
{
    memset(t, 0, sizeof(*t));
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "factory_client: cannot open factory trust file %s\n", path);
        return -1;
    }
    t->text = calloc(1, 65536);
    size_t n = t->text != NULL ? fread(t->text, 1, 65535, f) : 0;
    fclose(f);
    const char *pos = t->text;
    while (n > 0 && t->count < MAX_TRUST) {
        const char *id = strstr(pos, "Factory-ID:");
        if (id == NULL) {
            break;
        }
        char *end = NULL;
        unsigned long factory_id = strtoul(id + 11, &end, 0);
        const char *b = strstr(end, "-----BEGIN PUBLIC KEY-----");
        const char *e = b != NULL ? strstr(b, "-----END PUBLIC KEY-----") : NULL;
        if (end == id + 11 || e == NULL) {
            break;
        }
        e += strlen("-----END PUBLIC KEY-----");
        size_t len = (size_t)(e - b);
        char *pem = malloc(len + 2);
        if (pem == NULL) {
            break;
        }
        memcpy(pem, b, len);
        pem[len] = '\n';
        pem[len + 1] = '\0';
        t->pems[t->count] = pem;
        t->keys[t->count].factory_id = (uint32_t)factory_id;
        t->keys[t->count].key = (const uint8_t *)pem;
        t->keys[t->count].key_len = len + 2; /* PEM for Mbed TLS counts the NUL */
        t->count++;
        pos = e;
    }
    if (t->count == 0) {
        fprintf(stderr, "factory_client: no \"Factory-ID:\" key found in %s\n", path);
        trust_free(t);
        return -1;
    }
    return 0;
}

int fc_cmd_sf(const fc_options *opt, int argc, char **argv)
{
    const char *hex = NULL;
    const char *trust_path = opt->factory_trust;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--factory-trust") == 0 && i + 1 < argc) {
            trust_path = argv[++i];
        } else if (hex == NULL) {
            hex = argv[i];
        } else {
            hex = NULL;
            break;
        }
    }
    if (hex == NULL) {
        fprintf(stderr, "usage: factory_client --storage DIR sf HEX [--factory-trust FILE]\n");
        return 2;
    }
    uint8_t *msg = malloc(MAX_MESSAGE);
    size_t msg_len = 0;
    if (msg == NULL) {
        return 1;
    }
    sf_status st = sf_hex_decode(hex, msg, MAX_MESSAGE, &msg_len);
    if (st != SF_OK) {
        fprintf(stderr, "factory_client: error %d: %s\n", (int)st, sf_status_text(st));
        free(msg);
        return 2;
    }
    trust_file trust;
    memset(&trust, 0, sizeof(trust));
    if (trust_path != NULL && trust_load(trust_path, &trust) != 0) {
        free(msg);
        return 2;
    }
    fc_device *d = fc_device_open(opt, 0);
    if (d == NULL) {
        trust_free(&trust);
        free(msg);
        return 1;
    }
    kiln_sf_trust table = {trust.keys, trust.count};
    uint8_t answer[KILN_SF_ANSWER_MAX];
    size_t answer_len = 0;
    int fcc_status = 0;
    st = kiln_sf_handle_message(fc_device_kiln(d), &table, msg, msg_len, answer, sizeof(answer),
                                &answer_len, &fcc_status);
    fc_device_close(d);
    trust_free(&trust);
    free(msg);
    if (answer_len > 0) {
        char out[2 * KILN_SF_ANSWER_MAX + 1];
        sf_hex_encode(answer, answer_len, out);
        printf("%s\n", out);
    }
    if (st != SF_OK) {
        fprintf(stderr, "factory_client: sf: device error %d: %s\n", (int)st, sf_status_text(st));
        return 1;
    }
    if (fcc_status != 0) {
        fprintf(stderr, "factory_client: sf: configuration rejected, FCC status %d\n", fcc_status);
        return 1;
    }
    return 0;
}
