/* Secure factory, device side (see kiln_sf.h and docs/secure-factory-protocol.md). */
#include "kiln_sf.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "fcc_bundle_fields.h"

#define RECORD_VERSION 1u
/* version | factory_id | transcript hash | private scalar | public point */
#define RECORD_SIZE (1u + 4u + SF_HASH_SIZE + SF_SCALAR_SIZE + SF_POINT_SIZE)
#define KEY_DER_MAX 160u

typedef struct session_record {
    uint32_t factory_id;
    uint8_t transcript[SF_HASH_SIZE];
    uint8_t scalar[SF_SCALAR_SIZE];
    uint8_t pub[SF_POINT_SIZE];
} session_record;

/* Entropy comes from the device's configured source (the port), never from the OS directly. */
static int device_entropy(void *ctx, unsigned char *buf, size_t len)
{
    kiln_device *dev = ctx;
    if (dev->cfg.entropy == NULL) {
        return -1;
    }
    return dev->cfg.entropy(dev->cfg.entropy_ctx, buf, len) == 0 ? 0 : -1;
}

static sf_status seed_drbg(kiln_device *dev, mbedtls_ctr_drbg_context *drbg)
{
    static const unsigned char personal[] = "kiln-sf device";
    mbedtls_ctr_drbg_init(drbg);
    if (mbedtls_ctr_drbg_seed(drbg, device_entropy, dev, personal, sizeof(personal) - 1) != 0) {
        return SF_DEV_RANDOM;
    }
    return SF_OK;
}

