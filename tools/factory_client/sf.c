/* factory_client sf HEX [--factory-trust FILE]: the simulated device answers one secure-factory
 * message (hex in, hex out on stdout). The trust file (factory_service's device-trust.pem, read by
 * sf_trust.c) gives the service public keys a firmware would hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc.h"
#include "kiln_sf.h"
#include "sf_trust.h"

#define MAX_MESSAGE (64 * 1024)

static void sf_usage(void)
{
    fprintf(stderr, "usage: factory_client --storage DIR sf HEX [--factory-trust FILE]\n");
}

int fc_cmd_sf(fc_options *opt, int argc, char **argv)
{
    fc_args args;
    int first = 0, exit_code = 0;
    if (!fc_command_options(opt, argc, argv, 0, sf_usage, &args, &first, &exit_code)) {
        return exit_code;
    }
    const char *hex = argc - first == 1 ? argv[first] : NULL;
    const char *trust_path = opt->factory_trust;
    if (hex == NULL) {
        sf_usage();
        return 2;
    }
    uint8_t *msg = malloc(MAX_MESSAGE);
    size_t msg_len = 0;
    if (msg == NULL) {
        return 1;
    }
    sf_status st = sf_hex_decode(hex, msg, MAX_MESSAGE, &msg_len);
    if (st != SF_OK) {
        fprintf(stderr, "factory_client: error %d: %s\n", (int)st, sf_status_text(st));
        free(msg);
        return 2;
    }
    fc_sf_trust trust;
    memset(&trust, 0, sizeof(trust));
    if (trust_path != NULL && fc_sf_trust_load(trust_path, &trust) != 0) {
        free(msg);
        return 2;
    }
    fc_device *d = fc_device_open(opt, 0);
    if (d == NULL) {
        fc_sf_trust_free(&trust);
        free(msg);
        return 1;
    }
    kiln_sf_trust table = fc_sf_trust_table(&trust);
    uint8_t answer[KILN_SF_ANSWER_MAX];
    size_t answer_len = 0;
    int fcc_status = 0;
    st = kiln_sf_handle_message(fc_device_kiln(d), &table, msg, msg_len, answer, sizeof(answer),
                                &answer_len, &fcc_status);
    fc_device_close(d);
    fc_sf_trust_free(&trust);
    free(msg);
    if (answer_len > 0) {
        char out[2 * KILN_SF_ANSWER_MAX + 1];
        sf_hex_encode(answer, answer_len, out);
        printf("%s\n", out);
    }
    if (st != SF_OK) {
        fprintf(stderr, "factory_client: sf: device error %d: %s\n", (int)st, sf_status_text(st));
        return 1;
    }
    if (fcc_status != 0) {
        fprintf(stderr, "factory_client: sf: configuration rejected, FCC status %d\n", fcc_status);
        return 1;
    }
    return 0;
}
