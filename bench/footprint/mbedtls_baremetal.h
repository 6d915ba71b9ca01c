/* Mbed TLS adjustments for a bare-metal build of the device core: the Debian build enables
 * pthread-based threading and file/socket/timing modules that a microcontroller has no OS for.
 * Applied with MBEDTLS_USER_CONFIG_FILE after Debian's config.h; affects only the headers
 * (Mbed TLS itself is not compiled or counted here). */
#undef MBEDTLS_THREADING_C
#undef MBEDTLS_THREADING_PTHREAD
#undef MBEDTLS_FS_IO
#undef MBEDTLS_NET_C
#undef MBEDTLS_TIMING_C
#undef MBEDTLS_HAVE_TIME_DATE
#undef MBEDTLS_HAVEGE_C
#undef MBEDTLS_PSA_ITS_FILE_C
#undef MBEDTLS_PSA_CRYPTO_STORAGE_C
