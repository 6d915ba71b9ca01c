/* Secure factory service: TLS policy check (see sf_tls.h). */
#include "sf_tls.h"

#include <stdio.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

/* 1 when every version is TLS 1.2 or 1.3; *tls12 tells whether TLS 1.2 is among them. */
static int all_versions_ok(gnutls_priority_t p, int *tls12)
{
    const unsigned int *list = NULL;
    int n = gnutls_priority_protocol_list(p, &list);
    *tls12 = 0;
    for (int i = 0; i < n; i++) {
        if (list[i] != GNUTLS_TLS1_2 && list[i] != GNUTLS_TLS1_3) {
            return 0;
        }
        *tls12 |= list[i] == GNUTLS_TLS1_2;
    }
    return n > 0;
}

static int all_kx_ok(gnutls_priority_t p)
{
    const unsigned int *list = NULL;
    int n = gnutls_priority_kx_list(p, &list);
    for (int i = 0; i < n; i++) {
        if (list[i] != GNUTLS_KX_ECDHE_ECDSA && list[i] != GNUTLS_KX_ECDHE_RSA) {
            return 0;
        }
    }
    return 1; /* TLS 1.3 alone lists none: its key exchange is always (EC)DHE */
}

/* Elliptic-curve groups only (no finite-field DHE, no legacy or GOST curves). */
static int all_groups_ecdhe(gnutls_priority_t p)
{
    const unsigned int *list = NULL;
    int n = gnutls_priority_group_list(p, &list);
    for (int i = 0; i < n; i++) {
        if (list[i] != GNUTLS_GROUP_SECP256R1 && list[i] != GNUTLS_GROUP_SECP384R1 &&
            list[i] != GNUTLS_GROUP_SECP521R1 && list[i] != GNUTLS_GROUP_X25519 &&
            list[i] != GNUTLS_GROUP_X448) {
            return 0;
        }
    }
    return n > 0;
}

static int all_aead(gnutls_priority_t p)
{
    const unsigned int *list = NULL;
    int n = gnutls_priority_cipher_list(p, &list);
    for (int i = 0; i < n; i++) {
        if (gnutls_cipher_get_tag_size((gnutls_cipher_algorithm_t)list[i]) == 0) {
            return 0;
        }
    }
    n = gnutls_priority_mac_list(p, &list);
    for (int i = 0; i < n; i++) {
        if (list[i] != GNUTLS_MAC_AEAD) {
            return 0;
        }
    }
    return 1;
}

sf_status sf_tls_priorities_check(const char *priorities, char *why, size_t why_size)
{
    gnutls_priority_t p;
    const char *err_pos = NULL;
    if (gnutls_priority_init(&p, priorities, &err_pos) != GNUTLS_E_SUCCESS) {
        snprintf(why, why_size, "tls-priorities does not parse (at offset %ld)",
                 err_pos != NULL ? (long)(err_pos - priorities) : -1L);
        return SF_CONFIG;
    }
    /* The key exchange and cipher lists matter for TLS 1.2 only: every TLS 1.3 suite is AEAD,
     * and its key exchange is the groups'. */
    int tls12 = 0;
    const char *bad = !all_versions_ok(p, &tls12) ? "allows a TLS version other than 1.2 and 1.3"
                      : !all_groups_ecdhe(p)      ? "allows a group other than ECDHE curves"
                      : tls12 && !all_kx_ok(p)    ? "allows a key exchange other than ECDHE"
                      : tls12 && !all_aead(p)     ? "allows a cipher that is not AEAD"
                                                  : NULL;
    gnutls_priority_deinit(p);
    if (bad != NULL) {
        snprintf(why, why_size, "tls-priorities %s", bad);
        return SF_CONFIG;
    }
    return SF_OK;
}
