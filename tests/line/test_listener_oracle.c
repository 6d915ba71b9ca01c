/* Replays every case of tests/data/vectors/ftcd-oracle against factory_client's TCP listener
 * over real loopback sockets and compares what comes back with what the original sent.
 *
 * The one allowed improvement is checked, not tolerated blindly: where the original sent
 * nothing for a rejected frame, kiln's listener must send exactly one status-only frame with
 * the read error the original computed (device_view "read error N") before closing. A big-endian
 * length is refused at once by the length limit, so that case gets status 4.
 *
 * usage: test_line_listener_oracle FACTORY_CLIENT VECTORS_DIR [CASE] */
#include <jansson.h>

#include "ftcd_frame.h"
#include "line_proc.h"

static const char *factory_client;
static const char *vectors;

/* Cases where the tool half-closed after the listed bytes (README "Half-closes"). */
static bool half_closes(const char *name, int connection)
{
    return strcmp(name, "truncated") == 0 || strcmp(name, "length_larger_than_data") == 0 ||
           strcmp(name, "length_big_endian") == 0 ||
           strcmp(name, "partial_length_then_close") == 0 ||
           (strcmp(name, "partial_token_then_reconnect") == 0 && connection == 1);
}

/* Cases whose connection bytes are sent in one write. */
static bool one_write(const char *name)
{
    return strcmp(name, "keepalive_pipelined") == 0 || strcmp(name, "token_prefix_quirk") == 0;
}

/* The status-only frame kiln adds for a message, or -1 for none. */
static int improvement_status(const char *case_name, json_t *msg)
{
    const char *view = json_string_value(json_object_get(msg, "device_view"));
    int status = -1;
    if (view != NULL && sscanf(view, "read error %d", &status) != 1) {
        status = -1;
    }
    if (status >= 0 && strcmp(case_name, "length_big_endian") == 0) {
        status = FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE;
    }
    return status;
}

static uint8_t *slurp(const char *file, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/ftcd-oracle/%s", vectors, file);
    return check_read_file(path, len);
}

static size_t jsize(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    CHECK(json_is_integer(v));
    return (size_t)json_integer_value(v);
}

static void expect_status_frame(const uint8_t *got, size_t got_len, int status)
{
    uint8_t frame[FTCD_STATUS_FRAME_SIZE];
    size_t n;
    CHECK_EQ(ftcd_encode_response((uint32_t)status, NULL, 0, frame, sizeof(frame), &n), 0);
    CHECK_MEM(got, got_len, frame, n);
}

static int run_case(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    size_t req_len, resp_len;
    uint8_t *req = slurp(json_string_value(json_object_get(c, "request_file")), &req_len);
    uint8_t *resp = slurp(json_string_value(json_object_get(c, "response_file")), &resp_len);
    json_t *starts = json_object_get(c, "device_starts");
    json_t *conns = json_object_get(c, "connections");
    json_t *msgs = json_object_get(c, "messages");
    char *storage = make_temp_dir("oracle");
    bool keeps_listening_after_error = strcmp(name, "keepalive_bad_checksum_second") == 0;
    uint8_t *got = malloc(1 << 20);

    for (size_t s = 0; s < json_array_size(starts); s++) {
        json_t *start = json_array_get(starts, s);
        int start_no = (int)jsize(start, "start");
        const char *storage_note = json_string_value(json_object_get(start, "storage"));
        bool keep = strstr(storage_note, "NOT erased") != NULL;
        char *argv[] = {(char *)factory_client,         "--storage", storage, "tcp", "--port", "0",
                        keep ? "--keep-storage" : NULL, NULL};
        line_proc dev;
        proc_start(&dev, argv);
        int port = proc_wait_port(&dev);

        for (size_t k = 0; k < json_array_size(conns); k++) {
            json_t *conn = json_array_get(conns, k);
            if ((int)jsize(conn, "device_start") != start_no) {
                continue;
            }
            int conn_no = (int)jsize(conn, "connection");
            int fd = tcp_connect_local(port);
            CHECK(fd >= 0);
            size_t got_len = 0;
            if (one_write(name)) {
                send_all(fd, req + jsize(conn, "request_offset"), jsize(conn, "request_length"));
                got_len = recv_to_eof(fd, got, 1 << 20);
                CHECK_MEM(got, got_len, resp + jsize(conn, "response_offset"),
                          jsize(conn, "response_length"));
                close(fd);
                continue;
            }
            bool closed = false;
            for (size_t m = 0; m < json_array_size(msgs); m++) {
                json_t *msg = json_array_get(msgs, m);
                if ((int)jsize(msg, "connection") != conn_no) {
                    continue;
                }
                send_all(fd, req + jsize(msg, "request_offset"), jsize(msg, "request_length"));
                size_t expect = jsize(msg, "response_length");
                int extra = improvement_status(name, msg);
                if (half_closes(name, conn_no)) {
                    shutdown(fd, SHUT_WR);
                }
                if (expect > 0) {
                    recv_exact(fd, got, expect);
                    CHECK_MEM(got, expect, resp + jsize(msg, "response_offset"), expect);
                }
                if (extra >= 0) {
                    got_len = recv_to_eof(fd, got, 1 << 20);
                    expect_status_frame(got, got_len, extra);
                    closed = true;
                }
            }
            if (!closed) {
                if (json_is_true(json_object_get(conn, "closed_by_device"))) {
                    /* Nothing more, then end-of-stream. */
                    got_len = recv_to_eof(fd, got, 1 << 20);
                    CHECK_EQ(got_len, 0);
                }
            }
            close(fd);
        }

        if (keeps_listening_after_error) {
            /* Inside a keep-alive session the listener goes back to accepting. */
            int fd = tcp_connect_local(port);
            CHECK(fd >= 0);
            close(fd);
            /* Stopped with the session still open: the run did not complete. */
            CHECK_EQ(proc_stop(&dev), 1);
        } else {
            CHECK(json_is_true(json_object_get(start, "ended")));
            const char *exit_note = json_string_value(json_object_get(start, "exit"));
            int rc = proc_wait(&dev);
            CHECK_EQ(rc, strcmp(exit_note, "EXIT_SUCCESS") == 0 ? 0 : 1);
            /* Ended: nobody listens any more. */
            CHECK(tcp_connect_local(port) < 0);
        }
    }
    printf("line_listener_oracle: %s ok\n", name);
    free(got);
    free(req);
    free(resp);
    remove_tree(storage);
    free(storage);
    return 0;
}

int main(int argc, char **argv)
{
    CHECK(argc >= 3);
    factory_client = argv[1];
    vectors = argv[2];
    signal(SIGPIPE, SIG_IGN);
    char path[1024];
    snprintf(path, sizeof(path), "%s/ftcd-oracle/index.json", vectors);
    json_error_t err;
    json_t *index = json_load_file(path, 0, &err);
    CHECK(index != NULL);
    json_t *cases = json_object_get(index, "cases");
    int ran = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        if (argc > 3 && strcmp(json_string_value(json_object_get(c, "name")), argv[3]) != 0) {
            continue;
        }
        run_case(c);
        ran++;
    }
    CHECK(ran > 0);
    CHECK(argc > 3 || ran == 17);
    json_decref(index);
    return 0;
}
