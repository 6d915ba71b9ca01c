/* The service's key checks: a device point is accepted only on P-256 (not the identity, not
 * off the curve, not compressed), and ECDH with a checked point gives both sides one secret. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "sf_crypto.h"

#include "tally_check.h"

int main(void)
{
    EVP_PKEY *a = NULL, *b = NULL, *pa = NULL, *pb = NULL, *bad = NULL;
    uint8_t point_a[SF_POINT_SIZE], point_b[SF_POINT_SIZE], p[SF_POINT_SIZE];
    CHECK(sfc_generate_key(&a) == SF_OK && sfc_generate_key(&b) == SF_OK);
    CHECK(sfc_key_to_point(a, point_a) == SF_OK && sfc_key_to_point(b, point_b) == SF_OK);
    CHECK(sfc_point_to_key(point_a, &pa) == SF_OK && sfc_point_to_key(point_b, &pb) == SF_OK);
    uint8_t s1[SF_SCALAR_SIZE], s2[SF_SCALAR_SIZE];
    CHECK(sfc_ecdh(a, pb, s1) == SF_OK && sfc_ecdh(b, pa, s2) == SF_OK);
    CHECK(memcmp(s1, s2, sizeof(s1)) == 0);

    memcpy(p, point_a, sizeof(p)); /* y + 1: off the curve */
    p[SF_POINT_SIZE - 1] ^= 1;
    CHECK(sfc_point_to_key(p, &bad) == SF_MESSAGE_MALFORMED && bad == NULL);
    memcpy(p, point_a, sizeof(p)); /* x changed */
    p[1] ^= 0x80;
    CHECK(sfc_point_to_key(p, &bad) == SF_MESSAGE_MALFORMED && bad == NULL);
    memset(p, 0, sizeof(p)); /* (0, 0) */
    p[0] = 0x04;
    CHECK(sfc_point_to_key(p, &bad) == SF_MESSAGE_MALFORMED && bad == NULL);
    memset(p, 0, sizeof(p)); /* the identity's encoding */
    CHECK(sfc_point_to_key(p, &bad) == SF_MESSAGE_MALFORMED && bad == NULL);
    memcpy(p, point_a, sizeof(p)); /* not the uncompressed form */
    p[0] = 0x02;
    CHECK(sfc_point_to_key(p, &bad) == SF_MESSAGE_MALFORMED && bad == NULL);

    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(pa);
    EVP_PKEY_free(pb);
    printf("sf_crypto: %d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