static sf_status answer_error(sf_status code, int32_t detail, uint8_t *out, size_t out_size,
                              size_t *out_len)
{
    sf_device_error e = {(uint8_t)code, detail};
    if (sf_device_error_encode(&e, out, out_size, out_len) != SF_OK) {
        *out_len = 0;
        return SF_DEV_BUFFER_TOO_SMALL;
    }
    return code;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static const kiln_sf_trust_key *find_trust(const kiln_sf_trust *trust, uint32_t factory_id)
{
    if (trust == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < trust->count; i++) {
        if (trust->keys[i].factory_id == factory_id) {
            return &trust->keys[i];
        }
    }
    return NULL;
}

/* Hash of: label | 0x00 | up to three parts (NULL parts skipped). */
static void labelled_hash(const char *label, const uint8_t *a, size_t a_len, const uint8_t *b,
                          size_t b_len, const uint8_t *c, size_t c_len, uint8_t out[SF_HASH_SIZE])
{
    static const uint8_t zero = 0;
    mbedtls_sha256_context sha;
    mbedtls_sha256_init(&sha);
    mbedtls_sha256_starts_ret(&sha, 0);
    mbedtls_sha256_update_ret(&sha, (const uint8_t *)label, strlen(label));
    mbedtls_sha256_update_ret(&sha, &zero, 1);
    if (a != NULL) {
        mbedtls_sha256_update_ret(&sha, a, a_len);
    }
    if (b != NULL) {
        mbedtls_sha256_update_ret(&sha, b, b_len);
    }
    if (c != NULL) {
        mbedtls_sha256_update_ret(&sha, c, c_len);
    }
    mbedtls_sha256_finish_ret(&sha, out);
    mbedtls_sha256_free(&sha);
}

static int ensure_kcm(kiln_device *dev)
{
    if (!dev->kcm_ready && kiln_kcm_init(dev) != KCM_STATUS_SUCCESS) {
        return -1;
    }
    return 0;
}

static sf_status record_store(kiln_device *dev, const session_record *r)
{
    uint8_t buf[RECORD_SIZE];
    buf[0] = RECORD_VERSION;
    put_u32(buf + 1, r->factory_id);
    memcpy(buf + 5, r->transcript, SF_HASH_SIZE);
    memcpy(buf + 5 + SF_HASH_SIZE, r->scalar, SF_SCALAR_SIZE);
    memcpy(buf + 5 + SF_HASH_SIZE + SF_SCALAR_SIZE, r->pub, SF_POINT_SIZE);
    const uint8_t *name = (const uint8_t *)KILN_SF_SESSION_ITEM;
    size_t name_len = strlen(KILN_SF_SESSION_ITEM);
    (void)kiln_kcm_item_delete(dev, name, name_len, KCM_CONFIG_ITEM);
    kcm_status_e ks =
        kiln_kcm_item_store(dev, name, name_len, KCM_CONFIG_ITEM, false, buf, sizeof(buf));
    mbedtls_platform_zeroize(buf, sizeof(buf));
    return ks == KCM_STATUS_SUCCESS ? SF_OK : SF_DEV_STORAGE;
}

static sf_status record_load(kiln_device *dev, session_record *r)
{
    uint8_t buf[RECORD_SIZE + 1];
    size_t got = 0;
    kcm_status_e ks = kiln_kcm_item_get_data(dev, (const uint8_t *)KILN_SF_SESSION_ITEM,
                                             strlen(KILN_SF_SESSION_ITEM), KCM_CONFIG_ITEM, buf,
                                             sizeof(buf), &got);
    if (ks == KCM_STATUS_ITEM_NOT_FOUND) {
        return SF_DEV_NO_SESSION;
    }
    if (ks != KCM_STATUS_SUCCESS || got != RECORD_SIZE || buf[0] != RECORD_VERSION) {
        mbedtls_platform_zeroize(buf, sizeof(buf));
        return ks == KCM_STATUS_SUCCESS ? SF_DEV_NO_SESSION : SF_DEV_STORAGE;
    }
    r->factory_id =
        ((uint32_t)buf[1] << 24) | ((uint32_t)buf[2] << 16) | ((uint32_t)buf[3] << 8) | buf[4];
    memcpy(r->transcript, buf + 5, SF_HASH_SIZE);
    memcpy(r->scalar, buf + 5 + SF_HASH_SIZE, SF_SCALAR_SIZE);
    memcpy(r->pub, buf + 5 + SF_HASH_SIZE + SF_SCALAR_SIZE, SF_POINT_SIZE);
    mbedtls_platform_zeroize(buf, sizeof(buf));
    return SF_OK;
}

static void record_delete(kiln_device *dev)
{
    (void)kiln_kcm_item_delete(dev, (const uint8_t *)KILN_SF_SESSION_ITEM,
                               strlen(KILN_SF_SESSION_ITEM), KCM_CONFIG_ITEM);
}

/* Loads the service public key for factory_id into pk (P-256 only). */
static sf_status load_service_key(const kiln_sf_trust *trust, uint32_t factory_id,
                                  mbedtls_pk_context *pk)
{
    const kiln_sf_trust_key *tk = find_trust(trust, factory_id);
    if (tk == NULL) {
        return SF_DEV_UNKNOWN_FACTORY;
    }
    if (mbedtls_pk_parse_public_key(pk, tk->key, tk->key_len) != 0 ||
        mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY ||
        mbedtls_pk_ec(*pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        return SF_DEV_UNKNOWN_FACTORY;
    }
    return SF_OK;
}

/* A device that already holds a bootstrap identity cannot take another one (the bundle handler
 * refuses existing items, as the original does), and storing the new key first would replace the
 * key its certificate belongs to. It says so before the service issues a certificate, and again
 * before touching its storage; a factory reset makes it provisionable again. */
static sf_status refuse_if_provisioned(kiln_device *dev, int32_t *detail)
{
    static const struct {
        const char *name;
        kcm_item_type_e type;
    } identity[] = {{FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY, KCM_PRIVATE_KEY_ITEM},
                    {FCC_BOOTSTRAP_DEVICE_CERT, KCM_CERTIFICATE_ITEM}};
    for (size_t i = 0; i < sizeof(identity) / sizeof(identity[0]); i++) {
        size_t size = 0;
        if (kiln_kcm_item_get_data_size(dev, (const uint8_t *)identity[i].name,
                                        strlen(identity[i].name), identity[i].type,
                                        &size) == KCM_STATUS_SUCCESS) {
            *detail = (int32_t)KCM_STATUS_FILE_EXIST;
            return SF_DEV_STORAGE;
        }
    }
    return SF_OK;
}

/* The request names a factory this device trusts, and the device can still be provisioned. */
static sf_status check_init_request(kiln_device *dev, const kiln_sf_trust *trust,
                                    const sf_init_request *req, int32_t *detail)
{
    mbedtls_pk_context service_pk;
    mbedtls_pk_init(&service_pk);
    sf_status st = load_service_key(trust, req->factory_id, &service_pk);
    mbedtls_pk_free(&service_pk);
    if (st != SF_OK) {
        *detail = (int32_t)req->factory_id;
        return st;
    }
    if (ensure_kcm(dev) != 0) {
        return SF_DEV_STORAGE;
    }
    return refuse_if_provisioned(dev, detail);
}

/* The session key pair: its public point goes into the answer, its scalar into the record. */
static sf_status generate_session_key(mbedtls_ecp_keypair *key, mbedtls_ctr_drbg_context *drbg,
                                      sf_init_response *resp, session_record *rec, int32_t *detail)
{
    size_t pub_len = 0;
    int rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, key, mbedtls_ctr_drbg_random, drbg);
    if (rc == 0) {
        rc = mbedtls_ecp_point_write_binary(&key->grp, &key->Q, MBEDTLS_ECP_PF_UNCOMPRESSED,
                                            &pub_len, resp->device_pub, SF_POINT_SIZE);
    }
    if (rc == 0) {
        rc = mbedtls_mpi_write_binary(&key->d, rec->scalar, SF_SCALAR_SIZE);
    }
    if (rc != 0 || pub_len != SF_POINT_SIZE) {
        *detail = rc;
        return SF_DEV_KEYGEN;
    }
    return SF_OK;
}

/* Proof of possession: the session key signs the request, its public point and the nonce. */
static sf_status sign_possession(mbedtls_ecp_keypair *key, mbedtls_ctr_drbg_context *drbg,
                                 const uint8_t *msg, size_t msg_len, sf_init_response *resp,
                                 int32_t *detail)
{
    uint8_t hash[SF_HASH_SIZE];
    mbedtls_mpi r, s;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    labelled_hash(SF_LABEL_POP, msg, msg_len, resp->device_pub, SF_POINT_SIZE, resp->device_nonce,
                  SF_NONCE_SIZE, hash);
    int rc = mbedtls_ecdsa_sign(&key->grp, &r, &s, &key->d, hash, sizeof(hash),
                                mbedtls_ctr_drbg_random, drbg);
    if (rc == 0) {
        rc = mbedtls_mpi_write_binary(&r, resp->pop_sig, SF_SCALAR_SIZE);
    }
    if (rc == 0) {
        rc = mbedtls_mpi_write_binary(&s, resp->pop_sig + SF_SCALAR_SIZE, SF_SCALAR_SIZE);
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    if (rc != 0) {
        *detail = rc;
        return SF_DEV_KEYGEN;
    }
    return SF_OK;
}

static sf_status handle_init(kiln_device *dev, const kiln_sf_trust *trust, const uint8_t *msg,
                             size_t msg_len, uint8_t *out, size_t out_size, size_t *out_len,
                             int32_t *detail)
{
    sf_init_request req;
    sf_status st = sf_init_request_parse(msg, msg_len, &req);
    if (st == SF_OK) {
        st = check_init_request(dev, trust, &req, detail);
    }
    if (st != SF_OK) {
        return st;
    }
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ecp_keypair key;
    mbedtls_ecp_keypair_init(&key);
    session_record rec;
    memset(&rec, 0, sizeof(rec));
    sf_init_response resp;
    if ((st = seed_drbg(dev, &drbg)) != SF_OK ||
        (st = generate_session_key(&key, &drbg, &resp, &rec, detail)) != SF_OK) {
        goto done;
    }
    if (mbedtls_ctr_drbg_random(&drbg, resp.device_nonce, SF_NONCE_SIZE) != 0) {
        st = SF_DEV_RANDOM;
        goto done;
    }
    if ((st = sign_possession(&key, &drbg, msg, msg_len, &resp, detail)) != SF_OK ||
        (st = sf_init_response_encode(&resp, out, out_size, out_len)) != SF_OK) {
        goto done;
    }
    /* The transcript hash binds every later message to this request and this answer. */
    labelled_hash(SF_LABEL_SESSION, msg, msg_len, out, *out_len, NULL, 0, rec.transcript);
    rec.factory_id = req.factory_id;
    memcpy(rec.pub, resp.device_pub, SF_POINT_SIZE);
    st = record_store(dev, &rec);
done:
    mbedtls_platform_zeroize(&rec, sizeof(rec));
    mbedtls_ecp_keypair_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    return st;
}

static sf_status verify_service_signature(const mbedtls_pk_context *pk,
                                          const uint8_t transcript[SF_HASH_SIZE],
                                          const uint8_t *msg, const sf_config_request *req)
{
    uint8_t hash[SF_HASH_SIZE];
    labelled_hash(SF_LABEL_CONFIG, transcript, SF_HASH_SIZE, msg, req->signed_len, NULL, 0, hash);
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
    mbedtls_mpi r, s;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    int rc = mbedtls_mpi_read_binary(&r, req->service_sig, SF_SCALAR_SIZE);
    if (rc == 0) {
        rc = mbedtls_mpi_read_binary(&s, req->service_sig + SF_SCALAR_SIZE, SF_SCALAR_SIZE);
    }
    if (rc == 0) {
        rc = mbedtls_ecdsa_verify(&ec->grp, hash, sizeof(hash), &ec->Q, &r, &s);
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    return rc == 0 ? SF_OK : SF_DEV_BAD_SIGNATURE;
}

/* ECDH with the service's ephemeral key, then HKDF into the AES key, IV and confirmation key. */
static sf_status derive_keys(kiln_device *dev, const session_record *rec,
                             const uint8_t *ephemeral_pub, uint8_t okm[SF_OKM_SIZE])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi d, z;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&d);
    mbedtls_mpi_init(&z);
    uint8_t secret[SF_SCALAR_SIZE];
    sf_status st = seed_drbg(dev, &drbg);
    if (st == SF_OK) {
        int rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
        if (rc == 0) {
            rc = mbedtls_ecp_point_read_binary(&grp, &q, ephemeral_pub, SF_POINT_SIZE);
        }
        if (rc == 0) {
            rc = mbedtls_ecp_check_pubkey(&grp, &q);
        }
        if (rc == 0) {
            rc = mbedtls_mpi_read_binary(&d, rec->scalar, SF_SCALAR_SIZE);
        }
        if (rc == 0) {
            rc = mbedtls_ecdh_compute_shared(&grp, &z, &q, &d, mbedtls_ctr_drbg_random, &drbg);
        }
        if (rc == 0) {
            rc = mbedtls_mpi_write_binary(&z, secret, sizeof(secret));
        }
        if (rc == 0) {
            rc = mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), rec->transcript,
                              SF_HASH_SIZE, secret, sizeof(secret), (const uint8_t *)SF_LABEL_KEYS,
                              strlen(SF_LABEL_KEYS), okm, SF_OKM_SIZE);
        }
        st = rc == 0 ? SF_OK : SF_DEV_DECRYPT;
    }
    mbedtls_platform_zeroize(secret, sizeof(secret));
    mbedtls_ecp_group_free(&grp);
    mbedtls_ecp_point_free(&q);
    mbedtls_mpi_free(&d);
    mbedtls_mpi_free(&z);
    mbedtls_ctr_drbg_free(&drbg);
    return st;
}

