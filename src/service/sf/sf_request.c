/* Secure factory service: station request dispatch (see sf_request.h). */
#include "sf_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The members a route's body must have: exactly these, with these types. */
typedef struct member {
    const char *name;
    json_type type;
    int required;
} member;

static const member new_device_members[] = {{"session_id", JSON_STRING, 1}, {NULL, JSON_NULL, 0}};
static const member answer_members[] = {
    {"session_id", JSON_STRING, 1}, {"response", JSON_STRING, 1}, {NULL, JSON_NULL, 0}};
static const member report_members[] = {{"session_id", JSON_STRING, 1},
                                        {"code", JSON_INTEGER, 1},
                                        {"reason", JSON_STRING, 0},
                                        {NULL, JSON_NULL, 0}};

typedef enum route_id { ROUTE_NEW, ROUTE_CONFIG, ROUTE_RESPONSE, ROUTE_REPORT } route_id;

typedef struct route {
    const char *path;
    route_id id;
    const member *members;
} route;

static const route routes[] = {
    {"/v1/new_device", ROUTE_NEW, new_device_members},
    {"/v1/get_device_configuration", ROUTE_CONFIG, answer_members},
    {"/v1/handle_device_response", ROUTE_RESPONSE, answer_members},
    {"/v1/report_error", ROUTE_REPORT, report_members},
};

static const route *find_route(const char *path)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(path, routes[i].path) == 0) {
            return &routes[i];
        }
    }
    return NULL;
}

static unsigned http_status_of(sf_status st)
{
    switch (st) {
    case SF_OK:
        return 200;
    case SF_STATION_NO_CERT:
    case SF_STATION_UNKNOWN:
    case SF_STATION_REVOKED:
        return 403;
    case SF_SESSION_NOT_FOUND:
    case SF_NOT_FOUND:
        return 404;
    case SF_SESSION_STATE:
    case SF_SESSION_DONE:
    case SF_SESSION_CONFLICT:
    case SF_SESSION_EXPIRED:
    case SF_SESSION_TAKEN:
    case SF_QUOTA_EXCEEDED:
    case SF_DEVICE_REPORTED:
    case SF_DEVICE_REJECTED:
        return 409;
    case SF_DATABASE:
    case SF_CRYPTO:
    case SF_INTERNAL:
    case SF_CONFIG:
        return 500;
    default:
        return 400;
    }
}

static int member_type_ok(const member *m, const json_t *value)
{
    return m->type == JSON_INTEGER ? json_is_integer(value) : json_typeof(value) == m->type;
}

/* Exactly the route's members: none unknown, none of another type, every required one there. */
static sf_status check_members(const json_t *req, const member *members)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)req, key, value)
    {
        const member *m = members;
        while (m->name != NULL && strcmp(m->name, key) != 0) {
            m++;
        }
        if (m->name == NULL || !member_type_ok(m, value)) {
            return SF_REQUEST_SCHEMA;
        }
    }
    for (const member *m = members; m->name != NULL; m++) {
        if (m->required && json_object_get(req, m->name) == NULL) {
            return SF_REQUEST_SCHEMA;
        }
    }
    return SF_OK;
}

/* jansson refuses invalid UTF-8, trailing data (no JSON_DISABLE_EOF_CHECK), \u0000 (no
 * JSON_ALLOW_NUL) and, asked to, duplicate keys. A raw NUL byte is not JSON either. */
static sf_status parse_body(const char *body, size_t len, const member *members, json_t **out)
{
    *out = NULL;
    if (body == NULL || memchr(body, '\0', len) != NULL) {
        return SF_REQUEST_MALFORMED;
    }
    json_error_t err;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (req == NULL || !json_is_object(req)) {
        json_decref(req);
        return SF_REQUEST_MALFORMED;
    }
    sf_status st = check_members(req, members);
    if (st != SF_OK) {
        json_decref(req);
        return st;
    }
    *out = req;
    return SF_OK;
}

static const char *text_member(const json_t *req, const char *name)
{
    return json_string_value(json_object_get(req, name));
}

static sf_status run_route(sf_service *svc, const route *r, const sf_caller *who, const json_t *req,
                           sf_reply *rep)
{
    const char *sid = text_member(req, "session_id");
    const char *response = text_member(req, "response");
    switch (r->id) {
    case ROUTE_NEW:
        return sf_engine_new_device(svc, who, sid, rep);
    case ROUTE_CONFIG:
        return sf_engine_get_configuration(svc, who, sid, response, rep);
    case ROUTE_RESPONSE:
        return sf_engine_handle_response(svc, who, sid, response, rep);
    case ROUTE_REPORT:
    default: {
        const char *reason = text_member(req, "reason");
        json_int_t code = json_integer_value(json_object_get(req, "code"));
        return sf_engine_report_error(svc, who, sid, (long)code, reason != NULL ? reason : "", rep);
    }
    }
}

