/* Opens the configured listeners: one SO_REUSEPORT socket per worker instance, kept by the
 * supervisor so that a restarting worker's backlog survives. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sup.h"

static unsigned listener_instances(const char *kind)
{
	if (strcmp(kind, "http") == 0 || strcmp(kind, "https") == 0)
		return env->cfg.workers_http;
	return env->cfg.workers_c2s;	/* c2s, c2s-tls, component */
}

static int listener_socket(const struct cfg_listen *l, int first_of_group, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int one = 1, zero = 0, fd;

	memset(&ss, 0, sizeof(ss));
	if (strchr(l->host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(l->port);
		if (inet_pton(AF_INET6, l->host, &s6->sin6_addr) != 1)
			goto bad;
		sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(l->port);
		if (inet_pton(AF_INET, l->host, &s4->sin_addr) != 1)
			goto bad;
		sslen = sizeof(*s4);
	}
	/* SO_REUSEPORT would silently share the port with another running server: a probe
	 * without it fails when anybody holds the address. */
	int probe = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss.ss_family == AF_INET6)
			setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (!first_of_group || bind(probe, (struct sockaddr *)&ss, sslen) == 0) {
			close(probe);
		} else {
			snprintf(err, errlen, "cannot listen on %s [%s]:%u: %s", l->kind, l->host, l->port,
				 strerror(errno));
			close(probe);
			return -1;
		}
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket for %s %s:%u: %s", l->kind, l->host, l->port, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 1024) < 0) {
		snprintf(err, errlen, "cannot listen on %s [%s]:%u: %s", l->kind, l->host, l->port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
bad:
	snprintf(err, errlen, "bad listen address for %s: %s", l->kind, l->host);
	return -1;
}

int sup_listeners_open(char *err, size_t errlen)
{
	for (size_t i = 0; i < env->cfg.nlistens; i++) {
		if (env->nlisteners >= sizeof(env->listeners) / sizeof(env->listeners[0])) {
			snprintf(err, errlen, "too many listeners");
			return -1;
		}
		struct sup_listener *sl = &env->listeners[env->nlisteners++];
		sl->conf = env->cfg.listens[i];
		unsigned n = listener_instances(sl->conf.kind);
		for (sl->nfds = 0; sl->nfds < n; sl->nfds++) {
			sl->fds[sl->nfds] = listener_socket(&sl->conf, sl->nfds == 0, err, errlen);
			if (sl->fds[sl->nfds] < 0)
				return -1;
		}
		log_info("listening", "kind=%s addr=\"[%s]:%u\" sockets=%u", sl->conf.kind, sl->conf.host,
			 sl->conf.port, sl->nfds);
	}
	return 0;
}

int sup_listener_fds(const char *kind, unsigned instance, int *fd)
{
	for (unsigned i = 0; i < env->nlisteners; i++) {
		struct sup_listener *sl = &env->listeners[i];
		if (strcmp(sl->conf.kind, kind) == 0 && instance < sl->nfds) {
			*fd = sl->fds[instance];
			return 1;
		}
	}
	return 0;
}
