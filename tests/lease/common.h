/*
 * common.h - helpers shared by the lease tests: a temporary directory for the socket, raw
 * protocol connections (to send what a well-behaved client never would), and waiting for a
 * condition with a deadline. Header-only, static functions, test code only.
 */
#ifndef MK_TEST_LEASE_COMMON_H
#define MK_TEST_LEASE_COMMON_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How long a test waits for something the server does asynchronously before failing. */
#define TEST_WAIT_MS 3000

static inline uint64_t test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void test_sleep_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Connects a raw socket to path; -1 on failure. */
static inline int raw_open(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    int fd;
    if (n >= sizeof(a.sun_path))
        return -1;
    memcpy(a.sun_path, path, n + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends n bytes (all of them, blocking). */
static inline bool raw_sendn(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

static inline bool raw_send(int fd, const char *s)
{
    return raw_sendn(fd, s, strlen(s));
}

/*
 * Reads one line (without its newline) into buf, byte by byte so that nothing after the line
 * is consumed, waiting at most TEST_WAIT_MS. Returns its length, or -1 on EOF, error or
 * timeout.
 */
static inline int raw_line(int fd, char *buf, size_t n)
{
    size_t len = 0;
    uint64_t end = test_now_ms() + TEST_WAIT_MS;
    while (len + 1 < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint64_t now = test_now_ms();
        char ch;
        if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
            return -1;
        if (read(fd, &ch, 1) != 1)
            return -1;
        if (ch == '\n') {
            buf[len] = '\0';
            return (int)len;
        }
        buf[len++] = ch;
    }
    return -1;
}

/* True when the server closes the connection within TEST_WAIT_MS (EOF or reset). */
static inline bool raw_eof(int fd)
{
    char buf[256];
    uint64_t end = test_now_ms() + TEST_WAIT_MS;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint64_t now = test_now_ms();
        ssize_t n;
        if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
            return false;
        n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            return false;
    }
}

/* Waits until *(value) == want (re-evaluated), at most TEST_WAIT_MS. */
#define WAIT_UNTIL(cond)                                                                           \
    ({                                                                                             \
        uint64_t wait_end_ = test_now_ms() + TEST_WAIT_MS;                                         \
        bool ok_;                                                                                  \
        while (!(ok_ = (cond)) && test_now_ms() < wait_end_)                                       \
            test_sleep_us(1000);                                                                   \
        ok_;                                                                                       \
    })

#endif /* MK_TEST_LEASE_COMMON_H */
