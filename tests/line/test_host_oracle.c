/* The host side's reader (kiln_line) against every answer the original device listener gave in
 * tests/data/vectors/ftcd-oracle: a scripted device thread replays the recorded bytes over real
 * loopback TCP, message by message, and closes or stays silent as the original did. The host
 * must hand back each recorded frame intact and turn each silence or close into the right
 * numbered error. Also: a device that never reads (1023), a refused connection (1021), garbage
 * and kiln's status-only frames in answers. */
#include <pthread.h>

#include <jansson.h>

#include "ftcd_frame.h"
#include "line_conn.h"
#include "line_errors.h"
#include "line_proc.h"

static const char *vectors;

typedef struct script_msg {
    size_t req_len;
    const uint8_t *resp;
    size_t resp_len;
} script_msg;

typedef struct script_conn {
    script_msg msgs[4];
    int nmsgs;
    bool closed_by_device;
} script_conn;

typedef struct script {
    int listen_fd;
    script_conn conns[4];
    int nconns;
} script;

static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

static bool read_exact(int fd, size_t n)
{
    uint8_t buf[4096];
    while (n > 0) {
        ssize_t r = recv(fd, buf, n < sizeof(buf) ? n : sizeof(buf), 0);
        if (r <= 0) {
            return false;
        }
        n -= (size_t)r;
    }
    return true;
}

static void *device_thread(void *arg)
{
    script *s = arg;
    for (int c = 0; c < s->nconns; c++) {
        int fd = accept(s->listen_fd, NULL, NULL);
        CHECK(fd >= 0);
        script_conn *sc = &s->conns[c];
        bool alive = true;
        for (int m = 0; m < sc->nmsgs && alive; m++) {
            alive = read_exact(fd, sc->msgs[m].req_len);
            if (alive && sc->msgs[m].resp_len > 0) {
                send_all(fd, sc->msgs[m].resp, sc->msgs[m].resp_len);
            }
        }
        if (alive && !sc->closed_by_device) {
            uint8_t sink[256];
            while (recv(fd, sink, sizeof(sink), 0) > 0) {
            }
        }
        close(fd);
    }
    return NULL;
}

static void on_done(void *user, line_conn *c)
{
    (void)c;
    *(bool *)user = true;
}

/* Sends one request and runs the loop until it completes. */
static void exchange(line_loop *lp, line_conn *c, const uint8_t *req, size_t len)
{
    bool done = false;
    c->on_done = on_done;
    c->user = &done;
    line_conn_request(c, req, len);
    while (!done) {
        CHECK_EQ(line_loop_run(lp, NULL, NULL), 0);
    }
}

static size_t jsize(json_t *o, const char *k)
{
    return (size_t)json_integer_value(json_object_get(o, k));
}

static void run_case(json_t *cs)
{
    const char *name = json_string_value(json_object_get(cs, "name"));
    char path[1024];
    size_t req_len, resp_len;
    snprintf(path, sizeof(path), "%s/ftcd-oracle/%s", vectors,
             json_string_value(json_object_get(cs, "request_file")));
    uint8_t *req = check_read_file(path, &req_len);
    snprintf(path, sizeof(path), "%s/ftcd-oracle/%s", vectors,
             json_string_value(json_object_get(cs, "response_file")));
    uint8_t *resp = check_read_file(path, &resp_len);
    json_t *conns = json_object_get(cs, "connections");
    json_t *msgs = json_object_get(cs, "messages");

    /* The device restarts in some cases; one scripted listener stands for all starts. */
    script s;
    memset(&s, 0, sizeof(s));
    int port;
    s.listen_fd = listen_local(&port);
    s.nconns = (int)json_array_size(conns);
    for (int c = 0; c < s.nconns; c++) {
        json_t *conn = json_array_get(conns, (size_t)c);
        int no = (int)jsize(conn, "connection");
        s.conns[c].closed_by_device = json_is_true(json_object_get(conn, "closed_by_device"));
        for (size_t m = 0; m < json_array_size(msgs); m++) {
            json_t *msg = json_array_get(msgs, m);
            if ((int)jsize(msg, "connection") != no) {
                continue;
            }
            script_msg *sm = &s.conns[c].msgs[s.conns[c].nmsgs++];
            sm->req_len = jsize(msg, "request_length");
            sm->resp = resp + jsize(msg, "response_offset");
            sm->resp_len = jsize(msg, "response_length");
        }
    }
    pthread_t th;
    CHECK(pthread_create(&th, NULL, device_thread, &s) == 0);

    line_loop *lp = line_loop_new();
    line_address addr;
    char why[128], text[64];
    snprintf(text, sizeof(text), "tcp:127.0.0.1:%d", port);
    CHECK_EQ(line_address_parse(text, &addr, why, sizeof(why)), 0);
    for (int c = 0; c < s.nconns; c++) {
        json_t *conn = json_array_get(conns, (size_t)c);
        int no = (int)jsize(conn, "connection");
        line_conn lc;
        line_conn_init(&lc, &addr, 0.5, 0);
        line_loop_add(lp, &lc);
        int index = 0;
        for (size_t m = 0; m < json_array_size(msgs); m++) {
            json_t *msg = json_array_get(msgs, m);
            if ((int)jsize(msg, "connection") != no) {
                continue;
            }
            bool last = ++index == s.conns[c].nmsgs;
            exchange(lp, &lc, req + jsize(msg, "request_offset"), jsize(msg, "request_length"));
            json_t *r = json_object_get(msg, "response");
            if (json_is_object(r)) {
                CHECK_EQ(lc.error, 0);
                CHECK(lc.answered);
                CHECK_EQ(lc.frame.status, jsize(r, "frame_status"));
                if (lc.frame.status == 0) {
                    CHECK_EQ(lc.frame.cbor_len, jsize(r, "cbor_length"));
                    const uint8_t *slice = resp + jsize(msg, "response_offset");
                    CHECK_MEM(lc.frame.cbor, lc.frame.cbor_len, slice + FTCD_RESPONSE_HEAD,
                              lc.frame.cbor_len);
                }
            } else if (last && s.conns[c].closed_by_device) {
                /* Silence then close: the device rejected the frame. */
                CHECK_EQ(lc.error, LINE_E_TCP_RECEIVE);
                CHECK(strstr(lc.error_text, "without answering") != NULL);
            } else {
                /* Silence with the connection open: only the tool's own timeout ends it. */
                CHECK_EQ(lc.error, LINE_E_TOKEN_TIMEOUT);
                break;
            }
        }
        line_loop_remove(lp, &lc);
        line_conn_close(&lc);
    }
    pthread_join(th, NULL);
    close(s.listen_fd);
    line_loop_free(lp);
    free(req);
    free(resp);
    printf("line_host_oracle: %s ok\n", name);
}

