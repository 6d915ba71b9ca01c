/* by_device certificates signed by a CA kiln does not hold (external-ca in fcu.yml, or
 * fcu_set_external_ca): a command reads the device's CSR as PEM on stdin and writes the device
 * certificate as PEM on stdout, optionally followed by its issuers. The command line is split
 * at blanks and started with posix_spawnp: no shell sees the CSR or the command. What comes
 * back is checked before any of it reaches a bundle: the CSR's key, the endpoint as CN, and a
 * chain that links. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fcu_prepare.h"

extern char **environ;

#define EXTERNAL_CA_MAX_ARGS   32
#define EXTERNAL_CA_MAX_OUTPUT (256 * 1024)

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

/* Everything the child writes, at most EXTERNAL_CA_MAX_OUTPUT bytes (NUL-terminated). */
static char *read_all(int fd, size_t *len)
{
    char *out = malloc(EXTERNAL_CA_MAX_OUTPUT + 1);
    size_t n = 0;
    while (out != NULL && n < EXTERNAL_CA_MAX_OUTPUT) {
        ssize_t r = read(fd, out + n, EXTERNAL_CA_MAX_OUTPUT - n);
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
    int rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? 0 : -1;
}

/* Runs the command with the CSR on stdin; its stdout in *out. why says what failed. */
static int run_command(const char *command, const char *input, char **out, size_t *out_len,
                       char *why, size_t why_size)
{
    char *buf = fcu__strdup(command);
    char *argv[EXTERNAL_CA_MAX_ARGS + 1];
    child_io io = {{-1, -1}, {-1, -1}};
    pid_t pid = -1;
    int rc = -1;
    *out = NULL;
    if (buf == NULL || split_words(buf, argv) <= 0)
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
    if (rc == 0) {
        void (*old)(int) = signal(SIGPIPE, SIG_IGN); /* a command that ignores stdin */
        write_all(io.in[1], input, strlen(input));
        close(io.in[1]);
        io.in[1] = -1;
        *out = read_all(io.out[0], out_len);
        signal(SIGPIPE, old);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || *out == NULL) {
            snprintf(why, why_size, "%s ended with %s %d", argv[0],
                     WIFEXITED(status) ? "exit status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            rc = -1;
        }
    }
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
    STACK_OF(X509) *chain = parse_chain(answer, answer_len);
    free(answer);
    const char *problem = chain == NULL ? "no PEM certificate on its output (at most 5)"
                                        : chain_problem(chain, X509_REQ_get0_pubkey(req), endpoint);
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
