/* Recently delivered client stanzas (see seen.h): a ring of 64-bit keys with a chained hash
 * index over it; the oldest key leaves the index when the ring wraps. */
#include "seen.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

#define SEEN_BUCKETS 8192u	/* a power of two */

static struct {
	uint64_t key[C2S_SEEN_MAX];
	uint32_t next[C2S_SEEN_MAX];	/* chain in the bucket: slot + 1, 0 ends it */
	uint32_t bucket[SEEN_BUCKETS];	/* first slot + 1, 0 = empty */
	uint32_t pos, used;		/* the ring's next slot; slots in use */
	uint64_t dups;
	uint32_t next_no;
} seen;

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t seen_key(uint64_t sid, const char *from, size_t from_len, uint32_t no)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a over the sender's JID */
	for (size_t i = 0; i < from_len; i++) {
		h ^= (uint8_t)from[i];
		h *= 0x100000001b3ULL;
	}
	return mix64(h ^ mix64(sid ^ mix64((uint64_t)no + 0x9e3779b97f4a7c15ULL)));
}

/* Takes the key in slot s out of its bucket's chain. */
static void seen_unlink(uint32_t s)
{
	uint32_t *p = &seen.bucket[seen.key[s] & (SEEN_BUCKETS - 1)];
	while (*p && *p != s + 1)
		p = &seen.next[*p - 1];
	if (*p)
		*p = seen.next[s];
}

int c2s_seen_check(uint64_t sid, const char *from, size_t from_len, uint32_t no)
{
	if (no == 0)
		return 0;
	uint64_t k = seen_key(sid, from, from_len, no);
	uint32_t *head = &seen.bucket[k & (SEEN_BUCKETS - 1)];
	for (uint32_t i = *head; i; i = seen.next[i - 1]) {
		if (seen.key[i - 1] == k) {
			seen.dups++;
			return 1;
		}
	}
	uint32_t s = seen.pos;
	if (seen.used == C2S_SEEN_MAX)
		seen_unlink(s);
	else
		seen.used++;
	seen.key[s] = k;
	seen.next[s] = *head;
	*head = s + 1;
	seen.pos = (s + 1) % C2S_SEEN_MAX;
	return 0;
}

uint64_t c2s_seen_dups(void) { return seen.dups; }

void c2s_seen_reset(void)
{
	uint32_t no = seen.next_no;
	memset(&seen, 0, sizeof(seen));
	seen.next_no = no;
}

uint32_t c2s_seen_next_no(void)
{
	if (seen.next_no == 0 && getrandom(&seen.next_no, sizeof(seen.next_no), 0) != (ssize_t)sizeof(seen.next_no))
		fatal("getrandom failed for the stanza numbers", "errno=%d", errno);
	if (++seen.next_no == 0)
		seen.next_no = 1;
	return seen.next_no;
}
