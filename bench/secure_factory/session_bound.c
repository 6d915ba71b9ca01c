/* The crypto one secure-factory session costs the service, timed with the service's own
 * primitives (sf_crypto) in the same run as the throughput figures: parse and check the device
 * key, verify its proof of possession, issue its certificate, an ephemeral key and ECDH, HKDF,
 * AES-GCM over a bundle-sized plaintext, the service signature, and the final HMAC. No I/O, no
 * database, no TLS: what is left of the service's time is the rest of its work. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "session_bound.h"
#include "sf_crypto.h"

#define BUNDLE_BYTES 1200

typedef struct bound_job {
    const kiln_pki_ca *issuer;
    const kiln_pki_signer *signing;
    int sessions;
    int failed;
    double cpu; /* CPU seconds this job's thread spent in its timed loop */
} bound_job;

/* A device's side of M2, prepared outside the timed loop: on a line it is the chip's work. */
typedef struct device_half {
    uint8_t point[SF_POINT_SIZE];
    uint8_t hash[SF_HASH_SIZE];
    uint8_t pop[SF_SIG_SIZE];
} device_half;

static int make_device_half(device_half *d)
{
    EVP_PKEY *key = NULL;
    kiln_pki_signer *signer = NULL;
    int ok = sfc_generate_key(&key) == SF_OK && sfc_key_to_point(key, d->point) == SF_OK &&
             kiln_pki_signer_from_pkey(key, &signer) == KILN_PKI_OK;
    sfc_labelled_hash("bench pop", d->point, sizeof(d->point), NULL, 0, NULL, 0, d->hash);
    ok = ok && sfc_sign_hash(signer, d->hash, d->pop) == SF_OK;
    kiln_pki_signer_free(signer);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

static int service_half(const bound_job *job, const device_half *d)
{
    static const uint8_t bundle[BUNDLE_BYTES];
    uint8_t secret[SF_SCALAR_SIZE], okm[76], ct[BUNDLE_BYTES], tag[SF_TAG_SIZE];
    uint8_t hash[SF_HASH_SIZE], sig[SF_SIG_SIZE], mac[SF_HASH_SIZE];
    EVP_PKEY *device = NULL, *eph = NULL;
    uint8_t *cert = NULL;
    size_t cert_len = 0;
    int ok = sfc_point_to_key(d->point, &device) == SF_OK &&
             sfc_verify_hash(device, d->hash, d->pop) == SF_OK &&
             sfc_leaf_der(job->issuer, d->point, "bench-device", KILN_PKI_USAGE_CLIENT, NULL, 20,
                          &cert, &cert_len) == SF_OK &&
             sfc_generate_key(&eph) == SF_OK && sfc_ecdh(eph, device, secret) == SF_OK &&
             sfc_hkdf(d->hash, sizeof(d->hash), secret, sizeof(secret), "kiln-sf-v1 keys", okm,
                      sizeof(okm)) == SF_OK &&
             sfc_gcm_encrypt(okm, okm + 32, d->point, sizeof(d->point), bundle, sizeof(bundle), ct,
                             tag) == SF_OK;
    sfc_labelled_hash("bench config", ct, sizeof(ct), NULL, 0, NULL, 0, hash);
    ok = ok && sfc_sign_hash(job->signing, hash, sig) == SF_OK &&
         sfc_hmac_sha256(okm + 44, 32, hash, sizeof(hash), mac) == SF_OK;
    free(cert);
    EVP_PKEY_free(eph);
    EVP_PKEY_free(device);
    return ok ? 0 : -1;
}

double sf_bench_clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    return sf_bench_clock_s(CLOCK_MONOTONIC);
}

static void *bound_main(void *arg)
{
    bound_job *job = arg;
    device_half d;
    if (make_device_half(&d) != 0) {
        job->failed = job->sessions;
        return NULL;
    }
    double t0 = sf_bench_clock_s(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < job->sessions; i++) {
        job->failed += service_half(job, &d) != 0;
    }
    job->cpu = sf_bench_clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
    return NULL;
}

/* Two fresh service keys standing in for DIR's signing key and device CA. */
static int bound_keys(kiln_pki_signer **signing, kiln_pki_ca **issuer)
{
    EVP_PKEY *k1 = NULL, *k2 = NULL;
    kiln_pki_signer *ca_signer = NULL;
    X509 *ca = NULL;
    *signing = NULL;
    *issuer = NULL;
    int ok = sfc_generate_key(&k1) == SF_OK &&
             kiln_pki_signer_from_pkey(k1, signing) == KILN_PKI_OK &&
             sfc_generate_key(&k2) == SF_OK &&
             kiln_pki_signer_from_pkey(k2, &ca_signer) == KILN_PKI_OK &&
             sfc_ca_certificate(ca_signer, "bench device CA", 10, &ca) == SF_OK;
    if (ok) {
        ok = sfc_issuer_open(ca_signer, ca, issuer) == SF_OK; /* takes ca_signer */
        ca_signer = NULL;
    }
    kiln_pki_signer_free(ca_signer);
    X509_free(ca);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    return ok ? 0 : -1;
}

/* The thread's own CPU clock, not the wall clock: other programs on the machine (and the
 * service's threads when this runs between its waves) take cores away from the wall figure but
 * not from this one, so samples taken minutes apart agree to a few per cent. */
double sf_bench_session_bound_cpu(int sessions)
{
    kiln_pki_signer *signing = NULL;
    kiln_pki_ca *issuer = NULL;
    double cpu = -1.0;
    if (sessions > 0 && bound_keys(&signing, &issuer) == 0) {
        bound_job job = {issuer, signing, sessions, 0, 0};
        bound_main(&job);
        cpu = job.failed == 0 ? job.cpu / sessions : -1.0;
    }
    kiln_pki_ca_free(issuer);
    kiln_pki_signer_free(signing);
    return cpu;
}

double sf_bench_session_bound(int sessions, int threads, double *per_core)
{
    kiln_pki_signer *signing = NULL;
    kiln_pki_ca *issuer = NULL;
    double rate = -1.0;
    bound_job jobs[64];
    pthread_t tid[64];
    threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
    if (bound_keys(&signing, &issuer) == 0) {
        for (int pass = 0; pass < 2; pass++) { /* pass 0: one thread, pass 1: all */
            int n = pass == 0 ? 1 : threads;
            int failed = 0;
            double t0 = wall_s();
            for (int i = 0; i < n; i++) {
                jobs[i] = (bound_job){issuer, signing, sessions / n, 0, 0};
                pthread_create(&tid[i], NULL, bound_main, &jobs[i]);
            }
            for (int i = 0; i < n; i++) {
                pthread_join(tid[i], NULL);
                failed += jobs[i].failed;
            }
            double r = failed == 0 ? (sessions / n) * n / (wall_s() - t0) : -1.0;
            *(pass == 0 ? per_core : &rate) = r;
        }
    }
    kiln_pki_ca_free(issuer);
    kiln_pki_signer_free(signing);
    return rate;
}
