/* factory_client tcp | serial | file: simulated devices serving the factory tool through the
 * device library's FTCD listener (src/device/ftcd) and its Linux adapters (src/device/port/
 * linux/ftcd_*.c). This file only sets the devices up and prints what the listener reports. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fc.h"
#include "fcc_bundle_fields.h"
#include "kiln/ftcd.h"
#include "kiln/ftcd_linux.h"
#include "kiln_sf.h"
#include "sf_trust.h"

#define FC_TCP_DEFAULT_PORT 7777
/* Room for one answer frame; bundle answers are a few KiB. */
#define FC_OUTPUT_SIZE (128u * 1024u)
/* At most this many serving processes (--threads). */
#define FC_MAX_SLICES 256

/* One simulated device on a transport. */
typedef struct fc_station {
    int index;
    char label[24]; /* log prefix ("" for a single device, "[dev 3] " otherwise) */
    const fc_options *opt;
    fc_device *dev;
    kiln_ftcd_listener listener;
    uint8_t *request, *output;
    bool flow_started; /* "Factory flow begins..." printed for this run */
    bool tcp;          /* a restart waits for a new connection */
    double handling_since, device_seconds;
    fc_fault_rng rng; /* --faults: this device's own random source */
} fc_station;

/* What every transport command shares. */
typedef struct fc_serve {
    fc_options *opt;
    fc_args args;
    fc_sf_trust trust;
    kiln_sf_trust table;
    fc_station *stations;
    int count, opened;
    int first;              /* this process serves stations first..first+opened-1 (tcp split) */
    kiln_ftcd_stats others; /* what the other serving processes reported (tcp split) */
    double others_seconds;
    int others_devices;
    const char *names[2]; /* what the descriptors are, for I/O errors (read, write) */
} fc_serve;

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(bool ignore_pipe)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (ignore_pipe) {
        signal(SIGPIPE, SIG_IGN);
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_out(const fc_station *s, const char *text)
{
    printf("%s%s\n", s->label, text);
    fflush(stdout);
}

static void notice_answered(const fc_station *s, int32_t fcc_status)
{
    print_out(s, "Successfully processed comm message");
    if (fcc_status != 0) {
        printf("%sFactory configurator returned %s (%d)\n", s->label,
               fcc_status_name((fcc_status_e)fcc_status), (int)fcc_status);
        fflush(stdout);
    }
}

static void notice_erased(const fc_station *s, int32_t fcc_status)
{
    if (fcc_status != FCC_STATUS_SUCCESS) {
        fprintf(stderr, "%sfcc_storage_delete failed: %s (%d)\n", s->label,
                fcc_status_name((fcc_status_e)fcc_status), (int)fcc_status);
    } else if (s->opt->verbose > 0) {
        print_out(s, "Storage is erased");
    }
}

/* The listener's reports, in the words the original example prints. */
static void on_notice(void *ctx, const kiln_ftcd_notice *n)
{
    fc_station *s = ctx;
    switch (n->kind) {
    case KILN_FTCD_NOTICE_REJECTED:
        fprintf(stderr, "%sFailed to read message: %s (%d): %s\n", s->label,
                ftcd_status_name((uint32_t)n->status), (int)n->status,
                ftcd_status_text((uint32_t)n->status));
        break;
    case KILN_FTCD_NOTICE_ERASED:
        notice_erased(s, n->status);
        break;
    case KILN_FTCD_NOTICE_HANDLING:
        s->handling_since = now_seconds();
        break;
    case KILN_FTCD_NOTICE_HANDLED:
        s->device_seconds += now_seconds() - s->handling_since;
        break;
    case KILN_FTCD_NOTICE_ANSWERED:
        notice_answered(s, n->status);
        break;
    case KILN_FTCD_NOTICE_NO_ANSWER:
        fprintf(stderr, "%sfcc_bundle_handler produced no answer: %s (%d)\n", s->label,
                fcc_status_name((fcc_status_e)n->status), (int)n->status);
        break;
    case KILN_FTCD_NOTICE_ANSWER_TOO_BIG:
        fprintf(stderr, "%sthe answer (%d bytes) does not fit the output buffer: status 3 sent\n",
                s->label, (int)n->status);
        break;
    case KILN_FTCD_NOTICE_SF_NOT_SENT:
        fprintf(stderr, "%sSecure factory: no answer could be sent (%d: %s)\n", s->label,
                (int)n->status, sf_status_text((sf_status)n->status));
        break;
    case KILN_FTCD_NOTICE_SF_DEVICE_ERROR:
        fprintf(stderr, "%sSecure factory: device error %d: %s (detail %ld)\n", s->label,
                (int)n->status, sf_status_text((sf_status)n->status), (long)n->detail);
        break;
    case KILN_FTCD_NOTICE_FINISHED:
        print_out(s, "Successfully completed factory flow");
        break;
    }
}

/* --faults power-cut: each connection (or stream) draws whether the power goes at one of its
 * next flash operations; a provisioning run does about 35. */
#define FC_POWER_CUT_WINDOW 32u

static void arm_power_cut(fc_station *s)
{
    const fc_faults *f = &s->opt->faults;
    if (f->power_cut <= 0 || !fc_device_can_cut_power(s->dev)) {
        return;
    }
    bool cut = fc_fault_rng_next(&s->rng) < f->power_cut;
    uint64_t at = (uint64_t)(fc_fault_rng_next(&s->rng) * FC_POWER_CUT_WINDOW);
    fc_device_cut_power(s->dev, cut ? at : UINT64_MAX);
}

static void on_stream_begins(void *ctx, size_t index)
{
    fc_serve *sv = ctx;
    fc_station *s = &sv->stations[sv->first + (int)index];
    arm_power_cut(s);
    if (!s->flow_started) {
        print_out(s, "Factory flow begins...");
        s->flow_started = true;
    }
}

static void on_restarted(void *ctx, size_t index)
{
    fc_serve *sv = ctx;
    fc_station *s = &sv->stations[sv->first + (int)index];
    s->flow_started = false;
    if (s->tcp) {
        print_out(s, "Factory Client is waiting for incoming connection...");
    }
}

static void on_io_error(void *ctx, size_t index, bool writing, int err)
{
    const fc_serve *sv = ctx;
    (void)index;
    fprintf(stderr, "factory_client: cannot %s %s: %s\n", writing ? "write" : "read",
            sv->names[writing ? 1 : 0], strerror(err));
}

static bool happens(fc_station *s, double p)
{
    return p > 0 && fc_fault_rng_next(&s->rng) < p;
}

static size_t cbor_head(uint8_t *p, uint8_t major, uint32_t v)
{
    if (v < 24) {
        p[0] = (uint8_t)(major << 5 | v);
        return 1;
    }
    p[0] = (uint8_t)(major << 5 | 26);
    p[1] = (uint8_t)(v >> 24);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 8);
    p[4] = (uint8_t)v;
    return 5;
}

