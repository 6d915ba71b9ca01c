#include "line_inject_one.h"

#include <stdio.h>
#include <string.h>

#include "line_conn.h"
#include "line_engine.h"
#include "line_errors.h"

typedef struct one_result {
    int status;
    int device_status;
    char *message;
    size_t message_size;
} one_result;

static void on_finished(void *user, line_engine *e, line_job *j)
{
    (void)e;
    one_result *r = user;
    r->status =
        j->outcome == LINE_JOB_SUCCEEDED ? 0 : (j->status != 0 ? j->status : LINE_E_GENERAL);
    r->device_status = j->device_status;
    snprintf(r->message, r->message_size, "%s", j->message);
}

int line_inject_one(fcu *f, const char *endpoint, const char *serial,
                    const char *device_keys_location, const char *address, double timeout,
                    int max_tries, int *device_status, char *message, size_t message_size)
{
    one_result r = {LINE_E_GENERAL, -1, message, message_size};
    snprintf(message, message_size, "General error on factory tool: the device was not reached");
    line_address parsed;
    if (f == NULL || endpoint == NULL || serial == NULL || address == NULL ||
        line_address_parse(address, &parsed, message, message_size) != 0) {
        *device_status = -1;
        return LINE_E_GENERAL;
    }
    line_device d = {.endpoint = (char *)endpoint,
                     .serial = (char *)serial,
                     .address = (char *)address,
                     .device_keys_location = (char *)device_keys_location};
    line_engine e = {.mode = LINE_MODE_INJECT,
                     .fcu = f,
                     .parallel = 1,
                     .max_tries = max_tries > 0 ? max_tries : 1,
                     .timeout = timeout > 0 ? timeout : 30,
                     .backoff = 0.2,
                     .reprovision = true,
                     .on_finished = on_finished,
                     .user = &r};
    if (line_engine_run(&e, &d, 1) != 0 && r.status == 0) {
        r.status = LINE_E_GENERAL;
    }
    *device_status = r.device_status;
    return r.status;
}
