/*
 * openloop: a fixed-rate (open-loop) HTTP/1.1 load generator that measures latency from each
 * request's *scheduled* send time, so a stalled server cannot hide its stall by slowing the
 * client down (no coordinated omission). wrk2 does this too but is not packaged here.
 *
 * One thread, epoll and a timerfd; requests are pre-rendered by bench/run.py into a file, so
 * the hot loop only copies bytes and parses status lines: at a few hundred requests/s it uses
 * about 1% of a core and its own scheduling lag is reported (gen_lag_us) next to the figures.
 *
 *   openloop -p PORT -r RATE -d SECONDS [-w WARMUP] [-c MAXCONN] [-k 0|1] [-l LOG] -f REQUESTS
 *
 * REQUESTS holds records "LABEL<TAB>NBYTES\n" followed by NBYTES of a raw HTTP/1.1 request;
 * request i of the schedule is record i modulo the record count. -k 0 opens a new connection
 * per request (the records should then say "Connection: close"). Output: one JSON object.
 * -l LOG also writes one line per measured request, "SCHEDULED_MS LABEL STATUS LATENCY_MS"
 * (scheduled time from the start of the measured window; status < 0: a client-side error), so
 * latency percentiles can be drawn over time (bench/sandbox).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_LABELS 16
#define TIMER_TAG UINT32_MAX

typedef struct {
    const char *data;
    size_t len;
    int label;
} Record;

typedef struct {
    int64_t sched, seen, sent, done;
    int status; /* HTTP status, or a negative ERR_* */
    int label;
    int seq; /* how many requests its connection had answered before it */
} Job;

enum { ERR_CONNECT = -1, ERR_IO = -2, ERR_TIMEOUT = -3, ERR_PARSE = -4 };
enum { C_FREE, C_CONNECTING, C_WRITING, C_READING, C_IDLE };

typedef struct {
    int fd, state, seq, retried;
    int64_t job;
    size_t woff, rlen, rcap;
    char *rbuf;
} Conn;

static char *label_names[MAX_LABELS];
static int label_count;
static Record *records;
static size_t record_count;
static Job *jobs;
static Conn *conns;
static int max_conns, open_conns, peak_conns, keep_alive = 1, epfd;
static int *idle_stack, idle_top;
static struct sockaddr_in target;
static int64_t completed;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int label_id(const char *name) {
    for (int i = 0; i < label_count; i++)
        if (strcmp(label_names[i], name) == 0) return i;
    if (label_count == MAX_LABELS) {
        fprintf(stderr, "more than %d labels\n", MAX_LABELS);
        exit(2);
    }
    label_names[label_count] = strdup(name);
    return label_count++;
}

static void load_records(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) die("read requests");
    fclose(f);
    size_t cap = 1024, pos = 0;
    records = malloc(cap * sizeof(Record));
    while (pos < (size_t)size) {
        char *tab = memchr(buf + pos, '\t', (size_t)size - pos);
        char *nl = tab ? memchr(tab, '\n', (size_t)size - (size_t)(tab - buf)) : NULL;
        if (!tab || !nl) break;
        *tab = 0;
        size_t len = strtoul(tab + 1, NULL, 10);
        if (record_count == cap) records = realloc(records, (cap *= 2) * sizeof(Record));
        records[record_count].label = label_id(buf + pos);
        records[record_count].data = nl + 1;
        records[record_count].len = len;
        record_count++;
        pos = (size_t)(nl + 1 - buf) + len;
    }
    if (record_count == 0) {
        fprintf(stderr, "%s holds no request records\n", path);
        exit(2);
    }
}

static void watch(Conn *c, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) die("epoll_ctl");
}

static void close_conn(Conn *c) {
    if (c->fd >= 0) {
        close(c->fd); /* also leaves the epoll set */
        open_conns--;
    }
    c->fd = -1;
    c->state = C_FREE;
    c->seq = 0;
}

static int open_conn(Conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->state = C_CONNECTING;
    c->seq = 0;
    if (++open_conns > peak_conns) peak_conns = open_conns;
    watch(c, EPOLLOUT, EPOLL_CTL_ADD);
    return 0;
}

static void finish_job(Conn *c, int status) {
    Job *j = &jobs[c->job];
    j->done = now_ns();
    j->status = status;
    completed++;
    c->job = -1;
}

static void fail_conn(Conn *c, int err) {
    finish_job(c, err);
    close_conn(c);
}

static void try_write(Conn *c) {
    const Record *r = &records[c->job % (int64_t)record_count];
    while (c->woff < r->len) {
        ssize_t n = send(c->fd, r->data + c->woff, r->len - c->woff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                watch(c, EPOLLOUT, EPOLL_CTL_MOD);
                c->state = C_WRITING;
                return;
            }
            fail_conn(c, ERR_IO);
            return;
        }
        c->woff += (size_t)n;
    }
    c->state = C_READING;
    c->rlen = 0;
    watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

