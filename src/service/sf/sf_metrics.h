/* factory_service run --metrics-listen: the service's Prometheus series and dashboard status
 * (kiln_sf_sessions_total{batch,outcome}, kiln_sf_session_seconds, kiln_sf_quota_remaining{batch},
 * kiln_sf_station_requests_total{station,code}, kiln_build_info{version}). One registry per
 * process; every hook is one call and does nothing until sf_metrics_start. */
#ifndef KILN_SF_METRICS_H
#define KILN_SF_METRICS_H

#include "sf_db.h"
#include "sf_store.h"

/** Serves /metrics, / and /status.json on ADDR:PORT (plain HTTP); 0, or -1. */
int sf_metrics_start(const char *listen, const char *version);
void sf_metrics_stop(void);
/** A station request was answered with status (the station name NULL when unknown). */
void sf_metrics_request(const char *station, int status);
/** Session s ended ("done", "error", "expired") at now; reads the batch's quota from db
 *  (NULL db: the session did not end, nothing counted). */
void sf_metrics_session(sf_db *db, const sf_session *s, const char *outcome, long long now);

#endif
