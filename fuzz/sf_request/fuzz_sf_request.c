/* libFuzzer target: the secure-factory service's request handler (sf_request_dispatch: route,
 * JSON body, engine, store) on a state folder and SQLite database in a temporary folder (RAM
 * when /dev/shm exists), without libmicrohttpd or TLS.
 *
 * Input: "ROUTE\n", then header lines up to an empty line ("Station: 2" makes the request come
 * from the second station, of another batch), then the body. Beyond memory errors the target
 * checks the answer's contract (a JSON object; an error answer names its status; the HTTP status
 * matches) and ownership: a request of station 2 never changes the session station 1 holds. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "sf_request.h"
#include "sf_service.h"
#include "sf_store.h"

static sf_service *svc;
static char root_dir[64];
static const sf_caller stations[2] = {{"fuzz-station-1", "default"}, {"fuzz-station-2", "lot-b"}};
#define OWNED_SID "owned-1"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_sf_request: %s\n", what);
    abort();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_root(void)
{
    sf_service_close(svc);
    (void)nftw(root_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    OPENSSL_cleanup();
}

/* The database would grow with every session the inputs open: every so often only station 1's
 * session is kept. */
static void trim_database(void)
{
    static unsigned runs;
    if (++runs % 4096 != 0) {
        return;
    }
    sf_db *db = sf_service_db_acquire(svc);
    const char *params[] = {OWNED_SID};
    if (db == NULL ||
        sf_db_exec(db, "DELETE FROM sessions WHERE sid <> $1", 1, params, NULL, NULL) ||
        sf_db_exec(db, "DELETE FROM audit", 0, NULL, NULL, NULL) ||
        sf_db_exec(db, "DELETE FROM refusals", 0, NULL, NULL, NULL)) {
        die("cannot trim the database");
    }
    sf_service_db_release(svc, db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char base[] = "/dev/shm/kiln-fuzz-sf.XXXXXX", base_tmp[] = "/tmp/kiln-fuzz-sf.XXXXXX";
    char *root = access("/dev/shm", W_OK) == 0 ? mkdtemp(base) : mkdtemp(base_tmp);
    if (root == NULL) {
        die("no temporary folder");
    }
    snprintf(root_dir, sizeof(root_dir), "%s", root);
    /* Closing the service signs the ledger's head, so OpenSSL must still be there: it is told
     * not to clean up in an exit handler of its own, and remove_root cleans it up last. */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    atexit(remove_root);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/state", root);
    if (sf_service_init_dir(dir, NULL, NULL) != SF_OK ||
        sf_service_open(dir, NULL, &svc) != SF_OK) {
        die("cannot create the state folder");
    }
    sf_db *db = sf_service_db_acquire(svc);
    if (db == NULL || sf_store_station_add(db, stations[0].station, "00", stations[0].batch) ||
        sf_store_station_add(db, stations[1].station, "01", stations[1].batch) ||
        sf_store_quota_set(db, "lot-b", 1) != SF_OK) {
        die("cannot add the stations");
    }
    sf_service_db_release(svc, db);
    sf_answer answer;
    const char body[] = "{\"session_id\":\"" OWNED_SID "\"}";
    sf_request_dispatch(svc, "/v1/new_device", &stations[0], body, sizeof(body) - 1, &answer);
    if (answer.status != SF_OK) {
        die("cannot open station 1's session");
    }
    sf_answer_free(&answer);
    return 0;
}

static long owned_version(void)
{
    sf_db *db = sf_service_db_acquire(svc);
    sf_session s;
    long version = db != NULL && sf_store_session_get(db, OWNED_SID, &s) == SF_OK ? s.version : -1;
    if (version >= 0) {
        sf_session_free(&s);
    }
    sf_service_db_release(svc, db);
    return version;
}

/* Splits the input; returns the station index. */
static int parse_input(const char *text, size_t size, char *route, size_t route_size,
                       size_t *body_at)
{
    const char *nl = memchr(text, '\n', size);
    size_t n = nl != NULL ? (size_t)(nl - text) : size;
    snprintf(route, route_size, "%.*s", (int)(n < route_size ? n : route_size - 1), text);
    int station = 0;
    size_t pos = nl != NULL ? n + 1 : size;
    while (pos < size && text[pos] != '\n') { /* header lines */
        const char *end = memchr(text + pos, '\n', size - pos);
        size_t len = end != NULL ? (size_t)(end - (text + pos)) : size - pos;
        if (len >= 10 && memcmp(text + pos, "Station: 2", 10) == 0) {
            station = 1;
        }
        pos += len + (end != NULL);
    }
    *body_at = pos < size ? pos + 1 : size;
    return station;
}

static void check_answer(const sf_answer *answer)
{
    json_t *o = answer->body != NULL ? json_loads(answer->body, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        die("the answer is not a JSON object");
    }
    json_t *error = json_object_get(o, "error");
    if (answer->status == SF_OK
            ? error != NULL || answer->http_status != 200
            : json_integer_value(error) != answer->status || answer->http_status < 400) {
        die("the answer contradicts its status");
    }
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char route[64];
    size_t body_at = 0;
    int station = parse_input((const char *)data, size, route, sizeof(route), &body_at);
    long before = station == 1 ? owned_version() : 0;
    sf_answer answer;
    sf_request_dispatch(svc, route, &stations[station], (const char *)data + body_at,
                        size - body_at, &answer);
    check_answer(&answer);
    sf_answer_free(&answer);
    if (station == 1 && owned_version() != before) {
        die("station 2 changed station 1's session");
    }
    trim_database();
    return 0;
}
