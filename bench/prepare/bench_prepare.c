/* Devices per second of the configurator (prepare + verify, by_tool, one core) against the
 * bound OpenSSL itself sets: one P-256 key generation and one ECDSA signature per device.
 * usage: bench_fcu_prepare [DEVICES] */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fcu/fcu.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[1400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* A self-signed server CA certificate for the bundles (any certificate will do). */
static int write_server_ca(const char *path)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"bench server CA",
                               -1, -1, 0);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, name);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365 * 20);
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    FILE *f = fopen(path, "w");
    int ok = f && PEM_write_X509(f, x);
    if (f)
        fclose(f);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

static const char config[] =
    "use-bootstrap: true\n"
    "device-key-generation-mode: by_tool\n"
    "certificate-authority:\n  common-name: bench CA\n  organization-name: kiln\n"
    "  country-name: FI\n"
    "device-certificate:\n  organization-name: kiln\n  country-name: FI\n"
    "device-info:\n  manufacturer-name: kiln\n  device-type: sensor\n  model-number: B-1\n"
    "  hardware-version: '1'\n  memory-total: 512\n"
    "bootstrap-server-uri: coaps://bootstrap.example:5684?aid=0123456789abcdef\n"
    "bootstrap-server-ca-certificate-file: <%= ENV['FCU_RESOURCES_DIR'] %>/server_ca.pem\n";

/* A device's success answer, as the original device encodes it (indefinite map). */
static const unsigned char success_answer[] = {
    0xbf, 0x6d, 'S',  'c',  'h', 'e',  'm', 'e', 'V', 'e', 'r', 's', 'i', 'o', 'n',  0x65,
    '0',  '.',  '0',  '.',  '1', 0x6c, 'R', 'e', 't', 'u', 'r', 'n', 'S', 't', 'a',  't',
    'u',  's',  0x00, 0x6b, 'I', 'n',  'f', 'o', 'M', 'e', 's', 's', 'a', 'g', 'e',  0x78,
    0x1e, 'T',  'h',  'e',  ' ', 'F',  'a', 'c', 't', 'o', 'r', 'y', ' ', 'p', 'r',  'o',
    'c',  'e',  's',  's',  ' ', 's',  'u', 'c', 'c', 'e', 's', 's', 'e', 'd', '\n', 0xff};

/* A configurator home in a fresh temporary folder: the file CA key, or (key_uri) a P-256 key
 * generated in a PKCS#11 token. */
static fcu *make_home(char *home, const char *key_uri)
{
    if (!mkdtemp(home))
        return NULL;
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/config", home);
    mkdir(dir, 0755);
    write_text(dir, "fcu.yml", config);
    snprintf(dir, sizeof(dir), "%s/resources", home);
    mkdir(dir, 0755);
    char ca_path[1200];
    snprintf(ca_path, sizeof(ca_path), "%s/server_ca.pem", dir);
    write_server_ca(ca_path);

    fcu_options opts = {.home_dir = home};
    fcu *f = fcu_open(&opts);
    fcu_setup_status st;
    int rc = key_uri ? fcu_setup_with_key(f, key_uri, true, false, &st) : fcu_setup(f, false, &st);
    if (rc != 0) {
        fprintf(stderr, "setup failed: %s\n", st.errors.count ? st.errors.items[0].message : "?");
        fcu_setup_status_free(&st);
        fcu_close(f);
        return NULL;
    }
    fcu_setup_status_free(&st);
    return f;
}

/* Seconds per device of prepare + verify over count devices; negative on failure. */
static double time_prepare(fcu *f, int count, int *n, size_t *bundle_bytes)
{
    double t0 = now_seconds();
    for (int i = 0; i < count; i++, (*n)++) {
        char ep[32], sn[32];
        snprintf(ep, sizeof(ep), "bench-ep-%06d", *n);
        snprintf(sn, sizeof(sn), "SN-%06d", *n);
        fcu_device_request r;
        if (fcu_prepare_device_configuration(f, ep, sn, NULL, &r) != 0) {
            fprintf(stderr, "prepare failed: %s\n", r.errors.items[0].message);
            return -1;
        }
        *bundle_bytes = r.config_size;
        fcu_device_request_free(&r);
        fcu_device_response_status s;
        if (fcu_verify_device_response(f, ep, success_answer, sizeof(success_answer), NULL, &s) !=
            0) {
            fprintf(stderr, "verify failed\n");
            return -1;
        }
        fcu_device_response_status_free(&s);
    }
    return (now_seconds() - t0) / count;
}