static size_t cbor_text(uint8_t *p, const char *t)
{
    size_t n = strlen(t);
    size_t h = cbor_head(p, 3, (uint32_t)n);
    memcpy(p + h, t, n);
    return h + n;
}

/* reject=CODE:P: the answer becomes the device's refusal with that FCC status. */
static void reject_frame(fc_station *s, uint8_t *frame, size_t capacity,
                         kiln_ftcd_output_plan *plan)
{
    int32_t code = s->opt->faults.reject_code;
    char info[96];
    snprintf(info, sizeof(info), "General error: rejected by factory_client --faults (%s)",
             fcc_status_name((fcc_status_e)code));
    uint8_t *c = frame + FTCD_RESPONSE_HEAD;
    size_t n = cbor_head(c, 5, 3);
    n += cbor_text(c + n, FCC_GROUP_SCHEME_VERSION);
    n += cbor_text(c + n, FCC_BUNDLE_SCHEME_VERSION);
    n += cbor_text(c + n, FCC_RESP_RETURN_STATUS);
    n += cbor_head(c + n, 0, (uint32_t)code);
    n += cbor_text(c + n, FCC_RESP_INFO_MESSAGE);
    n += cbor_text(c + n, info);
    size_t len = 0;
    if (ftcd_seal_response(frame, capacity, n, &len) == FTCD_STATUS_SUCCESS) {
        plan->len = plan->send = len;
    }
}

