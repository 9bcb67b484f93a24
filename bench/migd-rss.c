/*
 * migd-rss.c - migd's resident memory with N registered processes, each holding a lease
 * connection (bench/README.md, "migd memory"). Target: under 20 MiB at N = 1,000.
 *
 * migd identifies a lease client by SO_PEERCRED and a registration by (pid, start time), so N
 * registered processes are N real processes: this forks them (each a few pages: it only
 * connects, says HELLO and waits on a pipe). It starts a real migd --simulate in a mkdtemp
 * directory, creates one custom instance, registers every child through the API, lets each
 * connect to the lease socket, then reads VmRSS (and VmHWM) from /proc/<migd>/status. It also
 * times the registrations (the POST requests only, not the forks): in all, and the mean of
 * the first and of the last tenth, which shows whether a registration costs more as the
 * registry fills up.
 *
 * Usage: migd-rss MIGD [N]     (N defaults to 1000; run as root or a member of group migkit)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Descriptors migd needs beyond one per lease connection: the database, sockets, logs. */
#define FD_HEADROOM 256

static int connect_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One HTTP request on the API socket; the reply (headers and body) into out. Returns the
 * status, or -1. */
static int http(const char *sock, const char *method, const char *url, const char *body, char *out,
                size_t len)
{
    char req[1024];
    size_t got = 0;
    ssize_t n;
    int fd = connect_unix(sock), status = -1;
    if (fd < 0)
        return -1;
    n = snprintf(req, sizeof(req),
                 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 method, url, body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, (size_t)n) == n)
        while (got + 1 < len && (n = read(fd, out + got, len - 1 - got)) > 0)
            got += (size_t)n;
    out[got] = '\0';
    close(fd);
    sscanf(out, "HTTP/1.1 %d", &status);
    return status;
}

/* A child: waits for its "go" byte on in, connects to the lease socket and says HELLO,
 * reports on out, then holds the connection until hold (never written) closes. */
static void child(int in, int out, int hold, const char *lease)
{
    char c, line[256];
    int fd;
    if (read(in, &c, 1) != 1)
        _exit(1);
    fd = connect_unix(lease);
    if (fd < 0 || write(fd, "HELLO 1 held=0\n", 15) != 15 || read(fd, line, sizeof(line)) < 2 ||
        strncmp(line, "OK", 2) != 0)
        c = 'E';
    if (write(out, &c, 1) != 1)
        _exit(1);
    while (read(hold, &c, 1) > 0)
        ;
    _exit(0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long status_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    long v = -1;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, strlen(key)))
            sscanf(line + strlen(key), ": %ld", &v);
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    /* paths short enough for a Unix socket address (108 bytes) */
    char tmpl[] = "/tmp/migd-rss.XXXXXX", sock[96], lease[96], st[64], run[64], buf[8192];
    char body[128], url[160], uuid[64] = "";
    int n = argc > 2 ? atoi(argv[2]) : 1000, go[2], done[2], hold[2], ok = 0;
    struct rlimit rl = {(rlim_t)n + FD_HEADROOM, (rlim_t)n + FD_HEADROOM};
    pid_t migd, *kids;
    char *dir, *u;
    double t, total = 0, first = 0, last = 0;
    int tenth;
    if (argc < 2 || n < 1 || !(dir = mkdtemp(tmpl)) || !(kids = calloc((size_t)n, sizeof(*kids))))
        return fprintf(stderr, "usage: migd-rss MIGD [N]\n"), 2;
    tenth = n >= 10 ? n / 10 : 1;
    snprintf(st, sizeof(st), "%s/state", dir);
    snprintf(run, sizeof(run), "%s/run", dir);
    snprintf(sock, sizeof(sock), "%s/migd.sock", run);
    snprintf(lease, sizeof(lease), "%s/lease.sock", run);
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) /* inherited by migd: one fd per lease client */
        perror("migd-rss: setrlimit (N may exceed migd's descriptors)");
    if ((migd = fork()) == 0) {
        execl(argv[1], argv[1], "--foreground", "--simulate", "h100-sxm5-80gb", "--state-dir", st,
              "--run-dir", run, "--watchdog-interval", "0", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 2000 && http(sock, "GET", "/v1/health", NULL, buf, sizeof(buf)) != 200; i++)
        usleep(10000);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("migd idle:        VmRSS %ld KiB\n", status_kib(migd, "VmRSS"));
    if (http(sock, "POST", "/v1/instances",
             "{\"gpu\": 0, \"memory_bytes\": 4294967296, \"sms\": 8}", buf, sizeof(buf)) != 201 ||
        !(u = strstr(buf, "\"uuid\":\"")) || sscanf(u + 8, "%63[^\"]", uuid) != 1)
        return fprintf(stderr, "migd-rss: cannot create an instance: %s\n", buf), 1;
    if (pipe2(go, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0)
        return perror("pipe"), 1;
    snprintf(url, sizeof(url), "/v1/instances/%s/processes", uuid);
    for (int i = 0; i < n; i++) {
        if ((kids[i] = fork()) == 0) {
            /* only the parent keeps the write end of hold: its close is every child's EOF */
            close(hold[1]);
            child(go[0], done[1], hold[0], lease);
        }
        snprintf(body, sizeof(body), "{\"pid\": %d}", (int)kids[i]);
        t = now_s();
        if (kids[i] < 0 || http(sock, "POST", url, body, buf, sizeof(buf)) != 201)
            return fprintf(stderr, "migd-rss: child %d: %s\n", i, buf), 1;
        t = now_s() - t;
        total += t;
        first += i < tenth ? t : 0;
        last += i >= n - tenth ? t : 0;
    }
    printf("registering:      %.2f s for %d (mean %.2f ms; first tenth %.2f ms, last tenth "
           "%.2f ms)\n",
           total, n, total * 1e3 / n, first * 1e3 / tenth, last * 1e3 / tenth);
    for (int i = 0; i < n; i++) {
        char c = 'g';
        if (write(go[1], &c, 1) != 1)
            return 1;
    }
    for (int i = 0; i < n; i++) {
        char c;
        if (read(done[0], &c, 1) == 1 && c == 'g')
            ok++;
    }
    printf("processes:        %d registered, %d holding a lease connection\n", n, ok);
    printf("migd with them:   VmRSS %ld KiB (%.1f MiB), VmHWM %ld KiB\n", status_kib(migd, "VmRSS"),
           (double)status_kib(migd, "VmRSS") / 1024.0, status_kib(migd, "VmHWM"));
    close(hold[1]); /* children see EOF and exit */
    for (int i = 0; i < n; i++)
        waitpid(kids[i], NULL, 0);
    kill(migd, SIGTERM);
    waitpid(migd, NULL, 0);
    snprintf(buf, sizeof(buf), "rm -rf %s", dir);
    return system(buf) == 0 && ok == n ? 0 : 1;
}