/* Seconds per device of OpenSSL's least per-device work; negative on failure. */
static double time_bound(int count)
{
    unsigned char tbs[32] = {1}, sig[80];
    double t0 = now_seconds();
    for (int i = 0; i < count; i++) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        size_t siglen = sizeof(sig);
        int ok = key && md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
                 EVP_DigestSign(md, sig, &siglen, tbs, sizeof(tbs)) == 1;
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(key);
        if (!ok) {
            fprintf(stderr, "openssl bound loop failed\n");
            return -1;
        }
    }
    return (now_seconds() - t0) / count;
}

/* The SoftHSM2 key URI when the bench runs under tests/pki/with_softhsm.sh (which exports the
 * module, token and PIN); NULL otherwise. The PIN goes through KILN_PKCS11_PIN, as a line would
 * give it, so the keystore's fcu_key.uri never holds it. */
static const char *hsm_uri(char *buf, size_t size)
{
    const char *module = getenv("KILN_TEST_P11_MODULE"), *token = getenv("KILN_TEST_TOKEN");
    const char *pin = getenv("KILN_TEST_PIN");
    if (!module || !token || !pin)
        return NULL;
    setenv("KILN_PKCS11_PIN", pin, 1);
    snprintf(buf, size, "pkcs11:token=%s;object=bench-ca;type=private?module-path=%s", token,
             module);
    return buf;
}

int main(int argc, char **argv)
{
    int devices = argc > 1 ? atoi(argv[1]) : 2000;
    if (devices <= 0)
        devices = 2000;
    char home[] = "/tmp/kiln-bench-fcu-XXXXXX", hsm_home[] = "/tmp/kiln-bench-fcu-hsm-XXXXXX";
    char uri[1024];
    const char *key_uri = hsm_uri(uri, sizeof(uri));
    fcu *f = make_home(home, NULL);
    fcu *h = key_uri ? make_home(hsm_home, key_uri) : NULL;
    if (f == NULL || (key_uri && h == NULL))
        return 1;

    /* The loops run in alternating rounds and each keeps its fastest round, so that other
     * load on the machine hits them alike and the ratios stay meaningful. */
    size_t bundle_bytes = 0;
    const int rounds = 10;
    int per_round = devices / rounds > 0 ? devices / rounds : 1;
    double fcu_best = 1e30, bound_best = 1e30, hsm_best = 1e30;
    int n = 0;
    for (int round = 0; round < rounds; round++) {
        double t = time_prepare(f, per_round, &n, &bundle_bytes);
        double b = time_bound(per_round);
        double k = h ? time_prepare(h, per_round, &n, &bundle_bytes) : 1e30;
        if (t < 0 || b < 0 || k < 0)
            return 1;
        fcu_best = t < fcu_best ? t : fcu_best;
        bound_best = b < bound_best ? b : bound_best;
        hsm_best = k < hsm_best ? k : hsm_best;
    }
    printf("bench_fcu_prepare: %d devices in %d alternating rounds (best round counts), by_tool, "
           "bootstrap, bundle %zu bytes, 1 core\n",
           devices, rounds, bundle_bytes);
    printf("prepare+verify:      %8.0f devices/s (%.1f us/device, CA key in a file)\n",
           1 / fcu_best, 1e6 * fcu_best);
    if (h)
        printf(
            "prepare+verify HSM:  %8.0f devices/s (%.1f us/device, CA key in SoftHSM2, %.1f %% of "
            "the file key)\n",
            1 / hsm_best, 1e6 * hsm_best, 100.0 * fcu_best / hsm_best);
    else
        printf("prepare+verify HSM:  skipped (run under tests/pki/with_softhsm.sh)\n");
    printf("openssl bound:       %8.0f devices/s (P-256 keygen + ECDSA sign, %.1f us/device)\n",
           1 / bound_best, 1e6 * bound_best);
    printf("ratio:               %8.1f %% (goal >= 70 %%)\n", 100.0 * bound_best / fcu_best);
    fcu_close(f);
    nftw(home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (h) {
        fcu_close(h);
        nftw(hsm_home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    return 0;
}
