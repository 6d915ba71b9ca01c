/* libmicrohttpd, loaded at the first call (kiln_lazy.h). */
#include <stdarg.h>
#include <string.h>

#include <microhttpd.h>

#include "kiln_lazy.h"

#define MHD_FN(ret, name, params, args, fail)                                                      \
    LAZY_FN(lazy_libmicrohttpd, ret, name, params, args, fail)
#define MHD_VOID(name, params, args) LAZY_VOID(lazy_libmicrohttpd, name, params, args)

/* Entry points: without the library no daemon starts and no response is made. */
struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    __typeof__(&MHD_start_daemon_va) fn;
    LAZY_RESOLVE(lazy_libmicrohttpd, "MHD_start_daemon_va", fn, NULL);
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = fn(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}

MHD_FN(struct MHD_Response *, MHD_create_response_from_buffer,
       (size_t size, void *buffer, enum MHD_ResponseMemoryMode mode), (size, buffer, mode), NULL)
MHD_VOID(MHD_destroy_response, (struct MHD_Response * response), (response))
MHD_FN(enum MHD_Result, MHD_add_response_header,
       (struct MHD_Response * response, const char *header, const char *content),
       (response, header, content), MHD_NO)

/* Reached only through a daemon or one of its connections. */
MHD_VOID(MHD_stop_daemon, (struct MHD_Daemon * daemon), (daemon))
MHD_FN(enum MHD_Result, MHD_add_connection,
       (struct MHD_Daemon * daemon, MHD_socket client_socket, const struct sockaddr *addr,
        socklen_t addrlen),
       (daemon, client_socket, addr, addrlen), MHD_NO)
MHD_FN(enum MHD_Result, MHD_queue_response,
       (struct MHD_Connection * connection, unsigned int status_code,
        struct MHD_Response *response),
       (connection, status_code, response), MHD_NO)

/* The info queries kiln makes take no argument after the info type (microhttpd.h: those that
 * did are obsolete). */
const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *connection,
                                                        enum MHD_ConnectionInfoType info_type, ...)
{
    __typeof__(&MHD_get_connection_info) fn;
    LAZY_RESOLVE(lazy_libmicrohttpd, "MHD_get_connection_info", fn, NULL);
    return fn(connection, info_type);
}

const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *daemon,
                                                enum MHD_DaemonInfoType info_type, ...)
{
    __typeof__(&MHD_get_daemon_info) fn;
    LAZY_RESOLVE(lazy_libmicrohttpd, "MHD_get_daemon_info", fn, NULL);
    return fn(daemon, info_type);
}
