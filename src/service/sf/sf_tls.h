/* Secure factory service: the TLS policy of the station port.
 *
 * The service speaks TLS 1.2 and 1.3 only, with ECDHE key exchange and AEAD ciphers only
 * (GnuTLS priority string, service.conf key tls-priorities). A configured string must parse and
 * must stay inside that policy: a string that would also allow TLS 1.0/1.1, a static RSA key
 * exchange or a CBC/MAC cipher makes the state folder invalid (122). */
#ifndef KILN_SF_TLS_H
#define KILN_SF_TLS_H

#include <stddef.h>

#include "sf_msg.h"

/* TLS 1.3 (its suites are all AEAD) and TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305;
 * key exchange on the elliptic curves X25519, P-256, P-384, P-521 only; the server's order
 * wins. */
#define SF_TLS_DEFAULT_PRIORITIES                                                                  \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:"      \
    "+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-X25519:"        \
    "+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:%SERVER_PRECEDENCE"

/** SF_OK when priorities parses and allows nothing outside the policy; otherwise SF_CONFIG with
 *  the reason in why. */
sf_status sf_tls_priorities_check(const char *priorities, char *why, size_t why_size);

#endif
