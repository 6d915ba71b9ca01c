/* Secure factory service protocol engine (see sf_engine.h, docs/secure-factory-protocol.md). */
#include "sf_engine.h"
#include "sf_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "bundle_writer.h"
#include "fcc_bundle_fields.h"
#include "kiln_endpoint_name.h"
#include "sf_crypto.h"
#include "sf_store.h"

#define MAX_ANSWER     4096
#define MAX_CAS_ROUNDS 8

void sf_reply_free(sf_reply *r)
{
    if (r != NULL) {
        free(r->payload_hex);
        memset(r, 0, sizeof(*r));
    }
}

static char *hex_of(const uint8_t *b, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (s != NULL) {
        sf_hex_encode(b, n, s);
    }
    return s;
}

static int set_payload(sf_reply *reply, int scp, const char *hex)
{
    reply->scp = scp;
    free(reply->payload_hex);
    reply->payload_hex = NULL;
    return sf_session_set(&reply->payload_hex, hex);
}

static int expired(const sf_session *s, long long now)
{
    return (strcmp(s->state, SF_STATE_INIT_SENT) == 0 ||
            strcmp(s->state, SF_STATE_CONFIG_SENT) == 0) &&
           now > s->expires; /* whole seconds: a TTL of T lasts at least T seconds */
}

static int owned_by(const sf_session *s, const sf_caller *who)
{
    return s->station != NULL && s->batch != NULL && strcmp(s->station, who->station) == 0 &&
           strcmp(s->batch, who->batch) == 0;
}

/* A request on a session that is not the caller's, or does not exist: one refusal row either
 * way, so that both cost the same and answer the same. */
static sf_status refuse(sf_db *db, const sf_caller *who, const char *sid, const char *request,
                        sf_status code, const char *reason)
{
    sf_status st = sf_store_refusal_add(db, who->station, who->batch, sid, request, code, reason);
    return st == SF_OK ? code : st;
}

/* The endpoint name a session's certificate will carry satisfies the shared rule (a session ID
 * may start with '-', which the rule refuses as a formula prefix when there is no prefix). */
static int endpoint_name_ok(const sf_service *svc, const char *sid)
{
    char name[sizeof(svc->cfg.endpoint_prefix) + SF_SID_MAX + 1];
    snprintf(name, sizeof(name), "%s%s", svc->cfg.endpoint_prefix, sid);
    return kiln_endpoint_name_check_str(name) == KILN_ENDPOINT_NAME_OK;
}

/* Closes a session as failed (state error + audit record). */
static sf_status close_with_error(sf_db *db, sf_session *s, long code, const char *reason,
                                  const char *result, long long now)
{
    long version = s->version;
    sf_session_set(&s->state, SF_STATE_ERROR);
    s->error_code = code;
    sf_session_set(&s->error_reason, reason);
    s->updated = now;
    sf_status st = sf_store_session_update(db, s, version, NULL, result);
    sf_metrics_session(st == SF_OK ? db : NULL, s, result, now);
    return st;
}

static sf_status fresh_session(sf_service *svc, sf_session *s, const char *sid,
                               const sf_caller *who, long attempt, long long now)
{
    sf_init_request req;
    memset(&req, 0, sizeof(req));
    req.factory_id = svc->cfg.factory_id;
    req.sid_len = (uint8_t)strlen(sid);
    memcpy(req.sid, sid, req.sid_len);
    if (sfc_random(req.session_nonce, SF_NONCE_SIZE) != SF_OK) {
        return SF_CRYPTO;
    }
    uint8_t msg[SF_HEADER_SIZE + 21 + SF_SID_MAX];
    size_t len = 0;
    sf_status st = sf_init_request_encode(&req, msg, sizeof(msg), &len);
    if (st != SF_OK) {
        return st;
    }
    char hex[2 * sizeof(msg) + 1];
    sf_hex_encode(msg, len, hex);
    sf_session_free(s);
    s->attempt = attempt;
    s->created = s->updated = now;
    s->expires = now + svc->cfg.session_ttl;
    if (sf_session_set(&s->sid, sid) || sf_session_set(&s->state, SF_STATE_INIT_SENT) ||
        sf_session_set(&s->station, who->station) || sf_session_set(&s->batch, who->batch) ||
        sf_session_set(&s->msg1, hex)) {
        return SF_INTERNAL;
    }
    return SF_OK;
}

