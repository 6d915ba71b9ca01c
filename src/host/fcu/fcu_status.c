/* Status texts, notice lists and small helpers shared by the FCU modules. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcu_internal.h"
#include "kiln_status_table.h"

#ifdef FCU_TEST_HOOKS
int fcu__fail_point;
#endif

const char *fcu_status_template(int status)
{
    return kiln_status_table_text(&status_table_fcu, status);
}

const char *fcu_status_name(int status)
{
    return kiln_status_table_name(&status_table_fcu, status);
}

/* Fills the template of code: each "%s" takes the next argument (NULL-terminated list is not
 * needed: the template says how many it takes). Literal '%' never occurs in templates. */
static void format_template(char *out, size_t size, int code, va_list ap)
{
    const char *t = fcu_status_template(code);
    size_t n = 0;
    for (; *t && n + 1 < size; t++) {
        if (t[0] == '%' && t[1] == 's') {
            const char *arg = va_arg(ap, const char *);
            if (!arg)
                arg = "";
            size_t alen = strlen(arg);
            if (alen > size - 1 - n)
                alen = size - 1 - n;
            memcpy(out + n, arg, alen);
            n += alen;
            t++;
        } else {
            out[n++] = *t;
        }
    }
    out[n] = '\0';
}

static void list_push(fcu_notice_list *list, int code, char *message)
{
    if (!message)
        return;
    fcu_notice *items = realloc(list->items, (list->count + 1) * sizeof(*items));
    if (!items) {
        free(message);
        return;
    }
    list->items = items;
    list->items[list->count].code = code;
    list->items[list->count].message = message;
    list->count++;
}

void fcu__notice_add_text(fcu_notice_list *list, int code, const char *text)
{
    list_push(list, code, fcu__strdup(text));
}

void fcu__notice_list_free(fcu_notice_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].message);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* The first failure of a call wins: what fails after it is a consequence, and the user is
 * told about the cause. */
static int fail_v(fcu_error *err, const char *detail, int code, va_list ap)
{
    if (err->code != 0)
        return err->code;
    format_template(err->message, sizeof(err->message), code, ap);
    err->code = code;
    if (detail && *detail) {
        size_t n = strlen(err->message);
        snprintf(err->message + n, sizeof(err->message) - n, " (%s)", detail);
    }
    return code;
}

int fcu__fail(fcu_error *err, int code, ...)
{
    va_list ap;
    va_start(ap, code);
    int rc = fail_v(err, NULL, code, ap);
    va_end(ap);
    return rc;
}

int fcu__fail_detail(fcu_error *err, const char *detail, int code, ...)
{
    va_list ap;
    va_start(ap, code);
    int rc = fail_v(err, detail, code, ap);
    va_end(ap);
    return rc;
}

char *fcu__strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *fcu__path_join(const char *dir, const char *name)
{
    if (!dir || !*dir || name[0] == '/')
        return fcu__strdup(name);
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dir[dl - 1] == '/';
    char *p = malloc(dl + nl + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    if (!slash)
        p[dl++] = '/';
    memcpy(p + dl, name, nl + 1);
    return p;
}

int fcu__read_file(const char *path, uint8_t **data, size_t *len)
{
    return fcu__read_file_mode(path, data, len, NULL);
}

int fcu__read_file_mode(const char *path, uint8_t **data, size_t *len, mode_t *mode)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 16 * 1024 * 1024) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : EFBIG;
        close(fd);
        return e;
    }
    if (mode)
        *mode = st.st_mode;
    size_t cap = (size_t)st.st_size + 1;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return ENOMEM;
    }
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == (size_t)st.st_size && st.st_size > 0)
            break; /* a file growing meanwhile is read as it was when opened */
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}
