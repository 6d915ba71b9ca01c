/* Key and Configuration Manager: the API applications use to read what the factory stored.
 * Every function works on kiln_default_device() and lazily runs kcm_init() first. */
#ifndef KEY_CONFIG_MANAGER_H
#define KEY_CONFIG_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kcm_defs.h"
#include "kcm_status.h"

#ifdef __cplusplus
extern "C" {
#endif

kcm_status_e kcm_init(void);
kcm_status_e kcm_finalize(void);
/** Validates (keys and certificates are parsed) and stores an item. security_desc must be NULL. */
kcm_status_e kcm_item_store(const uint8_t *kcm_item_name, size_t kcm_item_name_len,
                            kcm_item_type_e kcm_item_type, bool kcm_item_is_factory,
                            const uint8_t *kcm_item_data, size_t kcm_item_data_size,
                            const void *security_desc);
kcm_status_e kcm_item_get_data_size(const uint8_t *kcm_item_name, size_t kcm_item_name_len,
                                    kcm_item_type_e kcm_item_type, size_t *kcm_item_data_size_out);
kcm_status_e kcm_item_get_data(const uint8_t *kcm_item_name, size_t kcm_item_name_len,
                               kcm_item_type_e kcm_item_type, uint8_t *kcm_item_data_out,
                               size_t kcm_item_data_max_size, size_t *kcm_item_data_act_size_out);
kcm_status_e kcm_item_delete(const uint8_t *kcm_item_name, size_t kcm_item_name_len,
                             kcm_item_type_e kcm_item_type);
/** Restores the factory state: every item stored as a factory item comes back, others go. */
kcm_status_e kcm_factory_reset(void);
kcm_status_e kcm_key_pair_generate_and_store(kcm_crypto_key_scheme_e key_scheme,
                                             const uint8_t *private_key_name,
                                             size_t private_key_name_len,
                                             const uint8_t *public_key_name,
                                             size_t public_key_name_len, bool kcm_item_is_factory,
                                             const void *security_desc);
kcm_status_e kcm_csr_generate(const uint8_t *private_key_name, size_t private_key_name_len,
                              const kcm_csr_params_s *csr_params, uint8_t *csr_buff_out,
                              size_t csr_buff_max_size, size_t *csr_buff_act_size);
kcm_status_e kcm_certificate_verify_with_private_key(const uint8_t *kcm_cert_data,
                                                     size_t kcm_cert_data_size,
                                                     const uint8_t *kcm_priv_key_name,
                                                     size_t kcm_priv_key_name_len);
kcm_status_e kcm_cert_chain_create(kcm_cert_chain_handle *kcm_chain_handle,
                                   const uint8_t *kcm_chain_name, size_t kcm_chain_name_len,
                                   size_t kcm_chain_len, bool kcm_chain_is_factory);
kcm_status_e kcm_cert_chain_add_next(kcm_cert_chain_handle kcm_chain_handle,
                                     const uint8_t *kcm_cert_data, size_t kcm_cert_data_size);
kcm_status_e kcm_cert_chain_open(kcm_cert_chain_handle *kcm_chain_handle,
                                 const uint8_t *kcm_chain_name, size_t kcm_chain_name_len,
                                 size_t *kcm_chain_len_out);
kcm_status_e kcm_cert_chain_get_next_size(kcm_cert_chain_handle kcm_chain_handle,
                                          size_t *kcm_out_cert_data_size);
kcm_status_e kcm_cert_chain_get_next_data(kcm_cert_chain_handle kcm_chain_handle,
                                          uint8_t *kcm_cert_data, size_t kcm_max_cert_data_size,
                                          size_t *kcm_actual_cert_data_size);
kcm_status_e kcm_cert_chain_close(kcm_cert_chain_handle kcm_chain_handle);
kcm_status_e kcm_cert_chain_delete(const uint8_t *kcm_chain_name, size_t kcm_chain_name_len);

#ifdef __cplusplus
}
#endif
#endif
