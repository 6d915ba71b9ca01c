/* Libraries that only some commands need are loaded at their first call instead of at program
 * start: PostgreSQL (libpq), the HTTP client (libcurl) and the HTTP server (libmicrohttpd) pull
 * in some thirty more shared libraries, whose loading was two thirds of every factory_tool
 * start (4.6 ms of 6.8) although most commands never call them.
 *
 * lazy_pq.c, lazy_curl.c and lazy_mhd.c define, under the libraries' own names and with their
 * own prototypes, the functions kiln calls; the first call opens the library by its soname (the
 * ABI the headers describe) and each function is looked up once. A program links these instead
 * of the library, never both. When the library cannot be opened, the entry functions fail the
 * way the library reports failure (NULL connection, NULL handle, CURLE_FAILED_INIT) and
 * lazy_why() tells why; the other functions are only reachable through what an entry
 * function returned. */
#ifndef KILN_LAZY_H
#define KILN_LAZY_H

#include <pthread.h>

typedef struct lazy_lib {
    const char *soname;
    const char *what; /* for the error text: "PostgreSQL (libpq)" */
    pthread_once_t once;
    void *handle;
    char error[256];
} lazy_lib;

extern lazy_lib lazy_libpq, lazy_libcurl, lazy_libmicrohttpd;

/* The address of NAME in LIB, looked up once into *SLOT; NULL when LIB or NAME is missing. */
void *lazy_resolve(lazy_lib *lib, const char *name, void **slot);

/* Why LIB is unusable, or OTHERWISE when it was loaded (or never tried). */
const char *lazy_why(lazy_lib *lib, const char *otherwise);

/* FN, a pointer of the type of the header's prototype, set to NAME's address in LIB; the
 * enclosing stub returns FAIL (nothing for a void stub) when LIB or NAME is missing. */
#define LAZY_RESOLVE(lib, name, fn, ...)                                                           \
    do {                                                                                           \
        static void *slot;                                                                         \
        void *address = lazy_resolve(&(lib), name, &slot);                                         \
        if (address == NULL)                                                                       \
            return __VA_ARGS__;                                                                    \
        memcpy(&(fn), &address, sizeof(fn));                                                       \
    } while (0)

/* A stub with a result: FAIL when the library is missing. The function pointer's type is that of
 * the header's prototype, so a stub that does not match the library cannot compile. */
#define LAZY_FN(lib, ret, name, params, args, fail)                                                \
    ret name params                                                                                \
    {                                                                                              \
        __typeof__(&name) fn;                                                                      \
        LAZY_RESOLVE(lib, #name, fn, fail);                                                        \
        return fn args;                                                                            \
    }

#define LAZY_VOID(lib, name, params, args)                                                         \
    void name params                                                                               \
    {                                                                                              \
        __typeof__(&name) fn;                                                                      \
        LAZY_RESOLVE(lib, #name, fn);                                                              \
        fn args;                                                                                   \
    }

#endif