/* One round of new_device on the stored session s, which st says was read or not found. */
static sf_status new_device_round(sf_service *svc, sf_db *db, const sf_caller *who, const char *sid,
                                  sf_session *s, sf_status st, long long now, sf_reply *reply)
{
    if (st == SF_NOT_FOUND) {
        st = fresh_session(svc, s, sid, who, 1, now);
        return st == SF_OK ? sf_store_session_insert(db, s) : st;
    }
    if (st != SF_OK) {
        return st;
    }
    if (!owned_by(s, who)) {
        return refuse(db, who, sid, "new_device", SF_SESSION_TAKEN, "session of another station");
    }
    if (expired(s, now)) {
        st = close_with_error(db, s, SF_SESSION_EXPIRED, "session expired", "expired", now);
        return st == SF_OK ? SF_SESSION_CONFLICT : st; /* start over from the closed session */
    }
    int refused = strcmp(s->state, SF_STATE_REFUSED_QUOTA) == 0;
    if (strcmp(s->state, SF_STATE_INIT_SENT) == 0 || (refused && now <= s->expires)) {
        return SF_OK; /* a retry: same request again (the device still waits for it) */
    }
    if (strcmp(s->state, SF_STATE_ERROR) == 0 || refused) {
        long version = s->version;
        st = fresh_session(svc, s, sid, who, s->attempt + 1, now);
        return st == SF_OK ? sf_store_session_update(db, s, version, NULL, NULL) : st;
    }
    if (strcmp(s->state, SF_STATE_DONE) == 0) {
        return SF_SESSION_DONE;
    }
    snprintf(reply->message, sizeof(reply->message),
             "configuration already sent; report_error first to restart");
    return SF_SESSION_STATE;
}

sf_status sf_engine_new_device(sf_service *svc, const sf_caller *who, const char *sid,
                               sf_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    if (!sf_session_id_valid(sid) || !endpoint_name_ok(svc, sid)) {
        return SF_SESSION_ID_INVALID;
    }
    sf_session s;
    memset(&s, 0, sizeof(s));
    /* The usual case is a device never seen: try the insert first, one statement. The session's
     * keys are made before a connection is taken (see step_lend_db). */
    sf_status st = fresh_session(svc, &s, sid, who, 1, (long long)time(NULL));
    sf_db *db = sf_service_db_acquire(svc);
    if (db == NULL) {
        sf_session_free(&s);
        return SF_DATABASE;
    }
    if (st == SF_OK) {
        st = sf_store_session_insert(db, &s);
    }
    for (int round = 0; round < MAX_CAS_ROUNDS && st == SF_SESSION_CONFLICT; round++) {
        sf_session_free(&s);
        st = sf_store_session_get(db, sid, &s);
        st = new_device_round(svc, db, who, sid, &s, st, (long long)time(NULL), reply);
    }
    if (st == SF_OK && set_payload(reply, SF_SCP_INIT, s.msg1) != 0) {
        st = SF_INTERNAL;
    }
    sf_session_free(&s);
    sf_service_db_release(svc, db);
    return st;
}

static sf_status decode_answer(const char *hex, uint8_t *buf, size_t size, size_t *len)
{
    sf_status st = sf_hex_decode(hex, buf, size, len);
    if (st == SF_DEV_BUFFER_TOO_SMALL) {
        return SF_MESSAGE_MALFORMED;
    }
    return st;
}

/* A device's answer to a step: hex-decoded, and either the expected message or a device
 * error (which the step records). */
static sf_status decode_device_answer(const char *hex, sf_msg_type expected, uint8_t *answer,
                                      size_t cap, size_t *len, sf_msg_type *type_out)
{
    sf_status st = decode_answer(hex, answer, cap, len);
    if (st != SF_OK) {
        return st;
    }
    sf_msg_type type;
    if (sf_msg_peek(answer, *len, &type) != SF_OK ||
        (type != expected && type != SF_MSG_DEVICE_ERROR)) {
        return SF_MESSAGE_MALFORMED;
    }
    *type_out = type;
    return SF_OK;
}

/* A DEVICE_ERROR answer closes the session with the device's code. */
static sf_status record_device_error(sf_db *db, sf_session *s, const uint8_t *msg, size_t len,
                                     sf_reply *reply)
{
    sf_device_error e;
    if (sf_device_error_parse(msg, len, &e) != SF_OK) {
        return SF_MESSAGE_MALFORMED;
    }
    char reason[200];
    snprintf(reason, sizeof(reason), "device error %u: %s (detail %ld)", e.code,
             sf_status_text(e.code), (long)e.detail);
    sf_status st = close_with_error(db, s, e.code, reason, "error", (long long)time(NULL));
    if (st != SF_OK) {
        return st;
    }
    reply->device_error = e.code;
    snprintf(reply->message, sizeof(reply->message), "%s", reason);
    return SF_DEVICE_REPORTED;
}

