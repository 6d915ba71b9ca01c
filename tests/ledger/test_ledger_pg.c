/* The PostgreSQL ledger store on a real server (test_ledger_pg.sh starts it): several processes
 * append concurrently and keep one chain; a changed byte and a deleted row are found with their
 * sequence numbers. usage: test_ledger_pg CONNINFO KEYFILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln_ledger_pg.h"
#include "tally_check.h"

#define WRITERS 3
#define EACH    40

static int writer(const char *conninfo, const kiln_pki_signer *key, int w)
{
    PGconn *c = PQconnectdb(conninfo);
    kiln_ledger *l = NULL;
    if (PQstatus(c) != CONNECTION_OK || kiln_ledger_open_pg(c, key, 7, &l) != KILN_LEDGER_OK) {
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < EACH; i++) {
        char endpoint[32];
        uint8_t hash[KILN_LEDGER_HASH_SIZE];
        memset(hash, w * EACH + i, sizeof(hash));
        snprintf(endpoint, sizeof(endpoint), "w%d-dev%02d", w, i);
        kiln_ledger_record r = {
            KILN_LEDGER_KIND_CERTIFICATE, endpoint, "01", hash, "ca", "st", "ok"};
        bad |= kiln_ledger_append(l, &r, NULL) != KILN_LEDGER_OK;
    }
    bad |= kiln_ledger_close(l) != KILN_LEDGER_OK;
    PQfinish(c);
    return bad;
}

static kiln_ledger_status verify(PGconn *c, const kiln_pki_signer *key, kiln_ledger_verdict *v)
{
    return kiln_ledger_verify_pg(c, kiln_pki_signer_point(key), v);
}

int main(int argc, char **argv)
{
    kiln_pki_signer *key = NULL;
    if (argc != 3 || kiln_ledger_key_open(argv[2], &key) != KILN_LEDGER_OK) {
        fprintf(stderr, "usage: test_ledger_pg CONNINFO KEYFILE\n");
        return 2;
    }
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK || kiln_ledger_pg_schema(c) != KILN_LEDGER_OK) {
        fprintf(stderr, "cannot reach PostgreSQL: %s\n", PQerrorMessage(c));
        return 1;
    }
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            _exit(writer(argv[1], key, w));
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int status = 1;
        waitpid(pids[w], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    kiln_ledger_verdict v;
    CHECK(verify(c, key, &v) == KILN_LEDGER_OK);
    CHECK(v.entries == WRITERS * EACH);
    CHECK(v.signed_seq == WRITERS * EACH);
    printf("concurrent: %llu entries, %llu checkpoints: %s\n", (unsigned long long)v.entries,
           (unsigned long long)v.checkpoints, v.detail);
    /* a byte of entry 50 changed */
    PQclear(PQexec(c, "UPDATE ledger SET serial = '02' WHERE seq = 50"));
    CHECK(verify(c, key, &v) == KILN_LEDGER_CHANGED);
    CHECK(v.seq == 50);
    printf("changed: %s\n", v.detail);
    PQclear(PQexec(c, "UPDATE ledger SET serial = '01' WHERE seq = 50"));
    CHECK(verify(c, key, &v) == KILN_LEDGER_OK);
    /* entry 30 deleted */
    PQclear(PQexec(c, "DELETE FROM ledger WHERE seq = 30"));
    CHECK(verify(c, key, &v) == KILN_LEDGER_MISSING);
    CHECK(v.seq == 30);
    printf("deleted: %s\n", v.detail);
    PQfinish(c);
    kiln_pki_signer_free(key);
    return failures ? 1 : 0;
}
