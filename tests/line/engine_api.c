/* A factory's own tool on kiln_line alone, the way line_engine.h documents it: loads a device
 * list, provisions every device through line_engine_run and prints one line per device
 * ("ENDPOINT STATE STATUS TRIES CERT_SHA256"), then the totals. No factory_tool code.
 * usage: line_engine_api HOME_DIR DEVICES.csv RECORDS.db */
#include <stdio.h>
#include <stdlib.h>

#include "fcu/fcu.h"
#include "line_devices.h"
#include "line_engine.h"
#include "line_records.h"

typedef struct tally {
    int lines;
    int verified; /* successes whose answer the configurator checked */
} tally;

static void on_finished(void *user, line_engine *e, line_job *j)
{
    (void)e;
    tally *t = user;
    printf("%s %s %d %d %s\n", j->dev->endpoint, line_job_state(j), j->status, j->tries,
           j->identity.cert_sha256[0] ? j->identity.cert_sha256 : "-");
    t->lines++;
    t->verified += j->outcome == LINE_JOB_SUCCEEDED && j->has_response && j->response.status == 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s HOME_DIR DEVICES.csv RECORDS.db\n", argv[0]);
        return 2;
    }
    line_device_list list;
    char why[600];
    if (line_devices_load(argv[2], 1, &list, why, sizeof(why)) != 0) {
        fprintf(stderr, "%s\n", why);
        return 1;
    }
    fcu_options opts = {.home_dir = argv[1]};
    fcu *f = fcu_open(&opts);
    line_records *rec = line_records_open(argv[3], why, sizeof(why));
    if (f == NULL || rec == NULL) {
        fprintf(stderr, "cannot open the configurator or the records: %s\n", why);
        return 1;
    }
    tally t = {0, 0};
    line_engine e = {.mode = LINE_MODE_INJECT,
                     .fcu = f,
                     .records = rec,
                     .station = "api-test",
                     .parallel = 4,
                     .max_tries = 2,
                     .timeout = 10,
                     .backoff = 0.05,
                     .on_finished = on_finished,
                     .user = &t};
    int rc = line_engine_run(&e, list.items, list.count);
    printf("total %zu succeeded %zu failed %zu skipped %zu lines %d verified %d\n", e.njobs,
           e.succeeded, e.failed, e.skipped, t.lines, t.verified);
    line_records_close(rec);
    fcu_close(f);
    line_devices_free(&list);
    return rc == 0 ? 0 : 1;
}
