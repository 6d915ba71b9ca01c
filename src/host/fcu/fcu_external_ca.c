/* by_device certificates signed by a CA kiln does not hold (external-ca in fcu.yml, or
 * fcu_set_external_ca): a command reads the device's CSR as PEM on stdin and writes the device
 * certificate as PEM on stdout, optionally followed by its issuers. The command line is split
 * at blanks and started with posix_spawnp: no shell sees the CSR or the command. What comes
 * back is checked before any of it reaches a bundle: the CSR's key, the endpoint as CN, and a
 * chain that links. A CA that hangs must not hang the line: the command runs in a process
 * group of its own under a deadline (KILN_EXTERNAL_CA_TIMEOUT seconds, default 60), and the
 * whole group is killed when the deadline passes. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fcu_prepare.h"

extern char **environ;

#define EXTERNAL_CA_MAX_ARGS      32
#define EXTERNAL_CA_MAX_OUTPUT    (256 * 1024)
#define EXTERNAL_CA_TIMEOUT_S     60
#define EXTERNAL_CA_TIMEOUT_MAX_S 3600

/* argv of the command: words split at blanks, in buf (a copy of command). */
static int split_words(char *buf, char **argv)
{
    int n = 0;
    for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w != NULL;
         w = strtok_r(NULL, " \t", &save)) {
        if (n == EXTERNAL_CA_MAX_ARGS)
            return -1;
        argv[n++] = w;
    }
    argv[n] = NULL;
    return n;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left until deadline, 0 when it has passed. */
static int ms_left(double deadline)
{
    double left = deadline - now_s();
    return left > 0 ? (int)(left * 1000) + 1 : 0;
}

/* Everything the child writes before the deadline, at most EXTERNAL_CA_MAX_OUTPUT bytes
 * (NUL-terminated); *timed_out when the deadline came first. */
static char *read_all(int fd, double deadline, size_t *len, int *timed_out)
{
    char *out = malloc(EXTERNAL_CA_MAX_OUTPUT + 1);
    size_t n = 0;
    *timed_out = 0;
    while (out != NULL && n < EXTERNAL_CA_MAX_OUTPUT) {
        struct pollfd p = {fd, POLLIN, 0};
        int ready = poll(&p, 1, ms_left(deadline));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            *timed_out = 1;
            break;
        }
        ssize_t r = ready > 0 ? read(fd, out + n, EXTERNAL_CA_MAX_OUTPUT - n) : -1;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (out != NULL)
        out[n] = '\0';
    *len = n;
    return out;
}

/* The child's exit status; the group is killed if it has not exited by the deadline. */
static int wait_child(pid_t pid, double deadline, int *timed_out)
{
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, *timed_out ? 0 : WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return status;
        if (r == 0 && ms_left(deadline) == 0) {
            *timed_out = 1;
            kill(-pid, SIGKILL);
        } else if (r == 0) {
            struct timespec pause = {0, 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
}

/* KILN_EXTERNAL_CA_TIMEOUT: whole seconds, 1 to 3600; -1 when set to anything else. */
static int timeout_seconds(void)
{
    const char *env = getenv("KILN_EXTERNAL_CA_TIMEOUT");
    if (env == NULL || *env == '\0')
        return EXTERNAL_CA_TIMEOUT_S;
    char *end = NULL;
    long v = strtol(env, &end, 10);
    return *end == '\0' && v >= 1 && v <= EXTERNAL_CA_TIMEOUT_MAX_S ? (int)v : -1;
}

static char *csr_pem(X509_REQ *req)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *text = NULL, *data = NULL;
    if (b != NULL && PEM_write_bio_X509_REQ(b, req) == 1) {
        long n = BIO_get_mem_data(b, &data);
        text = n > 0 ? malloc((size_t)n + 1) : NULL;
        if (text != NULL) {
            memcpy(text, data, (size_t)n);
            text[n] = '\0';
        }
    }
    BIO_free(b);
    return text;
}

typedef struct child_io {
    int in[2], out[2];
} child_io;

static int spawn_child(char **argv, child_io *io, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    posix_spawn_file_actions_adddup2(&fa, io->in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, io->out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, io->in[1]);
    posix_spawn_file_actions_addclose(&fa, io->out[0]);
    posix_spawnattr_t attr; /* its own process group, so a timeout kills what it started too */
    int rc = posix_spawnattr_init(&attr);
    if (rc == 0) {
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);
        rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
    }
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? 0 : -1;
}

