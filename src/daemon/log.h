/*
 * log.h - migd's log: stderr in the foreground (journald adds timestamps under systemd),
 * syslog when daemonized. Levels are syslog's (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG).
 * Thread-safe (one write per message); formats nothing when the level is filtered out.
 */
#ifndef MIGD_LOG_H
#define MIGD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Sends messages at level <= max_level to syslog (ident "migd") or to stderr. */
void log_init(bool use_syslog, int max_level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* MIGD_LOG_H */
