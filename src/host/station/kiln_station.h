/* Station client of the secure factory service: reads the station file written by
 * `factory_service add-station` and calls the service's JSON API over HTTPS with the station's
 * client certificate (libcurl). */
#ifndef KILN_STATION_H
#define KILN_STATION_H

#include "sf_msg.h"

typedef struct kiln_station kiln_station;

typedef struct kiln_station_reply {
    int scp;
    char *payload; /* hex, heap */
    char fingerprint[41];
    int device_error;  /* code the device reported (SF_DEVICE_REPORTED) */
    char message[512]; /* the service's error text */
} kiln_station_reply;

/** Opens the station file: path, else $FACTORY_STATION. SF_STATION_FILE on failure (message in
 *  err). */
sf_status kiln_station_open(const char *path, kiln_station **out, char *err, size_t err_size);
void kiln_station_close(kiln_station *st);

sf_status kiln_station_new_device(kiln_station *st, const char *sid, kiln_station_reply *r);
sf_status kiln_station_get_device_configuration(kiln_station *st, const char *sid,
                                                const char *response_hex, kiln_station_reply *r);
sf_status kiln_station_handle_device_response(kiln_station *st, const char *sid,
                                              const char *response_hex, kiln_station_reply *r);
sf_status kiln_station_report_error(kiln_station *st, const char *sid, long code,
                                    const char *reason, kiln_station_reply *r);
void kiln_station_reply_free(kiln_station_reply *r);

#endif
