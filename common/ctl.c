/* Frame I/O for the control socket: u32 big-endian length, then at most CTL_MAX_FRAME bytes.
 * Blocking, EINTR-safe, never allocates more than the announced (bounded) length. */
#include "ctl.h"
#include "xlimits.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* send() with MSG_NOSIGNAL so a closed peer is an EPIPE error, not a SIGPIPE; write() for
 * descriptors that are not sockets (pipes in tests). */
static ssize_t ctl_write_some(int fd, const uint8_t *p, size_t n)
{
	ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
	if (w < 0 && errno == ENOTSOCK)
		w = write(fd, p, n);
	return w;
}

static int ctl_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = ctl_write_some(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes. Returns n, or the number read before EOF (< n), or -1 on error. */
static ssize_t ctl_read_all(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int ctl_write_frame(int fd, const struct buf *payload)
{
	if (payload->len > CTL_MAX_FRAME) {
		errno = EMSGSIZE;
		return -1;
	}
	uint32_t n = (uint32_t)payload->len;
	uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	if (ctl_write_all(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	return ctl_write_all(fd, payload->data, payload->len);
}

/* Clean EOF before the first header byte: -1 with errno EPIPE. EOF inside a frame: EBADMSG.
 * A length above CTL_MAX_FRAME: EMSGSIZE, and nothing of the payload is read. */
int ctl_read_frame(int fd, struct buf *payload)
{
	uint8_t hdr[4];
	ssize_t r = ctl_read_all(fd, hdr, sizeof(hdr));
	if (r < 0)
		return -1;
	if (r == 0) {
		errno = EPIPE;
		return -1;
	}
	if ((size_t)r < sizeof(hdr)) {
		errno = EBADMSG;
		return -1;
	}
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n > CTL_MAX_FRAME) {
		errno = EMSGSIZE;
		return -1;
	}
	buf_reset(payload);
	if (buf_reserve(payload, n) < 0)
		return -1;
	r = ctl_read_all(fd, payload->data, n);
	if (r < 0)
		return -1;
	if ((size_t)r < n) {
		errno = EBADMSG;
		return -1;
	}
	payload->len = n;
	return 0;
}
