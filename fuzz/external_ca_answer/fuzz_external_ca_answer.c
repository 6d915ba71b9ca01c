/* libFuzzer target: the check of an external CA's answer (fcu_external_ca.c), the bytes a
 * command kiln does not control writes on its stdout. The CSR's key is fixed so that the corpus
 * can hold answers that pass (corpus/chain.pem certifies it for CN fuzz-endpoint). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/pem.h>

#include "fcu_prepare.h"

static const char csr_key_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbP66B7C7N2MkZI79jxOBxOyJFHKt\n"
    "duoqxu4b9sYRHyJ0L3dcZRQVAFg9OKMW+r30+mWVVDUU/xuuUsGl6S+Fyw==\n"
    "-----END PUBLIC KEY-----\n";

static EVP_PKEY *csr_key(void)
{
    static EVP_PKEY *key;
    if (key == NULL) {
        BIO *b = BIO_new_mem_buf(csr_key_pem, -1);
        key = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
        BIO_free(b);
    }
    return key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fcu_device_creds c;
    memset(&c, 0, sizeof(c));
    fcu_error err = {0};
    int rc = fcu__external_ca_check_answer((const char *)data, size, csr_key(), "fuzz-endpoint", &c,
                                           &err);
    /* accepted: a chain of 1 to 5 DER certificates; refused: 410 with a reason */
    if (rc == 0 && (c.nders < 1 || c.nders > FCC_MAX_CHAIN_LENGTH || c.ders[0] == NULL))
        __builtin_trap();
    if (rc != 0 && (err.code != 410 || err.message[0] == '\0'))
        __builtin_trap();
    fcu__creds_free(&c);
    return 0;
}
