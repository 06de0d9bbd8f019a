/* Unit tests for the boot channel (common/chan.c) over real SOCK_SEQPACKET socketpairs:
 * message boundaries, fd passing, the size limit, EOF and nonblocking reads. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "chan.h"
#include "xlimits.h"

static void pair(int sv[2], int flags)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | flags, 0, sv), 0);
}

/* Big enough for one message of n bytes; SO_*BUFFORCE needs root, as in the supervisor. */
static int big_buffers(int sv[2], size_t n)
{
	int sz = (int)n + 4096;
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0 ||
	    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		return -1;
	return 0;
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_roundtrip(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		uint8_t type;
		size_t len;
	} cases[] = {
		{"GO without payload", CHAN_GO, 0},
		{"PING u64", CHAN_PING, 8},
		{"slice one byte", CHAN_SLICE, 1},
		{"slice 1000", CHAN_SLICE, 1000},
		{"ctl 60000", CHAN_CTL_REQ, 60000},
		{"READY", CHAN_READY, 0},
		{"type 255", 255, 3},
	};
	int sv[2];
	pair(sv, 0);
	struct buf got;
	buf_init(&got);
	uint8_t *data = malloc(60000);
	assert_non_null(data);
	for (size_t i = 0; i < 60000; i++)
		data[i] = (uint8_t)(i * 31 + 7);
	/* all sent first, then received: boundaries are kept */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (chan_send(sv[0], cases[i].type, data, cases[i].len, -1) != 0)
			fail_msg("case '%s': send failed: %s", cases[i].name, strerror(errno));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t type = 0;
		int fd = 42;
		int rc = chan_recv(sv[1], &type, &got, &fd);
		if (rc != 1 || type != cases[i].type || got.len != cases[i].len || fd != -1 ||
		    (got.len && memcmp(got.data, data, got.len) != 0))
			fail_msg("case '%s': rc %d type %u len %zu fd %d", cases[i].name, rc, type,
				 got.len, fd);
	}
	free(data);
	buf_free(&got);
	close(sv[0]);
	close(sv[1]);
}

static void test_fd_passing(void **state)
{
	(void)state;
	int sv[2], p[2];
	pair(sv, 0);
	assert_int_equal(pipe(p), 0);
	int before = count_fds();
	assert_int_equal(chan_send(sv[0], CHAN_LISTENER, "c2s", 3, p[1]), 0);
	close(p[1]);	/* the copy in flight keeps the pipe open */
	struct buf got;
	buf_init(&got);
	uint8_t type;
	int fd = -1;
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), 1);
	assert_int_equal(type, CHAN_LISTENER);
	assert_int_equal(got.len, 3);
	assert_memory_equal(got.data, "c2s", 3);
	assert_true(fd >= 0);
	/* close-on-exec, so it never leaks into a child */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(count_fds(), before);	/* p[1] closed, exactly one received */
	assert_int_equal(write(fd, "ok", 2), 2);
	close(fd);
	char rb[4] = {0};
	assert_int_equal(read(p[0], rb, sizeof(rb)), 2);
	assert_string_equal(rb, "ok");
	assert_int_equal(read(p[0], rb, sizeof(rb)), 0);	/* every write end is closed */
	close(p[0]);
	/* an fd with an empty payload */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(chan_send(sv[0], CHAN_LISTENER, NULL, 0, p[0]), 0);
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), 1);
	assert_int_equal(got.len, 0);
	assert_true(fd >= 0);
	close(fd);
	close(p[0]);
	close(p[1]);
	buf_free(&got);
	close(sv[0]);
	close(sv[1]);
}

/* Linux cannot carry an AF_UNIX SEQPACKET message much above 4 MiB (one kmalloc'd skb plus
 * page fragments), whatever the buffer sizes; 4 MiB is the largest size tested here. */
#define LARGE_MSG (CHAN_MAX_MSG - 1)

static void test_size_limit(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, 0);
	struct buf got;
	buf_init(&got);
	uint8_t *data = malloc(CHAN_MAX_MSG + 1);
	assert_non_null(data);
	for (size_t i = 0; i < CHAN_MAX_MSG + 1; i++)
		data[i] = (uint8_t)(i ^ (i >> 9));
	/* type byte + payload must fit CHAN_MAX_MSG */
	errno = 0;
	assert_int_equal(chan_send(sv[0], CHAN_SLICE, data, CHAN_MAX_MSG, -1), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(chan_send(sv[0], CHAN_SLICE, data, SIZE_MAX, -1), -1);
	size_t large = big_buffers(sv, LARGE_MSG + 16) == 0 ? LARGE_MSG - 1 : 100000;
	/* a large message arrives whole, in one receive, with its neighbours intact */
	assert_int_equal(chan_send(sv[0], CHAN_PING, "a", 1, -1), 0);
	if (chan_send(sv[0], CHAN_SLICE, data, large, -1) != 0)
		fail_msg("sending %zu bytes failed: %s", large, strerror(errno));
	assert_int_equal(chan_send(sv[0], CHAN_PING, "b", 1, -1), 0);
	uint8_t type;
	int fd;
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), 1);
	assert_int_equal(got.len, 1);
	assert_int_equal(got.data[0], 'a');
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), 1);
	assert_int_equal(type, CHAN_SLICE);
	assert_int_equal(got.len, large);
	assert_memory_equal(got.data, data, large);
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), 1);
	assert_int_equal(got.len, 1);
	assert_int_equal(got.data[0], 'b');
	free(data);
	buf_free(&got);
	close(sv[0]);
	close(sv[1]);
}

static void test_eof_and_nonblocking(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, SOCK_NONBLOCK);
	struct buf got;
	buf_init(&got);
	uint8_t type;
	int fd;
	errno = 0;
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(chan_send(sv[0], CHAN_PONG, "12345678", 8, -1), 0);
	close(sv[0]);
	/* what was sent before the close is still delivered, then EOF */
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), 1);
	assert_int_equal(type, CHAN_PONG);
	assert_int_equal(got.len, 8);
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), 0);
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), 0);
	/* sending to a closed peer fails instead of raising SIGPIPE */
	errno = 0;
	assert_int_equal(chan_send(sv[1], CHAN_READY, NULL, 0, -1), -1);
	assert_int_equal(errno, EPIPE);
	buf_free(&got);
	close(sv[1]);
}

/* A message carrying two fds is refused whole, and neither fd stays open in the receiver. */
static void test_two_fds_refused(void **state)
{
	(void)state;
	int sv[2], fds[2];
	pair(sv, 0);
	assert_int_equal(pipe(fds), 0);
	int before = count_fds();
	uint8_t type = CHAN_LISTENER;
	struct iovec iov = {&type, 1};
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	assert_int_equal(sendmsg(sv[0], &mh, 0), 1);
	struct buf got;
	buf_init(&got);
	int fd = 42;
	assert_int_equal(chan_recv(sv[1], &type, &got, &fd), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(fd, -1);
	assert_int_equal(count_fds(), before);
	buf_free(&got);
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_fd_passing),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_eof_and_nonblocking),
		cmocka_unit_test(test_two_fds_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
