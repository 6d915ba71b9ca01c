/* Names and constants of the configuration bundle (configurator -> device) and of the
 * device's answer. Both sides include this file, so the wire format is defined once. */
#ifndef KILN_FCC_BUNDLE_FIELDS_H
#define KILN_FCC_BUNDLE_FIELDS_H

#define FCC_BUNDLE_SCHEME_VERSION "0.0.1"

/* Top-level groups of a bundle. */
#define FCC_GROUP_SCHEME_VERSION     "SchemeVersion"
#define FCC_GROUP_KEYS               "Keys"
#define FCC_GROUP_CERTIFICATES       "Certificates"
#define FCC_GROUP_CERTIFICATE_CHAINS "CertificateChains"
#define FCC_GROUP_CONFIG_PARAMS      "ConfigParams"
#define FCC_GROUP_CSR_REQUESTS       "CsrReqs"
#define FCC_GROUP_ENTROPY            "Entropy"
#define FCC_GROUP_ROT                "ROT"
#define FCC_GROUP_VERIFY             "Verify"
#define FCC_GROUP_DISABLE            "Disable"
#define FCC_GROUP_KEEP_ALIVE         "KpAlvSess"
#define FCC_GROUP_SESSION_ID         "SID"

/* Fields of the items inside the groups. */
#define FCC_FIELD_NAME             "Name"
#define FCC_FIELD_TYPE             "Type"
#define FCC_FIELD_FORMAT           "Format"
#define FCC_FIELD_DATA             "Data"
#define FCC_FIELD_DATA_ARRAY       "DataArray"
#define FCC_FIELD_PRIVATE_KEY_NAME "PrKN"
#define FCC_FIELD_SUBJECT          "Subj"
#define FCC_FIELD_MD               "MD"
#define FCC_FIELD_EXTENSIONS       "Ext"
#define FCC_FIELD_KEY_USAGE        "KU"
#define FCC_FIELD_EXT_KEY_USAGE    "EKU"
#define FCC_FIELD_TRUST            "Trust"
#define FCC_FIELD_STORAGE_MEDIUM   "SM"
#define FCC_FIELD_SM_PRIVATE       "Prv"
#define FCC_FIELD_SM_PUBLIC        "Pub"
#define FCC_SM_DEVICE              "Device"
#define FCC_SM_SECURE_ELEMENT      "SE"

#define FCC_KEY_TYPE_ECC_PRIVATE "ECCPrivate"
#define FCC_KEY_TYPE_ECC_PUBLIC  "ECCPublic"
#define FCC_KEY_TYPE_RSA_PRIVATE "RSAPrivate"
#define FCC_KEY_TYPE_RSA_PUBLIC  "RSAPublic"
#define FCC_KEY_TYPE_SYMMETRIC   "Symmetric"
#define FCC_FORMAT_DER           "der"
#define FCC_FORMAT_PEM           "pem"

/* The device's answer. */
#define FCC_RESP_CSRS            "Csrs"
#define FCC_RESP_RETURN_STATUS   "ReturnStatus"
#define FCC_RESP_INFO_MESSAGE    "InfoMessage"
#define FCC_RESP_WARNING_INFO    "WarningInfo"
#define FCC_RESP_SUCCESS_MESSAGE "The Factory process succeeded\n"

/* Limits. */
#define FCC_MAX_TOP_LEVEL_GROUPS   12
#define FCC_ENTROPY_SIZE           48
#define FCC_ROT_SIZE               16
#define FCC_MAX_CSR_REQUESTS       5
#define FCC_MAX_CHAIN_LENGTH       5
#define FCC_RESPONSE_MAX           512
#define FCC_RESPONSE_MAX_WITH_CSRS 2560

/* Well-known item names. */
#define FCC_USE_BOOTSTRAP                "mbed.UseBootstrap"
#define FCC_ENDPOINT_NAME                "mbed.EndpointName"
#define FCC_ACCOUNT_ID                   "mbed.AccountID"
#define FCC_FIRST_TO_CLAIM               "mbed.FirstToClaim"
#define FCC_MANUFACTURER                 "mbed.Manufacturer"
#define FCC_MODEL_NUMBER                 "mbed.ModelNumber"
#define FCC_DEVICE_TYPE                  "mbed.DeviceType"
#define FCC_HARDWARE_VERSION             "mbed.HardwareVersion"
#define FCC_MEMORY_TOTAL_KB              "mbed.MemoryTotalKB"
#define FCC_SERIAL_NUMBER                "mbed.SerialNumber"
#define FCC_CURRENT_TIME                 "mbed.CurrentTime"
#define FCC_TIMEZONE                     "mbed.Timezone"
#define FCC_UTC_OFFSET                   "mbed.UTCOffset"
#define FCC_BOOTSTRAP_SERVER_CA_CERT     "mbed.BootstrapServerCACert"
#define FCC_BOOTSTRAP_SERVER_CRL         "mbed.BootstrapServerCRL"
#define FCC_BOOTSTRAP_SERVER_URI         "mbed.BootstrapServerURI"
#define FCC_BOOTSTRAP_DEVICE_CERT        "mbed.BootstrapDeviceCert"
#define FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY "mbed.BootstrapDevicePrivateKey"
#define FCC_LWM2M_SERVER_CA_CERT         "mbed.LwM2MServerCACert"
#define FCC_LWM2M_SERVER_CRL             "mbed.LwM2MServerCRL"
#define FCC_LWM2M_SERVER_URI             "mbed.LwM2MServerURI"
#define FCC_LWM2M_DEVICE_CERT            "mbed.LwM2MDeviceCert"
#define FCC_LWM2M_DEVICE_PRIVATE_KEY     "mbed.LwM2MDevicePrivateKey"
#define FCC_UPDATE_AUTH_CERT             "mbed.UpdateAuthCert"
#define FCC_CLASS_ID                     "mbed.ClassId"
#define FCC_VENDOR_ID                    "mbed.VendorId"

#endif