/* Power went during the frame: the answer is never sent, the device restarts and mounts its
 * storage again. */
static void power_cut(fc_station *s, kiln_ftcd_output_plan *plan)
{
    fprintf(stderr, "%sfault: power cut while writing storage; the device restarts\n", s->label);
    plan->send = 0;
    plan->restarted = true;
    if (fc_device_reboot(s->dev, s->opt, s->index) != 0) {
        fprintf(stderr, "%sfactory_client: the storage does not mount after the power cut\n",
                s->label);
        stop_requested = 1;
        return;
    }
    kiln_ftcd_restart(&s->listener);
    s->flow_started = false;
}

/* --faults: what happens to one answer frame. */
static void on_output(void *ctx, size_t index, uint8_t *frame, size_t capacity,
                      kiln_ftcd_output_plan *plan)
{
    fc_serve *sv = ctx;
    fc_station *s = &sv->stations[sv->first + (int)index];
    const fc_faults *f = &s->opt->faults;
    if (fc_device_power_lost(s->dev)) {
        power_cut(s, plan);
        return;
    }
    if (f->delay_max_ms > 0) {
        uint32_t span = f->delay_max_ms - f->delay_min_ms;
        plan->delay_ms = f->delay_min_ms + (uint32_t)(fc_fault_rng_next(&s->rng) * (span + 1.0));
    }
    if (happens(s, f->reject)) {
        fprintf(stderr, "%sfault: answering fcc status %d\n", s->label, (int)f->reject_code);
        reject_frame(s, frame, capacity, plan);
    }
    if (happens(s, f->corrupt) && plan->len > 0) {
        size_t at = (size_t)(fc_fault_rng_next(&s->rng) * (double)plan->len);
        frame[at] ^= (uint8_t)(1 + (unsigned)(fc_fault_rng_next(&s->rng) * 255.0));
        fprintf(stderr, "%sfault: byte %zu of the answer flipped\n", s->label, at);
    }
    if (happens(s, f->close) && plan->len > 1) {
        plan->send = 1 + (size_t)(fc_fault_rng_next(&s->rng) * (double)(plan->len - 1));
        plan->cut = true;
        fprintf(stderr, "%sfault: link closed after %zu of %zu bytes\n", s->label, plan->send,
                plan->len);
    } else if (happens(s, f->drop)) {
        plan->send = 0;
        fprintf(stderr, "%sfault: answer dropped\n", s->label);
    }
}

static kiln_ftcd_hooks serve_hooks(fc_serve *sv)
{
    kiln_ftcd_hooks h = {
        sv, sv->opt->forever, &stop_requested, on_stream_begins, on_restarted, on_io_error, NULL};
    if (sv->opt->faults.any) {
        h.output = on_output;
    }
    return h;
}

static int station_listen(fc_serve *sv, fc_station *s)
{
    uint32_t max = sv->args.max_length != 0 ? sv->args.max_length : FTCD_DEFAULT_MAX_LENGTH;
    s->request = malloc(max);
    s->output = malloc(FC_OUTPUT_SIZE);
    if (s->request == NULL || s->output == NULL) {
        fprintf(stderr, "%sfactory_client: out of memory for a %u-byte request buffer\n", s->label,
                max);
        return -1;
    }
    kiln_ftcd_config cfg = {
        .dev = fc_device_kiln(s->dev),
        .request_buffer = s->request,
        .request_buffer_size = max,
        .output_buffer = s->output,
        .output_buffer_size = FC_OUTPUT_SIZE,
        .keep_storage = sv->args.keep_storage,
        .sf_trust = &sv->table,
        .notify = on_notice,
        .notify_ctx = s,
    };
    return kiln_ftcd_init(&s->listener, &cfg) == FTCD_STATUS_SUCCESS ? 0 : -1;
}

static void station_close(fc_station *s)
{
    if (s->dev != NULL) {
        kiln_ftcd_fini(&s->listener);
        kiln_device *kd = fc_device_kiln(s->dev);
        if (kd->fcc_ready) {
            (void)kiln_fcc_finalize(kd);
        }
        fc_device_close(s->dev);
        s->dev = NULL;
    }
    free(s->request);
    free(s->output);
    s->request = s->output = NULL;
}

