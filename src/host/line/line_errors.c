#include <stddef.h>
#include <stdio.h>
#include <string.h>

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
    const char *tpl = line_error_template(code);
    const char *args[2] = {arg1 ? arg1 : "", arg2 ? arg2 : ""};
    size_t out = 0;
    int used = 0;
    if (size == 0) {
        return;
    }
    for (const char *p = tpl; *p != '\0' && out + 1 < size; p++) {
        if (p[0] == '%' && p[1] == 's' && used < 2) {
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
