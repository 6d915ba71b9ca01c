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

sf_status sf_engine_new_device(sf_service *svc, const char *station, const char *batch,
                               const char *sid, sf_reply *reply);
sf_status sf_engine_get_configuration(sf_service *svc, const char *station, const char *sid,
                                      const char *response_hex, sf_reply *reply);
sf_status sf_engine_handle_response(sf_service *svc, const char *station, const char *sid,
                                    const char *response_hex, sf_reply *reply);
sf_status sf_engine_report_error(sf_service *svc, const char *station, const char *sid, long code,
                                 const char *reason, sf_reply *reply);

#endif
