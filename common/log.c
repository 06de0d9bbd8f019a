/* logfmt lines on stderr, one write(2) per line so lines from one process never interleave. */
#include "log.h"
#include "xlimits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The log level is process-wide by nature; set once at start and on reload. */
static int log_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "notice", "warn", "err", "crit"};

void log_init(int level) { log_level = level; }
void log_set_level(int level) { log_level = level; }
int log_get_level(void) { return log_level; }

int log_level_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

const char *log_level_name(int level)
{
	if (level < LOG_DEBUG || level > LOG_CRIT)
		return "?";
	return level_names[level];
}

__attribute__((format(printf, 3, 0)))
static void log_vwrite(int level, const char *msg, const char *kvfmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int n = snprintf(line, sizeof(line), "level=%s msg=\"%s\"", log_level_name(level), msg);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)strlen(line);
	if (kvfmt && *kvfmt && (size_t)n < sizeof(line) - 2) {
		line[n++] = ' ';
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n, kvfmt, ap);
		if (m < 0)
			m = 0;
		n = (size_t)(n + m) >= sizeof(line) ? (int)sizeof(line) - 2 : n + m;
	}
	for (int i = 0; i < n; i++)	/* one line per record, whatever the values held */
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

void log_msg(int level, const char *msg, const char *kvfmt, ...)
{
	if (level < log_level)
		return;
	va_list ap;
	va_start(ap, kvfmt);
	log_vwrite(level, msg, kvfmt, ap);
	va_end(ap);
}

void fatal(const char *msg, const char *kvfmt, ...)
{
	va_list ap;
	va_start(ap, kvfmt);
	log_vwrite(LOG_CRIT, msg, kvfmt, ap);
	va_end(ap);
	exit(1);
}

void fatal_config(const char *msg, const char *kvfmt, ...)
{
	va_list ap;
	va_start(ap, kvfmt);
	log_vwrite(LOG_CRIT, msg, kvfmt, ap);
	va_end(ap);
	exit(EX_CONFIG_EXIT);
}