/* Both answer steps first close the session when it expired (104) or when the device answered
 * with an error (118, the device's code recorded). Returns 1 with *st set when it did. */
static int closed_by_expiry_or_device(sf_db *db, sf_session *s, long long now, sf_msg_type type,
                                      const uint8_t *answer, size_t answer_len, sf_reply *reply,
                                      sf_status *st)
{
    if (expired(s, now)) {
        *st = close_with_error(db, s, SF_SESSION_EXPIRED, "session expired", "expired", now);
        if (*st == SF_OK) {
            *st = SF_SESSION_EXPIRED;
        }
        return 1;
    }
    if (type == SF_MSG_DEVICE_ERROR) {
        *st = record_device_error(db, s, answer, answer_len, reply);
        return 1;
    }
    return 0;
}

static sf_status wrap_secret(sf_service *svc, const char *sid, const uint8_t *secret, size_t len,
                             char **hex_out)
{
    uint8_t buf[SF_GCM_IV_SIZE + 64 + SF_TAG_SIZE];
    if (len > 64 || sfc_random(buf, SF_GCM_IV_SIZE) != SF_OK) {
        return SF_CRYPTO;
    }
    sf_status st = sfc_gcm_encrypt(svc->wrap_key, buf, (const uint8_t *)sid, strlen(sid), secret,
                                   len, buf + SF_GCM_IV_SIZE, buf + SF_GCM_IV_SIZE + len);
    if (st == SF_OK) {
        *hex_out = hex_of(buf, SF_GCM_IV_SIZE + len + SF_TAG_SIZE);
        st = *hex_out != NULL ? SF_OK : SF_INTERNAL;
    }
    return st;
}

static sf_status unwrap_secret(sf_service *svc, const char *sid, const char *hex, uint8_t *out,
                               size_t len)
{
    uint8_t buf[SF_GCM_IV_SIZE + 64 + SF_TAG_SIZE];
    size_t n = 0;
    if (hex == NULL || len > 64 || sf_hex_decode(hex, buf, sizeof(buf), &n) != SF_OK ||
        n != SF_GCM_IV_SIZE + len + SF_TAG_SIZE) {
        return SF_DATABASE;
    }
    return sfc_gcm_decrypt(svc->wrap_key, buf, (const uint8_t *)sid, strlen(sid),
                           buf + SF_GCM_IV_SIZE, len, buf + SF_GCM_IV_SIZE + len, out);
}

/* The configuration bundle (FCC format) the service encrypts to a device. Bootstrap mode: the
 * device certificate names the key the device generated itself (PrKN), so no private key
 * travels. */
typedef struct device_bundle {
    const sf_config *cfg;
    const char *endpoint, *serial;
    const uint8_t *cert, *server_ca;
    size_t cert_len, server_ca_len;
    uint64_t now;
} device_bundle;

static size_t write_bundle_certs(kiln_bundle_writer *w, const void *ctx)
{
    const device_bundle *b = ctx;
    kiln_bw_cert(w, FCC_BOOTSTRAP_DEVICE_CERT, b->cert, b->cert_len,
                 FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY);
    kiln_bw_cert(w, FCC_BOOTSTRAP_SERVER_CA_CERT, b->server_ca, b->server_ca_len, NULL);
    return 2;
}

static size_t write_bundle_params(kiln_bundle_writer *w, const void *ctx)
{
    const device_bundle *b = ctx;
    const sf_config *c = b->cfg;
    kiln_bw_param_int(w, FCC_USE_BOOTSTRAP, 1);
    kiln_bw_param_text(w, FCC_ENDPOINT_NAME, b->endpoint);
    kiln_bw_param_text(w, FCC_BOOTSTRAP_SERVER_URI, c->bootstrap_uri);
    kiln_bw_param_text(w, FCC_MANUFACTURER, c->manufacturer);
    kiln_bw_param_text(w, FCC_MODEL_NUMBER, c->model_number);
    kiln_bw_param_text(w, FCC_SERIAL_NUMBER, b->serial);
    kiln_bw_param_text(w, FCC_DEVICE_TYPE, c->device_type);
    kiln_bw_param_text(w, FCC_HARDWARE_VERSION, c->hardware_version);
    kiln_bw_param_int(w, FCC_MEMORY_TOTAL_KB, (uint32_t)c->memory_total_kb);
    size_t n = 9;
    if (c->timezone[0]) {
        kiln_bw_param_text(w, FCC_TIMEZONE, c->timezone);
        n++;
    }
    if (c->utc_offset[0]) {
        kiln_bw_param_text(w, FCC_UTC_OFFSET, c->utc_offset);
        n++;
    }
    kiln_bw_param_int(w, FCC_CURRENT_TIME, (int64_t)b->now);
    return n + 1;
}

