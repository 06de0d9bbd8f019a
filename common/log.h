/* logfmt logging to stderr. Workers' stderr is a pipe the supervisor tags with proc=ROLE.N pid=.
 * Never log passwords, SASL payloads or (below debug) stanza bodies. */
#ifndef XMPPD_LOG_H
#define XMPPD_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARN, LOG_ERR, LOG_CRIT };

void log_init(int level);
void log_set_level(int level);
int log_get_level(void);
int log_level_parse(const char *name);	/* -1 if unknown */
const char *log_level_name(int level);
/* msg is a short constant sentence; kvfmt formats extra logfmt pairs ("" for none). */
void log_msg(int level, const char *msg, const char *kvfmt, ...) __attribute__((format(printf, 3, 4)));
/* Start-up failures and broken invariants only: logs at crit and exits 1 (78 for config). */
_Noreturn void fatal(const char *msg, const char *kvfmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void fatal_config(const char *msg, const char *kvfmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(m, ...) log_msg(LOG_DEBUG, m, __VA_ARGS__)
#define log_info(m, ...) log_msg(LOG_INFO, m, __VA_ARGS__)
#define log_notice(m, ...) log_msg(LOG_NOTICE, m, __VA_ARGS__)
#define log_warn(m, ...) log_msg(LOG_WARN, m, __VA_ARGS__)
#define log_err(m, ...) log_msg(LOG_ERR, m, __VA_ARGS__)
#define log_crit(m, ...) log_msg(LOG_CRIT, m, __VA_ARGS__)

#define EX_CONFIG_EXIT 78

#endif
