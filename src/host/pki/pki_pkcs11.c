/* The PKCS#11 signer of kiln_pki: a P-256 private key in a token, named by an RFC 7512 URI.
 * p11-kit parses the URI and loads the module (managed, so several signers of one process may
 * share a module); the Cryptoki calls are made here. The PIN is taken out of the URI before
 * p11-kit sees it, so the only copies are ours, and they are wiped after the login. One session
 * stays open for the life of the signer (it keeps the login); signing threads each borrow an
 * idle session, opening one when none is free, since a session serves one thread at a time. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "kiln_pki.h"

#define IDLE_SESSIONS_MAX 16
#define PIN_MAX           256

/* DER OBJECT IDENTIFIER prime256v1, the CKA_EC_PARAMS of a P-256 key. */
static const uint8_t p256_params[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

typedef struct p11_key {
    CK_FUNCTION_LIST *module;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE login_session;
    CK_OBJECT_HANDLE key;
    pthread_mutex_t lock;
    CK_SESSION_HANDLE idle[IDLE_SESSIONS_MAX];
    int nidle;
} p11_key;

/* What the URI asks for; pin is ours (wiped and freed by target_clear). */
typedef struct p11_target {
    P11KitUri *uri;
    const char *module_path;
    char *pin;
    CK_ATTRIBUTE *label, *id;
} p11_target;

/* ---- the URI ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [s, s + n) into a new NUL-terminated string; NULL on a bad escape or NUL. */
static char *percent_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
            c = hi < 0 || lo < 0 ? 0 : hi * 16 + lo;
            i += 2;
        }
        if (c == 0) {
            OPENSSL_cleanse(out, n + 1);
            free(out);
            return NULL;
        }
        out[o++] = (char)c;
    }
    if (out)
        out[o] = '\0';
    return out;
}

static bool is_separator(char c)
{
    return c == ';' || c == '&' || c == '?';
}

/* Copies uri without its pin-value attribute into out (size >= strlen(uri) + 1); the value,
 * decoded, goes to *pin when pin is given. Returns false on a repeated or undecodable one. */
static bool split_pin(const char *uri, char *out, char **pin)
{
    size_t o = 0;
    bool seen = false, ok = true;
    for (const char *p = uri; *p;) {
        const char *end = p + 1;
        while (*end && !is_separator(*end))
            end++;
        const char *attr = is_separator(*p) ? p + 1 : p;
        if (strncmp(attr, "pin-value=", 10) == 0 && p != uri) {
            ok = ok && !seen;
            seen = true;
            if (pin && ok && !(*pin = percent_decode(attr + 10, (size_t)(end - attr - 10))))
                ok = false;
            if (*p == '?' && *end == '&')
                end++, out[o++] = '?'; /* the next query attribute starts the query */
            else if (*p == '?')
                out[o++] = '?';
        } else {
            memcpy(out + o, p, (size_t)(end - p));
            o += (size_t)(end - p);
        }
        p = end;
    }
    out[o] = '\0';
    return ok;
}

void kiln_pki_uri_redact(const char *uri, char *out, size_t size)
{
    if (!size)
        return;
    out[0] = '\0';
    char *copy = uri ? malloc(strlen(uri) + 2) : NULL;
    if (!copy)
        return;
    split_pin(uri, copy, NULL);
    snprintf(out, size, "%s", copy);
    free(copy);
}

/* pin-source=file:PATH or an absolute PATH: the first line of the file. */
static kiln_pki_status read_pin_file(const char *source, char **pin)
{
    const char *path = strncmp(source, "file:", 5) == 0 ? source + 5 : source;
    if (path[0] != '/')
        return KILN_PKI_PKCS11_PIN_UNREADABLE;
    FILE *f = fopen(path, "rb");
    if (!f)
        return KILN_PKI_PKCS11_PIN_UNREADABLE;
    setvbuf(f, NULL, _IONBF, 0);
    char *buf = calloc(1, PIN_MAX + 1);
    size_t n = buf ? fread(buf, 1, PIN_MAX, f) : 0;
    int more = fgetc(f) != EOF;
    fclose(f);
    if (!buf)
        return KILN_PKI_NO_MEMORY;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (more || !n || memchr(buf, '\n', n) || strlen(buf) != n) {
        OPENSSL_cleanse(buf, PIN_MAX + 1);
        free(buf);
        return KILN_PKI_PKCS11_PIN_UNREADABLE;
    }
    *pin = buf;
    return KILN_PKI_OK;
}

