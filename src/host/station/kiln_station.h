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
    char note[400];    /* set when a service URL failed and the next one answered */
} kiln_station_reply;

#define KILN_STATION_MAX_URLS 8
#define KILN_STATION_URL_MAX  512

/** Opens the station file: path, else $FACTORY_STATION. SF_STATION_FILE on failure (message in
 *  err). */
sf_status kiln_station_open(const char *path, kiln_station **out, char *err, size_t err_size);
void kiln_station_close(kiln_station *st);

/** Replaces the station file's service URLs (each element one URL or several separated by
 *  spaces or commas; https:// only, at most KILN_STATION_MAX_URLS). A request goes to the URL
 *  that answered last and, when no answer or an HTTP 5xx comes back, to the next one.
 *  SF_INVALID_ARGUMENT (reason in err, the list unchanged) on a bad URL. */
sf_status kiln_station_set_urls(kiln_station *st, const char *const *urls, int count, char *err,
                                size_t err_size);
int kiln_station_url_count(const kiln_station *st);
/** The URL that answered the last request (the first one before any). */
const char *kiln_station_last_url(const kiln_station *st);

sf_status kiln_station_new_device(kiln_station *st, const char *sid, kiln_station_reply *r);
sf_status kiln_station_get_device_configuration(kiln_station *st, const char *sid,
                                                const char *response_hex, kiln_station_reply *r);
sf_status kiln_station_handle_device_response(kiln_station *st, const char *sid,
                                              const char *response_hex, kiln_station_reply *r);
sf_status kiln_station_report_error(kiln_station *st, const char *sid, long code,
                                    const char *reason, kiln_station_reply *r);
void kiln_station_reply_free(kiln_station_reply *r);

#endif
