/* Station client (see kiln_station.h). */
#include "kiln_station.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

struct kiln_station {
    char url[512];
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

static void header_value(const char *text, const char *key, char *out, size_t size)
{
    out[0] = '\0';
    size_t klen = strlen(key);
    for (const char *line = text; line != NULL && *line; line = strchr(line, '\n')) {
        if (*line == '\n') {
            line++;
        }
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            const char *v = line + klen + 1;
            while (*v == ' ') {
                v++;
            }
            const char *nl = strchr(v, '\n');
            size_t n = nl != NULL ? (size_t)(nl - v) : strlen(v);
            while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' ')) {
                n--;
            }
            if (n < size) {
                memcpy(out, v, n);
                out[n] = '\0';
            }
            return;
        }
    }
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
    header_value(text, "service-url", st->url, sizeof(st->url));
    const char *pos = text;
    st->cert_pem = next_block(&pos, "CERTIFICATE");
    st->key_pem = next_block(&pos, "PRIVATE KEY");
    st->ca_pem = next_block(&pos, "CERTIFICATE");
    wipe_free(text);
    if (st->url[0] == '\0' || st->cert_pem == NULL || st->key_pem == NULL || st->ca_pem == NULL) {
        snprintf(err, err_size, "station file %s lacks service-url, certificate, key or service CA",
                 path);
        kiln_station_close(st);
        return SF_STATION_FILE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    st->curl = curl_easy_init();
    if (st->curl == NULL) {
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

static sf_status call(kiln_station *st, const char *endpoint, json_t *body, kiln_station_reply *r)
{
    memset(r, 0, sizeof(*r));
    char url[700];
    snprintf(url, sizeof(url), "%s/v1/%s", st->url, endpoint);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        return SF_INTERNAL;
    }
    buffer resp = {NULL, 0};
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
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    free(text);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (cc != CURLE_OK) {
        snprintf(r->message, sizeof(r->message), "%.300s: %.200s", st->url, curl_easy_strerror(cc));
        free(resp.data);
        return SF_TRANSPORT;
    }
    json_error_t jerr;
    json_t *o = resp.data != NULL ? json_loadb(resp.data, resp.len, 0, &jerr) : NULL;
    free(resp.data);
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