static void write_device_bundle(kiln_bundle_writer *w, const device_bundle *b)
{
    kiln_bw_bundle_begin(w, 3);
    kiln_bw_group_items(w, FCC_GROUP_CERTIFICATES, write_bundle_certs, b);
    kiln_bw_group_items(w, FCC_GROUP_CONFIG_PARAMS, write_bundle_params, b);
}

/* The device certificate (CN = endpoint prefix and session id) and the bundle carrying it. The
 * certificate stays DER: it is stored, hashed and sent, never used as an X509. */
static sf_status certificate_and_bundle(sf_service *svc, const sf_session *s,
                                        const uint8_t device_point[SF_POINT_SIZE],
                                        uint8_t **cert_der, size_t *cert_len, uint8_t **bundle,
                                        size_t *bundle_len)
{
    char cn[SF_SID_MAX + 80];
    snprintf(cn, sizeof(cn), "%s%s", svc->cfg.endpoint_prefix, s->sid);
    sf_status st = sfc_leaf_der(svc->device_issuer, device_point, cn, KILN_PKI_USAGE_CLIENT, NULL,
                                svc->cfg.cert_years, cert_der, cert_len);
    if (st != SF_OK) {
        return st;
    }
    device_bundle b = {&svc->cfg,
                       cn,
                       s->sid,
                       *cert_der,
                       svc->bootstrap_ca_der,
                       *cert_len,
                       svc->bootstrap_ca_len,
                       (uint64_t)time(NULL)};
    kiln_bundle_writer w;
    kiln_bw_init(&w, NULL, 0);
    write_device_bundle(&w, &b);
    *bundle_len = kiln_bw_length(&w);
    *bundle = malloc(*bundle_len);
    if (*bundle == NULL) {
        return SF_INTERNAL;
    }
    kiln_bw_init(&w, *bundle, *bundle_len);
    write_device_bundle(&w, &b);
    return SF_OK;
}

/* CONFIG_REQUEST: the bundle encrypted under keys from an ephemeral ECDH with the device key,
 * bound to the transcript hash th and signed by the service. okm keeps the derived keys. */