static char *strdup_or_null(const char *s)
{
    char *d = s ? malloc(strlen(s) + 1) : NULL;
    if (d)
        strcpy(d, s);
    return d;
}

static void target_clear(p11_target *t)
{
    if (t->pin) {
        OPENSSL_cleanse(t->pin, strlen(t->pin));
        free(t->pin);
    }
    p11_kit_uri_free(t->uri);
    memset(t, 0, sizeof(*t));
}

/* The URI's class, if any, must be want (private or secret key); object= is mandatory. */
static kiln_pki_status check_object(p11_target *t, CK_OBJECT_CLASS want)
{
    CK_ATTRIBUTE *cls = p11_kit_uri_get_attribute(t->uri, CKA_CLASS);
    if (cls &&
        (cls->ulValueLen != sizeof(CK_OBJECT_CLASS) || *(CK_OBJECT_CLASS *)cls->pValue != want))
        return KILN_PKI_PKCS11_URI_INVALID;
    t->label = p11_kit_uri_get_attribute(t->uri, CKA_LABEL);
    t->id = p11_kit_uri_get_attribute(t->uri, CKA_ID);
    if (!t->label || !t->label->ulValueLen)
        return KILN_PKI_PKCS11_URI_INVALID;
    return KILN_PKI_OK;
}

static kiln_pki_status target_pin(p11_target *t)
{
    if (t->pin)
        return KILN_PKI_OK;
    const char *source = p11_kit_uri_get_pin_source(t->uri);
    if (source)
        return read_pin_file(source, &t->pin);
    const char *env = getenv("KILN_PKCS11_PIN");
    if (env && *env && !(t->pin = strdup_or_null(env)))
        return KILN_PKI_NO_MEMORY;
    return KILN_PKI_OK;
}

static kiln_pki_status target_parse(const char *text, CK_OBJECT_CLASS want, p11_target *t)
{
    memset(t, 0, sizeof(*t));
    if (!text || strncmp(text, "pkcs11:", 7) != 0)
        return KILN_PKI_PKCS11_URI_INVALID;
    char *bare = malloc(strlen(text) + 2);
    if (!bare)
        return KILN_PKI_NO_MEMORY;
    kiln_pki_status st = KILN_PKI_PKCS11_URI_INVALID;
    t->uri = p11_kit_uri_new();
    if (t->uri && split_pin(text, bare, &t->pin) &&
        p11_kit_uri_parse(bare, P11_KIT_URI_FOR_ANY, t->uri) == P11_KIT_URI_OK &&
        !p11_kit_uri_any_unrecognized(t->uri) && !p11_kit_uri_get_module_name(t->uri))
        st = check_object(t, want);
    free(bare);
    if (st == KILN_PKI_OK && t->pin && p11_kit_uri_get_pin_source(t->uri))
        st = KILN_PKI_PKCS11_URI_INVALID; /* one PIN only */
    if (st == KILN_PKI_OK) {
        t->module_path = p11_kit_uri_get_module_path(t->uri);
        if (!t->module_path)
            t->module_path = getenv("KILN_PKCS11_MODULE");
        if (!t->module_path || t->module_path[0] != '/')
            st = KILN_PKI_PKCS11_URI_INVALID;
    }
    if (st == KILN_PKI_OK)
        st = target_pin(t);
    if (st != KILN_PKI_OK)
        target_clear(t);
    return st;
}

/* ---- the token ---- */