/* s is zeroed (calloc) and opened once. */
static int station_open(fc_serve *sv, fc_station *s, int index)
{
    s->opt = sv->opt;
    fc_fault_rng_init(&s->rng, sv->opt->faults.seed, index);
    s->dev = fc_device_open(sv->opt, index);
    if (s->dev == NULL) {
        return -1;
    }
    kiln_device *kd = fc_device_kiln(s->dev);
    if (!kd->fcc_ready) {
        fcc_status_e st = kiln_fcc_init(kd);
        if (st != FCC_STATUS_SUCCESS) {
            fprintf(stderr, "%sfactory_client: fcc_init failed: %s (%d)\n", s->label,
                    fcc_status_name(st), (int)st);
            fc_device_close(s->dev);
            s->dev = NULL;
            return -1;
        }
    }
    if (station_listen(sv, s) != 0) {
        station_close(s);
        return -1;
    }
    return 0;
}

/* Parses the command's options: true to go on, false to exit with *exit_code. */
static bool serve_begin(fc_serve *sv, fc_options *opt, int argc, char **argv, unsigned takes,
                        void (*usage)(void), int *exit_code)
{
    memset(sv, 0, sizeof(*sv));
    sv->opt = opt;
    int first = 0;
    if (!fc_command_options(opt, argc, argv, takes, usage, &sv->args, &first, exit_code)) {
        return false;
    }
    if (first != argc) {
        fprintf(stderr, "factory_client: %s: unexpected argument %s\n", argv[0], argv[first]);
        usage();
        *exit_code = 2;
        return false;
    }
    return true;
}

/* The trust table and the (unopened) stations. */
static int serve_alloc(fc_serve *sv, int count)
{
    sv->count = count;
    if (sv->opt->factory_trust != NULL &&
        fc_sf_trust_load(sv->opt->factory_trust, &sv->trust) != 0) {
        return -1;
    }
    sv->table = fc_sf_trust_table(&sv->trust);
    sv->stations = calloc((size_t)count, sizeof(*sv->stations));
    if (sv->stations == NULL) {
        fprintf(stderr, "factory_client: out of memory\n");
        return -1;
    }
    for (int i = 0; i < count; i++) {
        sv->stations[i].index = i;
        if (count > 1) {
            snprintf(sv->stations[i].label, sizeof(sv->stations[i].label), "[dev %d] ", i);
        }
    }
    return 0;
}

/* Opens the stations first..first+n-1, the ones this process serves. */
static int serve_open_range(fc_serve *sv, int first, int n)
{
    sv->first = first;
    for (; sv->opened < n; sv->opened++) {
        if (station_open(sv, &sv->stations[first + sv->opened], first + sv->opened) != 0) {
            return -1;
        }
    }
    return 0;
}

static int serve_open(fc_serve *sv, int count)
{
    return serve_alloc(sv, count) == 0 ? serve_open_range(sv, 0, count) : -1;
}

/* Adds this process's stations' statistics to *sum and *seconds. */
static void serve_stats(const fc_serve *sv, kiln_ftcd_stats *sum, double *seconds)
{
    for (int i = sv->first; i < sv->first + sv->opened; i++) {
        const kiln_ftcd_stats *st = kiln_ftcd_get_stats(&sv->stations[i].listener);
        sum->messages += st->messages;
        sum->sessions += st->sessions;
        sum->rejected += st->rejected;
        sum->sf_messages += st->sf_messages;
        sum->sf_device_errors += st->sf_device_errors;
        *seconds += sv->stations[i].device_seconds;
    }
}

static void serve_close(fc_serve *sv)
{
    for (int i = sv->first; sv->stations != NULL && i < sv->first + sv->opened; i++) {
        station_close(&sv->stations[i]);
    }
    free(sv->stations);
    sv->stations = NULL;
    fc_sf_trust_free(&sv->trust);
}

