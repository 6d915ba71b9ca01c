/* A CPU budget for threads of this process: a cgroup v1 `cpu` group with a CFS quota
 * (cpu_budget.c). The replicas mode gives each service replica its own budget so that one
 * machine can show what a replica on a machine of its own adds. */
#ifndef KILN_BENCH_CPU_BUDGET_H
#define KILN_BENCH_CPU_BUDGET_H

typedef struct cpu_budget {
    char path[256];
    int made;
} cpu_budget;

/** Creates the group `name` limited to `cpus` CPUs (0.25 = a quarter of one). 0 on success;
 *  -1 with the reason in why when the machine has no writable cgroup v1 cpu controller. */
int cpu_budget_create(cpu_budget *b, const char *name, double cpus, char *why, int why_size);

/** Moves the calling thread into the group: the threads it creates from now on are in it too. */
int cpu_budget_enter(const cpu_budget *b);

/** Moves the calling thread back to the group it started in. */
int cpu_budget_leave(void);

/** Share of CFS periods in which the group ran out of its quota since it was created. */
double cpu_budget_throttled_share(const cpu_budget *b);

/** Removes the group (its threads must have ended). */
void cpu_budget_remove(cpu_budget *b);

#endif