/* Stores the session's key as the bootstrap device key (the certificate in the bundle names it
 * with PrKN). A key left behind by an earlier, failed session is replaced. */
static sf_status store_device_key(kiln_device *dev, const session_record *rec, int32_t *detail)
{
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    uint8_t der[KEY_DER_MAX];
    int rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    mbedtls_ecp_keypair *ec = rc == 0 ? mbedtls_pk_ec(pk) : NULL;
    if (rc == 0) {
        rc = mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1);
    }
    if (rc == 0) {
        rc = mbedtls_mpi_read_binary(&ec->d, rec->scalar, SF_SCALAR_SIZE);
    }
    if (rc == 0) {
        rc = mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q, rec->pub, SF_POINT_SIZE);
    }
    int der_len = rc == 0 ? mbedtls_pk_write_key_der(&pk, der, sizeof(der)) : rc;
    mbedtls_pk_free(&pk);
    if (der_len <= 0) {
        *detail = der_len;
        return SF_DEV_CRYPTO;
    }
    /* mbedtls_pk_write_key_der writes at the end of the buffer. */
    const uint8_t *key_der = der + sizeof(der) - (size_t)der_len;
    const uint8_t *name = (const uint8_t *)FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY;
    size_t name_len = strlen(FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY);
    (void)kiln_kcm_item_delete(dev, name, name_len, KCM_PRIVATE_KEY_ITEM);
    kcm_status_e ks = kiln_kcm_item_store(dev, name, name_len, KCM_PRIVATE_KEY_ITEM, true, key_der,
                                          (size_t)der_len);
    mbedtls_platform_zeroize(der, sizeof(der));
    if (ks != KCM_STATUS_SUCCESS) {
        *detail = (int32_t)ks;
        return SF_DEV_STORAGE;
    }
    return SF_OK;
}

