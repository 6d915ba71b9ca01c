/* The engine's records turns and start order from a program of its own (line_engine.h):
 * prints "turn K" after each turn that reported K devices (on_turn), "done EP" for each device,
 * then the totals. The started rows' ids in the records give the order the jobs started in.
 * usage: line_engine_turns HOME_DIR DEVICES.csv RECORDS.db PARALLEL */
#include <stdio.h>
#include <stdlib.h>

#include "fcu/fcu.h"
#include "line_devices.h"
#include "line_engine.h"
#include "line_records.h"

typedef struct tally {
    int reported; /* since the last turn */
    int turns;
} tally;

static void on_finished(void *user, line_engine *e, line_job *j)
{
    (void)e;
    tally *t = user;
    printf("done %s %s\n", j->dev->endpoint, line_job_state(j));
    t->reported++;
}

static void on_turn(void *user)
{
    tally *t = user;
    printf("turn %d\n", t->reported);
    t->reported = 0;
    t->turns++;
}

int main(int argc, char **argv)
{
    if (argc != 5 || atoi(argv[4]) < 1) {
        fprintf(stderr, "usage: %s HOME_DIR DEVICES.csv RECORDS.db PARALLEL\n", argv[0]);
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
                     .station = "turns-test",
                     .parallel = atoi(argv[4]),
                     .max_tries = 1,
                     .timeout = 20,
                     .backoff = 0.05,
                     .on_finished = on_finished,
                     .on_turn = on_turn,
                     .user = &t};
    int rc = line_engine_run(&e, list.items, list.count);
    printf("total %zu succeeded %zu failed %zu turns %d\n", e.njobs, e.succeeded, e.failed,
           t.turns);
    line_records_close(rec);
    fcu_close(f);
    line_devices_free(&list);
    return rc == 0 ? 0 : 1;
}