static sf_status seal_configuration(sf_service *svc, const uint8_t th[SF_HASH_SIZE],
                                    EVP_PKEY *device_key, const uint8_t *bundle, size_t bundle_len,
                                    uint8_t okm[SF_OKM_SIZE], uint8_t **msg2, size_t *msg2_len)
{
    uint8_t secret[SF_SCALAR_SIZE], eph_point[SF_POINT_SIZE];
    EVP_PKEY *eph = NULL;
    sf_status st = sfc_generate_key(&eph);
    if (st == SF_OK) {
        st = sfc_key_to_point(eph, eph_point);
    }
    if (st == SF_OK) {
        st = sfc_ecdh(eph, device_key, secret);
    }
    if (st == SF_OK) {
        st = sfc_hkdf(th, SF_HASH_SIZE, secret, sizeof(secret), SF_LABEL_KEYS, okm, SF_OKM_SIZE);
    }
    if (st == SF_OK) {
        size_t need = 0;
        (void)sf_config_request_begin(th, eph_point, bundle_len, NULL, 0, &need);
        *msg2 = malloc(need);
        st = *msg2 != NULL
                 ? sf_config_request_begin(th, eph_point, bundle_len, *msg2, need, msg2_len)
                 : SF_INTERNAL;
    }
    if (st == SF_OK) {
        size_t aad_len = SF_HEADER_SIZE + SF_BINDING_SIZE + SF_POINT_SIZE;
        uint8_t *ct = *msg2 + aad_len;
        st = sfc_gcm_encrypt(okm, okm + SF_AES_KEY_SIZE, *msg2, aad_len, bundle, bundle_len, ct,
                             ct + bundle_len);
    }
    if (st == SF_OK) {
        uint8_t hash[SF_HASH_SIZE];
        size_t signed_len = *msg2_len - SF_SIG_SIZE;
        sfc_labelled_hash(SF_LABEL_CONFIG, th, SF_HASH_SIZE, *msg2, signed_len, NULL, 0, hash);
        st = sfc_sign_hash(svc->signing, hash, *msg2 + signed_len);
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    EVP_PKEY_free(eph);
    return st;
}

/* The session's new columns: state CONFIG_SENT, transcript, both messages, the certificate, the
 * wrapped confirmation key (taken over), the device key's hash and the certificate's
 * fingerprint. */
static sf_status record_configuration(sf_session *s, const uint8_t th[SF_HASH_SIZE],
                                      const uint8_t *answer, size_t answer_len, const uint8_t *msg2,
                                      size_t msg2_len, const uint8_t *cert_der, size_t cert_len,
                                      const sf_init_response *resp, char **confirm)
{
    char *th_hex = hex_of(th, SF_HASH_SIZE);
    char *in_hex = hex_of(answer, answer_len);
    char *out_hex = hex_of(msg2, msg2_len);
    char *cert_hex = hex_of(cert_der, cert_len);
    char key_hash[65], fp[41], msg2_hash[65];
    sfc_sha256_hex(resp->device_pub, SF_POINT_SIZE, key_hash);
    sfc_sha256_hex(msg2, msg2_len, msg2_hash);
    sfc_sha1_hex(cert_der, cert_len, fp);
    if (!th_hex || !in_hex || !out_hex || !cert_hex) {
        free(th_hex);
        free(in_hex);
        free(out_hex);
        free(cert_hex);
        return SF_INTERNAL;
    }
    sf_session_set(&s->state, SF_STATE_CONFIG_SENT);
    free(s->th);
    s->th = th_hex;
    free(s->msg2_in);
    s->msg2_in = in_hex;
    free(s->msg2_out);
    s->msg2_out = out_hex;
    free(s->cert);
    s->cert = cert_hex;
    free(s->confirm);
    s->confirm = *confirm;
    *confirm = NULL;
    sf_session_set(&s->msg2_hash, msg2_hash);
    sf_session_set(&s->device_key, key_hash);
    sf_session_set(&s->fingerprint, fp);
    s->updated = (long long)time(NULL);
    return SF_OK;
}

/* Builds CONFIG_REQUEST for a verified INIT_RESPONSE and fills the session's new columns. */
static sf_status build_configuration(sf_service *svc, sf_session *s, const uint8_t *msg1,
                                     size_t msg1_len, const uint8_t *answer, size_t answer_len,
                                     const sf_init_response *resp, EVP_PKEY *device_key)
{
    uint8_t th[SF_HASH_SIZE], okm[SF_OKM_SIZE];
    uint8_t *cert_der = NULL, *bundle = NULL, *msg2 = NULL;
    size_t cert_len = 0, bundle_len = 0, msg2_len = 0;
    char *confirm = NULL;
    sfc_labelled_hash(SF_LABEL_SESSION, msg1, msg1_len, answer, answer_len, NULL, 0, th);

    sf_status st = certificate_and_bundle(svc, s, resp->device_pub, &cert_der, &cert_len, &bundle,
                                          &bundle_len);
    if (st == SF_OK) {
        st = seal_configuration(svc, th, device_key, bundle, bundle_len, okm, &msg2, &msg2_len);
    }
    if (st == SF_OK) {
        st = wrap_secret(svc, s->sid, okm + SF_AES_KEY_SIZE + SF_GCM_IV_SIZE, SF_CONFIRM_KEY_SIZE,
                         &confirm);
    }
    if (st == SF_OK) {
        st = record_configuration(s, th, answer, answer_len, msg2, msg2_len, cert_der, cert_len,
                                  resp, &confirm);
    }
    free(confirm);
    OPENSSL_cleanse(okm, sizeof(okm));
    if (bundle != NULL) {
        OPENSSL_cleanse(bundle, bundle_len);
    }
    free(bundle);
    free(msg2);
    free(cert_der);
    return st;
}

/* One step of a session that the station asks for: it reads the session, decides, and writes it
 * back with a compare-and-set; when that loses a race the step runs again on the new state. */
typedef struct step {
    sf_service *svc;
    const sf_caller *who;
    const char *request; /* the route, for the refusal record */
    sf_db *db;
    sf_session s;
    long long now;
    sf_reply *reply;
    const char *response_hex; /* the device's answer as the station sent it (answer steps) */
    uint8_t answer[MAX_ANSWER];
    size_t answer_len;
    sf_msg_type type;
    long code; /* report_error */
    const char *reason;
    int final; /* the step's status stands, even a conflict: do not run it again */
} step;

typedef sf_status (*step_fn)(step *c);

/* A step lends its connection back to the pool while it runs the crypto between its read and
 * its write (the write is a compare-and-swap on the version, never an open transaction), so a
 * few connections serve every request thread and keep their page caches warm. */
static void step_lend_db(step *c)
{
    sf_service_db_release(c->svc, c->db);
    c->db = NULL;
}

static int step_take_db(step *c)
{
    if (c->db == NULL) {
        c->db = sf_service_db_acquire(c->svc);
    }
    return c->db != NULL;
}

static sf_status run_step(step *c, const char *sid, step_fn fn)
{
    sf_status st = SF_SESSION_CONFLICT;
    for (int round = 0; round < MAX_CAS_ROUNDS && st == SF_SESSION_CONFLICT && !c->final; round++) {
        if (!step_take_db(c)) {
            return SF_DATABASE;
        }
        c->now = (long long)time(NULL);
        sf_session_free(&c->s);
        st = sf_store_session_get(c->db, sid, &c->s);
        if (st == SF_NOT_FOUND || (st == SF_OK && !owned_by(&c->s, c->who))) {
            c->final = 1; /* "not yours" answers exactly like "no such session" */
            st = refuse(c->db, c->who, sid, c->request, SF_SESSION_NOT_FOUND,
                        st == SF_OK ? "session of another station" : "no such session");
        } else if (st == SF_OK) {
            st = fn(c);
        }
    }
    if (st == SF_SESSION_CONFLICT && !c->final) {
        st = SF_DATABASE; /* lost the race MAX_CAS_ROUNDS times */
    }
    sf_session_free(&c->s);
    if (c->db != NULL) {
        sf_service_db_release(c->svc, c->db);
    }
    return st;
}

/* The two steps that carry a device answer: the session ID and the answer are checked before
 * the database is touched. */
static sf_status run_answer_step(sf_service *svc, const sf_caller *who, const char *request,
                                 const char *sid, const char *response_hex, sf_msg_type expected,
                                 step_fn fn, sf_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    if (!sf_session_id_valid(sid)) {
        return SF_SESSION_ID_INVALID;
    }
    step *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return SF_INTERNAL;
    }
    c->svc = svc;
    c->who = who;
    c->request = request;
    c->reply = reply;
    c->response_hex = response_hex;
    sf_status st = decode_device_answer(response_hex, expected, c->answer, sizeof(c->answer),
                                        &c->answer_len, &c->type);
    if (st == SF_OK) {
        st = run_step(c, sid, fn);
    }
    free(c);
    return st;
}

