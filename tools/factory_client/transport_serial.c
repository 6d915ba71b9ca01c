/* factory_client serial: the device listens on a serial line (or one side of a pseudo-terminal
 * pair). There is no connection to close on a serial line: after a rejected frame the device
 * answers with the status-only frame and keeps reading, so the tool can simply resend. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "fc.h"
#include "transport_link.h"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static bool baud_constant(uint32_t baud, speed_t *out)
{
    static const struct {
        uint32_t baud;
        speed_t constant;
    } table[] = {{9600, B9600},       {19200, B19200},     {38400, B38400},
                 {57600, B57600},     {115200, B115200},   {230400, B230400},
                 {460800, B460800},   {921600, B921600},   {1000000, B1000000},
                 {2000000, B2000000}, {3000000, B3000000}, {4000000, B4000000}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].baud == baud) {
            *out = table[i].constant;
            return true;
        }
    }
    return false;
}

static int open_serial(const char *path, speed_t speed)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "factory_client: cannot open serial port %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0) {
        fprintf(stderr, "factory_client: %s is not a serial port: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    cfsetispeed(&tio, speed);
    cfsetospeed(&tio, speed);
    if (tcsetattr(fd, TCSANOW, &tio) != 0) {
        fprintf(stderr, "factory_client: cannot configure %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int usage(void)
{
    fprintf(stderr, "usage: factory_client [globals] serial --port TTY [--baud B] "
                    "[--keep-storage] [--max-length BYTES] [--factory-trust FILE]\n");
    return 2;
}

int fc_cmd_serial(const fc_options *opt, int argc, char **argv)
{
    const char *port = NULL;
    uint32_t baud = 115200;
    fc_link_settings settings = {0};
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool bad = false;
        if (fc_link_common_option(argc, argv, &i, &settings, &bad)) {
            if (bad) {
                return 2;
            }
        } else if (fc_arg_value(argc, argv, &i, "--port", &value)) {
            port = value;
        } else if (fc_arg_value(argc, argv, &i, "--baud", &value)) {
            if (!fc_parse_u32(value, UINT32_MAX, &baud)) {
                return usage();
            }
        } else {
            fprintf(stderr, "factory_client: serial: unknown option %s\n", argv[i]);
            return usage();
        }
    }
    speed_t speed;
    if (port == NULL) {
        return usage();
    }
    if (!baud_constant(baud, &speed)) {
        fprintf(stderr, "factory_client: unsupported baud rate %u\n", baud);
        return 2;
    }
    if (opt->devices > 1) {
        fprintf(stderr, "factory_client: serial serves one device per port\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int fd = open_serial(port, speed);
    if (fd < 0) {
        return 1;
    }
    fc_link link;
    if (fc_link_open(&link, opt, 0, 1, &settings) != 0) {
        close(fd);
        return 1;
    }
    printf("Factory Client serial port : %s @ %u\n", port, baud);
    printf("Factory Client is waiting for incoming data...\n");
    fflush(stdout);
    fc_link_connection_begins(&link);

    uint8_t buf[4096];
    int rc = 1;
    while (!stop_requested) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        ssize_t got = read(fd, buf, sizeof(buf));
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        uint64_t rejected_before = link.rejected;
        fc_link_event ev =
            got > 0 ? fc_link_input(&link, buf, (size_t)got) : fc_link_end_of_stream(&link);
        if (fc_link_write_out(&link, fd) != 0) {
            fprintf(stderr, "factory_client: cannot write to %s: %s\n", port, strerror(errno));
        }
        if (got <= 0) {
            /* The other end of the line went away. */
            rc = link.sessions > 0 ? 0 : 1;
            break;
        }
        if (ev == FC_LINK_END_OK) {
            rc = 0;
            if (!opt->forever) {
                break;
            }
            fc_link_restart(&link);
            fc_link_connection_begins(&link);
        } else if (ev == FC_LINK_END_FAILED && link.rejected == rejected_before) {
            /* The device refused the bundle outright (factory disabled). */
            rc = 1;
            if (!opt->forever) {
                break;
            }
            fc_link_restart(&link);
            fc_link_connection_begins(&link);
        }
    }
    if (stop_requested && opt->forever) {
        rc = 0;
    }
    tcdrain(fd);
    close(fd);
    fc_link_stats stats = {0};
    fc_link_stats_add(&stats, &link);
    fc_link_stats_print(&stats, opt);
    fc_link_close(&link);
    return rc;
}
