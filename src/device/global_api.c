/* The original global API: every call operates on the device that the port or the firmware
 * registered (kiln_set_default_device), so the portable core names no port. */
#include "key_config_manager.h"
#include "mbed_factory_configurator_client.h"

#include "kiln/device.h"

static kiln_default_device_fn default_device_source;

void kiln_set_default_device(kiln_default_device_fn source)
{
    default_device_source = source;
}

kiln_device *kiln_default_device(void)
{
    return default_device_source();
}

fcc_status_e fcc_init(void)
{
    return kiln_fcc_init(kiln_default_device());
}

fcc_status_e fcc_finalize(void)
{
    return kiln_fcc_finalize(kiln_default_device());
}

fcc_status_e fcc_storage_delete(void)
{
    return kiln_fcc_storage_delete(kiln_default_device());
}

fcc_status_e fcc_bundle_handler(const uint8_t *encoded_bundle, size_t encoded_bundle_size,
                                uint8_t **bundle_response_out, size_t *bundle_response_size_out)
{
    return kiln_fcc_bundle_handler(kiln_default_device(), encoded_bundle, encoded_bundle_size,
                                   bundle_response_out, bundle_response_size_out);
}

fcc_status_e fcc_verify_device_configured_4mbed_cloud(void)
{
    return kiln_fcc_verify_device_configured_4mbed_cloud(kiln_default_device());
}

fcc_status_e fcc_time_set(uint64_t time)
{
    return kiln_fcc_time_set(kiln_default_device(), time);
}

fcc_status_e fcc_factory_disable(void)
{
    return kiln_fcc_factory_disable(kiln_default_device());
}

fcc_status_e fcc_is_factory_disabled(bool *is_factory_disabled)
{
    return kiln_fcc_is_factory_disabled(kiln_default_device(), is_factory_disabled);
}

bool fcc_is_session_finished(void)
{
    return kiln_fcc_is_session_finished(kiln_default_device());
}

kcm_status_e kcm_init(void)
{
    return kiln_kcm_init(kiln_default_device());
}

kcm_status_e kcm_finalize(void)
{
    return kiln_kcm_finalize(kiln_default_device());
}

kcm_status_e kcm_item_store(const uint8_t *kcm_item_name, size_t kcm_item_name_len,
                            kcm_item_type_e kcm_item_type, bool kcm_item_is_factory,
                            const uint8_t *kcm_item_data, size_t kcm_item_data_size,
                            const void *security_desc)
{
    if (security_desc != NULL) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    return kiln_kcm_item_store(kiln_default_device(), kcm_item_name, kcm_item_name_len,
                               kcm_item_type, kcm_item_is_factory, kcm_item_data,
                               kcm_item_data_size);
}

kcm_status_e kcm_item_get_data_size(const uint8_t *kcm_item_name, size_t kcm_item_name_len,
                                    kcm_item_type_e kcm_item_type, size_t *kcm_item_data_size_out)
{
    return kiln_kcm_item_get_data_size(kiln_default_device(), kcm_item_name, kcm_item_name_len,
                                       kcm_item_type, kcm_item_data_size_out);
}

kcm_status_e kcm_item_get_data(const uint8_t *kcm_item_name, size_t kcm_item_name_len,
                               kcm_item_type_e kcm_item_type, uint8_t *kcm_item_data_out,
                               size_t kcm_item_data_max_size, size_t *kcm_item_data_act_size_out)
{
    return kiln_kcm_item_get_data(kiln_default_device(), kcm_item_name, kcm_item_name_len,
                                  kcm_item_type, kcm_item_data_out, kcm_item_data_max_size,
                                  kcm_item_data_act_size_out);
}

kcm_status_e kcm_item_delete(const uint8_t *kcm_item_name, size_t kcm_item_name_len,
                             kcm_item_type_e kcm_item_type)
{
    return kiln_kcm_item_delete(kiln_default_device(), kcm_item_name, kcm_item_name_len,
                                kcm_item_type);
}

kcm_status_e kcm_factory_reset(void)
{
    return kiln_kcm_factory_reset(kiln_default_device());
}

