/* Stanza links: NNG pair1 between one c2s/http instance and the router, with per-link
 * sequence numbers, cumulative acknowledgements and replay of what the peer has not
 * acknowledged. Each NNG message is a batch of one or more frames (big-endian):
 *   batch: u32 magic "XLK2" | frame | frame | ...      (frames end exactly at the message end)
 *   frame: u32 len (>= 20, bytes after this field) | u32 type | u64 seq (0 for control
 *          frames) | u64 ack | payload (len - 20 bytes)
 * Frame types: DATA (an envelope), ACK (no payload), HELLO (payload u64 epoch).
 * The magic was "XLK1" when each message held one frame without a length, so a peer of the
 * other version only sees bad frames. A batch whose lengths do not add up is dropped whole
 * (one frames_bad); otherwise every frame in it counts and acts exactly as if it came alone.
 * DATA frames queued by link_send go out together when the loop is about to block (an
 * ev_prepare), or at once when 64 frames or 64 KiB are waiting; each carries the latest ack.
 * Every side sends HELLO with its random epoch when a pipe comes up; a HELLO with an epoch
 * other than the last one seen means the peer is a new process.
 * Single-threaded: every callback runs on the libev loop, never on an NNG thread. */
#ifndef XMPPD_LINK_H
#define XMPPD_LINK_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

struct link;

enum link_event {
	LINK_PEER_NEW = 1,	/* a new peer process said HELLO (first one included) */
	LINK_PEER_DOWN,		/* the pipe to the peer went away */
};

struct link_ops {
	/* One received envelope (borrowed until return), in order, never twice per epoch. */
	void (*recv)(void *arg, struct link *l, uint64_t seq, const uint8_t *env, size_t len);
	/* LINK_PEER_NEW: called after the receive state was reset and before anything is
	 * replayed, so what the callback sends (ROUTE_SYNC) goes out ahead of the replay. */
	void (*event)(void *arg, struct link *l, int event);
	/* Everything this side sent up to and including seq is acknowledged by the peer. */
	void (*acked)(void *arg, struct link *l, uint64_t upto);
};

struct link_opts {
	int replay;		/* 1: keep unacked frames and resend them (renumbered) to a new peer;
				 * 0: drop them on a new peer and report them acked (frames queued
				 * before the first peer ever connected are kept in both modes) */
	int auto_ack;		/* 1: a received frame counts as done once recv returns */
	size_t max_unacked_bytes;	/* 0 = LINK_MAX_UNACKED */
	size_t recv_max;	/* NNG_OPT_RECVMAXSZ; 0 = envelope and batch limits */
};

/* url like "ipc:///path/c2s.0.sock"; -1 with errno on failure. */
struct link *link_listen(struct ev_loop *loop, const char *url, const struct link_opts *o,
			 const struct link_ops *ops, void *arg);
struct link *link_dial(struct ev_loop *loop, const char *url, const struct link_opts *o,
		       const struct link_ops *ops, void *arg);
/* Copies env; assigns the next sequence number (returned in *seq when seq != NULL).
 * Frames kept across a new peer's HELLO are renumbered after what the LINK_PEER_NEW callback
 * sends (frames queued before the first peer included). New numbers are always higher, so
 * a cumulative ops->acked(upto) that covers a frame's new number covers its old one too.
 * -1 (errno ENOBUFS) when the unacknowledged window is full: the caller keeps the stanza. */
int link_send(struct link *l, const uint8_t *env, size_t len, uint64_t *seq);
/* With auto_ack 0: everything received up to seq is done and may be acknowledged. */
void link_done_upto(struct link *l, uint64_t seq);
/* Number of frames sent (or waiting to be sent) that the peer has not acknowledged yet. */
size_t link_unacked(const struct link *l);
uint64_t link_peer_epoch(const struct link *l);
/* Closes the socket and frees l; no callback runs afterwards. May be called from inside
 * one of l's own callbacks (the memory is then freed once the callback has returned).
 * DATA still waiting in a batch for the loop is handed to NNG first. */
void link_close(struct link *l);

/* Counters for stats and tests. Malformed frames are dropped and counted, never trusted. */
struct link_stats {
	uint64_t frames_sent;	/* DATA frames handed to NNG, replays included */
	uint64_t frames_recv;	/* DATA frames delivered to ops->recv */
	uint64_t frames_bad;	/* malformed batch (once), bad magic, unknown type, bad payload,
				 * impossible ack */
	uint64_t frames_dup;	/* DATA with seq <= last delivered: dropped */
	uint64_t frames_stale;	/* DATA/ACK before any HELLO from the peer: dropped */
	uint64_t replayed;	/* unacknowledged frames renumbered and resent to a new peer */
	uint64_t acks_sent;	/* ACK frames (piggy-backed acks not counted) */
	uint64_t peers;		/* LINK_PEER_NEW events */
};
struct link_stats link_stats(const struct link *l);
/* This process's random epoch, as sent in HELLO; a link keeps the epoch current when it
 * was opened. link_new_epoch() draws a new one for links opened afterwards, so a test can
 * play a restarted peer inside one process. */
uint64_t link_epoch(void);
void link_new_epoch(void);

#endif