static void start_job(Conn *c, int64_t job) {
    c->job = job;
    c->woff = 0;
    c->retried = 0;
    jobs[job].seq = c->seq;
    jobs[job].sent = now_ns();
    if (c->state == C_IDLE)
        try_write(c);
}

/* Length of a complete response in buf, 0 if incomplete, -1 if malformed; sets *status and
 * *closes. Handles Content-Length and chunked bodies; anything else ends at EOF. */
static ssize_t response_length(const char *buf, size_t len, int *status, int *closes) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    long content_length = -1;
    int chunked = 0;
    *closes = 0;
    for (const char *line = memchr(buf, '\n', head) + 1; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end + 2 - line));
        if (!eol) break;
        if (strncasecmp(line, "content-length:", 15) == 0) content_length = atol(line + 15);
        else if (strncasecmp(line, "transfer-encoding:", 18) == 0 &&
                 memmem(line, (size_t)(eol - line), "chunked", 7))
            chunked = 1;
        else if (strncasecmp(line, "connection:", 11) == 0 &&
                 memmem(line, (size_t)(eol - line), "close", 5))
            *closes = 1;
        line = eol + 1;
    }
    if (content_length >= 0) return len >= head + (size_t)content_length
                                   ? (ssize_t)(head + (size_t)content_length) : 0;
    if (!chunked) return 0; /* read until EOF */
    size_t pos = head;
    for (;;) {
        const char *crlf = memmem(buf + pos, len - pos, "\r\n", 2);
        if (!crlf) return 0;
        size_t size = strtoul(buf + pos, NULL, 16);
        pos = (size_t)(crlf - buf) + 2;
        if (size == 0) return len >= pos + 2 ? (ssize_t)(pos + 2) : 0;
        pos += size + 2;
        if (pos > len) return 0;
    }
}

/* A response without Content-Length or chunked encoding ends when the server closes. */
static int eof_delimited(const char *buf, size_t len) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    for (const char *p = buf; p < end; p++) {
        if ((p == buf || p[-1] == '\n') && (strncasecmp(p, "content-length:", 15) == 0 ||
                                             strncasecmp(p, "transfer-encoding:", 18) == 0))
            return 0;
    }
    return 1;
}

static void reconnect_and_retry(Conn *c) {
    /* The server closed an idle keep-alive connection just as we reused it: resend once on a
     * new connection, as browsers do. The latency keeps counting from the scheduled time. */
    int64_t job = c->job;
    close_conn(c);
    if (open_conn(c) < 0) {
        c->job = job;
        finish_job(c, ERR_CONNECT);
        c->state = C_FREE;
        return;
    }
    c->job = job;
    c->woff = 0;
    c->retried = 1;
}

static void on_readable(Conn *c) {
    for (;;) {
        if (c->rcap - c->rlen < 4096) c->rbuf = realloc(c->rbuf, c->rcap *= 2);
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n < 0) {
            if (errno == EAGAIN) break;
            if (c->rlen == 0 && c->seq > 0 && !c->retried) return reconnect_and_retry(c);
            return fail_conn(c, ERR_IO);
        }
        if (n == 0) {
            if (c->rlen == 0 && c->seq > 0 && !c->retried) return reconnect_and_retry(c);
            /* EOF: fine after a whole response, or one delimited by the close itself */
            int status = 0, closes = 0;
            ssize_t whole = response_length(c->rbuf, c->rlen, &status, &closes);
            if (whole < 0 || status <= 0) return fail_conn(c, ERR_IO);
            if (whole == 0 && !eof_delimited(c->rbuf, c->rlen)) return fail_conn(c, ERR_IO);
            finish_job(c, status);
            close_conn(c);
            return;
        }
        c->rlen += (size_t)n;
    }
    int status = 0, closes = 0;
    ssize_t whole = response_length(c->rbuf, c->rlen, &status, &closes);
    if (whole < 0) return fail_conn(c, ERR_PARSE);
    if (whole == 0) return;
    finish_job(c, status);
    c->seq++;
    if (!keep_alive || closes) {
        close_conn(c);
        return;
    }
    c->state = C_IDLE;
    idle_stack[idle_top++] = (int)(c - conns);
}

static void on_event(Conn *c, uint32_t events) {
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || (events & (EPOLLERR | EPOLLHUP))) return fail_conn(c, ERR_CONNECT);
        c->state = C_WRITING;
        return try_write(c);
    }
    if (c->state == C_WRITING) return try_write(c);
    if (c->state == C_READING) return on_readable(c);
    if (c->state == C_IDLE && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        /* an idle connection closed by the server: forget it */
        for (int i = 0; i < idle_top; i++)
            if (idle_stack[i] == (int)(c - conns)) {
                idle_stack[i] = idle_stack[--idle_top];
                break;
            }
        close_conn(c);
    }
}

