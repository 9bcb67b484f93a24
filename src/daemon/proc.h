/*
 * proc.h - what migd reads about a process from /proc: its parent, its start time (the
 * identity that makes a recycled pid a different process) and its effective uid.
 *
 * A process is identified by (pid, start_time): start_time is field 22 of /proc/PID/stat,
 * clock ticks after boot, fixed for the life of the process. Pids are reused; the pair is
 * not (until a reboot, after which migd's reconciliation drops every stale row anyway).
 */
#ifndef MIGD_PROC_H
#define MIGD_PROC_H

#include <sys/types.h>

#include "migkit/common.h"

struct proc_info {
    pid_t ppid;
    uint64_t start_time;
    uid_t euid;
};

/* Reads pid's parent, start time and effective uid. Returns 0, -ESRCH when there is no such
 * process (or it is a zombie: it holds nothing any more), -EBADMSG when /proc cannot be
 * parsed. proc_root is "/proc" except in tests. */
int proc_info_read(const char *proc_root, pid_t pid, struct proc_info *ret);

/* True when (pid, start_time) is a live process. */
bool proc_alive(const char *proc_root, pid_t pid, uint64_t start_time);

#endif /* MIGD_PROC_H */
