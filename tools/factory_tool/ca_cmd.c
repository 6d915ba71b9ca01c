/* factory_tool ca SUB: the configurator CA's life after setup: csr, trust, backup, restore.
 * The backup archive is "KILNCAB1" | salt[16] | iv[12] | AES-256-GCM(records) | tag[16], the
 * key derived from the passphrase with scrypt; a record is name_len(u16 BE) name
 * data_len(u32 BE) data. Nothing is written unless the whole archive decrypts and parses. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "fcu/fcu.h"
#include "ca_import.h"
#include "ft.h"
#include "ledger_cmd.h"
#include "kiln/status_fcu.def"
#include "tool_opt.h"

#define CA_MAGIC     "KILNCAB1"
#define CA_MAGIC_LEN 8
#define CA_SALT_LEN  16
#define CA_IV_LEN    12
#define CA_TAG_LEN   16
#define CA_HDR_LEN   (CA_MAGIC_LEN + CA_SALT_LEN + CA_IV_LEN)
#define CA_MAX_FILE  (1u << 20)
#define CA_SCRYPT_N  16384
#define CA_PASS_MAX  1024
#define CA_HISTORY   "ca-history"

/* fcu_key.pem must be there; the others are taken when present. ledger.key is the ledger's
 * signing key: restored with the CA, checkpoints signed after the restore still verify with the
 * public key an auditor already holds. */
static const char *const backup_files[] = {"fcu_key.pem", "fcu.crt", "fcu.csr", "ledger.key"};

static const char ca_usage[] =
    "usage: factory_tool ca csr [-o FILE]\n"
    "       factory_tool ca trust [-o FILE]\n"
    "       factory_tool ca backup -o FILE [--passphrase-file F]\n"
    "       factory_tool ca restore FILE [--passphrase-file F]\n"
    "       factory_tool ca rotate [--key-uri pkcs11:URI [--generate]]\n";

typedef struct ca_buf {
    uint8_t *data;
    size_t len, cap;
} ca_buf;

static int ca_fail(const ft_globals *g, int code, const char *fmt, const char *a)
{
    char msg[1200];
    snprintf(msg, sizeof(msg), fmt, a ? a : "");
    return ft_print_result(g, code, msg, NULL, NULL);
}

static int buf_add(ca_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        uint8_t *d = OPENSSL_secure_zalloc(cap);
        if (!d)
            return -1;
        if (b->data)
            memcpy(d, b->data, b->len);
        OPENSSL_secure_clear_free(b->data, b->cap);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static void buf_free(ca_buf *b)
{
    OPENSSL_secure_clear_free(b->data, b->cap);
    memset(b, 0, sizeof(*b));
}

/* Reads a whole file (at most CA_MAX_FILE bytes) into b; -1 with errno set otherwise. */
static int read_all(const char *path, ca_buf *b)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    uint8_t chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        rc = (b->len + n > CA_MAX_FILE) ? (errno = EFBIG, -1) : buf_add(b, chunk, n);
    if (ferror(fp))
        rc = -1;
    fclose(fp);
    OPENSSL_cleanse(chunk, sizeof(chunk));
    return rc;
}

/* Writes data to path through a temporary file renamed into place, with the given mode. */
static int write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return -1;
    bool ok = fchmod(fd, mode) == 0 && write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static bool exists(const char *dir, const char *name)
{
    char *p = ca_path_join(dir, name);
    struct stat st;
    bool e = p && stat(p, &st) == 0;
    free(p);
    return e;
}

/* Copies buf to -o FILE (0644, atomically) or stdout. */
static int emit(const ft_globals *g, const char *out, const ca_buf *b, const char *what)
{
    if (!out)
        return fwrite(b->data, 1, b->len, stdout) == b->len && fflush(stdout) == 0
                   ? FT_EXIT_OK
                   : ca_fail(g, FCU_STATUS_CA_OUTPUT, "Could not write %s", what);
    if (write_atomic(out, b->data, b->len, 0644) != 0)
        return ca_fail(g, FCU_STATUS_CA_OUTPUT, "Could not write %s", out);
    return ft_print_result(g, 0, FT_SUCCESS_MESSAGE, NULL, NULL);
}