static char *dump(json_t *o)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

static char *error_body(sf_status st, const sf_reply *rep)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_integer(st));
    json_object_set_new(o, "name", json_string(sf_status_name(st)));
    json_object_set_new(o, "message", json_string(sf_status_text(st)));
    if (rep != NULL && rep->message[0] != '\0') {
        json_object_set_new(o, "detail", json_string(rep->message));
    }
    if (rep != NULL && rep->device_error != 0) {
        json_object_set_new(o, "device_error", json_integer(rep->device_error));
    }
    return dump(o);
}

static char *ok_body_json(const sf_reply *rep)
{
    json_t *o = json_object();
    if (rep->scp != 0) {
        json_object_set_new(o, "scp", json_integer(rep->scp));
        json_object_set_new(o, "payload", json_string(rep->payload_hex));
    }
    if (rep->fingerprint[0] != '\0') {
        json_object_set_new(o, "fingerprint", json_string(rep->fingerprint));
    }
    json_object_set_new(o, "status", json_string("ok"));
    return dump(o);
}

/* Hex digits only: nothing to escape. */
static int plain_hex(const char *s)
{
    return s != NULL && s[strspn(s, "0123456789abcdefABCDEF")] == '\0';
}

/* The success answer, written directly (the payload is kilobytes of hex, which jansson would
 * copy into a string, check as UTF-8 and scan for escapes): the text ok_body_json gives. */
static char *ok_body(const sf_reply *rep)
{
    const char *payload = rep->scp != 0 ? rep->payload_hex : NULL;
    if ((rep->scp != 0 && !plain_hex(payload)) || !plain_hex(rep->fingerprint)) {
        return ok_body_json(rep); /* never the case today: the engine writes both in hex */
    }
    size_t size = (payload != NULL ? strlen(payload) : 0) + strlen(rep->fingerprint) + 80;
    char *text = malloc(size);
    if (text == NULL) {
        return NULL;
    }
    int n = 0;
    text[0] = '{';
    size_t pos = 1;
    if (rep->scp != 0) {
        n = snprintf(text + pos, size - pos, "\"scp\":%d,\"payload\":\"", rep->scp);
        pos += (size_t)n;
        size_t len = strlen(payload);
        memcpy(text + pos, payload, len);
        pos += len;
        text[pos++] = '"';
        text[pos++] = ',';
    }
    if (rep->fingerprint[0] != '\0') {
        n = snprintf(text + pos, size - pos, "\"fingerprint\":\"%s\",", rep->fingerprint);
        pos += (size_t)n;
    }
    snprintf(text + pos, size - pos, "\"status\":\"ok\"}");
    return text;
}

void sf_request_error(sf_status st, sf_answer *answer)
{
    memset(answer, 0, sizeof(*answer));
    answer->status = st;
    answer->http_status = http_status_of(st);
    answer->body = error_body(st, NULL);
}

void sf_request_dispatch(sf_service *svc, const char *route_path, const sf_caller *who,
                         const char *body, size_t len, sf_answer *answer)
{
    const route *r = find_route(route_path);
    if (r == NULL) {
        sf_request_error(SF_NOT_FOUND, answer);
        return;
    }
    json_t *req = NULL;
    sf_status st = parse_body(body, len, r->members, &req);
    if (st != SF_OK) {
        sf_request_error(st, answer);
        return;
    }
    sf_reply rep;
    memset(&rep, 0, sizeof(rep));
    st = run_route(svc, r, who, req, &rep);
    memset(answer, 0, sizeof(*answer));
    const char *sid = text_member(req, "session_id");
    if (sf_session_id_valid(sid)) { /* only a valid ID reaches the log: no line injection */
        snprintf(answer->sid, sizeof(answer->sid), "%s", sid);
    }
    answer->status = st;
    answer->http_status = http_status_of(st);
    answer->body = st == SF_OK ? ok_body(&rep) : error_body(st, &rep);
    sf_reply_free(&rep);
    json_decref(req);
}

void sf_answer_free(sf_answer *answer)
{
    if (answer != NULL) {
        free(answer->body);
        memset(answer, 0, sizeof(*answer));
    }
}
