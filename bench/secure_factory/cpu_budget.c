/* cgroup v1 `cpu` groups for the replicas bench (cpu_budget.h). A thread is moved by writing
 * its thread id to the group's `tasks` file; threads inherit the group of the thread that
 * creates them, so a replica started by a thread inside a group runs all its pool threads
 * there. */
#define _GNU_SOURCE
#include "cpu_budget.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CPU_ROOT  "/sys/fs/cgroup/cpu"
#define PERIOD_US 100000

static char start_group[256]; /* the calling thread's group before its first enter */

static int write_text(const char *dir, const char *file, const char *text)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int write_tid(const char *dir)
{
    char tid[32];
    snprintf(tid, sizeof(tid), "%ld\n", (long)syscall(SYS_gettid));
    return write_text(dir, "tasks", tid);
}

/* The cpu controller's line of /proc/thread-self/cgroup, e.g. "3:cpu,cpuacct:/user". */
static void remember_start_group(void)
{
    if (start_group[0] != '\0') {
        return;
    }
    snprintf(start_group, sizeof(start_group), "%s", CPU_ROOT);
    FILE *f = fopen("/proc/thread-self/cgroup", "r");
    char line[512];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *controllers = strchr(line, ':');
        char *group = controllers != NULL ? strchr(controllers + 1, ':') : NULL;
        if (group == NULL || strncmp(controllers + 1, "cpu", 3) != 0 ||
            (controllers[4] != ':' && controllers[4] != ',')) {
            continue;
        }
        group[1 + strcspn(group + 1, "\n")] = '\0';
        snprintf(start_group, sizeof(start_group), "%s%s", CPU_ROOT,
                 strcmp(group + 1, "/") == 0 ? "" : group + 1);
    }
    if (f != NULL) {
        fclose(f);
    }
}

int cpu_budget_create(cpu_budget *b, const char *name, double cpus, char *why, int why_size)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->path, sizeof(b->path), "%s/%s", CPU_ROOT, name);
    if (mkdir(b->path, 0755) != 0 && errno != EEXIST) {
        snprintf(why, (size_t)why_size, "cannot create %s: %s", b->path, strerror(errno));
        return -1;
    }
    b->made = 1;
    char quota[32];
    snprintf(quota, sizeof(quota), "%ld\n", (long)(cpus * PERIOD_US));
    if (write_text(b->path, "cpu.cfs_period_us", "100000\n") != 0 ||
        write_text(b->path, "cpu.cfs_quota_us", quota) != 0) {
        snprintf(why, (size_t)why_size, "cannot set the quota of %s", b->path);
        cpu_budget_remove(b);
        return -1;
    }
    remember_start_group();
    return 0;
}

int cpu_budget_enter(const cpu_budget *b)
{
    remember_start_group();
    return write_tid(b->path);
}

int cpu_budget_leave(void)
{
    return write_tid(start_group);
}

double cpu_budget_throttled_share(const cpu_budget *b)
{
    char path[320], key[64];
    snprintf(path, sizeof(path), "%s/cpu.stat", b->path);
    FILE *f = fopen(path, "r");
    long long value = 0, periods = 0, throttled = 0;
    while (f != NULL && fscanf(f, "%63s %lld", key, &value) == 2) {
        if (strcmp(key, "nr_periods") == 0) {
            periods = value;
        } else if (strcmp(key, "nr_throttled") == 0) {
            throttled = value;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return periods > 0 ? (double)throttled / (double)periods : 0;
}

void cpu_budget_remove(cpu_budget *b)
{
    if (b->made) {
        rmdir(b->path);
        b->made = 0;
    }
}
