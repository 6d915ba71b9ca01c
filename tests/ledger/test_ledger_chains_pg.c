/* Named chains of the PostgreSQL ledger on a real server (test_ledger_pg.sh starts it): writers
 * own a chain each and never wait for one another, a rolled-back transaction leaves the chain
 * linked, a tampered entry is named with its chain, and the unsigned tail of a writer killed
 * with SIGKILL is signed by the next writer that opens. Writes the exports and the public key
 * next to KEYFILE for the script's offline check.
 * usage: test_ledger_chains_pg CONNINFO KEYFILE */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln_ledger_pg.h"
#include "tally_check.h"

#define EVERY     4
#define PROC_EACH 60

static const kiln_pki_signer *key;
static const char *conninfo;

static PGconn *connect_db(void)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot reach PostgreSQL: %s\n", PQerrorMessage(c));
        exit(1);
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static kiln_ledger_status add(kiln_ledger *l, int n, uint64_t *seq)
{
    char endpoint[48];
    uint8_t hash[KILN_LEDGER_HASH_SIZE];
    memset(hash, n & 0xff, sizeof(hash));
    snprintf(endpoint, sizeof(endpoint), "%s-dev%03d", kiln_ledger_chain(l), n);
    kiln_ledger_record r = {KILN_LEDGER_KIND_CERTIFICATE, endpoint, "01", hash, "ca", "st", "ok"};
    return kiln_ledger_append(l, &r, seq);
}

static void sql(PGconn *c, const char *text)
{
    PGresult *r = PQexec(c, text);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", text, PQerrorMessage(c));
        failures++;
    }
    PQclear(r);
}

static kiln_ledger_verdict verify(PGconn *c)
{
    kiln_ledger_verdict v;
    kiln_ledger_verify_pg(c, kiln_pki_signer_point(key), &v);
    printf("  verify: %s %s\n", kiln_ledger_status_name(v.status), v.detail);
    return v;
}

/* The two writer processes hold their chains at once: each says it opened (opened[1]), then
 * waits for the parent's go (go[0]), so neither can finish and free "proc" before the other
 * asked for it, however loaded the machine is. */
static int opened[2], go[2];

