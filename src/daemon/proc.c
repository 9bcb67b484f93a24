/*
 * proc.c - reading a process's parent, start time and effective uid from /proc (proc.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

/* /proc/PID/stat is one line of ~52 fields; the command name is at most 64 bytes (TASK_COMM_LEN
 * is 16, but kernel threads' names can be longer); 1 KiB holds it with room to spare. */
#define STAT_LEN 1024
/* /proc/PID/status is ~1.5 KiB; Uid: is on the ninth line, well inside 4 KiB. */
#define STATUS_LEN 4096
/* Fields after the ")" that ends the command name: state is field 3, so field n is token
 * n - 3. */
#define FIELD_PPID      (4 - 3)
#define FIELD_STARTTIME (22 - 3)

/* Reads a small /proc file into buf (NUL-terminated). Returns its length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    do
        n = read(fd, buf, len - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return errno == ESRCH ? -ESRCH : -errno;
    buf[n] = '\0';
    return n;
}

/* Parses the fields after the command name: the name may hold spaces and ")", so parsing
 * starts after the last ")" of the line. */
static int parse_stat(char *buf, struct proc_info *ret)
{
    char *p = strrchr(buf, ')'), *save = NULL, *tok;
    unsigned long long ppid = 0, start = 0;
    int i = 0, have = 0;
    if (!p)
        return -EBADMSG;
    for (tok = strtok_r(p + 1, " ", &save); tok && have < 2; tok = strtok_r(NULL, " ", &save)) {
        if (i == 0 && *tok == 'Z')
            return -ESRCH; /* a zombie: exited, waiting for its parent */
        if (i == FIELD_PPID && sscanf(tok, "%llu", &ppid) == 1)
            have++;
        if (i == FIELD_STARTTIME && sscanf(tok, "%llu", &start) == 1)
            have++;
        i++;
    }
    if (have < 2)
        return -EBADMSG;
    ret->ppid = (pid_t)ppid;
    ret->start_time = (uint64_t)start;
    return 0;
}

/* The effective uid: the second number of the "Uid:" line (real, effective, saved, fs). */
static int parse_euid(const char *buf, uid_t *ret)
{
    const char *p = strstr(buf, "\nUid:");
    unsigned long real, eff;
    if (!p || sscanf(p + 5, "%lu %lu", &real, &eff) != 2)
        return -EBADMSG;
    *ret = (uid_t)eff;
    return 0;
}

int proc_info_read(const char *proc_root, pid_t pid, struct proc_info *ret)
{
    char path[256], buf[STATUS_LEN];
    struct proc_info info;
    ssize_t n;
    int r;
    if (pid <= 0)
        return -ESRCH;
    snprintf(path, sizeof(path), "%s/%d/stat", proc_root, (int)pid);
    if ((n = read_small(path, buf, STAT_LEN)) < 0)
        return (int)n;
    if ((r = parse_stat(buf, &info)) < 0)
        return r;
    snprintf(path, sizeof(path), "%s/%d/status", proc_root, (int)pid);
    if ((n = read_small(path, buf, sizeof(buf))) < 0)
        return (int)n;
    if ((r = parse_euid(buf, &info.euid)) < 0)
        return r;
    *ret = info;
    return 0;
}

bool proc_alive(const char *proc_root, pid_t pid, uint64_t start_time)
{
    struct proc_info info;
    return proc_info_read(proc_root, pid, &info) == 0 && info.start_time == start_time;
}