static kiln_pki_status find_slot(CK_FUNCTION_LIST *m, P11KitUri *uri, CK_SLOT_ID *slot)
{
    CK_ULONG n = 0;
    if (m->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK)
        return KILN_PKI_PKCS11_MODULE_FAILED;
    CK_SLOT_ID *slots = calloc(n ? n : 1, sizeof(*slots));
    if (!slots)
        return KILN_PKI_NO_MEMORY;
    kiln_pki_status st = KILN_PKI_PKCS11_TOKEN_NOT_FOUND;
    CK_SLOT_ID want = p11_kit_uri_get_slot_id(uri);
    if (m->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        st = KILN_PKI_PKCS11_MODULE_FAILED;
    for (CK_ULONG i = 0; st == KILN_PKI_PKCS11_TOKEN_NOT_FOUND && i < n; i++) {
        CK_TOKEN_INFO info;
        if (want != (CK_SLOT_ID)-1 && slots[i] != want)
            continue;
        if (m->C_GetTokenInfo(slots[i], &info) == CKR_OK && (info.flags & CKF_TOKEN_INITIALIZED) &&
            p11_kit_uri_match_token_info(uri, &info)) {
            *slot = slots[i];
            st = KILN_PKI_OK;
        }
    }
    free(slots);
    return st;
}

static kiln_pki_status login(CK_FUNCTION_LIST *m, CK_SESSION_HANDLE s, const char *pin)
{
    if (!pin)
        return KILN_PKI_OK; /* a token without login; a private key then is not found */
    CK_RV rv = m->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
    return rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN ? KILN_PKI_OK
                                                            : KILN_PKI_PKCS11_LOGIN_FAILED;
}

/* The objects of class cls with the target's label (and id): count (at most 2) and first. */
static kiln_pki_status find_objects(CK_FUNCTION_LIST *m, CK_SESSION_HANDLE s, const p11_target *t,
                                    CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *first, CK_ULONG *count)
{
    CK_ATTRIBUTE tmpl[3] = {{CKA_CLASS, &cls, sizeof(cls)}, *t->label};
    CK_ULONG ntmpl = 2;
    if (t->id)
        tmpl[ntmpl++] = *t->id;
    CK_OBJECT_HANDLE found[2];
    *count = 0;
    if (m->C_FindObjectsInit(s, tmpl, ntmpl) != CKR_OK)
        return KILN_PKI_PKCS11_MODULE_FAILED;
    CK_RV rv = m->C_FindObjects(s, found, 2, count);
    m->C_FindObjectsFinal(s);
    if (rv != CKR_OK)
        return KILN_PKI_PKCS11_MODULE_FAILED;
    if (*count)
        *first = found[0];
    return KILN_PKI_OK;
}

static bool is_p256(CK_FUNCTION_LIST *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj)
{
    CK_KEY_TYPE type = 0;
    uint8_t params[32];
    CK_ATTRIBUTE attrs[] = {{CKA_KEY_TYPE, &type, sizeof(type)},
                            {CKA_EC_PARAMS, params, sizeof(params)}};
    return m->C_GetAttributeValue(s, obj, attrs, 2) == CKR_OK && type == CKK_EC &&
           attrs[1].ulValueLen == sizeof(p256_params) &&
           memcmp(params, p256_params, sizeof(p256_params)) == 0;
}

/* CKA_EC_POINT is a DER OCTET STRING around the point (some modules give the bare point). */
static kiln_pki_status public_point(CK_FUNCTION_LIST *m, CK_SESSION_HANDLE s, const p11_target *t,
                                    uint8_t point[KILN_PKI_POINT_SIZE])
{
    CK_OBJECT_HANDLE pub = 0;
    CK_ULONG count;
    kiln_pki_status st = find_objects(m, s, t, CKO_PUBLIC_KEY, &pub, &count);
    if (st != KILN_PKI_OK || count != 1)
        return st != KILN_PKI_OK ? st
               : count           ? KILN_PKI_PKCS11_KEY_AMBIGUOUS
                                 : KILN_PKI_PKCS11_KEY_NOT_FOUND;
    uint8_t der[80];
    CK_ATTRIBUTE attr = {CKA_EC_POINT, der, sizeof(der)};
    if (!is_p256(m, s, pub) || m->C_GetAttributeValue(s, pub, &attr, 1) != CKR_OK)
        return KILN_PKI_KEY_UNSUPPORTED;
    const uint8_t *p = der;
    if (attr.ulValueLen == KILN_PKI_POINT_SIZE + 2 && der[0] == 0x04 &&
        der[1] == KILN_PKI_POINT_SIZE)
        p = der + 2;
    else if (attr.ulValueLen != KILN_PKI_POINT_SIZE)
        return KILN_PKI_KEY_UNSUPPORTED;
    memcpy(point, p, KILN_PKI_POINT_SIZE);
    return point[0] == 0x04 ? KILN_PKI_OK : KILN_PKI_KEY_UNSUPPORTED;
}

static kiln_pki_status find_key(p11_key *k, const p11_target *t, uint8_t point[KILN_PKI_POINT_SIZE])
{
    CK_ULONG count;
    kiln_pki_status st =
        find_objects(k->module, k->login_session, t, CKO_PRIVATE_KEY, &k->key, &count);
    if (st == KILN_PKI_OK && count != 1)
        st = count ? KILN_PKI_PKCS11_KEY_AMBIGUOUS : KILN_PKI_PKCS11_KEY_NOT_FOUND;
    if (st == KILN_PKI_OK && !is_p256(k->module, k->login_session, k->key))
        st = KILN_PKI_KEY_UNSUPPORTED;
    if (st == KILN_PKI_OK)
        st = public_point(k->module, k->login_session, t, point);
    return st;
}

/* A P-256 pair made in the token: the private half sensitive, never extractable. */
static kiln_pki_status generate(p11_key *k, const p11_target *t)
{
    CK_OBJECT_HANDLE any;
    CK_ULONG n_priv, n_pub;
    kiln_pki_status st =
        find_objects(k->module, k->login_session, t, CKO_PRIVATE_KEY, &any, &n_priv);
    if (st == KILN_PKI_OK)
        st = find_objects(k->module, k->login_session, t, CKO_PUBLIC_KEY, &any, &n_pub);
    if (st != KILN_PKI_OK || n_priv || n_pub)
        return st != KILN_PKI_OK ? st : KILN_PKI_PKCS11_KEY_EXISTS;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE pub[5] = {{CKA_TOKEN, &yes, sizeof(yes)},
                           {CKA_VERIFY, &yes, sizeof(yes)},
                           {CKA_EC_PARAMS, (void *)p256_params, sizeof(p256_params)},
                           *t->label};
    CK_ATTRIBUTE priv[7] = {{CKA_TOKEN, &yes, sizeof(yes)},     {CKA_PRIVATE, &yes, sizeof(yes)},
                            {CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
                            {CKA_SIGN, &yes, sizeof(yes)},      *t->label};
    CK_ULONG npub = 4, npriv = 6;
    if (t->id) {
        pub[npub++] = *t->id;
        priv[npriv++] = *t->id;
    }
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE hpub, hpriv;
    CK_RV rv = k->module->C_GenerateKeyPair(k->login_session, &mech, pub, npub, priv, npriv, &hpub,
                                            &hpriv);
    return rv == CKR_OK ? KILN_PKI_OK : KILN_PKI_PKCS11_GENERATE_FAILED;
}

/* ---- signing ---- */

static CK_SESSION_HANDLE session_take(p11_key *k)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    pthread_mutex_lock(&k->lock);
    if (k->nidle)
        s = k->idle[--k->nidle];
    pthread_mutex_unlock(&k->lock);
    if (s == CK_INVALID_HANDLE &&
        k->module->C_OpenSession(k->slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
        s = CK_INVALID_HANDLE;
    return s;
}

static void session_give_back(p11_key *k, CK_SESSION_HANDLE s, bool healthy)
{
    pthread_mutex_lock(&k->lock);
    if (healthy && k->nidle < IDLE_SESSIONS_MAX) {
        k->idle[k->nidle++] = s;
        s = CK_INVALID_HANDLE;
    }
    pthread_mutex_unlock(&k->lock);
    if (s != CK_INVALID_HANDLE)
        k->module->C_CloseSession(s);
}

static kiln_pki_status p11_sign(void *impl, const uint8_t digest[KILN_PKI_DIGEST_SIZE],
                                uint8_t sig[KILN_PKI_SIG_MAX], size_t *sig_len)
{
    p11_key *k = impl;
    CK_SESSION_HANDLE s = session_take(k);
    if (s == CK_INVALID_HANDLE)
        return KILN_PKI_SIGNER_FAILED;
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    uint8_t rs[64];
    CK_ULONG rs_len = sizeof(rs);
    CK_RV rv = k->module->C_SignInit(s, &mech, k->key);
    if (rv == CKR_OK)
        rv = k->module->C_Sign(s, (CK_BYTE_PTR)digest, KILN_PKI_DIGEST_SIZE, rs, &rs_len);
    session_give_back(k, s, rv == CKR_OK);
    if (rv != CKR_OK || rs_len != sizeof(rs))
        return KILN_PKI_SIGNER_FAILED;
    return kiln_pki_sig_from_raw(rs, sig, sig_len);
}

static void p11_release(void *impl)
{
    p11_key *k = impl;
    if (!k)
        return;
    if (k->module) {
        for (int i = 0; i < k->nidle; i++)
            k->module->C_CloseSession(k->idle[i]);
        if (k->login_session != CK_INVALID_HANDLE)
            k->module->C_CloseSession(k->login_session);
        p11_kit_module_finalize(k->module);
        p11_kit_module_release(k->module);
    }
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static const kiln_pki_signer_ops p11_ops = {"pkcs11", p11_sign, p11_release};

/* Module, token, session, login (the PIN is wiped after it). */
static kiln_pki_status p11_connect(p11_key *k, p11_target *t)
{
    k->module = p11_kit_module_load(t->module_path, 0);
    if (!k->module)
        return KILN_PKI_PKCS11_MODULE_FAILED;
    if (p11_kit_module_initialize(k->module) != CKR_OK) {
        p11_kit_module_release(k->module);
        k->module = NULL;
        return KILN_PKI_PKCS11_MODULE_FAILED;
    }
    kiln_pki_status st = find_slot(k->module, t->uri, &k->slot);
    if (st == KILN_PKI_OK && k->module->C_OpenSession(k->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                                      NULL, NULL, &k->login_session) != CKR_OK)
        st = KILN_PKI_PKCS11_MODULE_FAILED;
    if (st == KILN_PKI_OK)
        st = login(k->module, k->login_session, t->pin);
    if (t->pin) {
        OPENSSL_cleanse(t->pin, strlen(t->pin));
        free(t->pin);
        t->pin = NULL;
    }
    return st;
}

/* p11_connect, then the key (made first when generating). */
static kiln_pki_status p11_open(p11_key *k, p11_target *t, bool make,
                                uint8_t point[KILN_PKI_POINT_SIZE])
{
    kiln_pki_status st = p11_connect(k, t);
    if (st == KILN_PKI_OK && make)
        st = generate(k, t);
    if (st == KILN_PKI_OK)
        st = find_key(k, t, point);
    return st;
}

static kiln_pki_status signer_from_uri(const char *uri, bool make, kiln_pki_signer **out)
{
    *out = NULL;
    p11_target t;
    kiln_pki_status st = target_parse(uri, CKO_PRIVATE_KEY, &t);
    if (st != KILN_PKI_OK)
        return st;
    p11_key *k = calloc(1, sizeof(*k));
    if (!k) {
        target_clear(&t);
        return KILN_PKI_NO_MEMORY;
    }
    k->login_session = CK_INVALID_HANDLE;
    pthread_mutex_init(&k->lock, NULL);
    uint8_t point[KILN_PKI_POINT_SIZE];
    st = p11_open(k, &t, make, point);
    target_clear(&t);
    if (st != KILN_PKI_OK) {
        p11_release(k);
        return st;
    }
    return kiln_pki_signer_new(&p11_ops, k, point, out);
}

kiln_pki_status kiln_pki_signer_from_uri(const char *uri, kiln_pki_signer **out)
{
    return signer_from_uri(uri, false, out);
}

kiln_pki_status kiln_pki_signer_generate_in_token(const char *uri, kiln_pki_signer **out)
{
    return signer_from_uri(uri, true, out);
}

bool kiln_pki_is_key_uri(const char *text)
{
    return text && strncmp(text, "pkcs11:", 7) == 0;
}

/* ---- secret keys ---- */

/* A 32-byte generic secret made in the token: sensitive, never extractable, HMAC only. */
static kiln_pki_status generate_secret(p11_key *k, const p11_target *t)
{
    CK_OBJECT_HANDLE any;
    CK_ULONG n;
    kiln_pki_status st = find_objects(k->module, k->login_session, t, CKO_SECRET_KEY, &any, &n);
    if (st != KILN_PKI_OK || n)
        return st != KILN_PKI_OK ? st : KILN_PKI_PKCS11_KEY_EXISTS;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_GENERIC_SECRET;
    CK_ULONG len = KILN_PKI_SECRET_SIZE;
    CK_ATTRIBUTE tmpl[11] = {
        {CKA_CLASS, &cls, sizeof(cls)},     {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},   {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)}, {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_VERIFY, &yes, sizeof(yes)},    *t->label};
    CK_ULONG ntmpl = 10;
    if (t->id)
        tmpl[ntmpl++] = *t->id;
    CK_MECHANISM mech = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h;
    CK_RV rv = k->module->C_GenerateKey(k->login_session, &mech, tmpl, ntmpl, &h);
    return rv == CKR_OK ? KILN_PKI_OK : KILN_PKI_PKCS11_SECRET_FAILED;
}

/* HMAC-SHA256 of msg under the one secret key the target names. */
static kiln_pki_status secret_hmac(p11_key *k, const p11_target *t, const uint8_t *msg,
                                   size_t msg_len, uint8_t out[KILN_PKI_SECRET_SIZE])
{
    CK_OBJECT_HANDLE key = 0;
    CK_ULONG n;
    kiln_pki_status st = find_objects(k->module, k->login_session, t, CKO_SECRET_KEY, &key, &n);
    if (st != KILN_PKI_OK || n != 1)
        return st != KILN_PKI_OK ? st
               : n               ? KILN_PKI_PKCS11_KEY_AMBIGUOUS
                                 : KILN_PKI_PKCS11_SECRET_NOT_FOUND;
    CK_MECHANISM mech = {CKM_SHA256_HMAC, NULL, 0};
    CK_ULONG out_len = KILN_PKI_SECRET_SIZE;
    CK_RV rv = k->module->C_SignInit(k->login_session, &mech, key);
    if (rv == CKR_OK)
        rv =
            k->module->C_Sign(k->login_session, (CK_BYTE_PTR)msg, (CK_ULONG)msg_len, out, &out_len);
    if (rv != CKR_OK || out_len != KILN_PKI_SECRET_SIZE) {
        OPENSSL_cleanse(out, KILN_PKI_SECRET_SIZE);
        return KILN_PKI_PKCS11_SECRET_FAILED;
    }
    return KILN_PKI_OK;
}

static kiln_pki_status token_secret(const char *uri, bool make, const uint8_t *msg, size_t msg_len,
                                    uint8_t out[KILN_PKI_SECRET_SIZE])
{
    p11_target t;
    kiln_pki_status st = target_parse(uri, CKO_SECRET_KEY, &t);
    if (st != KILN_PKI_OK)
        return st;
    p11_key *k = calloc(1, sizeof(*k));
    if (!k) {
        target_clear(&t);
        return KILN_PKI_NO_MEMORY;
    }
    k->login_session = CK_INVALID_HANDLE;
    pthread_mutex_init(&k->lock, NULL);
    st = p11_connect(k, &t);
    if (st == KILN_PKI_OK && make)
        st = generate_secret(k, &t);
    if (st == KILN_PKI_OK)
        st = secret_hmac(k, &t, msg, msg_len, out);
    target_clear(&t);
    p11_release(k);
    return st;
}

kiln_pki_status kiln_pki_token_secret_hmac(const char *uri, const uint8_t *msg, size_t msg_len,
                                           uint8_t out[KILN_PKI_SECRET_SIZE])
{
    return token_secret(uri, false, msg, msg_len, out);
}

kiln_pki_status kiln_pki_token_secret_generate(const char *uri, const uint8_t *msg, size_t msg_len,
                                               uint8_t out[KILN_PKI_SECRET_SIZE])
{
    return token_secret(uri, true, msg, msg_len, out);
}
