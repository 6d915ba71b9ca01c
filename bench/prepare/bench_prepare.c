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

int main(int argc, char **argv)
{
    int devices = argc > 1 ? atoi(argv[1]) : 2000;
    if (devices <= 0)
        devices = 2000;
    char home[] = "/tmp/kiln-bench-fcu-XXXXXX";
    if (!mkdtemp(home))
        return 1;
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
    if (fcu_setup(f, false, &st) != 0) {
        fprintf(stderr, "setup failed: %s\n", st.errors.count ? st.errors.items[0].message : "?");
        return 1;
    }
    fcu_setup_status_free(&st);

    /* The two loops run in alternating rounds and each keeps its fastest round, so that
     * other load on the machine hits both alike and the ratio stays meaningful. */
    size_t bundle_bytes = 0;
    const int rounds = 10;
    int per_round = devices / rounds > 0 ? devices / rounds : 1;
    double fcu_best = 1e30, bound_best = 1e30;
    unsigned char tbs[32] = {1}, sig[80];
    int n = 0;
    for (int round = 0; round < rounds; round++) {
        double t0 = now_seconds();
        for (int i = 0; i < per_round; i++, n++) {
            char ep[32], sn[32];
            snprintf(ep, sizeof(ep), "bench-ep-%06d", n);
            snprintf(sn, sizeof(sn), "SN-%06d", n);
            fcu_device_request r;
            if (fcu_prepare_device_configuration(f, ep, sn, NULL, &r) != 0) {
                fprintf(stderr, "prepare failed: %s\n", r.errors.items[0].message);
                return 1;
            }
            bundle_bytes = r.config_size;
            fcu_device_request_free(&r);
            fcu_device_response_status s;
            if (fcu_verify_device_response(f, ep, success_answer, sizeof(success_answer), NULL,
                                           &s) != 0) {
                fprintf(stderr, "verify failed\n");
                return 1;
            }
            fcu_device_response_status_free(&s);
        }
        double t = (now_seconds() - t0) / per_round;
        if (t < fcu_best)
            fcu_best = t;

        /* The bound: what OpenSSL needs per device at the least. */
        t0 = now_seconds();
        for (int i = 0; i < per_round; i++) {
            EVP_PKEY *key = EVP_EC_gen("P-256");
            EVP_MD_CTX *md = EVP_MD_CTX_new();
            size_t siglen = sizeof(sig);
            if (!key || !md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
                EVP_DigestSign(md, sig, &siglen, tbs, sizeof(tbs)) != 1) {
                fprintf(stderr, "openssl bound loop failed\n");
                return 1;
            }
            EVP_MD_CTX_free(md);
            EVP_PKEY_free(key);
        }
        t = (now_seconds() - t0) / per_round;
        if (t < bound_best)
            bound_best = t;
    }
    double fcu_seconds = fcu_best * devices, bound_seconds = bound_best * devices;

    double fcu_rate = devices / fcu_seconds, bound_rate = devices / bound_seconds;
    printf("bench_fcu_prepare: %d devices in %d alternating rounds (best round counts), by_tool, "
           "bootstrap, bundle %zu bytes, 1 core\n",
           devices, rounds, bundle_bytes);
    printf("prepare+verify:      %8.0f devices/s (%.1f us/device)\n", fcu_rate,
           1e6 * fcu_seconds / devices);
    printf("openssl bound:       %8.0f devices/s (P-256 keygen + ECDSA sign, %.1f us/device)\n",
           bound_rate, 1e6 * bound_seconds / devices);
    printf("ratio:               %8.1f %% (goal >= 70 %%)\n", 100.0 * fcu_rate / bound_rate);
    fcu_close(f);
    nftw(home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
