/* factory_client file: the device reads request frames from a file (as written by
 * `factory_tool inject ... to_file` or `write`) and writes its response frames to another. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fc.h"
#include "transport_link.h"

static int usage(void)
{
    fprintf(stderr, "usage: factory_client [globals] file --input IN --output OUT "
                    "[--keep-storage] [--max-length BYTES] [--factory-trust FILE]\n");
    return 2;
}

int fc_cmd_file(const fc_options *opt, int argc, char **argv)
{
    const char *input = NULL, *output = NULL;
    fc_link_settings settings = {0};
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool bad = false;
        if (fc_link_common_option(argc, argv, &i, &settings, &bad)) {
            if (bad) {
                return 2;
            }
        } else if (fc_arg_value(argc, argv, &i, "--input", &value)) {
            input = value;
        } else if (fc_arg_value(argc, argv, &i, "--output", &value)) {
            output = value;
        } else {
            fprintf(stderr, "factory_client: file: unknown option %s\n", argv[i]);
            return usage();
        }
    }
    if (input == NULL || output == NULL) {
        return usage();
    }
    int in = open(input, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        fprintf(stderr, "factory_client: cannot open %s: %s\n", input, strerror(errno));
        return 1;
    }
    fc_link link;
    if (fc_link_open(&link, opt, 0, 1, &settings) != 0) {
        close(in);
        return 1;
    }
    int out = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        fprintf(stderr, "factory_client: cannot create %s: %s\n", output, strerror(errno));
        close(in);
        fc_link_close(&link);
        return 1;
    }
    fc_link_connection_begins(&link);
    uint8_t buf[65536];
    fc_link_event ev = FC_LINK_CONTINUE;
    int rc = 0;
    while (ev == FC_LINK_CONTINUE) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fprintf(stderr, "factory_client: cannot read %s: %s\n", input, strerror(errno));
            rc = 1;
            break;
        }
        ev = n == 0 ? fc_link_end_of_stream(&link) : fc_link_input(&link, buf, (size_t)n);
        if (fc_link_write_out(&link, out) != 0) {
            fprintf(stderr, "factory_client: cannot write %s: %s\n", output, strerror(errno));
            rc = 1;
            break;
        }
        if (n == 0) {
            break;
        }
    }
    if (ev == FC_LINK_END_FAILED || (ev == FC_LINK_CLOSE && link.rejected > 0)) {
        rc = 1;
    }
    if (close(out) != 0) {
        rc = 1;
    }
    close(in);
    fc_link_stats stats = {0};
    fc_link_stats_add(&stats, &link);
    fc_link_stats_print(&stats, opt);
    fc_link_close(&link);
    return rc;
}