kcm_status_e kcm_key_pair_generate_and_store(kcm_crypto_key_scheme_e key_scheme,
                                             const uint8_t *private_key_name,
                                             size_t private_key_name_len,
                                             const uint8_t *public_key_name,
                                             size_t public_key_name_len, bool kcm_item_is_factory,
                                             const void *security_desc)
{
    if (security_desc != NULL) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    return kiln_kcm_key_pair_generate_and_store(kiln_default_device(), key_scheme, private_key_name,
                                                private_key_name_len, public_key_name,
                                                public_key_name_len, kcm_item_is_factory);
}

kcm_status_e kcm_csr_generate(const uint8_t *private_key_name, size_t private_key_name_len,
                              const kcm_csr_params_s *csr_params, uint8_t *csr_buff_out,
                              size_t csr_buff_max_size, size_t *csr_buff_act_size)
{
    return kiln_kcm_csr_generate(kiln_default_device(), private_key_name, private_key_name_len,
                                 csr_params, csr_buff_out, csr_buff_max_size, csr_buff_act_size);
}

kcm_status_e kcm_certificate_verify_with_private_key(const uint8_t *kcm_cert_data,
                                                     size_t kcm_cert_data_size,
                                                     const uint8_t *kcm_priv_key_name,
                                                     size_t kcm_priv_key_name_len)
{
    return kiln_kcm_certificate_verify_with_private_key(kiln_default_device(), kcm_cert_data,
                                                        kcm_cert_data_size, kcm_priv_key_name,
                                                        kcm_priv_key_name_len);
}

kcm_status_e kcm_cert_chain_create(kcm_cert_chain_handle *kcm_chain_handle,
                                   const uint8_t *kcm_chain_name, size_t kcm_chain_name_len,
                                   size_t kcm_chain_len, bool kcm_chain_is_factory)
{
    return kiln_kcm_cert_chain_create(kiln_default_device(), kcm_chain_handle, kcm_chain_name,
                                      kcm_chain_name_len, kcm_chain_len, kcm_chain_is_factory);
}

kcm_status_e kcm_cert_chain_add_next(kcm_cert_chain_handle kcm_chain_handle,
                                     const uint8_t *kcm_cert_data, size_t kcm_cert_data_size)
{
    return kiln_kcm_cert_chain_add_next(kiln_default_device(), kcm_chain_handle, kcm_cert_data,
                                        kcm_cert_data_size);
}

kcm_status_e kcm_cert_chain_open(kcm_cert_chain_handle *kcm_chain_handle,
                                 const uint8_t *kcm_chain_name, size_t kcm_chain_name_len,
                                 size_t *kcm_chain_len_out)
{
    return kiln_kcm_cert_chain_open(kiln_default_device(), kcm_chain_handle, kcm_chain_name,
                                    kcm_chain_name_len, kcm_chain_len_out);
}

kcm_status_e kcm_cert_chain_get_next_size(kcm_cert_chain_handle kcm_chain_handle,
                                          size_t *kcm_out_cert_data_size)
{
    return kiln_kcm_cert_chain_get_next_size(kiln_default_device(), kcm_chain_handle,
                                             kcm_out_cert_data_size);
}

kcm_status_e kcm_cert_chain_get_next_data(kcm_cert_chain_handle kcm_chain_handle,
                                          uint8_t *kcm_cert_data, size_t kcm_max_cert_data_size,
                                          size_t *kcm_actual_cert_data_size)
{
    return kiln_kcm_cert_chain_get_next_data(kiln_default_device(), kcm_chain_handle, kcm_cert_data,
                                             kcm_max_cert_data_size, kcm_actual_cert_data_size);
}

kcm_status_e kcm_cert_chain_close(kcm_cert_chain_handle kcm_chain_handle)
{
    return kiln_kcm_cert_chain_close(kiln_default_device(), kcm_chain_handle);
}

kcm_status_e kcm_cert_chain_delete(const uint8_t *kcm_chain_name, size_t kcm_chain_name_len)
{
    return kiln_kcm_cert_chain_delete(kiln_default_device(), kcm_chain_name, kcm_chain_name_len);
}
