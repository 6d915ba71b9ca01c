/* A customer's program against the installed configurator: set up a CA in HOME, prepare one
 * device's bundle into OUT and print the layout facts the Python binding relies on. */
#include <stdio.h>
#include <stdlib.h>

#include <fcu/fcu.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: use_fcu HOME OUT\n");
        return 2;
    }
    fcu_options opts = {.home_dir = argv[1]};
    fcu *f = fcu_open(&opts);
    fcu_setup_status setup;
    int rc = fcu_setup(f, false, &setup);
    if (rc != 0) {
        fprintf(stderr, "setup: %d %s\n", rc,
                setup.errors.count ? setup.errors.items[0].message : "");
        return 1;
    }
    fcu_setup_status_free(&setup);
    fcu_device_request req;
    rc = fcu_prepare_device_configuration(f, "c-ep-1", "C-SN-1", NULL, &req);
    if (rc != 0) {
        fprintf(stderr, "prepare: %d %s\n", rc,
                req.errors.count ? req.errors.items[0].message : "");
        return 1;
    }
    FILE *out = fopen(argv[2], "wb");
    if (!out || fwrite(req.config_data, 1, req.config_size, out) != req.config_size || fclose(out))
        return 1;
    fcu_device_request_free(&req);
    fcu_close(f);
    printf("sizeof fcu_setup_status %zu fcu_device_request %zu fcu_device_response_status %zu\n",
           sizeof(fcu_setup_status), sizeof(fcu_device_request),
           sizeof(fcu_device_response_status));
    return 0;
}
