/* The directory store: a commit is atomic whatever step of it a crash interrupts.
 *
 * Each case runs the real commit code in a child process that ends itself (_exit) at one step
 * of the commit (the store's crash hook); the parent then reopens the directory, as a restarted
 * device would, and checks it holds exactly the old state or exactly the new one (also when the
 * value being written in place at the crash is torn). */
#include "kiln/port_linux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define COMPLETED 3 /* the child's exit status when the commit ran to its end */

static int crash_at;

static void crash_hook(int step)
{
    if (step == crash_at) {
        _exit(0);
    }
}

static void put_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fputs(content, f);
        fclose(f);
    }
}

static int file_exists(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static int value_is(kiln_dir_kv *kv, const char *key, const char *want)
{
    uint8_t buf[64];
    size_t len = 0;
    int rc = kv->backend.get(kv->backend.ctx, key, buf, sizeof(buf), &len);
    if (want == NULL) {
        return rc == KILN_KV_NOT_FOUND;
    }
    return rc == KILN_KV_OK && len == strlen(want) && memcmp(buf, want, len) == 0;
}

static int count_keys(void *arg, const char *key, size_t len)
{
    (void)key;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

static void remove_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static const kiln_kv_op old_state[] = {{"a", (const uint8_t *)"one", 3},
                                       {"b", (const uint8_t *)"two", 3}};
static const kiln_kv_op change[] = {
    {"a", (const uint8_t *)"NEW", 3}, {"c", (const uint8_t *)"NEW", 3}, {"b", NULL, 0}};

/* One crash case; returns 1 when the commit ran to its end without reaching the step. */
static int crash_case(int step)
{
    char dir[] = "/tmp/kiln-dirkv-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        failures++;
        return 1;
    }
    kiln_dir_kv kv;
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_OK);
    CHECK(kv.backend.commit(kv.backend.ctx, old_state, 2) == KILN_KV_OK);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        kiln_dir_kv child;
        if (kiln_dir_kv_open(&child, dir) != KILN_KV_OK) {
            _exit(1);
        }
        crash_at = step;
        child.crash_hook = crash_hook;
        int rc = child.backend.commit(child.backend.ctx, change, 3);
        _exit(rc == KILN_KV_OK ? COMPLETED : 2);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    int code = WEXITSTATUS(status);
    CHECK(code == 0 || code == COMPLETED);
    if (step == 100) {
        /* Values are written in place: the next one may be torn by the same crash. The
         * journal, still there, writes it again in full on open. */
        put_file(dir, "c.v", "N");
    }

    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_OK);
    int is_old = value_is(&kv, "a", "one") && value_is(&kv, "b", "two") && value_is(&kv, "c", NULL);
    int is_new = value_is(&kv, "a", "NEW") && value_is(&kv, "b", NULL) && value_is(&kv, "c", "NEW");
    if (!(is_old || is_new)) {
        fprintf(stderr, "crash at step %d left a mixed state\n", step);
        failures++;
    }
    /* Steps from 2 on come after the journal's rename, the commit point. */
    if (step >= 2 && !is_new) {
        fprintf(stderr, "crash at step %d lost a committed change\n", step);
        failures++;
    }
    if (step == 1 && !is_old) {
        fprintf(stderr, "crash before the commit point kept the change\n");
        failures++;
    }
    CHECK(!file_exists(dir, "journal") && !file_exists(dir, "journal.tmp"));
    CHECK(!file_exists(dir, "a.t") && !file_exists(dir, "c.t"));
    remove_dir(dir);
    return code == COMPLETED;
}

int main(void)
{
    char dir[] = "/tmp/kiln-dirkv-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    kiln_dir_kv kv;
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_OK);
    CHECK(kv.backend.commit(kv.backend.ctx, old_state, 2) == KILN_KV_OK);
    CHECK(value_is(&kv, "a", "one") && value_is(&kv, "b", "two"));
    kiln_kv_op bad[] = {{"../x", (const uint8_t *)"x", 1}};
    CHECK(kv.backend.commit(kv.backend.ctx, bad, 1) == KILN_KV_INVALID);
    /* A key that would be a hidden file is refused (it could be stored but never listed);
     * a dot inside a key is fine. */
    kiln_kv_op hidden[] = {{"..v", (const uint8_t *)"x", 1}};
    CHECK(kv.backend.commit(kv.backend.ctx, hidden, 1) == KILN_KV_INVALID);
    kiln_kv_op dotted[] = {{"c.d", (const uint8_t *)"three", 5}};
    CHECK(kv.backend.commit(kv.backend.ctx, dotted, 1) == KILN_KV_OK &&
          value_is(&kv, "c.d", "three"));

    /* Leftovers of a commit that never reached its commit point are removed on open. */
    put_file(dir, "a.t", "NEW");
    put_file(dir, "journal.tmp", "KLNJ");
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_OK);
    CHECK(value_is(&kv, "a", "one") && !file_exists(dir, "a.t") &&
          !file_exists(dir, "journal.tmp"));

    /* A damaged journal is reported, and nothing is applied from it. */
    put_file(dir, "journal", "KLNJ\x01garbage");
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_CORRUPT);
    char journal[600];
    snprintf(journal, sizeof(journal), "%s/journal", dir);
    CHECK(unlink(journal) == 0);
    /* A well-formed first operation followed by a torn one: still nothing applied. */
    static const uint8_t torn[] = {'K', 'L', 'N', 'J', 0,   0,   0,   2,   'P', 1,  'a',
                                   0,   0,   0,   3,   'B', 'A', 'D', 'P', 5,   'x'};
    FILE *f = fopen(journal, "wb");
    CHECK(f != NULL && fwrite(torn, 1, sizeof(torn), f) == sizeof(torn) && fclose(f) == 0);
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_CORRUPT);
    CHECK(unlink(journal) == 0);
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_OK);
    CHECK(value_is(&kv, "a", "one") && value_is(&kv, "b", "two"));

    CHECK(kv.backend.wipe(kv.backend.ctx) == KILN_KV_OK);
    int n = 0;
    kv.backend.list(kv.backend.ctx, count_keys, &n);
    CHECK(n == 0);
    remove_dir(dir);

    /* Every step of a commit: 1 journal written, 2 renamed (commit point), 3 directory synced,
     * 100+i operation i applied, 200 synced before the journal is retired. */
    static const int steps[] = {1, 2, 3, 100, 101, 102, 200, 999};
    int cases = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int completed = crash_case(steps[i]);
        CHECK(completed == (steps[i] == 999));
        cases++;
    }
    printf("dir_kv: %d crash points, %d failures\n", cases, failures);
    return failures ? 1 : 0;
}