/* The request belongs to the open session and carries the service's signature; then the
 * session keys (okm) are derived. */
static sf_status open_config_request(kiln_device *dev, const kiln_sf_trust *trust,
                                     const uint8_t *msg, const sf_config_request *req,
                                     const session_record *rec, uint8_t okm[SF_OKM_SIZE],
                                     int32_t *detail)
{
    if (memcmp(req->binding, rec->transcript, SF_BINDING_SIZE) != 0) {
        return SF_DEV_WRONG_SESSION;
    }
    mbedtls_pk_context service_pk;
    mbedtls_pk_init(&service_pk);
    sf_status st = load_service_key(trust, rec->factory_id, &service_pk);
    if (st != SF_OK) {
        *detail = (int32_t)rec->factory_id;
    } else {
        st = verify_service_signature(&service_pk, rec->transcript, msg, req);
    }
    mbedtls_pk_free(&service_pk);
    return st == SF_OK ? derive_keys(dev, rec, req->ephemeral_pub, okm) : st;
}

static sf_status decrypt_bundle(const sf_config_request *req, const uint8_t okm[SF_OKM_SIZE],
                                uint8_t *plain, int32_t *detail)
{
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    int rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, okm, SF_AES_KEY_SIZE * 8);
    if (rc == 0) {
        rc = mbedtls_gcm_auth_decrypt(&gcm, req->ciphertext_len, okm + SF_AES_KEY_SIZE,
                                      SF_GCM_IV_SIZE, req->aad, req->aad_len, req->tag, SF_TAG_SIZE,
                                      req->ciphertext, plain);
    }
    mbedtls_gcm_free(&gcm);
    if (rc != 0) {
        *detail = rc;
        return SF_DEV_DECRYPT;
    }
    return SF_OK;
}

