#include "transport_link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln_sf.h"
#include "sf_msg.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int queue(fc_link *l, const uint8_t *data, size_t len)
{
    if (l->out_off > 0 && l->out_off == l->out_len) {
        l->out_off = l->out_len = 0;
    }
    if (l->out_len + len > l->out_cap) {
        size_t cap = l->out_cap ? l->out_cap : 1024;
        while (cap < l->out_len + len) {
            cap *= 2;
        }
        uint8_t *grown = realloc(l->out, cap);
        if (grown == NULL) {
            return -1;
        }
        l->out = grown;
        l->out_cap = cap;
    }
    memcpy(l->out + l->out_len, data, len);
    l->out_len += len;
    return 0;
}

static void queue_status(fc_link *l, ftcd_status status)
{
    uint8_t frame[FTCD_STATUS_FRAME_SIZE];
    size_t n = 0;
    if (ftcd_encode_response(status, NULL, 0, frame, sizeof(frame), &n) == FTCD_STATUS_SUCCESS) {
        (void)queue(l, frame, n);
    }
}

void fc_link_sent(fc_link *l, size_t n)
{
    l->out_off += n;
    if (l->out_off >= l->out_len) {
        l->out_off = l->out_len = 0;
    }
}

int fc_link_write_out(fc_link *l, int fd)
{
    const uint8_t *p = l->out + l->out_off;
    size_t n = fc_link_pending(l);
    int rc = 0;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        /* The serial listener always retried EAGAIN; a blocking file never returns it. */
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (w <= 0) {
            rc = -1;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    int saved = errno;
    fc_link_sent(l, fc_link_pending(l));
    errno = saved;
    return rc;
}

int fc_link_open(fc_link *l, const fc_options *opt, int index, int total,
                 const fc_link_settings *settings)
{
    memset(l, 0, sizeof(*l));
    l->index = index;
    l->opt = opt;
    l->settings = *settings;
    if (total > 1) {
        snprintf(l->label, sizeof(l->label), "[dev %d] ", index);
    }
    const char *trust_path =
        settings->factory_trust != NULL ? settings->factory_trust : opt->factory_trust;
    if (trust_path != NULL && fc_sf_trust_load(trust_path, &l->trust) != 0) {
        return -1;
    }
    l->dev = fc_device_open(opt, index);
    if (l->dev == NULL) {
        fc_sf_trust_free(&l->trust);
        return -1;
    }
    l->kd = fc_device_kiln(l->dev);
    if (!l->kd->fcc_ready) {
        fcc_status_e st = kiln_fcc_init(l->kd);
        if (st != FCC_STATUS_SUCCESS) {
            fprintf(stderr, "%sfactory_client: fcc_init failed: %s (%d)\n", l->label,
                    fcc_status_name(st), (int)st);
            fc_device_close(l->dev);
            l->dev = NULL;
            fc_sf_trust_free(&l->trust);
            return -1;
        }
    }
    ftcd_reader_init(&l->reader, FTCD_KIND_REQUEST, settings->max_length);
    return 0;
}

void fc_link_close(fc_link *l)
{
    if (l->dev != NULL) {
        if (l->kd->fcc_ready) {
            (void)kiln_fcc_finalize(l->kd);
        }
        fc_device_close(l->dev);
        l->dev = NULL;
    }
    ftcd_reader_free(&l->reader);
    fc_sf_trust_free(&l->trust);
    free(l->out);
    l->out = NULL;
    l->out_len = l->out_off = l->out_cap = 0;
}

void fc_link_connection_begins(fc_link *l)
{
    ftcd_reader_reset(&l->reader);
    if (!l->flow_started) {
        printf("%sFactory flow begins...\n", l->label);
        fflush(stdout);
        l->flow_started = true;
    }
}

void fc_link_restart(fc_link *l)
{
    ftcd_reader_reset(&l->reader);
    l->erased = false;
    l->session_open = false;
    l->flow_started = false;
    if (!l->kd->fcc_ready) {
        (void)kiln_fcc_init(l->kd);
    }
}

/* A frame was refused or cut short: answer with its status, close, and end the run unless a
 * keep-alive session is open (then the tool may reconnect and continue). */
static fc_link_event reject(fc_link *l, ftcd_status why)
{
    l->rejected++;
    fprintf(stderr, "%sFailed to read message: %s (%d): %s\n", l->label, ftcd_status_name(why),
            (int)why, ftcd_status_text(why));
    queue_status(l, why);
    ftcd_reader_reset(&l->reader);
    if (l->session_open) {
        return FC_LINK_CLOSE;
    }
    return FC_LINK_END_FAILED;
}

static fc_link_event finish(fc_link *l)
{
    l->sessions++;
    l->session_open = false;
    (void)kiln_fcc_finalize(l->kd);
    printf("%sSuccessfully completed factory flow\n", l->label);
    fflush(stdout);
    return FC_LINK_END_OK;
}

static void erase_on_first_frame(fc_link *l)
{
    if (!l->erased && !l->settings.keep_storage) {
        /* The original example erases everything on the first good frame after each start. */
        fcc_status_e st = kiln_fcc_storage_delete(l->kd);
        if (st != FCC_STATUS_SUCCESS) {
            fprintf(stderr, "%sfcc_storage_delete failed: %s (%d)\n", l->label, fcc_status_name(st),
                    (int)st);
        } else if (l->opt->verbose > 0) {
            printf("%sStorage is erased\n", l->label);
        }
    }
    l->erased = true;
}

/* Queues a full response frame carrying answer; false when memory ran out (then the status-only
 * frame 3 is queued instead). */
static bool queue_answer(fc_link *l, const uint8_t *answer, size_t answer_len)
{
    size_t need = ftcd_response_size(FTCD_STATUS_SUCCESS, answer_len);
    uint8_t *buf = malloc(need);
    size_t n = 0;
    bool ok = buf != NULL &&
              ftcd_encode_response(FTCD_STATUS_SUCCESS, answer, answer_len, buf, need, &n) ==
                  FTCD_STATUS_SUCCESS &&
              queue(l, buf, n) == 0;
    free(buf);
    if (!ok) {
        queue_status(l, FTCD_STATUS_MEMORY_OUT);
    }
    return ok;
}

static bool is_sf_message(const ftcd_frame *frame)
{
    /* A bundle is a CBOR map (0xA0..0xBF); the kiln-sf version byte can never start one. */
    return frame->cbor_len > 0 && frame->cbor[0] == SF_VERSION;
}

static fc_link_event handle_sf_frame(fc_link *l, ftcd_frame *frame, double t0)
{
    uint8_t answer[KILN_SF_ANSWER_MAX];
    size_t answer_len = 0;
    int fcc_status = 0;
    kiln_sf_trust table = fc_sf_trust_table(&l->trust);
    sf_status st = kiln_sf_handle_message(l->kd, &table, frame->cbor, frame->cbor_len, answer,
                                          sizeof(answer), &answer_len, &fcc_status);
    ftcd_frame_free(frame);
    l->messages++;
    l->sf_messages++;
    bool queued = answer_len > 0 && queue_answer(l, answer, answer_len);
    l->device_seconds += now_seconds() - t0;
    if (!queued) {
        if (answer_len == 0) {
            queue_status(l, FTCD_STATUS_FAILED_TO_PROCESS_DATA);
        }
        fprintf(stderr, "%sSecure factory: no answer could be sent (%d: %s)\n", l->label, (int)st,
                sf_status_text(st));
        return FC_LINK_END_FAILED;
    }
    printf("%sSuccessfully processed comm message\n", l->label);
    fflush(stdout);
    sf_msg_type type = (sf_msg_type)answer[1];
    if (st != SF_OK || type == SF_MSG_DEVICE_ERROR) {
        /* The station hands this answer to the service, which records the device's code; the
         * device keeps listening so that new_device can start over. An SF session the device
         * still holds (e.g. after an altered CONFIG_REQUEST) stays open. */
        l->sf_device_errors++;
        sf_device_error err = {0, 0};
        (void)sf_device_error_parse(answer, answer_len, &err);
        fprintf(stderr, "%sSecure factory: device error %d: %s (detail %ld)\n", l->label,
                (int)err.code, sf_status_text(err.code), (long)err.detail);
        return FC_LINK_CONTINUE;
    }
    if (type == SF_MSG_CONFIG_RESPONSE) {
        if (fcc_status != 0) {
            printf("%sFactory configurator returned %s (%d)\n", l->label,
                   fcc_status_name((fcc_status_e)fcc_status), fcc_status);
            fflush(stdout);
        }
        return finish(l);
    }
    l->session_open = true;
    return FC_LINK_CONTINUE;
}

static fc_link_event handle_frame(fc_link *l, ftcd_frame *frame)
{
    double t0 = now_seconds();
    erase_on_first_frame(l);
    if (is_sf_message(frame)) {
        return handle_sf_frame(l, frame, t0);
    }

    uint8_t *answer = NULL;
    size_t answer_len = 0;
    fcc_status_e st =
        kiln_fcc_bundle_handler(l->kd, frame->cbor, frame->cbor_len, &answer, &answer_len);
    ftcd_frame_free(frame);
    l->messages++;

    if (answer == NULL || answer_len == 0) {
        /* No CBOR answer (factory disabled): status-only 9, and the run is over. */
        free(answer);
        l->device_seconds += now_seconds() - t0;
        fprintf(stderr, "%sfcc_bundle_handler produced no answer: %s (%d)\n", l->label,
                fcc_status_name(st), (int)st);
        queue_status(l, FTCD_STATUS_FAILED_TO_PROCESS_DATA);
        l->session_open = false;
        return FC_LINK_END_FAILED;
    }
    bool queued = queue_answer(l, answer, answer_len);
    free(answer);
    l->device_seconds += now_seconds() - t0;
    if (!queued) {
        return FC_LINK_END_FAILED;
    }
    printf("%sSuccessfully processed comm message\n", l->label);
    if (st != FCC_STATUS_SUCCESS) {
        printf("%sFactory configurator returned %s (%d)\n", l->label, fcc_status_name(st), (int)st);
    }
    fflush(stdout);
    if (kiln_fcc_is_session_finished(l->kd)) {
        return finish(l);
    }
    l->session_open = true;
    return FC_LINK_CONTINUE;
}

fc_link_event fc_link_input(fc_link *l, const uint8_t *data, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        size_t used = 0;
        ftcd_read_result res = ftcd_reader_feed(&l->reader, data + pos, len - pos, &used);
        pos += used;
        if (res == FTCD_READ_ERROR) {
            return reject(l, ftcd_reader_error(&l->reader));
        }
        if (res == FTCD_READ_FRAME) {
            ftcd_frame frame;
            ftcd_reader_take(&l->reader, &frame);
            fc_link_event ev = handle_frame(l, &frame);
            if (ev != FC_LINK_CONTINUE) {
                return ev;
            }
        }
    }
    return FC_LINK_CONTINUE;
}

