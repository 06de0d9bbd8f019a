/* Every limit has a name and a default here; operators override the ones with config keys. */
#ifndef XMPPD_XLIMITS_H
#define XMPPD_XLIMITS_H

#define TLV_MAX_VALUE		(4u << 20)	/* one TLV value: certificates, stored values */
#define CHAN_MAX_MSG		(2u << 20)	/* one boot-channel message (Linux caps SEQPACKET near 4 MiB) */
#define CTL_MAX_FRAME		(1u << 20)	/* one control-socket frame */
#define XE_MAX_JID		3071u		/* RFC 7622: 3 × 1023 bytes plus separators */
#define XE_MAX_BODY		(1u << 20)	/* largest stanza or TLV body in an envelope */
#define XE_MAX_HOPS		16u
#define LINK_MAX_UNACKED	(16u << 20)	/* bytes a stanza link keeps for replay */
#define LINK_MAX_UNACKED_MSGS	65536u
#define STANZA_SIZE_DEFAULT	(256u << 10)
#define XML_MAX_DEPTH_DEFAULT	32u
#define XML_MAX_ATTRS		64u
#define XML_MAX_NAME		1024u
#define UNAUTH_TIMEOUT_DEFAULT	60		/* seconds */
#define CONN_PER_IP_DEFAULT	50
#define BOSH_INACTIVITY_DEFAULT	30		/* seconds a BOSH session lives with no request */
#define REGS_PER_IP_DEFAULT	5		/* in-band registrations per address per 10 minutes */
#define SCRAM_ITERATIONS_DEFAULT 4096u
#define SCRAM_MAX_MSG		4096u		/* one SASL message, decoded */
#define STORE_TIMEOUT_MS	5000		/* router-side timeout of a storage request */
#define READY_TIMEOUT_MS	10000
#define WATCHDOG_INTERVAL_MS	5000
#define WATCHDOG_MISSES		3
#define RESTART_DELAY_MIN_MS	250
#define RESTART_DELAY_MAX_MS	30000
#define RESTART_STABLE_MS	60000
#define THROTTLE_CRASHES	5
#define THROTTLE_WINDOW_MS	60000
#define THROTTLE_HOLD_MS	60000
#define LOG_LINE_MAX		2048
#define LOG_LINES_PER_SEC	200		/* per worker, then dropped and counted */
#define MAX_VHOSTS		256
#define MAX_WORKERS_PER_ROLE	64

#endif
