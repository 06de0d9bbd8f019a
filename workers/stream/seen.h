/* Client stanzas recently delivered to our sessions, so that one a new router delivers again
 * (its sender's worker replayed it after the old router delivered it but died before
 * acknowledging it) reaches the client once. A stanza is known by the session it is for, its
 * sender's full JID and the number the sender's stream worker gave it (the envelope's reqid,
 * kept across replays); stanzas without a number (the server's own) are never held back. */
#ifndef XMPPD_STREAM_SEEN_H
#define XMPPD_STREAM_SEEN_H
#include <stddef.h>
#include <stdint.h>

#define C2S_SEEN_MAX 8192u	/* deliveries remembered: far more than a crash's ack window */

/* 1 when (sid, from, no) was delivered within the last C2S_SEEN_MAX deliveries; otherwise
 * remembers it and returns 0. no == 0 is never remembered (always 0). */
int c2s_seen_check(uint64_t sid, const char *from, size_t from_len, uint32_t no);
/* Duplicates c2s_seen_check reported since the start (or the last reset). */
uint64_t c2s_seen_dups(void);
void c2s_seen_reset(void);

/* The number for the next stanza this worker sends: never 0, from a random start. */
uint32_t c2s_seen_next_no(void);

#endif