/* ---- passphrase and archive crypto ---- */

/* --passphrase-file F (first line) or KILN_BACKUP_PASSPHRASE; never argv. */
static int passphrase_get(const char *file, char *pass, size_t cap)
{
    const char *env = getenv("KILN_BACKUP_PASSPHRASE");
    if (file) {
        FILE *fp = fopen(file, "r");
        if (!fp)
            return -1;
        char *r = fgets(pass, (int)cap, fp);
        fclose(fp);
        if (!r)
            return -1;
        pass[strcspn(pass, "\r\n")] = '\0';
    } else if (env) {
        snprintf(pass, cap, "%s", env);
    } else {
        return -1;
    }
    return pass[0] ? 0 : -1;
}

static int derive_key(const char *pass, const uint8_t *salt, uint8_t key[32])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    uint64_t n = CA_SCRYPT_N;
    uint32_t r = 8, p = 1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pass, strlen(pass)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, CA_SALT_LEN),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_end()};
    int ok = kctx && EVP_KDF_derive(kctx, key, 32, params) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : -1;
}

/* AES-256-GCM over in (enc: append ciphertext+tag to out; dec: in ends with the tag). The
 * header (magic, salt, iv) is authenticated as AAD. */
static int gcm(int enc, const uint8_t key[32], const uint8_t *hdr, const uint8_t *in, size_t len,
               ca_buf *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    const uint8_t *iv = hdr + CA_MAGIC_LEN + CA_SALT_LEN;
    size_t body = enc ? len : len - CA_TAG_LEN;
    uint8_t *tmp = OPENSSL_secure_zalloc(len + CA_TAG_LEN + 16);
    int n = 0, f = 0;
    int ok = c && tmp && (enc || len >= CA_TAG_LEN) &&
             EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc) == 1 &&
             EVP_CipherUpdate(c, NULL, &n, hdr, CA_HDR_LEN) == 1 &&
             EVP_CipherUpdate(c, tmp, &n, in, (int)body) == 1 &&
             (enc ||
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CA_TAG_LEN, (void *)(in + body)) == 1) &&
             EVP_CipherFinal_ex(c, tmp + n, &f) == 1 &&
             (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CA_TAG_LEN, tmp + n + f) == 1);
    if (ok)
        ok = buf_add(out, tmp, (size_t)(n + f) + (enc ? CA_TAG_LEN : 0)) == 0;
    OPENSSL_secure_clear_free(tmp, len + CA_TAG_LEN + 16);
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

/* ---- records ---- */

static int record_add(ca_buf *b, const char *name, const ca_buf *data)
{
    size_t nl = strlen(name);
    uint8_t h[6] = {(uint8_t)(nl >> 8),         (uint8_t)nl,
                    (uint8_t)(data->len >> 24), (uint8_t)(data->len >> 16),
                    (uint8_t)(data->len >> 8),  (uint8_t)data->len};
    return buf_add(b, h, 2) || buf_add(b, name, nl) || buf_add(b, h + 2, 4) ||
                   buf_add(b, data->data, data->len)
               ? -1
               : 0;
}

/* A restored name must be a plain file name from the backup set or ca-history/NAME. */
static bool name_ok(const char *name)
{
    for (size_t i = 0; i < sizeof(backup_files) / sizeof(backup_files[0]); i++)
        if (strcmp(name, backup_files[i]) == 0)
            return true;
    const char *h = CA_HISTORY "/";
    return strncmp(name, h, strlen(h)) == 0 && name[strlen(h)] && name[strlen(h)] != '.' &&
           !strchr(name + strlen(h), '/');
}

typedef struct ca_record {
    char name[256];
    const uint8_t *data;
    size_t len;
} ca_record;

