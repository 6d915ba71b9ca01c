/* Station client (see kiln_station.h). */
#include "kiln_station.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kiln_lazy.h"

struct kiln_station {
    char urls[KILN_STATION_MAX_URLS][KILN_STATION_URL_MAX];
    int url_count;
    int current; /* the URL that answered last: tried first by the next call */
    char *cert_pem;
    char *key_pem;
    char *ca_pem;
    CURL *curl;
};

typedef struct buffer {
    char *data;
    size_t len;
} buffer;

static char *dup_range(const char *begin, const char *end)
{
    char *s = malloc((size_t)(end - begin) + 1);
    if (s != NULL) {
        memcpy(s, begin, (size_t)(end - begin));
        s[end - begin] = '\0';
    }
    return s;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        volatile char *p = s;
        while (*p) {
            *p++ = 0;
        }
        free(s);
    }
}

/* Finds the next PEM block of the given label from *pos. */
static char *next_block(const char **pos, const char *label)
{
    char begin[64], end[64];
    snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
    snprintf(end, sizeof(end), "-----END %s-----", label);
    const char *b = strstr(*pos, begin);
    const char *e = b != NULL ? strstr(b, end) : NULL;
    if (e == NULL) {
        return NULL;
    }
    e += strlen(end);
    *pos = e;
    return dup_range(b, e);
}

static int is_separator(char c)
{
    return c == ' ' || c == '\t' || c == ',';
}

/* Appends one service URL (len bytes at u) to the list; 0, or -1 with the reason in bad. */
static int add_url(kiln_station *st, const char *u, size_t len, char *bad, size_t bad_size)
{
    while (len > 8 && u[len - 1] == '/') {
        len--; /* "/v1/route" is appended to it */
    }
    if (len <= 8 || strncmp(u, "https://", 8) != 0) {
        snprintf(bad, bad_size, "service URL '%.*s' is not https://HOST:PORT",
                 (int)(len > 200 ? 200 : len), u);
        return -1;
    }
    if (len >= KILN_STATION_URL_MAX) {
        snprintf(bad, bad_size, "a service URL is longer than %d characters",
                 KILN_STATION_URL_MAX - 1);
        return -1;
    }
    if (st->url_count == KILN_STATION_MAX_URLS) {
        snprintf(bad, bad_size, "more than %d service URLs", KILN_STATION_MAX_URLS);
        return -1;
    }
    memcpy(st->urls[st->url_count], u, len);
    st->urls[st->url_count][len] = '\0';
    st->url_count++;
    return 0;
}