/* Prints the totals with -v and closes every device. */
static void serve_end(fc_serve *sv)
{
    if (sv->opened > 0 && sv->opt->verbose > 0) {
        kiln_ftcd_stats sum = sv->others;
        double seconds = sv->others_seconds;
        serve_stats(sv, &sum, &seconds);
        printf("Factory Client statistics: devices %d, sessions %lu, messages %lu, rejected "
               "%lu, device time %.6f s, secure-factory messages %lu (device errors %lu)\n",
               sv->opened + sv->others_devices, (unsigned long)sum.sessions,
               (unsigned long)sum.messages, (unsigned long)sum.rejected, seconds,
               (unsigned long)sum.sf_messages, (unsigned long)sum.sf_device_errors);
        fflush(stdout);
    }
    serve_close(sv);
}

static void tcp_usage(void)
{
    fprintf(stderr, "usage: factory_client [globals] tcp [--bind ADDR] [--port P] "
                    "[--keep-storage] [--max-length BYTES] [--factory-trust FILE]\n");
}

static int tcp_listen_all(fc_serve *sv, kiln_ftcd_tcp_device *devs, const char *bind_addr,
                          uint32_t port)
{
    for (int i = 0; i < sv->count; i++) {
        fc_station *s = &sv->stations[i];
        char shown[64] = "";
        uint16_t bound = 0;
        uint16_t want = port ? (uint16_t)(port + (uint32_t)i) : 0;
        int fd = kiln_ftcd_tcp_listen(bind_addr, want, shown, sizeof(shown), &bound);
        kiln_ftcd_tcp_device_init(&devs[i], &s->listener, fd);
        if (fd == KILN_FTCD_TCP_BAD_ADDRESS) {
            fprintf(stderr, "factory_client: --bind %s is not an IPv4 address\n", bind_addr);
            return -1;
        }
        if (fd < 0) {
            fprintf(stderr, "factory_client: cannot listen on %s:%u: %s\n", bind_addr, want,
                    strerror(errno));
            return -1;
        }
        s->tcp = true;
        printf("%sFactory Client IP Address and Port : %s:%u\n", s->label, shown, bound);
        printf("%sFactory Client is waiting for incoming connection...\n", s->label);
    }
    fflush(stdout);
    return 0;
}

/* Serves this process's stations (sv->first, sv->opened) on their TCP devices. */
static int tcp_serve_slice(fc_serve *sv, kiln_ftcd_tcp_device *devs)
{
    kiln_ftcd_tcp_device *mine = devs + sv->first;
    kiln_ftcd_hooks hooks = serve_hooks(sv);
    if (kiln_ftcd_tcp_serve(mine, (size_t)sv->opened, &hooks) != 0) {
        perror("factory_client: poll");
    }
    int rc = 0;
    for (int i = 0; i < sv->opened; i++) {
        if (!mine[i].ended_ok && !(sv->opt->forever && stop_requested)) {
            rc = 1;
        }
    }
    return rc;
}

/* What a serving process reports to the first one when it ends. */
typedef struct fc_report {
    kiln_ftcd_stats sum;
    double seconds;
    int devices;
} fc_report;

/* Keeps the listening sockets of stations first..first+n-1 only. */
static void tcp_keep_range(fc_serve *sv, kiln_ftcd_tcp_device *devs, int first, int n)
{
    for (int i = 0; i < sv->count; i++) {
        if (i < first || i >= first + n) {
            kiln_ftcd_tcp_device_close(&devs[i]);
        }
    }
}

/* A forked process: opens and serves its stations, reports, never returns. */
static void tcp_child(fc_serve *sv, kiln_ftcd_tcp_device *devs, int report_fd, int first, int n)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    tcp_keep_range(sv, devs, first, n);
    int rc = serve_open_range(sv, first, n) == 0 ? tcp_serve_slice(sv, devs) : 1;
    fc_report r;
    memset(&r, 0, sizeof(r));
    serve_stats(sv, &r.sum, &r.seconds);
    r.devices = sv->opened;
    if (write(report_fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
        rc = 1;
    }
    serve_close(sv);
    fflush(stdout);
    _exit(rc);
}

