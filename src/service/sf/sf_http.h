/* Secure factory service: HTTPS front end (libmicrohttpd with GnuTLS, mutual TLS) speaking the
 * JSON API of docs/secure-factory-protocol.md to stations. */
#ifndef KILN_SF_HTTP_H
#define KILN_SF_HTTP_H

#include <stdio.h>

#include "sf_service.h"

typedef struct sf_http sf_http;

/** Starts serving on listen ("ADDR:PORT", port 0 = any free port); requests are logged to log
 *  (one line each, never a key or payload). */
sf_status sf_http_start(sf_service *svc, const char *listen, int threads, FILE *log, sf_http **out);
/** The port actually bound. */
int sf_http_port(const sf_http *http);
void sf_http_stop(sf_http *http);

#endif