/* Every URL of one value (n bytes at v), separated by spaces, tabs or commas. */
static int add_url_list(kiln_station *st, const char *v, size_t n, char *bad, size_t bad_size)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && is_separator(v[i])) {
            i++;
        }
        size_t begin = i;
        while (i < n && !is_separator(v[i])) {
            i++;
        }
        if (i > begin && add_url(st, v + begin, i - begin, bad, bad_size) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The station file's service URLs: every "service-url:" line, each with one URL or several
 * (the replicas of one service, tried in this order). */
static sf_status read_urls(kiln_station *st, const char *text, char *bad, size_t bad_size)
{
    static const char key[] = "service-url:";
    for (const char *line = text; line != NULL && *line; line = strchr(line, '\n')) {
        if (*line == '\n') {
            line++;
        }
        if (strncmp(line, key, sizeof(key) - 1) != 0) {
            continue;
        }
        const char *v = line + sizeof(key) - 1;
        size_t n = strcspn(v, "\r\n");
        if (add_url_list(st, v, n, bad, bad_size) != 0) {
            return SF_STATION_FILE;
        }
    }
    return SF_OK;
}

sf_status kiln_station_set_urls(kiln_station *st, const char *const *urls, int count, char *err,
                                size_t err_size)
{
    char saved[KILN_STATION_MAX_URLS][KILN_STATION_URL_MAX];
    int saved_count = st->url_count;
    memcpy(saved, st->urls, sizeof(saved));
    st->url_count = 0;
    st->current = 0;
    for (int i = 0; i < count; i++) {
        if (add_url_list(st, urls[i], strlen(urls[i]), err, err_size) != 0) {
            memcpy(st->urls, saved, sizeof(saved));
            st->url_count = saved_count;
            return SF_INVALID_ARGUMENT;
        }
    }
    if (st->url_count == 0) {
        snprintf(err, err_size, "no service URL given");
        memcpy(st->urls, saved, sizeof(saved));
        st->url_count = saved_count;
        return SF_INVALID_ARGUMENT;
    }
    return SF_OK;
}

int kiln_station_url_count(const kiln_station *st)
{
    return st->url_count;
}

const char *kiln_station_last_url(const kiln_station *st)
{
    return st->urls[st->current];
}

sf_status kiln_station_open(const char *path, kiln_station **out, char *err, size_t err_size)
{
    *out = NULL;
    if (path == NULL) {
        path = getenv("FACTORY_STATION");
    }
    if (path == NULL || path[0] == '\0') {
        snprintf(err, err_size, "no station file: give --station FILE or set FACTORY_STATION");
        return SF_STATION_FILE;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, err_size, "cannot open station file %s", path);
        return SF_STATION_FILE;
    }
    char *text = calloc(1, 65536);
    size_t n = text != NULL ? fread(text, 1, 65535, f) : 0;
    fclose(f);
    if (text == NULL || n == 0) {
        free(text);
        snprintf(err, err_size, "station file %s is empty", path);
        return SF_STATION_FILE;
    }
    kiln_station *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        wipe_free(text);
        return SF_INTERNAL;
    }
    char bad[KILN_STATION_URL_MAX + 64] = "";
    sf_status urls_st = read_urls(st, text, bad, sizeof(bad));
    const char *pos = text;
    st->cert_pem = next_block(&pos, "CERTIFICATE");
    st->key_pem = next_block(&pos, "PRIVATE KEY");
    st->ca_pem = next_block(&pos, "CERTIFICATE");
    wipe_free(text);
    if (urls_st != SF_OK) {
        snprintf(err, err_size, "station file %s: %s", path, bad);
        kiln_station_close(st);
        return SF_STATION_FILE;
    }
    if (st->url_count == 0 || st->cert_pem == NULL || st->key_pem == NULL || st->ca_pem == NULL) {
        snprintf(err, err_size, "station file %s lacks service-url, certificate, key or service CA",
                 path);
        kiln_station_close(st);
        return SF_STATION_FILE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    st->curl = curl_easy_init();
    if (st->curl == NULL) {
        snprintf(err, err_size, "cannot start the HTTP client: %s",
                 lazy_why(&lazy_libcurl, "out of memory"));
        kiln_station_close(st);
        return SF_INTERNAL;
    }
    *out = st;
    return SF_OK;
}

void kiln_station_close(kiln_station *st)
{
    if (st == NULL) {
        return;
    }
    if (st->curl != NULL) {
        curl_easy_cleanup(st->curl);
        curl_global_cleanup();
    }
    free(st->cert_pem);
    wipe_free(st->key_pem);
    free(st->ca_pem);
    free(st);
}

void kiln_station_reply_free(kiln_station_reply *r)
{
    if (r != NULL) {
        free(r->payload);
        memset(r, 0, sizeof(*r));
    }
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buffer *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > 1024 * 1024) {
        return 0;
    }
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL) {
        return 0;
    }
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* One request to one URL: the HTTP status in *code (0 when no answer came), the body in resp.
 * SF_TRANSPORT with the reason in r->message when there was no answer. */
static sf_status perform(kiln_station *st, const char *base, const char *endpoint, const char *text,
                         buffer *resp, long *code, kiln_station_reply *r)
{
    char url[KILN_STATION_URL_MAX + 64];
    snprintf(url, sizeof(url), "%s/v1/%s", base, endpoint);
    struct curl_blob cert = {st->cert_pem, strlen(st->cert_pem), CURL_BLOB_NOCOPY};
    struct curl_blob key = {st->key_pem, strlen(st->key_pem), CURL_BLOB_NOCOPY};
    struct curl_blob ca = {st->ca_pem, strlen(st->ca_pem), CURL_BLOB_NOCOPY};
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *c = st->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    /* The service's policy (docs/security.md): TLS 1.2 or 1.3, and on 1.2 ECDHE with AEAD only. */
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, "ECDHE+AESGCM:ECDHE+CHACHA20");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    /* With replicas to fall back on, a machine that is down costs less before the next one. */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, st->url_count > 1 ? 3L : 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    *code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    if (cc != CURLE_OK) {
        snprintf(r->message, sizeof(r->message), "%.300s: %.200s", base, curl_easy_strerror(cc));
        *code = 0;
        return SF_TRANSPORT;
    }
    return SF_OK;
}

