/* libcurl, loaded at the first call (kiln_lazy.h). */
#include <stdarg.h>
#include <string.h>

/* The functions, not curl.h's type-checking macros of the same names. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "kiln_lazy.h"

#define CURL_FN(ret, name, params, args, fail) LAZY_FN(lazy_libcurl, ret, name, params, args, fail)
#define CURL_VOID(name, params, args)          LAZY_VOID(lazy_libcurl, name, params, args)

/* Entry points: without the library there is no handle. */
CURL_FN(CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT)
CURL_FN(CURL *, curl_easy_init, (void), (), NULL)
CURL_FN(const char *, curl_easy_strerror, (CURLcode code), (code),
        lazy_why(&lazy_libcurl, "unknown error"))
CURL_VOID(curl_global_cleanup, (void), ())
CURL_FN(struct curl_slist *, curl_slist_append, (struct curl_slist * list, const char *data),
        (list, data), NULL)
CURL_VOID(curl_slist_free_all, (struct curl_slist * list), (list))

/* Reached only through a handle. */
CURL_VOID(curl_easy_cleanup, (CURL * curl), (curl))
CURL_FN(CURLcode, curl_easy_perform, (CURL * curl), (curl), CURLE_FAILED_INIT)

/* The variadic two take exactly one more argument, whose type curl encodes in the option's
 * number (curl.h: CURLOPTTYPE_*, CURLINFO_* are all pointers to the result). */
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    CURLcode (*fn)(CURL *, CURLoption, ...);
    LAZY_RESOLVE(lazy_libcurl, "curl_easy_setopt", fn, CURLE_FAILED_INIT);
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT) {
        rc = fn(curl, option, va_arg(ap, long));
    } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
        rc = fn(curl, option, va_arg(ap, void *));
    } else if (option < CURLOPTTYPE_OFF_T) {
        rc = fn(curl, option, va_arg(ap, void (*)(void)));
    } else if (option < CURLOPTTYPE_BLOB) {
        rc = fn(curl, option, va_arg(ap, curl_off_t));
    } else {
        rc = fn(curl, option, va_arg(ap, void *));
    }
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    CURLcode (*fn)(CURL *, CURLINFO, ...);
    LAZY_RESOLVE(lazy_libcurl, "curl_easy_getinfo", fn, CURLE_FAILED_INIT);
    va_list ap;
    va_start(ap, info);
    CURLcode rc = fn(curl, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}
