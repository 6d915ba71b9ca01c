/* Secure factory service: the protocol state machine behind the four station requests. Each
 * request is idempotent: repeating a step with the same input returns the same answer. */
#ifndef KILN_SF_ENGINE_H
#define KILN_SF_ENGINE_H

#include "sf_msg.h"
#include "sf_service.h"

typedef struct sf_reply {
    int scp;           /* SF_SCP_INIT / SF_SCP_CONFIG, 0 otherwise */
    char *payload_hex; /* heap, NULL when none */
    char fingerprint[41];
    int device_error;  /* code the device reported, 0 if none */
    char message[256]; /* detail for errors; never contains secrets */
} sf_reply;

void sf_reply_free(sf_reply *r);

/* Who asks: the station its verified TLS client certificate names, and that station's batch.
 * A session belongs to the station and batch that created it: every other caller is refused
 * (and the refusal recorded) without any change to the session. The three steps and
 * report_error answer a session of another station exactly like one that does not exist
 * (102); new_device, which creates sessions, answers 127 for an ID another station holds. */
typedef struct sf_caller {
    const char *station;
    const char *batch;
} sf_caller;

sf_status sf_engine_new_device(sf_service *svc, const sf_caller *who, const char *sid,
                               sf_reply *reply);
sf_status sf_engine_get_configuration(sf_service *svc, const sf_caller *who, const char *sid,
                                      const char *response_hex, sf_reply *reply);
sf_status sf_engine_handle_response(sf_service *svc, const sf_caller *who, const char *sid,
                                    const char *response_hex, sf_reply *reply);
sf_status sf_engine_report_error(sf_service *svc, const sf_caller *who, const char *sid, long code,
                                 const char *reason, sf_reply *reply);

#endif