/* A session refused for quota carries on, within its lifetime, as a new attempt (the refused
 * one keeps its audit row). 0 when it expired instead (final: nothing is written). */
static int resume_refused(step *c)
{
    if (c->now > c->s.expires) {
        c->final = 1;
        return 0;
    }
    c->s.attempt++;
    c->s.error_code = 0;
    sf_session_set(&c->s.error_reason, NULL);
    return 1;
}

/* The quota refused the configuration just built: the attempt closes as refused-quota, with its
 * audit row and code; the certificate built for it is dropped (never stored nor sent). */
static sf_status record_quota_refusal(step *c, long version)
{
    sf_session r;
    sf_status st = sf_store_session_get(c->db, c->s.sid, &r);
    if (st == SF_OK && r.version != version) {
        st = SF_SESSION_CONFLICT;
    }
    if (st == SF_OK) {
        if (strcmp(r.state, SF_STATE_REFUSED_QUOTA) == 0) {
            r.attempt++; /* each refusal is an attempt of its own, with its own audit row */
        }
        r.error_code = SF_QUOTA_EXCEEDED;
        r.updated = c->now;
        if (sf_session_set(&r.state, SF_STATE_REFUSED_QUOTA) != 0 ||
            sf_session_set(&r.error_reason, sf_status_text(SF_QUOTA_EXCEEDED)) != 0) {
            st = SF_INTERNAL;
        }
    }
    if (st == SF_OK) {
        st = sf_store_session_update(c->db, &r, version, NULL, SF_STATE_REFUSED_QUOTA);
    }
    sf_session_free(&r);
    return st == SF_OK ? SF_QUOTA_EXCEEDED : st;
}

