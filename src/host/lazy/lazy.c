#include "kiln_lazy.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define LIB(soname_macro, what_text)                                                               \
    {                                                                                              \
        .soname = soname_macro, .what = what_text, .once = PTHREAD_ONCE_INIT                       \
    }

lazy_lib lazy_libpq = LIB(KILN_LIBPQ_SONAME, "PostgreSQL (libpq)");
lazy_lib lazy_libcurl = LIB(KILN_LIBCURL_SONAME, "the HTTP client (libcurl)");
lazy_lib lazy_libmicrohttpd = LIB(KILN_LIBMICROHTTPD_SONAME, "the HTTP server (libmicrohttpd)");

/* pthread_once takes no argument: one opener per library. */
static void open_lib(lazy_lib *lib)
{
    /* RTLD_LOCAL: the library's symbols never interpose on the program's. */
    lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (lib->handle == NULL) {
        const char *e = dlerror();
        snprintf(lib->error, sizeof(lib->error), "%s cannot be loaded: %s", lib->what,
                 e ? e : lib->soname);
    }
}

static void open_libpq(void)
{
    open_lib(&lazy_libpq);
}

static void open_libcurl(void)
{
    open_lib(&lazy_libcurl);
}

static void open_libmicrohttpd(void)
{
    open_lib(&lazy_libmicrohttpd);
}

static int ensure_open(lazy_lib *lib)
{
    void (*opener)(void) = lib == &lazy_libpq     ? open_libpq
                           : lib == &lazy_libcurl ? open_libcurl
                                                  : open_libmicrohttpd;
    return pthread_once(&lib->once, opener) == 0 && lib->handle != NULL;
}

void *lazy_resolve(lazy_lib *lib, const char *name, void **slot)
{
    void *address = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (address != NULL)
        return address;
    if (!ensure_open(lib))
        return NULL;
    address = dlsym(lib->handle, name);
    if (address == NULL) {
        /* A library older than the headers kiln was built with: say which function. */
        snprintf(lib->error, sizeof(lib->error), "%s (%s) has no function %s", lib->what,
                 lib->soname, name);
        return NULL;
    }
    __atomic_store_n(slot, address, __ATOMIC_RELEASE);
    return address;
}

const char *lazy_why(lazy_lib *lib, const char *otherwise)
{
    return lib->error[0] != '\0' ? lib->error : otherwise;
}
