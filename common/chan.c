/* Boot-channel messages over SOCK_SEQPACKET with optional SCM_RIGHTS; bounded by CHAN_MAX_MSG. */
#include "chan.h"
#include "xlimits.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int chan_send(int fd, uint8_t type, const void *data, size_t len, int pass_fd)
{
	if (len >= CHAN_MAX_MSG) {
		errno = EMSGSIZE;
		return -1;
	}
	struct iovec iov[2] = {{&type, 1}, {(void *)data, len}};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	if (pass_fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != len + 1) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int chan_recv(int fd, uint8_t *type, struct buf *payload, int *got_fd)
{
	buf_reset(payload);
	*got_fd = -1;
	/* Peek the size first so a large slice (certificates) fits in one receive. */
	ssize_t size;
	do
		size = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (size < 0 && errno == EINTR);
	if (size < 0)
		return -1;
	if (size == 0)
		return 0;
	if ((size_t)size > CHAN_MAX_MSG) {
		errno = EMSGSIZE;
		return -1;
	}
	if (buf_reserve(payload, (size_t)size) < 0)
		return -1;
	struct iovec iov[2] = {{type, 1}, {payload->data, (size_t)size - 1}};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	int extra = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfds; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*got_fd < 0)
				*got_fd = got;
			else {
				close(got);	/* at most one fd per message */
				extra = 1;
			}
		}
	}
	if (extra) {
		close(*got_fd);
		*got_fd = -1;
		errno = EMSGSIZE;
		return -1;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (*got_fd >= 0)
			close(*got_fd);
		*got_fd = -1;
		errno = EMSGSIZE;
		return -1;
	}
	payload->len = (size_t)n - 1;
	return 1;
}