static sf_status configuration_step(step *c)
{
    sf_session *s = &c->s;
    if (strcmp(s->state, SF_STATE_CONFIG_SENT) == 0 && !expired(s, c->now)) {
        c->final = 1;
        if (s->msg2_in == NULL || strcasecmp(s->msg2_in, c->response_hex) != 0) {
            snprintf(c->reply->message, sizeof(c->reply->message),
                     "configuration was already sent for another device answer");
            return SF_SESSION_CONFLICT;
        }
        sf_status st = sf_store_session_message(c->db, s->sid, s->attempt, &s->msg2_out);
        if (st != SF_OK) {
            return st == SF_NOT_FOUND ? SF_DATABASE : st; /* a config-sent row always has one */
        }
        return set_payload(c->reply, SF_SCP_CONFIG, s->msg2_out) == 0 ? SF_OK : SF_INTERNAL;
    }
    if (strcmp(s->state, SF_STATE_DONE) == 0) {
        return SF_SESSION_DONE;
    }
    if (strcmp(s->state, SF_STATE_ERROR) == 0) {
        snprintf(c->reply->message, sizeof(c->reply->message),
                 "session closed by an error; run new_device again");
        return SF_SESSION_STATE;
    }
    if (strcmp(s->state, SF_STATE_REFUSED_QUOTA) == 0 && !resume_refused(c)) {
        return SF_SESSION_EXPIRED;
    }
    sf_status st;
    if (closed_by_expiry_or_device(c->db, s, c->now, c->type, c->answer, c->answer_len, c->reply,
                                   &st)) {
        return st; /* a conflict here means the close lost a race: read again */
    }
    uint8_t msg1[SF_HEADER_SIZE + 21 + SF_SID_MAX];
    size_t msg1_len = 0;
    sf_init_response resp;
    if (sf_init_response_parse(c->answer, c->answer_len, &resp) != SF_OK ||
        sf_hex_decode(s->msg1, msg1, sizeof(msg1), &msg1_len) != SF_OK) {
        return SF_MESSAGE_MALFORMED;
    }
    step_lend_db(c);
    EVP_PKEY *device_key = NULL;
    st = sfc_point_to_key(resp.device_pub, &device_key);
    if (st == SF_OK) {
        uint8_t hash[SF_HASH_SIZE];
        sfc_labelled_hash(SF_LABEL_POP, msg1, msg1_len, resp.device_pub, SF_POINT_SIZE,
                          resp.device_nonce, SF_NONCE_SIZE, hash);
        st = sfc_verify_hash(device_key, hash, resp.pop_sig) == SF_OK ? SF_OK : SF_DEVICE_PROOF;
    } else {
        st = SF_DEVICE_PROOF;
    }
    long version = s->version;
    if (st == SF_OK) {
        st = build_configuration(c->svc, s, msg1, msg1_len, c->answer, c->answer_len, &resp,
                                 device_key);
    }
    EVP_PKEY_free(device_key);
    if (!step_take_db(c)) {
        return SF_DATABASE;
    }
    if (st == SF_OK) {
        st = sf_store_session_update(c->db, s, version, s->batch, NULL);
    }
    if (st == SF_QUOTA_EXCEEDED) {
        st = record_quota_refusal(c, version);
    }
    if (st == SF_OK && set_payload(c->reply, SF_SCP_CONFIG, s->msg2_out) != 0) {
        st = SF_INTERNAL;
    }
    return st;
}

sf_status sf_engine_get_configuration(sf_service *svc, const sf_caller *who, const char *sid,
                                      const char *response_hex, sf_reply *reply)
{
    return run_answer_step(svc, who, "get_device_configuration", sid, response_hex,
                           SF_MSG_INIT_RESPONSE, configuration_step, reply);
}

/* SHA-256 of the session's CONFIG_REQUEST: the row's hash, or for a session configured before
 * schema 2 (no hash in its row) the hash of the stored message. */
static sf_status config_request_hash(step *c, uint8_t hash[SF_HASH_SIZE])
{
    sf_session *s = &c->s;
    size_t n = 0;
    if (s->msg2_hash != NULL) {
        return sf_hex_decode(s->msg2_hash, hash, SF_HASH_SIZE, &n) == SF_OK && n == SF_HASH_SIZE
                   ? SF_OK
                   : SF_DATABASE;
    }
    sf_status st = sf_store_session_message(c->db, s->sid, s->attempt, &s->msg2_out);
    if (st != SF_OK) {
        return st == SF_NOT_FOUND ? SF_DATABASE : st;
    }
    size_t cap = strlen(s->msg2_out) / 2;
    uint8_t *msg2 = malloc(cap + 1);
    st = msg2 != NULL && sf_hex_decode(s->msg2_out, msg2, cap + 1, &n) == SF_OK &&
                 kiln_pki_sha256(msg2, n, hash)
             ? SF_OK
             : SF_INTERNAL;
    free(msg2);
    return st;
}