/* A connection for the next due job: an idle one, else a new one, else none (the job waits). */
static Conn *take_conn(void) {
    if (idle_top > 0) return &conns[idle_stack[--idle_top]];
    if (open_conns >= max_conns) return NULL;
    for (int i = 0; i < max_conns; i++)
        if (conns[i].state == C_FREE) {
            if (open_conn(&conns[i]) < 0) return NULL;
            return &conns[i];
        }
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(const int64_t *sorted, size_t n, double p) {
    if (n == 0) return 0;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999); /* nearest-rank */
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return (double)sorted[rank - 1];
}

static void print_dist(const char *name, int64_t *v, size_t n, double unit) {
    qsort(v, n, sizeof *v, cmp_i64);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)v[i];
    printf("\"%s\": {\"n\": %zu, \"mean\": %.3f, \"p50\": %.3f, \"p90\": %.3f, \"p95\": %.3f, "
           "\"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}",
           name, n, n ? sum / (double)n / unit : 0, pct(v, n, 50) / unit, pct(v, n, 90) / unit,
           pct(v, n, 95) / unit, pct(v, n, 99) / unit, pct(v, n, 99.9) / unit,
           n ? (double)v[n - 1] / unit : 0);
}

/* latency (from the scheduled time) and service time (from the send) of one label's jobs */
static void print_label(const char *name, int label, int64_t first, int64_t last, int64_t *buf) {
    int codes[600] = {0};
    int errors[5] = {0};
    size_t n = 0, ok = 0;
    for (int64_t i = first; i < last; i++) {
        Job *j = &jobs[i];
        if (label >= 0 && j->label != label) continue;
        if (j->status > 0 && j->status < 600) {
            codes[j->status]++;
            buf[n++] = j->done - j->sched;
            if (j->status < 400) ok++;
        } else if (j->status < 0) {
            errors[-j->status]++;
        } else {
            errors[-ERR_TIMEOUT]++;
        }
    }
    printf("\"%s\": {\"responses\": %zu, \"ok\": %zu, \"status\": {", name, n, ok);
    const char *sep = "";
    for (int s = 0; s < 600; s++)
        if (codes[s]) {
            printf("%s\"%d\": %d", sep, s, codes[s]);
            sep = ", ";
        }
    printf("}, \"errors\": {\"connect\": %d, \"io\": %d, \"timeout\": %d, \"parse\": %d}, ",
           errors[1], errors[2], errors[3], errors[4]);
    print_dist("latency_ms", buf, n, 1e6);
    n = 0;
    for (int64_t i = first; i < last; i++)
        if ((label < 0 || jobs[i].label == label) && jobs[i].status > 0)
            buf[n++] = jobs[i].done - jobs[i].sent;
    printf(", ");
    print_dist("service_ms", buf, n, 1e6);
    printf("}");
}

/* one line per measured request: scheduled ms (from the measured window), label, status, ms */
static void write_request_log(const char *path, int64_t first, int64_t total, int64_t start) {
    FILE *f = fopen(path, "w");
    if (!f) die(path);
    for (int64_t i = first; i < total; i++) {
        Job *j = &jobs[i];
        fprintf(f, "%.3f %s %d %.3f\n", (double)(j->sched - start) / 1e6, label_names[j->label],
                j->status, (double)(j->done - j->sched) / 1e6);
    }
    if (fclose(f) != 0) die(path);
}