/* Stores the session key and hands the bundle to FCC (*fs: its status); a bundle that fails
 * takes the key away again. */
static sf_status provision(kiln_device *dev, const session_record *rec, const uint8_t *bundle,
                           size_t bundle_len, int32_t *detail, fcc_status_e *fs)
{
    sf_status st = refuse_if_provisioned(dev, detail);
    if (st == SF_OK) {
        st = store_device_key(dev, rec, detail);
    }
    if (st != SF_OK) {
        return st;
    }
    if (!dev->fcc_ready && kiln_fcc_init(dev) != FCC_STATUS_SUCCESS) {
        return SF_DEV_STORAGE;
    }
    uint8_t *fcc_answer = NULL;
    size_t fcc_answer_len = 0;
    *fs = kiln_fcc_bundle_handler(dev, bundle, bundle_len, &fcc_answer, &fcc_answer_len);
    free(fcc_answer);
    if (*fs != FCC_STATUS_SUCCESS) {
        (void)kiln_kcm_item_delete(dev, (const uint8_t *)FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY,
                                   strlen(FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY), KCM_PRIVATE_KEY_ITEM);
    }
    return SF_OK;
}

/* The answer: FCC's status, MAC'd with the confirmation key over the transcript and the
 * request. */
static sf_status confirm_config(const session_record *rec, const uint8_t *msg, size_t msg_len,
                                fcc_status_e fs, const uint8_t okm[SF_OKM_SIZE],
                                sf_config_response *resp)
{
    memcpy(resp->binding, rec->transcript, SF_BINDING_SIZE);
    resp->fcc_status = fs > 255 ? 255 : (uint8_t)fs;
    uint8_t msg_hash[SF_HASH_SIZE];
    mbedtls_sha256_ret(msg, msg_len, msg_hash, 0);
    uint8_t mac_input[sizeof(SF_LABEL_DONE) + SF_HASH_SIZE * 2 + 1];
    size_t pos = 0;
    memcpy(mac_input, SF_LABEL_DONE, sizeof(SF_LABEL_DONE)); /* includes the 0x00 */
    pos += sizeof(SF_LABEL_DONE);
    memcpy(mac_input + pos, rec->transcript, SF_HASH_SIZE);
    pos += SF_HASH_SIZE;
    memcpy(mac_input + pos, msg_hash, SF_HASH_SIZE);
    pos += SF_HASH_SIZE;
    mac_input[pos++] = resp->fcc_status;
    int rc = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                             okm + SF_AES_KEY_SIZE + SF_GCM_IV_SIZE, SF_CONFIRM_KEY_SIZE, mac_input,
                             pos, resp->mac);
    return rc == 0 ? SF_OK : SF_DEV_CRYPTO;
}