fc_link_event fc_link_end_of_stream(fc_link *l)
{
    ftcd_status cut = ftcd_reader_truncation(&l->reader);
    if (cut != FTCD_STATUS_SUCCESS) {
        return reject(l, cut);
    }
    /* Nothing started (a partial token does not count): wait for the next connection. */
    ftcd_reader_reset(&l->reader);
    return FC_LINK_CLOSE;
}

void fc_link_stats_add(fc_link_stats *acc, const fc_link *l)
{
    acc->devices++;
    acc->messages += l->messages;
    acc->sessions += l->sessions;
    acc->rejected += l->rejected;
    acc->sf_messages += l->sf_messages;
    acc->sf_device_errors += l->sf_device_errors;
    acc->device_seconds += l->device_seconds;
}

void fc_link_stats_print(const fc_link_stats *acc, const fc_options *opt)
{
    if (opt->verbose > 0) {
        printf("Factory Client statistics: devices %d, sessions %llu, messages %llu, rejected "
               "%llu, device time %.6f s, secure-factory messages %llu (device errors %llu)\n",
               acc->devices, (unsigned long long)acc->sessions, (unsigned long long)acc->messages,
               (unsigned long long)acc->rejected, acc->device_seconds,
               (unsigned long long)acc->sf_messages, (unsigned long long)acc->sf_device_errors);
        fflush(stdout);
    }
}

bool fc_arg_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) {
        return false;
    }
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != '\0') {
        return false;
    }
    if (*i + 1 >= argc) {
        *value = NULL;
        return true;
    }
    *value = argv[++*i];
    return true;
}

bool fc_parse_u32(const char *text, uint32_t max, uint32_t *out)
{
    if (text == NULL || *text == '\0') {
        return false;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || text[0] == '-' || v > max) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool fc_link_common_option(int argc, char **argv, int *i, fc_link_settings *s, bool *bad)
{
    const char *value = NULL;
    if (strcmp(argv[*i], "--keep-storage") == 0) {
        s->keep_storage = true;
        return true;
    }
    if (fc_arg_value(argc, argv, i, "--factory-trust", &value)) {
        if (value == NULL) {
            fprintf(stderr, "factory_client: --factory-trust needs a file\n");
            *bad = true;
        }
        s->factory_trust = value;
        return true;
    }
    if (fc_arg_value(argc, argv, i, "--max-length", &value)) {
        if (!fc_parse_u32(value, UINT32_MAX, &s->max_length) || s->max_length == 0) {
            fprintf(stderr, "factory_client: --max-length needs a positive number of bytes\n");
            *bad = true;
        }
        return true;
    }
    return false;
}
