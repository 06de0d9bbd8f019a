/* Tags of the configuration slice the supervisor sends each worker (TLV, see tlv.h).
 * Groups: SL_VHOST and SL_COMPONENT start a group; the tags after them belong to it. */
#ifndef XMPPD_SLICE_H
#define XMPPD_SLICE_H

enum slice_tag {
	SL_ROLE = 1,		/* str: c2s | http | router | storage */
	SL_INSTANCE,		/* u32 */
	SL_RUNDIR,		/* str, absolute */
	SL_DATADIR,		/* str, absolute (storage only) */
	SL_LOGLEVEL,		/* u32 enum log_level */
	SL_UNPRIV,		/* u32 1 = supervisor not root: no uid change, chroot, netns */
	SL_NC2S,		/* u32 number of c2s instances (router: links to listen on) */
	SL_NHTTP,		/* u32 */
	SL_NSTORAGE,		/* u32 */
	SL_STANZA_SIZE,		/* u64 bytes */
	SL_UNAUTH_TIMEOUT,	/* u32 seconds */
	SL_CONN_PER_IP,		/* u32 */
	SL_C2S_RATE,		/* u64 bytes/s */
	SL_SCRAM_ITER,		/* u32 */
	SL_STORAGE_DEFAULT,	/* str backend name */
	SL_STORAGE_ARG,		/* str backend argument (conninfo, uri) */
	SL_ADMIN,		/* str bare JID, repeated */
	SL_C2S_DEPTH = 24,	/* u32 element depth (c2s), 0 = default */
	SL_C2S_ATTRS = 25,	/* u32 attributes per element (c2s), 0 = default */
	SL_C2S_OUTBUF = 26,	/* u64 bytes queued per client before it is dropped, 0 = default */
	SL_C2S_PING = 27,	/* u32 seconds of silence before a server ping, 0 = default */
	SL_C2S_REGS_PER_IP = 28,	/* u32 in-band registrations per address per 10 minutes (c2s) */
	SL_HTTP_TRUSTED_PROXY = 30,	/* str address or CIDR whose X-Forwarded-For is believed (http), repeated */
	SL_HTTP_WEBROOT = 31,	/* str absolute directory of the static web client (http) */
	SL_HTTP_BOSH_INACTIVITY = 52,	/* u32 seconds a BOSH session lives with no request held (http) */
	SL_VHOST = 32,		/* str name: starts a vhost group */
	SL_VHOST_CERT,		/* bytes PEM (c2s/http only) */
	SL_VHOST_KEY,		/* bytes PEM (c2s/http only) */
	SL_VHOST_REQUIRE_TLS,	/* u32 */
	SL_VHOST_REGISTRATION,	/* u32 1 = open */
	SL_MODULE,		/* str, repeated inside a vhost or component group */
	SL_VHOST_ANONYMOUS = 40,	/* u32 1 = SASL ANONYMOUS offered (c2s) */
	SL_VHOST_CONFLICT = 41,	/* u32 resource conflict: 0 replace the old session, 1 refuse the new */
	SL_VHOST_OPTION = 42,	/* str "key=value", repeated: the vhost's (or internal component's)
				 * module options (router) */
	SL_STORAGE_CACHE = 56,	/* str redis URL of the cache in front of every backend (storage) */
	SL_STORAGE_STORE = 57,	/* nested {SL_STORAGE_STORE_NAME SL_STORAGE_DEFAULT [SL_STORAGE_ARG]
				 * [SL_VHOST]}, repeated: one store ("*": all) kept in another backend,
				 * for one host when SL_VHOST is there (storage) */
	SL_STORAGE_STORE_NAME = 58,	/* str, inside SL_STORAGE_STORE */
	SL_COMPONENT = 48,	/* str name: starts a component group */
	SL_COMPONENT_SECRET,	/* str (c2s only) */
};

#endif