static sf_status handle_config(kiln_device *dev, const kiln_sf_trust *trust, const uint8_t *msg,
                               size_t msg_len, uint8_t *out, size_t out_size, size_t *out_len,
                               int32_t *detail, int *fcc_status_out)
{
    sf_config_request req;
    sf_status st = sf_config_request_parse(msg, msg_len, &req);
    if (st != SF_OK) {
        return st;
    }
    if (ensure_kcm(dev) != 0) {
        return SF_DEV_STORAGE;
    }
    session_record rec;
    st = record_load(dev, &rec);
    if (st != SF_OK) {
        return st;
    }
    uint8_t okm[SF_OKM_SIZE];
    uint8_t *plain = NULL;
    st = open_config_request(dev, trust, msg, &req, &rec, okm, detail);
    if (st == SF_OK) {
        plain = calloc(1, req.ciphertext_len);
        st = plain != NULL ? decrypt_bundle(&req, okm, plain, detail) : SF_DEV_NO_MEMORY;
    }
    fcc_status_e fs = FCC_STATUS_SUCCESS;
    if (st == SF_OK) {
        st = provision(dev, &rec, plain, req.ciphertext_len, detail, &fs);
    }
    if (st == SF_OK && fcc_status_out != NULL) {
        *fcc_status_out = (int)fs;
    }
    sf_config_response resp;
    if (st == SF_OK) {
        st = confirm_config(&rec, msg, msg_len, fs, okm, &resp);
    }
    if (st == SF_OK) {
        /* The session is over whatever the bundle handler said: a replay finds no session. */
        record_delete(dev);
        st = sf_config_response_encode(&resp, out, out_size, out_len);
    }
    if (plain != NULL) {
        mbedtls_platform_zeroize(plain, req.ciphertext_len);
        free(plain);
    }
    mbedtls_platform_zeroize(okm, sizeof(okm));
    mbedtls_platform_zeroize(&rec, sizeof(rec));
    return st;
}

sf_status kiln_sf_handle_message(kiln_device *dev, const kiln_sf_trust *trust, const uint8_t *msg,
                                 size_t msg_len, uint8_t *out, size_t out_size, size_t *out_len,
                                 int *fcc_status_out)
{
    if (out_len == NULL) {
        return SF_INVALID_ARGUMENT;
    }
    *out_len = 0;
    if (dev == NULL || out == NULL) {
        return SF_INVALID_ARGUMENT;
    }
    if (fcc_status_out != NULL) {
        *fcc_status_out = 0;
    }
    int32_t detail = 0;
    sf_msg_type type;
    sf_status st = sf_msg_peek(msg, msg_len, &type);
    if (st == SF_OK) {
        if (type == SF_MSG_INIT_REQUEST) {
            st = handle_init(dev, trust, msg, msg_len, out, out_size, out_len, &detail);
        } else if (type == SF_MSG_CONFIG_REQUEST) {
            st = handle_config(dev, trust, msg, msg_len, out, out_size, out_len, &detail,
                               fcc_status_out);
        } else {
            st = SF_DEV_UNSUPPORTED;
        }
    }
    if (st == SF_OK) {
        return SF_OK;
    }
    if (st == SF_DEV_BUFFER_TOO_SMALL) {
        *out_len = 0;
    }
    return answer_error(st, detail, out, out_size, out_len);
}
