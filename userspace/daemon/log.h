/* SPDX-License-Identifier: MIT */
/*
 * pithd's log: one line per event on stderr. Under systemd (stderr is the
 * journal, $JOURNAL_STREAM set) each line starts with its sd-daemon(3)
 * priority prefix "<N>", so `journalctl -p` filters them; elsewhere lines
 * start with "pithd: ".
 */
#ifndef PITH_DAEMON_LOG_H
#define PITH_DAEMON_LOG_H

#include "lib/macro.h"

extern int log_max_level; /* syslog priority; higher ones are dropped */
void log_init(void);
void log_msg(int priority, const char *fmt, ...) _printf_(2, 3);

#endif