/* The service's JSON answer (HTTP status code) into r. */
static sf_status parse_answer(const buffer *resp, long code, kiln_station_reply *r)
{
    json_error_t jerr;
    json_t *o = resp->data != NULL ? json_loadb(resp->data, resp->len, 0, &jerr) : NULL;
    if (o == NULL) {
        snprintf(r->message, sizeof(r->message), "HTTP %ld without a JSON answer", code);
        return SF_PROTOCOL;
    }
    sf_status result = SF_OK;
    if (code != 200) {
        json_t *e = json_object_get(o, "error");
        result = json_is_integer(e) ? (sf_status)json_integer_value(e) : SF_PROTOCOL;
        const char *detail = json_string_value(json_object_get(o, "detail"));
        const char *message = json_string_value(json_object_get(o, "message"));
        snprintf(r->message, sizeof(r->message), "%s%s%s", message != NULL ? message : "",
                 detail != NULL ? ": " : "", detail != NULL ? detail : "");
        json_t *de = json_object_get(o, "device_error");
        r->device_error = json_is_integer(de) ? (int)json_integer_value(de) : 0;
    } else {
        json_t *scp = json_object_get(o, "scp");
        const char *payload = json_string_value(json_object_get(o, "payload"));
        const char *fp = json_string_value(json_object_get(o, "fingerprint"));
        r->scp = json_is_integer(scp) ? (int)json_integer_value(scp) : 0;
        if (payload != NULL) {
            r->payload = dup_range(payload, payload + strlen(payload));
        }
        if (fp != NULL) {
            snprintf(r->fingerprint, sizeof(r->fingerprint), "%s", fp);
        }
    }
    json_decref(o);
    return result;
}

/* Sends the request to the URL that answered last; when no answer comes (down, killed,
 * unreachable) or the answer is a server-side failure (HTTP 5xx: its database, a proxy in front
 * of it), to the next URL, each once. Every step is idempotent, keyed by the session ID: a
 * request that reached a replica before it died gets the same answer from the next one. A 4xx
 * is the service's verdict on the request and is not retried. */
static sf_status call(kiln_station *st, const char *endpoint, json_t *body, kiln_station_reply *r)
{
    memset(r, 0, sizeof(*r));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        return SF_INTERNAL;
    }
    sf_status result = SF_TRANSPORT;
    char failed[256] = "";
    for (int tried = 0; tried < st->url_count; tried++) {
        int i = (st->current + tried) % st->url_count;
        buffer resp = {NULL, 0};
        long code = 0;
        kiln_station_reply_free(r);
        result = perform(st, st->urls[i], endpoint, text, &resp, &code, r);
        if (result == SF_OK) {
            result = parse_answer(&resp, code, r);
        }
        free(resp.data);
        if (result != SF_TRANSPORT && code < 500) {
            if (tried > 0) {
                snprintf(r->note, sizeof(r->note), "%.250s; answered by %.120s", failed,
                         st->urls[i]);
            }
            st->current = i;
            break;
        }
        if (failed[0] == '\0') {
            if (result == SF_TRANSPORT) {
                snprintf(failed, sizeof(failed), "%.250s", r->message);
            } else {
                snprintf(failed, sizeof(failed), "%.200s: HTTP %ld", st->urls[i], code);
            }
        }
    }
    free(text);
    if (result == SF_TRANSPORT && st->url_count > 1) {
        char last[sizeof(r->message)];
        snprintf(last, sizeof(last), "%s", r->message);
        snprintf(r->message, sizeof(r->message), "all %d service URLs failed: %.200s; last %.250s",
                 st->url_count, failed, last);
    }
    return result;
}

sf_status kiln_station_new_device(kiln_station *st, const char *sid, kiln_station_reply *r)
{
    return call(st, "new_device", json_pack("{s:s}", "session_id", sid), r);
}

sf_status kiln_station_get_device_configuration(kiln_station *st, const char *sid,
                                                const char *response_hex, kiln_station_reply *r)
{
    return call(st, "get_device_configuration",
                json_pack("{s:s, s:s}", "session_id", sid, "response", response_hex), r);
}

sf_status kiln_station_handle_device_response(kiln_station *st, const char *sid,
                                              const char *response_hex, kiln_station_reply *r)
{
    return call(st, "handle_device_response",
                json_pack("{s:s, s:s}", "session_id", sid, "response", response_hex), r);
}

sf_status kiln_station_report_error(kiln_station *st, const char *sid, long code,
                                    const char *reason, kiln_station_reply *r)
{
    return call(
        st, "report_error",
        json_pack("{s:s, s:I, s:s}", "session_id", sid, "code", (json_int_t)code, "reason", reason),
        r);
}
