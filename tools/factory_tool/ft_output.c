/* Helpers shared by every factory_tool command: logging, the final result, files. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fcu/fcu.h"
#include "ft.h"

void ft_log(const ft_globals *g, int level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (g->verbose >= level)
        fprintf(stderr, "factory_tool: %s\n", line);
    if (g->log_file) {
        FILE *f = fopen(g->log_file, "a");
        if (f) {
            char stamp[32];
            time_t now = time(NULL);
            struct tm tm;
            gmtime_r(&now, &tm);
            strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
            fprintf(f, "%s %s\n", stamp, line);
            fclose(f);
        }
    }
}

int ft_print_result(const ft_globals *g, int status, const char *message, json_t *device_response,
                    json_t *extra)
{
    if (!message)
        message = status == 0 ? FT_SUCCESS_MESSAGE : "Command failed";
    ft_log(g, 1, "result %d: %s", status, message);
    if (g->json) {
        json_t *root = json_object();
        json_object_set_new(root, "status", json_integer(status));
        json_object_set_new(root, "message", json_string(message));
        if (device_response)
            json_object_set(root, "deviceResponse", device_response);
        if (extra && json_is_object(extra))
            json_object_update(root, extra);
        char *text = json_dumps(root, JSON_PRESERVE_ORDER);
        if (text) {
            printf("%s\n", text);
            free(text);
        }
        json_decref(root);
    } else if (status == 0) {
        printf("%s\n", message);
    } else {
        fprintf(stderr, "error %d: %s\n", status, message);
    }
    json_decref(device_response);
    json_decref(extra);
    fflush(stdout);
    return status == 0 ? FT_EXIT_OK : FT_EXIT_FAILED;
}

json_t *ft_device_response_json(const struct fcu_device_response_status *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_integer(s->status));
    json_object_set_new(o, "message", s->message ? json_string(s->message) : json_null());
    json_t *w = json_array();
    for (size_t i = 0; i < s->warnings.count; i++)
        json_array_append_new(w, json_string(s->warnings.items[i].message));
    json_object_set_new(o, "warnings", w);
    if (s->errors.count) {
        json_t *e = json_array();
        for (size_t i = 0; i < s->errors.count; i++) {
            json_t *item = json_object();
            json_object_set_new(item, "code", json_integer(s->errors.items[i].code));
            json_object_set_new(item, "message", json_string(s->errors.items[i].message));
            json_array_append_new(e, item);
        }
        json_object_set_new(o, "errors", e);
    }
    return o;
}