static void usage(void) {
    fprintf(stderr, "usage: openloop [-H host] -p port -r rate -d seconds [-w warmup] "
                    "[-c maxconn] [-k 0|1] [-t drain_timeout] [-l log] -f requests\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *file = NULL, *log_path = NULL;
    int port = 0, opt;
    double rate = 0, duration = 0, warmup = 0, drain = 10;
    max_conns = 256;
    while ((opt = getopt(argc, argv, "H:p:r:d:w:c:k:t:f:l:")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'c': max_conns = atoi(optarg); break;
        case 'k': keep_alive = atoi(optarg); break;
        case 't': drain = atof(optarg); break;
        case 'f': file = optarg; break;
        case 'l': log_path = optarg; break;
        default: usage();
        }
    }
    if (!file || port <= 0 || rate <= 0 || duration <= 0 || max_conns <= 0) usage();
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1) usage();
    load_records(file);

    int64_t total = (int64_t)(rate * (warmup + duration));
    int64_t first_measured = (int64_t)(rate * warmup);
    double interval = 1e9 / rate;
    jobs = calloc((size_t)total, sizeof(Job));
    conns = calloc((size_t)max_conns, sizeof(Conn));
    idle_stack = calloc((size_t)max_conns, sizeof(int));
    for (int i = 0; i < max_conns; i++) {
        conns[i].fd = -1;
        conns[i].job = -1;
        conns[i].rcap = 16384;
        conns[i].rbuf = malloc(conns[i].rcap);
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
    if (epfd < 0 || tfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev) < 0) die("epoll");

    int64_t t0 = now_ns() + 1000000;
    for (int64_t i = 0; i < total; i++) {
        jobs[i].sched = t0 + (int64_t)((double)i * interval);
        jobs[i].label = records[i % (int64_t)record_count].label;
    }
    int64_t measure_start = first_measured < total ? jobs[first_measured].sched : t0;
    int64_t deadline = t0 + (int64_t)((warmup + duration + drain) * 1e9);
    struct rusage ru0, ru1;
    int cpu_marked = first_measured == 0;
    getrusage(RUSAGE_SELF, &ru0);

    int64_t next_due = 0, next_assign = 0, armed = -1;
    struct epoll_event events[256];
    while (completed < total) {
        int64_t now = now_ns();
        if (now > deadline) break;
        while (next_due < total && jobs[next_due].sched <= now) jobs[next_due++].seen = now;
        if (!cpu_marked && next_due > first_measured) {
            getrusage(RUSAGE_SELF, &ru0);
            cpu_marked = 1;
        }
        while (next_assign < next_due) {
            Conn *c = take_conn();
            if (!c) break;
            start_job(c, next_assign++);
        }
        if (next_due < total && armed != next_due) {
            struct itimerspec its = {0};
            its.it_value.tv_sec = jobs[next_due].sched / 1000000000LL;
            its.it_value.tv_nsec = jobs[next_due].sched % 1000000000LL;
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
            armed = next_due;
        }
        int n = epoll_wait(epfd, events, 256, 100);
        for (int i = 0; i < n; i++) {
            if (events[i].data.u32 == TIMER_TAG) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) die("timerfd");
                continue;
            }
            Conn *c = &conns[events[i].data.u32];
            if (c->fd >= 0) on_event(c, events[i].events);
        }
    }
    int64_t end = now_ns();
    getrusage(RUSAGE_SELF, &ru1);
    for (int64_t i = 0; i < total; i++)
        if (jobs[i].done == 0) {
            jobs[i].status = ERR_TIMEOUT;
            jobs[i].done = end;
            if (jobs[i].sent == 0) jobs[i].sent = end;
        }

    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double wall = (double)(end - measure_start) / 1e9;
    int64_t measured = total - first_measured;
    if (log_path) write_request_log(log_path, first_measured, total, measure_start);
    int64_t *buf = malloc((size_t)(measured > 0 ? measured : 1) * sizeof(int64_t));
    int64_t last_done = measure_start, answered = 0;
    for (int64_t i = first_measured; i < total; i++)
        if (jobs[i].status > 0) {
            answered++;
            if (jobs[i].done > last_done) last_done = jobs[i].done;
        }

    printf("{\"rate\": %.3f, \"duration_s\": %.3f, \"warmup_s\": %.3f, \"keep_alive\": %s, "
           "\"scheduled\": %lld, ",
           rate, duration, warmup, keep_alive ? "true" : "false", (long long)measured);
    printf("\"achieved_rps\": %.2f, \"peak_connections\": %d, \"cpu_s\": %.3f, "
           "\"cpu_percent\": %.2f, ",
           (double)answered / ((double)(last_done - measure_start) / 1e9 + interval / 1e9),
           peak_conns, cpu, wall > 0 ? 100 * cpu / wall : 0);
    /* our own lag: when the loop noticed a job was due, against when it was due */
    size_t n = 0;
    for (int64_t i = first_measured; i < total; i++) buf[n++] = jobs[i].seen - jobs[i].sched;
    print_dist("gen_lag_us", buf, n, 1e3);
    /* the TCP_NODELAY check: first request on a connection against later ones */
    printf(", ");
    n = 0;
    for (int64_t i = first_measured; i < total; i++)
        if (jobs[i].status > 0 && jobs[i].seq == 0) buf[n++] = jobs[i].done - jobs[i].sent;
    print_dist("first_on_connection_ms", buf, n, 1e6);
    printf(", ");
    n = 0;
    for (int64_t i = first_measured; i < total; i++)
        if (jobs[i].status > 0 && jobs[i].seq > 0) buf[n++] = jobs[i].done - jobs[i].sent;
    print_dist("reused_connection_ms", buf, n, 1e6);
    printf(", \"labels\": {");
    print_label("all", -1, first_measured, total, buf);
    for (int l = 0; l < label_count; l++) {
        printf(", ");
        print_label(label_names[l], l, first_measured, total, buf);
    }
    printf("}}\n");
    return 0;
}
