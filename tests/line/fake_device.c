/* A misbehaving device for the line tests: listens on a free loopback port (announced like
 * factory_client does), reads one complete request frame per connection and then does what the
 * mode says. Serves connections until killed.
 *
 * usage: fake_device silent | close | status N | replay FILE | corrupt FILE | half FILE */
#include "ftcd_frame.h"
#include "line_proc.h"

static void serve(int fd, const char *mode, const char *arg, const uint8_t *data, size_t len)
{
    ftcd_reader r;
    ftcd_reader_init(&r, FTCD_KIND_REQUEST, 0);
    uint8_t buf[8192];
    bool framed = false;
    while (!framed) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            ftcd_reader_free(&r);
            return;
        }
        size_t pos = 0;
        while (pos < (size_t)n && !framed) {
            size_t used = 0;
            ftcd_read_result res = ftcd_reader_feed(&r, buf + pos, (size_t)n - pos, &used);
            pos += used;
            if (res == FTCD_READ_FRAME) {
                ftcd_frame f;
                ftcd_reader_take(&r, &f);
                ftcd_frame_free(&f);
                framed = true;
            } else if (res == FTCD_READ_ERROR) {
                ftcd_reader_free(&r);
                return;
            }
        }
    }
    ftcd_reader_free(&r);
    if (strcmp(mode, "silent") == 0) {
        while (recv(fd, buf, sizeof(buf), 0) > 0) {
        }
    } else if (strcmp(mode, "status") == 0) {
        uint8_t frame[FTCD_STATUS_FRAME_SIZE];
        size_t n;
        ftcd_encode_response((uint32_t)atoi(arg), NULL, 0, frame, sizeof(frame), &n);
        send_all(fd, frame, n);
    } else if (strcmp(mode, "replay") == 0) {
        send_all(fd, data, len);
    } else if (strcmp(mode, "corrupt") == 0) {
        uint8_t *copy = malloc(len);
        memcpy(copy, data, len);
        copy[len - 1] ^= 0x01;
        send_all(fd, copy, len);
        free(copy);
    } else if (strcmp(mode, "half") == 0) {
        send_all(fd, data, len / 2);
    }
    /* "close" and everything else: close without (more) answer. */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fake_device MODE [ARG]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *mode = argv[1], *arg = argc > 2 ? argv[2] : "0";
    uint8_t *data = NULL;
    size_t len = 0;
    if (strcmp(mode, "replay") == 0 || strcmp(mode, "corrupt") == 0 || strcmp(mode, "half") == 0) {
        data = check_read_file(arg, &len);
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ls, 8) == 0);
    socklen_t sl = sizeof(sa);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    printf("Factory Client IP Address and Port : 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        serve(fd, mode, arg, data, len);
        close(fd);
    }
}