/* A device that accepts but never reads: the tool cannot send (1023). */
static void *never_reads(void *arg)
{
    int *fds = arg;
    int fd = accept(fds[0], NULL, NULL);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    uint8_t b;
    /* Wait for the tool to give up and close. */
    while (read(fds[1], &b, 1) < 0 && errno == EINTR) {
    }
    close(fd);
    return NULL;
}

static void test_send_blocked_and_refused(void)
{
    int port;
    int fds[2];
    int ls = listen_local(&port);
    CHECK(pipe(fds) == 0);
    int args[2] = {ls, fds[0]};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, never_reads, args) == 0);
    line_loop *lp = line_loop_new();
    line_address addr;
    char why[128], text[64];
    snprintf(text, sizeof(text), "tcp:127.0.0.1:%d", port);
    CHECK_EQ(line_address_parse(text, &addr, why, sizeof(why)), 0);
    line_conn lc;
    line_conn_init(&lc, &addr, 0.5, 0);
    line_loop_add(lp, &lc);
    size_t big = 32u << 20;
    uint8_t *frame = calloc(1, big);
    exchange(lp, &lc, frame, big);
    CHECK_EQ(lc.error, LINE_E_TCP_SEND);
    free(frame);
    line_loop_remove(lp, &lc);
    line_conn_close(&lc);
    CHECK(write(fds[1], "x", 1) == 1);
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    close(ls);

    /* Nobody listens on that port any more. */
    line_conn_init(&lc, &addr, 0.5, 0);
    line_loop_add(lp, &lc);
    uint8_t one = 0;
    exchange(lp, &lc, &one, 1);
    CHECK_EQ(lc.error, LINE_E_TCP_CONNECT);
    CHECK(strstr(lc.error_text, "Error connecting to device on IP 127.0.0.1 port") != NULL);
    line_loop_remove(lp, &lc);
    line_conn_close(&lc);
    line_loop_free(lp);
    puts("line_host_oracle: 1023 and 1021 ok");
}

static void test_addresses(void)
{
    line_address a;
    char why[200], back[300];
    CHECK_EQ(line_address_parse("tcp:10.0.0.1:7777", &a, why, sizeof(why)), 0);
    CHECK_EQ(a.transport, LINE_TCP);
    CHECK_EQ(a.port, 7777);
    CHECK_EQ(line_address_parse("serial:/dev/ttyUSB0@9600", &a, why, sizeof(why)), 0);
    CHECK_EQ(a.port, 9600);
    line_address_format(&a, back, sizeof(back));
    CHECK(strcmp(back, "serial:/dev/ttyUSB0@9600") == 0);
    CHECK_EQ(line_address_parse("serial:/dev/ttyS0", &a, why, sizeof(why)), 0);
    CHECK_EQ(a.port, 115200);
    CHECK_EQ(line_address_parse("file:/tmp/x.bin", &a, why, sizeof(why)), 0);
    CHECK_EQ(line_address_parse("tcp:[::1]:5000", &a, why, sizeof(why)), 0);
    CHECK(strcmp(a.host, "::1") == 0);
    CHECK_EQ(a.port, 5000);
    line_address_format(&a, back, sizeof(back));
    CHECK(strcmp(back, "tcp:[::1]:5000") == 0);
    CHECK_EQ(line_address_parse("tcp:fe80::1:5000", &a, why, sizeof(why)), 0);
    CHECK(strcmp(a.host, "fe80::1") == 0);
    CHECK_EQ(line_address_parse("tcp:[::1]5000", &a, why, sizeof(why)), -1);
    CHECK_EQ(line_address_parse("tcp:[::1:5000", &a, why, sizeof(why)), -1);
    CHECK_EQ(line_address_parse("tcp:[]:5000", &a, why, sizeof(why)), -1);
    CHECK_EQ(line_address_parse("tcp:host", &a, why, sizeof(why)), -1);
    CHECK_EQ(line_address_parse("tcp:host:70000", &a, why, sizeof(why)), -1);
    CHECK_EQ(line_address_parse("udp:host:1", &a, why, sizeof(why)), -1);
    CHECK(strstr(why, "tcp:, serial: or file:") != NULL);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    vectors = argv[1];
    signal(SIGPIPE, SIG_IGN);
    test_addresses();
    char path[1024];
    snprintf(path, sizeof(path), "%s/ftcd-oracle/index.json", vectors);
    json_error_t err;
    json_t *index = json_load_file(path, 0, &err);
    CHECK(index != NULL);
    json_t *cases = json_object_get(index, "cases");
    CHECK_EQ(json_array_size(cases), 17);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        run_case(json_array_get(cases, i));
    }
    json_decref(index);
    test_send_blocked_and_refused();
    return 0;
}