/* Waits for the serving processes (passing a stop on to them) and adds up their reports. */
static int tcp_wait(fc_serve *sv, const pid_t *pids, int started, int report_fd, bool stop_now)
{
    int rc = 0;
    for (int i = 0; i < started; i++) {
        bool told = false;
        int status = 0;
        for (;;) {
            if ((stop_now || stop_requested) && !told) {
                for (int k = i; k < started; k++) {
                    kill(pids[k], SIGTERM);
                }
                told = true;
            }
            if (waitpid(pids[i], &status, 0) == pids[i]) {
                break;
            }
            if (errno != EINTR) {
                status = 1 << 8;
                break;
            }
        }
        rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? rc : 1;
    }
    fc_report r;
    while (read(report_fd, &r, sizeof(r)) == (ssize_t)sizeof(r)) {
        sv->others.messages += r.sum.messages;
        sv->others.sessions += r.sum.sessions;
        sv->others.rejected += r.sum.rejected;
        sv->others.sf_messages += r.sum.sf_messages;
        sv->others.sf_device_errors += r.sum.sf_device_errors;
        sv->others_seconds += r.seconds;
        sv->others_devices += r.devices;
    }
    return rc;
}

/* --threads T: the devices are split into T slices served by T processes (forked once every
 * device listens), so the simulated side uses every core. This process serves the first slice;
 * the others are forked last to first, so a failed fork leaves this one the rest. */
static int tcp_split(fc_serve *sv, kiln_ftcd_tcp_device *devs, int slices)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("factory_client: pipe");
        return 1;
    }
    pid_t pids[FC_MAX_SLICES];
    int started = 0, end = sv->count;
    fflush(stdout);
    fflush(stderr);
    for (int k = slices - 1; k >= 1; k--) {
        int b = (int)((long)sv->count * k / slices);
        pid_t pid = fork();
        if (pid < 0) {
            perror("factory_client: fork");
            break;
        }
        if (pid == 0) {
            close(fds[0]);
            tcp_child(sv, devs, fds[1], b, end - b);
        }
        pids[started++] = pid;
        end = b;
    }
    close(fds[1]);
    tcp_keep_range(sv, devs, 0, end);
    bool opened = serve_open_range(sv, 0, end) == 0;
    int rc = opened ? tcp_serve_slice(sv, devs) : 1;
    rc |= tcp_wait(sv, pids, started, fds[0], !opened);
    close(fds[0]);
    return rc;
}

static int tcp_run(fc_serve *sv, const char *bind_addr, uint32_t port, int slices)
{
    kiln_ftcd_tcp_device *devs = calloc((size_t)sv->count, sizeof(*devs));
    if (devs == NULL) {
        fprintf(stderr, "factory_client: out of memory\n");
        return 1;
    }
    for (int i = 0; i < sv->count; i++) {
        kiln_ftcd_tcp_device_init(&devs[i], &sv->stations[i].listener, -1);
    }
    int rc = 1;
    if (tcp_listen_all(sv, devs, bind_addr, port) == 0) {
        rc = slices > 1 ? tcp_split(sv, devs, slices) : tcp_serve_slice(sv, devs);
    }
    for (int i = 0; i < sv->count; i++) {
        kiln_ftcd_tcp_device_close(&devs[i]);
    }
    free(devs);
    return rc;
}