/* The device's final answer is authenticated with the session's confirmation key. */
static sf_status check_final_answer(step *c, const sf_config_response *resp)
{
    sf_session *s = &c->s;
    uint8_t th[SF_HASH_SIZE], confirm[SF_CONFIRM_KEY_SIZE], mac[SF_MAC_SIZE];
    size_t th_len = 0;
    if (sf_hex_decode(s->th, th, sizeof(th), &th_len) != SF_OK || th_len != SF_HASH_SIZE) {
        return SF_MESSAGE_MALFORMED;
    }
    if (CRYPTO_memcmp(resp->binding, th, SF_BINDING_SIZE) != 0) {
        return SF_DEVICE_MAC;
    }
    uint8_t input[sizeof(SF_LABEL_DONE) + 2 * SF_HASH_SIZE + 1];
    size_t pos = sizeof(SF_LABEL_DONE);
    memcpy(input, SF_LABEL_DONE, sizeof(SF_LABEL_DONE));
    memcpy(input + pos, th, SF_HASH_SIZE);
    pos += SF_HASH_SIZE;
    sf_status st = config_request_hash(c, input + pos);
    pos += SF_HASH_SIZE;
    input[pos++] = resp->fcc_status;
    if (st == SF_OK) {
        st = unwrap_secret(c->svc, s->sid, s->confirm, confirm, sizeof(confirm));
    }
    if (st == SF_OK) {
        st = sfc_hmac_sha256(confirm, sizeof(confirm), input, pos, mac);
    }
    if (st == SF_OK && CRYPTO_memcmp(mac, resp->mac, SF_MAC_SIZE) != 0) {
        st = SF_DEVICE_MAC;
    }
    OPENSSL_cleanse(confirm, sizeof(confirm));
    return st;
}

static sf_status final_step(step *c)
{
    sf_session *s = &c->s;
    if (strcmp(s->state, SF_STATE_DONE) == 0) {
        if (s->msg3_in == NULL || strcasecmp(s->msg3_in, c->response_hex) != 0) {
            return SF_SESSION_DONE;
        }
        snprintf(c->reply->fingerprint, sizeof(c->reply->fingerprint), "%s",
                 s->fingerprint != NULL ? s->fingerprint : "");
        return SF_OK;
    }
    if (strcmp(s->state, SF_STATE_CONFIG_SENT) != 0) {
        snprintf(c->reply->message, sizeof(c->reply->message), "session is in state %s", s->state);
        return SF_SESSION_STATE;
    }
    sf_status st;
    if (closed_by_expiry_or_device(c->db, s, c->now, c->type, c->answer, c->answer_len, c->reply,
                                   &st)) {
        return st;
    }
    sf_config_response resp;
    if (sf_config_response_parse(c->answer, c->answer_len, &resp) != SF_OK) {
        return SF_MESSAGE_MALFORMED;
    }
    st = check_final_answer(c, &resp);
    if (st != SF_OK) {
        return st;
    }
    long version = s->version;
    sf_session_set(&s->msg3_in, c->response_hex);
    if (resp.fcc_status != 0) {
        char reason[128];
        snprintf(reason, sizeof(reason), "device rejected the configuration: FCC status %u",
                 resp.fcc_status);
        snprintf(c->reply->message, sizeof(c->reply->message), "%s", reason);
        st = close_with_error(c->db, s, SF_DEVICE_REJECTED, reason, "error", c->now);
        return st == SF_OK ? SF_DEVICE_REJECTED : st;
    }
    sf_session_set(&s->state, SF_STATE_DONE);
    s->updated = c->now;
    st = sf_store_session_update(c->db, s, version, NULL, "done");
    sf_metrics_session(st == SF_OK ? c->db : NULL, s, "done", c->now);
    if (st == SF_OK) {
        snprintf(c->reply->fingerprint, sizeof(c->reply->fingerprint), "%s",
                 s->fingerprint != NULL ? s->fingerprint : "");
    }
    return st;
}

sf_status sf_engine_handle_response(sf_service *svc, const sf_caller *who, const char *sid,
                                    const char *response_hex, sf_reply *reply)
{
    return run_answer_step(svc, who, "handle_device_response", sid, response_hex,
                           SF_MSG_CONFIG_RESPONSE, final_step, reply);
}

static sf_status report_step(step *c)
{
    if (strcmp(c->s.state, SF_STATE_DONE) == 0) {
        return SF_SESSION_DONE;
    }
    if (strcmp(c->s.state, SF_STATE_ERROR) == 0 ||
        strcmp(c->s.state, SF_STATE_REFUSED_QUOTA) == 0) {
        return SF_OK; /* already closed: reporting again changes nothing */
    }
    char text[200];
    snprintf(text, sizeof(text), "station reported error %ld: %s", c->code,
             c->reason != NULL ? c->reason : "");
    return close_with_error(c->db, &c->s, c->code, text, "error", c->now);
}

sf_status sf_engine_report_error(sf_service *svc, const sf_caller *who, const char *sid, long code,
                                 const char *reason, sf_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    if (!sf_session_id_valid(sid)) {
        return SF_SESSION_ID_INVALID;
    }
    step *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return SF_INTERNAL;
    }
    c->svc = svc;
    c->who = who;
    c->request = "report_error";
    c->reply = reply;
    c->code = code;
    c->reason = reason;
    sf_status st = run_step(c, sid, report_step);
    free(c);
    return st;
}
