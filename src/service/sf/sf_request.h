/* Secure factory service: one station request, from its route and JSON body to the JSON answer,
 * with no HTTP library and no TLS in between: sf_http.c calls it once it has identified the
 * station from its certificate, and the fuzz target (fuzz/sf_request) calls it directly.
 *
 * Every body is checked before the engine sees it: exactly one JSON object, valid UTF-8, no
 * duplicate key, no NUL, nothing after it (125); and the route's exact members with their types,
 * no others (126). */
#ifndef KILN_SF_REQUEST_H
#define KILN_SF_REQUEST_H

#include <stddef.h>

#include "sf_engine.h"
#include "sf_service.h"

typedef struct sf_answer {
    sf_status status;
    unsigned http_status;
    char *body;               /* heap JSON text (NULL only when out of memory) */
    char sid[SF_SID_MAX + 1]; /* the session the request named, for the log ("" if none) */
} sf_answer;

/** Runs the request route ("/v1/new_device", ...) with body[0..len) for the station who. */
void sf_request_dispatch(sf_service *svc, const char *route, const sf_caller *who, const char *body,
                         size_t len, sf_answer *answer);
/** The error answer for status st (a request refused before dispatch, e.g. no certificate). */
void sf_request_error(sf_status st, sf_answer *answer);
void sf_answer_free(sf_answer *answer);

#endif