/* Parses the next record at *off; 1 = one parsed, 0 = end, -1 = malformed. */
static int record_next(const ca_buf *b, size_t *off, ca_record *r)
{
    const uint8_t *p = b->data + *off;
    size_t left = b->len - *off;
    if (left == 0)
        return 0;
    if (left < 2)
        return -1;
    size_t nl = (size_t)p[0] << 8 | p[1];
    if (nl == 0 || nl >= sizeof(r->name) || left < 2 + nl + 4)
        return -1;
    memcpy(r->name, p + 2, nl);
    r->name[nl] = '\0';
    const uint8_t *l = p + 2 + nl;
    r->len = (size_t)l[0] << 24 | (size_t)l[1] << 16 | (size_t)l[2] << 8 | l[3];
    if (r->len > left - 2 - nl - 4 || memchr(r->name, '\0', nl) || !name_ok(r->name))
        return -1;
    r->data = l + 4;
    *off += 2 + nl + 4 + r->len;
    return 1;
}

/* The ledger entry of a CA event, then the success result. */
static int ca_done(const ft_globals *g, fcu *f, const char *event)
{
    if (ft_ledger_note_ca(f, event) != 0)
        fprintf(stderr, "factory_tool: warning: the CA event could not be added to the ledger\n");
    return ft_print_result(g, 0, FT_SUCCESS_MESSAGE, NULL, NULL);
}

/* ---- subcommands ---- */

typedef struct ca_args {
    const char *out, *pass_file, *arg, *key_uri, *chain;
    bool generate;
    fcu *f;
} ca_args;

static int ca_csr(const ft_globals *g, const char *ks, const ca_args *a)
{
    char *p = ca_path_join(ks, "fcu.csr");
    ca_buf b = {0};
    int rc = (p && read_all(p, &b) == 0)
                 ? emit(g, a->out, &b, "the CSR")
                 : ca_fail(g, FCU_STATUS_CA_NO_CSR,
                           "No intermediate CA CSR at %s (setup with setup-ca-as-intermediate)", p);
    buf_free(&b);
    free(p);
    return rc;
}

/* The history certificates (ca-history/ *.crt), sorted, appended to b; -1 on a read error. */
static int history_add(const char *ks, ca_buf *b, ca_buf *records)
{
    char *dir = ca_path_join(ks, CA_HISTORY);
    struct dirent **names = NULL;
    int n = dir ? scandir(dir, &names, NULL, alphasort) : -1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        size_t l = strlen(nm);
        char *p = (nm[0] != '.' && l > 4 && strcmp(nm + l - 4, ".crt") == 0) ? ca_path_join(dir, nm)
                                                                             : NULL;
        ca_buf f = {0};
        if (p && rc == 0 && (read_all(p, &f) != 0 || (b && buf_add(b, f.data, f.len) != 0)))
            rc = -1;
        if (p && rc == 0 && records) {
            char rn[300];
            snprintf(rn, sizeof(rn), CA_HISTORY "/%s", nm);
            rc = record_add(records, rn, &f);
        }
        buf_free(&f);
        free(p);
        free(names[i]);
    }
    free(names);
    free(dir);
    return rc;
}

static int ca_trust(const ft_globals *g, const char *ks, const ca_args *a)
{
    char *p = ca_path_join(ks, "fcu.crt");
    ca_buf b = {0};
    int rc;
    if (!p || read_all(p, &b) != 0)
        rc = ca_fail(g, FCU_STATUS_CA_NO_CERT, "No CA certificate at %s (run setup)", p);
    else if (history_add(ks, &b, NULL) != 0)
        rc = ca_fail(g, FCU_STATUS_CA_NO_CERT, "Could not read the CA history in %s", ks);
    else
        rc = emit(g, a->out, &b, "the trust");
    buf_free(&b);
    free(p);
    return rc;
}

/* Collects the keystore's CA files as records. */
static int backup_collect(const char *ks, ca_buf *rec)
{
    for (size_t i = 0; i < sizeof(backup_files) / sizeof(backup_files[0]); i++) {
        char *p = ca_path_join(ks, backup_files[i]);
        ca_buf f = {0};
        int rc = 0;
        if (!p)
            rc = -1;
        else if (read_all(p, &f) == 0)
            rc = record_add(rec, backup_files[i], &f);
        else if (i == 0 || errno != ENOENT)
            rc = -1;
        buf_free(&f);
        free(p);
        if (rc != 0)
            return -1;
    }
    return history_add(ks, NULL, rec);
}

