/*
 * log.c - migd's log (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static bool log_syslog;
static int log_max = LOG_INFO;

void log_init(bool use_syslog, int max_level)
{
    log_syslog = use_syslog;
    log_max = max_level;
    if (use_syslog)
        openlog("migd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_msg(int level, const char *fmt, ...)
{
    static const char *const prefix[] = {"emerg",   "alert",  "crit", "error",
                                         "warning", "notice", "info", "debug"};
    char line[1024];
    va_list ap;
    if (level > log_max)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (log_syslog)
        syslog(level, "%s", line);
    else
        fprintf(stderr, "migd: %s: %s\n", prefix[level & 7], line);
}