int fc_cmd_tcp(fc_options *opt, int argc, char **argv)
{
    fc_serve sv;
    int rc = 0;
    if (!serve_begin(&sv, opt, argc, argv, FC_TAKES_BIND | FC_TAKES_PORT | FC_TAKES_LINK, tcp_usage,
                     &rc)) {
        return rc;
    }
    const char *bind_addr = sv.args.bind != NULL ? sv.args.bind : "127.0.0.1";
    uint32_t port = FC_TCP_DEFAULT_PORT;
    if (sv.args.port != NULL && !fc_parse_u32(sv.args.port, 65535, &port)) {
        fprintf(stderr, "factory_client: --port needs a number 0..65535\n");
        return 2;
    }
    int count = opt->devices > 0 ? opt->devices : 1;
    if (port != 0 && port + (uint32_t)count - 1 > 65535) {
        fprintf(stderr, "factory_client: ports %u..%u do not fit\n", port, port + count - 1);
        return 2;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int slices = opt->threads > 0 ? opt->threads : cpus > 0 ? (int)cpus : 1;
    slices = slices < count ? slices : count;
    slices = slices < FC_MAX_SLICES ? slices : FC_MAX_SLICES;
    install_signals(true);
    rc = (slices > 1 ? serve_alloc(&sv, count) : serve_open(&sv, count)) == 0
             ? tcp_run(&sv, bind_addr, port, slices)
             : 1;
    serve_end(&sv);
    return rc;
}

static void serial_usage(void)
{
    fprintf(stderr, "usage: factory_client [globals] serial --port TTY [--baud B] "
                    "[--keep-storage] [--max-length BYTES] [--factory-trust FILE]\n");
}

static int serial_open(const char *port, uint32_t baud)
{
    int fd = kiln_ftcd_serial_open(port, baud);
    const char *why = NULL;
    switch (fd) {
    case KILN_FTCD_SERIAL_OPEN:
        why = "cannot open serial port %s: %s\n";
        break;
    case KILN_FTCD_SERIAL_NOT_TTY:
        why = "%s is not a serial port: %s\n";
        break;
    case KILN_FTCD_SERIAL_CONFIG:
        why = "cannot configure %s: %s\n";
        break;
    default:
        return fd;
    }
    fprintf(stderr, "factory_client: ");
    fprintf(stderr, why, port, strerror(errno));
    return -1;
}

int fc_cmd_serial(fc_options *opt, int argc, char **argv)
{
    fc_serve sv;
    int rc = 0;
    if (!serve_begin(&sv, opt, argc, argv, FC_TAKES_PORT | FC_TAKES_BAUD | FC_TAKES_LINK,
                     serial_usage, &rc)) {
        return rc;
    }
    uint32_t baud = 115200;
    const char *port = sv.args.port;
    if ((sv.args.baud != NULL && !fc_parse_u32(sv.args.baud, UINT32_MAX, &baud)) || port == NULL) {
        serial_usage();
        return 2;
    }
    if (!kiln_ftcd_serial_baud_supported(baud)) {
        fprintf(stderr, "factory_client: unsupported baud rate %u\n", baud);
        return 2;
    }
    if (opt->devices > 1) {
        fprintf(stderr, "factory_client: serial serves one device per port\n");
        return 2;
    }
    install_signals(false);
    int fd = serial_open(port, baud);
    if (fd < 0) {
        return 1;
    }
    sv.names[0] = sv.names[1] = port;
    rc = 1;
    if (serve_open(&sv, 1) == 0) {
        printf("Factory Client serial port : %s @ %u\n", port, baud);
        printf("Factory Client is waiting for incoming data...\n");
        fflush(stdout);
        kiln_ftcd_hooks hooks = serve_hooks(&sv);
        rc = kiln_ftcd_serial_serve(&sv.stations[0].listener, fd, &hooks);
    }
    close(fd);
    serve_end(&sv);
    return rc;
}

static void file_usage(void)
{
    fprintf(stderr, "usage: factory_client [globals] file --input IN --output OUT "
                    "[--keep-storage] [--max-length BYTES] [--factory-trust FILE]\n");
}

int fc_cmd_file(fc_options *opt, int argc, char **argv)
{
    fc_serve sv;
    int rc = 0;
    if (!serve_begin(&sv, opt, argc, argv, FC_TAKES_FILES | FC_TAKES_LINK, file_usage, &rc)) {
        return rc;
    }
    const char *input = sv.args.input, *output = sv.args.output;
    if (input == NULL || output == NULL) {
        file_usage();
        return 2;
    }
    int in = open(input, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        fprintf(stderr, "factory_client: cannot open %s: %s\n", input, strerror(errno));
        return 1;
    }
    sv.names[0] = input;
    sv.names[1] = output;
    rc = 1;
    if (serve_open(&sv, 1) == 0) {
        int out = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0) {
            fprintf(stderr, "factory_client: cannot create %s: %s\n", output, strerror(errno));
        } else {
            kiln_ftcd_hooks hooks = serve_hooks(&sv);
            rc = kiln_ftcd_file_serve(&sv.stations[0].listener, in, out, &hooks);
            if (close(out) != 0) {
                rc = 1;
            }
        }
    }
    close(in);
    serve_end(&sv);
    return rc;
}