static int seal(const char *pass, const ca_buf *rec, ca_buf *out)
{
    uint8_t hdr[CA_HDR_LEN], key[32];
    memcpy(hdr, CA_MAGIC, CA_MAGIC_LEN);
    int rc = RAND_bytes(hdr + CA_MAGIC_LEN, CA_SALT_LEN + CA_IV_LEN) == 1 &&
                     derive_key(pass, hdr + CA_MAGIC_LEN, key) == 0 &&
                     buf_add(out, hdr, CA_HDR_LEN) == 0 &&
                     gcm(1, key, hdr, rec->data, rec->len, out) == 0
                 ? 0
                 : -1;
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

static int ca_backup(const ft_globals *g, const char *ks, const ca_args *a)
{
    char pass[CA_PASS_MAX];
    ca_buf rec = {0}, out = {0};
    int rc;
    if (exists(ks, "fcu_key.uri"))
        return ca_fail(g, FCU_STATUS_CA_KEY_IN_TOKEN,
                       "The CA key lives in the token (%s/fcu_key.uri): back it up with the "
                       "token's own tools; kiln does not export it",
                       ks);
    if (!a->out)
        return ca_fail(g, FCU_STATUS_VALIDATION, "Validation error in field: %s. Message: required",
                       "-o");
    if (passphrase_get(a->pass_file, pass, sizeof(pass)) != 0)
        return ca_fail(g, FCU_STATUS_CA_NO_PASSPHRASE,
                       "No backup passphrase (--passphrase-file F or KILN_BACKUP_PASSPHRASE)%s",
                       "");
    if (backup_collect(ks, &rec) != 0)
        rc = ca_fail(g, FCU_STATUS_CA_NO_CERT, "Could not read the CA key and certificate in %s",
                     ks);
    else if (seal(pass, &rec, &out) != 0)
        rc = ca_fail(g, FCU_STATUS_CA_ARCHIVE_BAD, "Could not encrypt the archive %s", a->out);
    else if (write_atomic(a->out, out.data, out.len, 0600) != 0)
        rc = ca_fail(g, FCU_STATUS_CA_OUTPUT, "Could not write %s", a->out);
    else
        rc = ft_print_result(g, 0, FT_SUCCESS_MESSAGE, NULL, NULL);
    OPENSSL_cleanse(pass, sizeof(pass));
    buf_free(&rec);
    buf_free(&out);
    return rc;
}

static int unseal(const char *pass, const ca_buf *arc, ca_buf *rec)
{
    uint8_t key[32];
    if (arc->len < CA_HDR_LEN + CA_TAG_LEN || memcmp(arc->data, CA_MAGIC, CA_MAGIC_LEN) != 0)
        return -1;
    int rc = derive_key(pass, arc->data + CA_MAGIC_LEN, key) == 0 &&
                     gcm(0, key, arc->data, arc->data + CA_HDR_LEN, arc->len - CA_HDR_LEN, rec) == 0
                 ? 0
                 : -1;
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

/* Every record parses, the key is there, and no file exists yet: 0, else a message in why. */
static int restore_check(const char *ks, const ca_buf *rec, char *why, size_t cap)
{
    size_t off = 0;
    ca_record r;
    int got, have_key = 0;
    while ((got = record_next(rec, &off, &r)) == 1) {
        have_key |= strcmp(r.name, "fcu_key.pem") == 0;
        if (exists(ks, r.name)) {
            snprintf(why, cap, "%s/%s", ks, r.name);
            return FCU_STATUS_FILE_EXISTS;
        }
    }
    if (got < 0 || !have_key) {
        snprintf(why, cap, "malformed content");
        return FCU_STATUS_CA_ARCHIVE_BAD;
    }
    return 0;
}

/* Takes back the files of the records before offset end (a restore that failed half way). */
static void restore_undo(const char *ks, const ca_buf *rec, size_t end)
{
    size_t off = 0;
    ca_record r;
    while (off < end && record_next(rec, &off, &r) == 1) {
        char *p = ca_path_join(ks, r.name);
        if (p)
            unlink(p);
        free(p);
    }
}

static int restore_write(const char *ks, const ca_buf *rec)
{
    size_t off = 0, done = 0;
    ca_record r;
    char *hist = ca_path_join(ks, CA_HISTORY);
    int rc = (!hist || (mkdir(ks, 0700) != 0 && errno != EEXIST)) ? -1 : 0;
    if (rc == 0 && mkdir(hist, 0700) != 0 && errno != EEXIST)
        rc = -1;
    while (rc == 0 && record_next(rec, &off, &r) == 1) {
        char *p = ca_path_join(ks, r.name);
        rc = p ? write_atomic(p, r.data, r.len, 0600) : -1;
        done = rc == 0 ? off : done;
        free(p);
    }
    if (rc != 0)
        restore_undo(ks, rec, done);
    free(hist);
    return rc;
}

static int ca_restore(const ft_globals *g, const char *ks, const ca_args *a)
{
    char pass[CA_PASS_MAX], why[1100];
    ca_buf arc = {0}, rec = {0};
    int rc, code;
    if (!a->arg)
        return ca_fail(g, FCU_STATUS_VALIDATION, "Validation error in field: %s. Message: required",
                       "FILE");
    if (passphrase_get(a->pass_file, pass, sizeof(pass)) != 0)
        return ca_fail(g, FCU_STATUS_CA_NO_PASSPHRASE,
                       "No backup passphrase (--passphrase-file F or KILN_BACKUP_PASSPHRASE)%s",
                       "");
    if (read_all(a->arg, &arc) != 0)
        rc = ca_fail(g, FCU_STATUS_FILE_LOAD, "Could not load file: %s", a->arg);
    else if (unseal(pass, &arc, &rec) != 0)
        rc = ca_fail(g, FCU_STATUS_CA_ARCHIVE_BAD,
                     "Backup %s: wrong passphrase or corrupt archive; nothing restored", a->arg);
    else if ((code = restore_check(ks, &rec, why, sizeof(why))) != 0)
        rc = ca_fail(g, code,
                     code == FCU_STATUS_FILE_EXISTS ? "File %s already exists; nothing restored"
                                                    : "Backup: %s; nothing restored",
                     why);
    else if (restore_write(ks, &rec) != 0)
        rc = ca_fail(g, FCU_STATUS_CA_OUTPUT, "Could not write the restored files in %s", ks);
    else
        rc = ca_done(g, a->f, "restored");
    OPENSSL_cleanse(pass, sizeof(pass));
    buf_free(&arc);
    buf_free(&rec);
    return rc;
}

/* ca-history/NNNN.crt: the first number not taken. */
static char *history_slot(const char *ks)
{
    char *dir = ca_path_join(ks, CA_HISTORY);
    if (!dir || (mkdir(dir, 0700) != 0 && errno != EEXIST)) {
        free(dir);
        return NULL;
    }
    char name[32];
    char *p = NULL;
    for (unsigned i = 1; i < 10000 && !p; i++) {
        snprintf(name, sizeof(name), "%04u.crt", i);
        if (!exists(dir, name))
            p = ca_path_join(dir, name);
    }
    free(dir);
    return p;
}

/* The current certificate goes to the history, then setup -f makes the new key and
 * certificate; if setup fails the history copy is taken back. */
static int ca_rotate(const ft_globals *g, const char *ks, const ca_args *a)
{
    char *cur = ca_path_join(ks, "fcu.crt");
    char *slot = NULL;
    ca_buf b = {0};
    int rc = -1;
    if (!cur || read_all(cur, &b) != 0)
        rc = ca_fail(g, FCU_STATUS_CA_NO_CERT, "No CA certificate at %s (run setup)", cur);
    else if (!(slot = history_slot(ks)) || write_atomic(slot, b.data, b.len, 0644) != 0)
        rc = ca_fail(g, FCU_STATUS_CA_OUTPUT, "Could not write %s", slot ? slot : ks);
    if (rc == -1) {
        fcu_setup_status s;
        if (a->key_uri)
            fcu_setup_with_key(a->f, a->key_uri, a->generate, true, &s);
        else
            fcu_setup(a->f, true, &s);
        if (s.status != 0) {
            unlink(slot);
            rc = ft_print_result(g, s.status,
                                 s.errors.count ? s.errors.items[0].message
                                                : fcu_status_template(s.status),
                                 NULL, NULL);
        } else {
            rc = ca_done(g, a->f, "rotated");
        }
        fcu_setup_status_free(&s);
    }
    buf_free(&b);
    free(slot);
    free(cur);
    return rc;
}

static int ca_import(const ft_globals *g, const char *ks, const ca_args *a)
{
    char why[1200];
    if (!a->arg)
        return ca_fail(g, FCU_STATUS_VALIDATION, "Validation error in field: %s. Message: required",
                       "CERT");
    int code = ca_import_cert(ks, a->arg, a->chain, why, sizeof(why));
    return code ? ca_fail(g, code, "%s", why) : ca_done(g, a->f, "imported");
}

/* ---- entry ---- */

enum { OPT_PASS_FILE = 256, OPT_KEY_URI, OPT_GENERATE, OPT_CHAIN };

static int parse_args(int argc, char **argv, ca_args *a, char *what, size_t cap)
{
    static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
                                       {"passphrase-file", required_argument, NULL, OPT_PASS_FILE},
                                       {"key-uri", required_argument, NULL, OPT_KEY_URI},
                                       {"generate", no_argument, NULL, OPT_GENERATE},
                                       {"chain", required_argument, NULL, OPT_CHAIN},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    tool_opt_begin();
    while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
        if (c == 'o')
            a->out = optarg;
        else if (c == OPT_PASS_FILE)
            a->pass_file = optarg;
        else if (c == OPT_KEY_URI)
            a->key_uri = optarg;
        else if (c == OPT_GENERATE)
            a->generate = true;
        else if (c == OPT_CHAIN)
            a->chain = optarg;
        else if (c == 'h')
            return 1;
        else
            return tool_opt_problem(c, argv, what, cap), -1;
    }
    if (optind < argc)
        a->arg = argv[optind++];
    if (optind < argc)
        snprintf(what, cap, "unexpected argument %s", argv[optind]);
    return optind < argc ? -1 : 0;
}

typedef int (*ca_sub_fn)(const ft_globals *g, const char *ks, const ca_args *a);

static ca_sub_fn find_sub(const char *name)
{
    static const struct {
        const char *name;
        ca_sub_fn fn;
    } subs[] = {{"csr", ca_csr},         {"trust", ca_trust},   {"backup", ca_backup},
                {"restore", ca_restore}, {"rotate", ca_rotate}, {"import-cert", ca_import}};
    for (size_t i = 0; name && i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(name, subs[i].name) == 0)
            return subs[i].fn;
    return NULL;
}

int ft_cmd_ca(const ft_globals *g, int argc, char **argv)
{
    ca_sub_fn fn = find_sub(argc > 1 ? argv[1] : NULL);
    ca_args a = {0};
    char what[300] = "unknown subcommand";
    int p = fn ? parse_args(argc - 1, argv + 1, &a, what, sizeof(what)) : -1;
    if (p != 0) {
        fputs(ca_usage, p > 0 ? stdout : stderr);
        if (p < 0)
            fprintf(stderr, "error %d: General error on factory tool: ca: %s\n", FT_ERR_GENERAL,
                    what);
        return p > 0 ? FT_EXIT_OK : FT_EXIT_USAGE;
    }
    fcu_options opts = {.home_dir = g->home_dir, .config_file = g->config_file};
    fcu *f = fcu_open(&opts);
    if (!f)
        return ca_fail(g, FT_ERR_GENERAL, "General error on factory tool: %s", "fcu_open");
    a.f = f;
    int rc = fn(g, fcu_keystore_dir(f), &a);
    fcu_close(f);
    return rc;
}
