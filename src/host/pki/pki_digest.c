/* SHA-256 and SHA-1 of a buffer with digests fetched once per process. OpenSSL 3's one-shot
 * SHA256() and EVP_Digest(..., EVP_sha256(), ...) look the algorithm up in the provider store on
 * every call, which costs several times the hash of a bundle or certificate; a configurator
 * hashes each device's bundle and certificate several times. */
#include <pthread.h>

#include <openssl/evp.h>

#include "kiln_pki.h"

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md, *sha1_md;

static void fetch_digests(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static bool digest(EVP_MD *const *md, const void *data, size_t len, uint8_t *out, unsigned size)
{
    unsigned int n = 0;
    pthread_once(&fetch_once, fetch_digests);
    return *md != NULL && EVP_Digest(data, len, out, &n, *md, NULL) == 1 && n == size;
}

bool kiln_pki_sha256(const void *data, size_t len, uint8_t out[KILN_PKI_DIGEST_SIZE])
{
    return digest(&sha256_md, data, len, out, KILN_PKI_DIGEST_SIZE);
}

bool kiln_pki_sha1(const void *data, size_t len, uint8_t out[KILN_PKI_SHA1_SIZE])
{
    return digest(&sha1_md, data, len, out, KILN_PKI_SHA1_SIZE);
}