/* Writes the CSR, reads the answer and reaps the child, all before the deadline. */
static int talk_to_child(const char *name, pid_t pid, child_io *io, const char *input, int seconds,
                         char **out, size_t *out_len, char *why, size_t why_size)
{
    double deadline = now_s() + seconds;
    int timed_out = 0;
    void (*old)(int) = signal(SIGPIPE, SIG_IGN); /* a command that ignores stdin */
    write_all(io->in[1], input, strlen(input));  /* a CSR fits in the pipe: this cannot block */
    close(io->in[1]);
    io->in[1] = -1;
    *out = read_all(io->out[0], deadline, out_len, &timed_out);
    signal(SIGPIPE, old);
    if (timed_out)
        kill(-pid, SIGKILL);
    int status = wait_child(pid, deadline, &timed_out);
    if (timed_out) {
        snprintf(why, why_size,
                 "%s did not answer within %d s (KILN_EXTERNAL_CA_TIMEOUT) and was killed", name,
                 seconds);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || *out == NULL) {
        snprintf(why, why_size, "%s ended with %s %d", name,
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}

/* Runs the command with the CSR on stdin; its stdout in *out. why says what failed. */
static int run_command(const char *command, const char *input, char **out, size_t *out_len,
                       char *why, size_t why_size)
{
    char *buf = fcu__strdup(command);
    char *argv[EXTERNAL_CA_MAX_ARGS + 1];
    child_io io = {{-1, -1}, {-1, -1}};
    pid_t pid = -1;
    int rc = -1, seconds = timeout_seconds();
    *out = NULL;
    if (seconds < 0)
        snprintf(why, why_size, "KILN_EXTERNAL_CA_TIMEOUT must be whole seconds from 1 to %d",
                 EXTERNAL_CA_TIMEOUT_MAX_S);
    else if (buf == NULL || split_words(buf, argv) <= 0)
        snprintf(why, why_size, "the command is empty or has more than %d words",
                 EXTERNAL_CA_MAX_ARGS);
    else if (pipe(io.in) != 0 || pipe(io.out) != 0 || spawn_child(argv, &io, &pid) != 0)
        snprintf(why, why_size, "cannot start %s", argv[0]);
    else
        rc = 0;
    if (io.in[0] != -1)
        close(io.in[0]); /* the child's ends */
    if (io.out[1] != -1)
        close(io.out[1]);
    if (rc == 0)
        rc = talk_to_child(argv[0], pid, &io, input, seconds, out, out_len, why, why_size);
    if (io.in[1] != -1)
        close(io.in[1]);
    if (io.out[0] != -1)
        close(io.out[0]);
    free(buf);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static STACK_OF(X509) * parse_chain(const char *pem, size_t len)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x;
    while (chain != NULL && b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_num(chain) == FCC_MAX_CHAIN_LENGTH || sk_X509_push(chain, x) <= 0) {
            X509_free(x);
            sk_X509_pop_free(chain, X509_free);
            chain = NULL;
        }
    }
    ERR_clear_error();
    BIO_free(b);
    if (chain != NULL && sk_X509_num(chain) == 0) {
        sk_X509_free(chain);
        chain = NULL;
    }
    return chain;
}

/* The answer must certify the CSR's key for the endpoint, each certificate signed by the next. */
static const char *chain_problem(STACK_OF(X509) * chain, EVP_PKEY *csr_key, const char *endpoint)
{
    X509 *leaf = sk_X509_value(chain, 0);
    if (EVP_PKEY_eq(X509_get0_pubkey(leaf), csr_key) != 1)
        return "the certificate is not for the key of the device's CSR";
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
    if (strcmp(cn, endpoint) != 0)
        return "the certificate's CN is not the endpoint name";
    for (int i = 0; i + 1 < sk_X509_num(chain); i++) {
        EVP_PKEY *issuer = X509_get0_pubkey(sk_X509_value(chain, i + 1));
        if (issuer == NULL || X509_verify(sk_X509_value(chain, i), issuer) != 1)
            return "a certificate is not signed by the one after it";
    }
    return NULL;
}

int fcu__external_ca_check_answer(const char *answer, size_t answer_len, EVP_PKEY *csr_key,
                                  const char *endpoint, fcu_device_creds *c, fcu_error *err)
{
    STACK_OF(X509) *chain =
        answer_len <= EXTERNAL_CA_MAX_OUTPUT ? parse_chain(answer, answer_len) : NULL;
    int rc = 0;
    const char *problem = chain == NULL ? "no PEM certificate on its output (at most 5)"
                                        : chain_problem(chain, csr_key, endpoint);
    if (problem == NULL) {
        for (int i = 0; i < sk_X509_num(chain) && rc == 0; i++) {
            rc = fcu__x509_der(sk_X509_value(chain, i), &c->ders[i], &c->der_lens[i]);
            c->nders = rc == 0 ? i + 1 : c->nders;
        }
        problem = rc == 0 ? NULL : "cannot encode the certificate";
    }
    sk_X509_pop_free(chain, X509_free);
    ERR_clear_error();
    return problem == NULL ? 0 : fcu__fail(err, FCU_STATUS_EXTERNAL_CA_ANSWER, problem);
}

int fcu__external_ca_sign(const char *command, X509_REQ *req, const char *endpoint,
                          fcu_device_creds *c, fcu_error *err)
{
    char why[512] = "";
    char *pem = csr_pem(req), *answer = NULL;
    size_t answer_len = 0;
    int rc = pem != NULL ? run_command(command, pem, &answer, &answer_len, why, sizeof(why)) : -1;
    free(pem);
    if (rc != 0)
        return fcu__fail(err, FCU_STATUS_EXTERNAL_CA_FAILED, why[0] ? why : "out of memory");
    rc = fcu__external_ca_check_answer(answer, answer_len, X509_REQ_get0_pubkey(req), endpoint, c,
                                       err);
    free(answer);
    return rc;
}