/* A writer process: PROC_EACH entries in transactions of three, on a chain of base's. */
static int proc_writer(void)
{
    PGconn *c = connect_db();
    kiln_ledger *l = NULL;
    char byte = 1;
    if (kiln_ledger_open_pg_chain(c, key, EVERY, "proc", &l) != KILN_LEDGER_OK ||
        write(opened[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 1) {
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < PROC_EACH; i++) {
        if (i % 3 == 0) {
            sql(c, "BEGIN");
        }
        bad |= add(l, i, NULL) != KILN_LEDGER_OK;
        if (i % 3 == 2) {
            sql(c, "COMMIT");
        }
    }
    bad |= kiln_ledger_close(l) != KILN_LEDGER_OK;
    PQfinish(c);
    return bad || failures;
}

/* Two writers asking for one name: the second gets NAME/2, and appends while the first holds
 * its transaction open (the single-chain ledger made it wait on the lock: lock_timeout). */
static void concurrent(PGconn *a, PGconn *b, kiln_ledger **la, kiln_ledger **lb)
{
    printf("two writers, one name:\n");
    CHECK(kiln_ledger_open_pg_chain(a, key, EVERY, "station", la) == KILN_LEDGER_OK);
    CHECK(kiln_ledger_open_pg_chain(b, key, EVERY, "station", lb) == KILN_LEDGER_OK);
    CHECK(strcmp(kiln_ledger_chain(*la), "station") == 0);
    CHECK(strcmp(kiln_ledger_chain(*lb), "station/2") == 0);
    sql(b, "SET lock_timeout = '3s'");
    sql(a, "BEGIN");
    for (int i = 0; i < 3; i++) {
        CHECK(add(*la, i, NULL) == KILN_LEDGER_OK);
    }
    int done = 0;
    for (int i = 0; i < 20; i++) {
        done += add(*lb, i, NULL) == KILN_LEDGER_OK;
    }
    CHECK_EQ(done, 20); /* while a's transaction, with three entries in it, is open */
    sql(a, "COMMIT");
    printf("  station/2 appended %d entries while station's transaction was open\n", done);
    /* two processes at once */
    pid_t pids[2];
    CHECK(pipe(opened) == 0 && pipe(go) == 0);
    for (int w = 0; w < 2; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            _exit(proc_writer());
        }
    }
    close(opened[1]); /* a child that dies before it opened ends the read below */
    char bytes[2] = {1, 1};
    CHECK(read(opened[0], bytes, 1) == 1 && read(opened[0], bytes + 1, 1) == 1);
    CHECK(write(go[1], bytes, 2) == 2);
    for (int w = 0; w < 2; w++) {
        int status = 1;
        waitpid(pids[w], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

/* Rolled-back transactions (told to the ledger or not, a savepoint) leave the chain linked. */
static void rollbacks(PGconn *a, PGconn *b, kiln_ledger *la, kiln_ledger *lb)
{
    printf("rollbacks:\n");
    uint64_t before = 0, after = 0, seq = 0;
    CHECK(add(la, 100, &before) == KILN_LEDGER_OK);
    sql(a, "BEGIN");
    for (int i = 0; i < 5; i++) { /* a checkpoint (every 4) inside, rolled back with them */
        CHECK(add(la, 101 + i, NULL) == KILN_LEDGER_OK);
    }
    sql(a, "ROLLBACK"); /* not told: the INSERT finds the head row gone */
    CHECK(add(la, 110, &after) == KILN_LEDGER_OK);
    CHECK_EQ(after, before + 1);
    CHECK(add(lb, 100, &before) == KILN_LEDGER_OK);
    sql(b, "BEGIN");
    CHECK(add(lb, 101, NULL) == KILN_LEDGER_OK);
    sql(b, "ROLLBACK");
    kiln_ledger_rolled_back(lb); /* told, as line_records_rollback and sf_db_rollback do */
    CHECK(add(lb, 102, &after) == KILN_LEDGER_OK);
    CHECK_EQ(after, before + 1);
    sql(b, "BEGIN");
    CHECK(add(lb, 103, &before) == KILN_LEDGER_OK);
    sql(b, "SAVEPOINT s");
    CHECK(add(lb, 104, NULL) == KILN_LEDGER_OK);
    sql(b, "ROLLBACK TO SAVEPOINT s");
    CHECK(add(lb, 105, &seq) == KILN_LEDGER_OK);
    sql(b, "COMMIT");
    CHECK_EQ(seq, before + 1);
    /* a rolled-back head is not signed when the writer closes */
    sql(a, "BEGIN");
    CHECK(add(la, 111, NULL) == KILN_LEDGER_OK);
    sql(a, "ROLLBACK");
    CHECK(kiln_ledger_checkpoint_now(la) == KILN_LEDGER_OK);
}

static long advisory_locks(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'");
    long n = PQresultStatus(r) == PGRES_TUPLES_OK ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return n;
}

/* A writer killed with SIGKILL leaves an unsigned tail; the next writer to open signs it, but
 * not the tail of a writer that is alive. */
static void killed(PGconn *c)
{
    printf("SIGKILL:\n");
    pid_t pid = fork();
    if (pid == 0) {
        PGconn *k = connect_db();
        kiln_ledger *l = NULL;
        if (kiln_ledger_open_pg_chain(k, key, 100, "doomed", &l) != KILN_LEDGER_OK) {
            _exit(1);
        }
        for (int i = 0; i < 6; i++) {
            if (add(l, i, NULL) != KILN_LEDGER_OK) {
                _exit(1);
            }
        }
        raise(SIGKILL);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* The server ends the dead client's session, and its lock, a moment after: no other
     * advisory lock is held now. */
    for (int i = 0; i < 200 && advisory_locks(c) != 0; i++) {
        usleep(50000);
    }
    CHECK_EQ(advisory_locks(c), 0);
    kiln_ledger_verdict v = verify(c);
    CHECK(v.status == KILN_LEDGER_UNSIGNED_TAIL && strcmp(v.chain, "doomed") == 0 && v.seq == 1);
    PGconn *live_conn = connect_db(), *next_conn = connect_db();
    kiln_ledger *live = NULL, *next = NULL;
    CHECK(kiln_ledger_open_pg_chain(live_conn, key, 100, "live", &live) == KILN_LEDGER_OK);
    CHECK(live != NULL && add(live, 1, NULL) == KILN_LEDGER_OK);
    CHECK(kiln_ledger_open_pg_chain(next_conn, key, 100, "next", &next) == KILN_LEDGER_OK);
    v = verify(c); /* doomed signed by next; live's writer still holds it */
    CHECK(v.status == KILN_LEDGER_UNSIGNED_TAIL && strcmp(v.chain, "live") == 0);
    CHECK(kiln_ledger_close(live) == KILN_LEDGER_OK);
    CHECK(kiln_ledger_close(next) == KILN_LEDGER_OK);
    PQfinish(live_conn);
    PQfinish(next_conn);
    v = verify(c);
    CHECK(v.status == KILN_LEDGER_OK);
}

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    CHECK(out != NULL && fwrite(data, 1, len, out) == len);
    if (out != NULL) {
        fclose(out);
    }
}

/* The exports verify on their own, with every chain. */
static void exports(PGconn *c, const char *dir, uint64_t chains)
{
    printf("exports:\n");
    kiln_ledger_format formats[] = {KILN_LEDGER_FORMAT_JSONL, KILN_LEDGER_FORMAT_CBOR};
    const char *names[] = {"chains.jsonl", "chains.cbor"};
    for (int i = 0; i < 2; i++) {
        char *data = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&data, &len);
        CHECK(kiln_ledger_export_pg(c, out, formats[i]) == KILN_LEDGER_OK);
        fclose(out);
        kiln_ledger_verdict v;
        kiln_ledger_verify_buffer((uint8_t *)data, len, kiln_pki_signer_point(key), &v);
        printf("  %s: %s %s\n", names[i], kiln_ledger_status_name(v.status), v.detail);
        CHECK(v.status == KILN_LEDGER_OK && v.chains == chains);
        write_file(dir, names[i], data, len);
        free(data);
    }
    char *pem = kiln_ledger_pubkey_pem(kiln_pki_signer_point(key));
    CHECK(pem != NULL);
    if (pem != NULL) {
        write_file(dir, "ledger.pub", pem, strlen(pem));
    }
    free(pem);
}

int main(int argc, char **argv)
{
    kiln_pki_signer *signer = NULL;
    if (argc != 3 || kiln_ledger_key_open(argv[2], &signer) != KILN_LEDGER_OK) {
        fprintf(stderr, "usage: test_ledger_chains_pg CONNINFO KEYFILE\n");
        return 2;
    }
    key = signer;
    conninfo = argv[1];
    char dir[512] = ".";
    const char *slash = strrchr(argv[2], '/');
    if (slash != NULL) {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - argv[2]), argv[2]);
    }
    PGconn *a = connect_db(), *b = connect_db(), *c = connect_db();
    CHECK(kiln_ledger_pg_schema(c) == KILN_LEDGER_OK);
    kiln_ledger *la = NULL, *lb = NULL;
    concurrent(a, b, &la, &lb);
    rollbacks(a, b, la, lb);
    CHECK(kiln_ledger_close(la) == KILN_LEDGER_OK);
    CHECK(kiln_ledger_close(lb) == KILN_LEDGER_OK);
    kiln_ledger_verdict v = verify(c);
    CHECK(v.status == KILN_LEDGER_OK && v.chains == 4); /* station, station/2, proc, proc/2 */
    /* a freed name is taken again and its chain goes on */
    CHECK(kiln_ledger_open_pg_chain(a, key, EVERY, "station", &la) == KILN_LEDGER_OK);
    CHECK(la != NULL && strcmp(kiln_ledger_chain(la), "station") == 0);
    CHECK(la != NULL && add(la, 200, NULL) == KILN_LEDGER_OK);
    CHECK(kiln_ledger_close(la) == KILN_LEDGER_OK);
    printf("tamper:\n");
    sql(c, "UPDATE ledger SET serial = 'tampered' WHERE chain = 'station/2' AND seq = 5");
    v = verify(c);
    CHECK(v.status == KILN_LEDGER_CHANGED && v.seq == 5 && strcmp(v.chain, "station/2") == 0);
    CHECK(strstr(v.detail, "chain station/2 seq 5: ") != NULL);
    sql(c, "UPDATE ledger SET serial = '01' WHERE chain = 'station/2' AND seq = 5");
    v = verify(c);
    CHECK(v.status == KILN_LEDGER_OK);
    killed(c);
    exports(c, dir, 6); /* and doomed, live (next appended nothing) */
    PQfinish(a);
    PQfinish(b);
    PQfinish(c);
    kiln_pki_signer_free(signer);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
