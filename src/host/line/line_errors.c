#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kiln/status.h"
#include "kiln_status_table.h"
#include "line_errors.h"

const char *line_error_template(int code)
{
    return kiln_status_table_text(&status_table_line, code);
}

const char *line_error_name(int code)
{
    return kiln_status_table_name(&status_table_line, code);
}

void line_error_format(char *buf, size_t size, int code, const char *arg1, const char *arg2)
{
    line_error_format3(buf, size, code, arg1, arg2, NULL);
}

void line_error_format3(char *buf, size_t size, int code, const char *arg1, const char *arg2,
                        const char *arg3)
{
    const char *tpl = line_error_template(code);
    const char *args[3] = {arg1 ? arg1 : "", arg2 ? arg2 : "", arg3 ? arg3 : ""};
    size_t out = 0;
    int used = 0;
    if (size == 0) {
        return;
    }
    for (const char *p = tpl; *p != '\0' && out + 1 < size; p++) {
        if (p[0] == '%' && p[1] == 's' && used < 3) {
            const char *a = args[used++];
            size_t n = strlen(a);
            if (n > size - 1 - out) {
                n = size - 1 - out;
            }
            memcpy(buf + out, a, n);
            out += n;
            p++;
        } else {
            buf[out++] = *p;
        }
    }
    buf[out] = '\0';
}

int line_error_is_transport(int code)
{
    return code == LINE_E_DEVICE_COMMUNICATION || code == LINE_E_INVALID_CHECKSUM ||
           code == LINE_E_TOKEN_TIMEOUT || code == LINE_E_SERIAL_CONNECT ||
           code == LINE_E_SERIAL_READ || code == LINE_E_TCP_CONNECT || code == LINE_E_TCP_RECEIVE ||
           code == LINE_E_TCP_SEND;
}

void line_device_failure(char *buf, size_t size, int status, const char *device_text)
{
    char num[16];
    snprintf(num, sizeof(num), "%d", status);
    line_error_format(buf, size, LINE_E_DEVICE_EXECUTION, num, NULL);
    const char *text = device_text != NULL ? device_text : "";
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '.')) {
        n--;
    }
    bool bare = n == 0 || text[n - 1] == ':';
    size_t used = strlen(buf);
    snprintf(buf + used, size - used, ": %.*s%s%s", (int)n, text, n > 0 && bare ? " " : "",
             bare ? kiln_fcc_status_text(status) : "");
}
