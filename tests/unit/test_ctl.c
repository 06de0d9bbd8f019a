/* Unit tests for the control protocol: frame I/O of common/ctl.c over socketpairs (raw byte
 * tables for what the reader must accept or reject, round trips, EINTR, a closed peer) and the
 * request encoding and argument checks of xmppctl (xmppctl/cmd.c). */
#include <setjmp.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "tlv.h"
#include "xlimits.h"
#include "xmppctl/cmd.h"

struct frame_case {
	const char *name;
	const char *raw;	/* bytes the peer sends, then it closes */
	size_t rawlen;
	int want_rc;
	int want_errno;
	const char *want;	/* payload when want_rc == 0 */
	size_t wantlen;
};

#define RAW(s) s, sizeof(s) - 1

static const struct frame_case frame_cases[] = {
	{"empty frame", RAW("\0\0\0\0"), 0, 0, "", 0},
	{"small frame", RAW("\0\0\0\5hello"), 0, 0, "hello", 5},
	{"frame with trailing bytes", RAW("\0\0\0\2hi\0\0"), 0, 0, "hi", 2},
	{"eof before frame", "", 0, -1, EPIPE, NULL, 0},
	{"truncated header", RAW("\0\0"), -1, EBADMSG, NULL, 0},
	{"truncated payload", RAW("\0\0\0\x0a" "abc"), -1, EBADMSG, NULL, 0},
	{"oversize length", RAW("\0\x10\0\1" "x"), -1, EMSGSIZE, NULL, 0},
	{"huge length", RAW("\xff\xff\xff\xff"), -1, EMSGSIZE, NULL, 0},
};

static void pair(int sv[2]) { assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); }

static void test_frame_table(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
		const struct frame_case *t = &frame_cases[i];
		int sv[2];
		pair(sv);
		assert_int_equal(write(sv[0], t->raw, t->rawlen), (ssize_t)t->rawlen);
		close(sv[0]);
		struct buf b;
		buf_init(&b);
		errno = 0;
		int rc = ctl_read_frame(sv[1], &b);
		if (rc != t->want_rc || (rc < 0 && errno != t->want_errno)) {
			fprintf(stderr, "case %s: rc %d errno %d, want %d errno %d\n", t->name, rc, errno,
				t->want_rc, t->want_errno);
			bad = 1;
		} else if (rc == 0 && (b.len != t->wantlen || (b.len && memcmp(b.data, t->want, b.len)))) {
			fprintf(stderr, "case %s: payload of %zu bytes differs\n", t->name, b.len);
			bad = 1;
		}
		buf_free(&b);
		close(sv[1]);
	}
	assert_int_equal(bad, 0);
}

/* A writer in a child process (the frames exceed the socket buffer) and the reader here. */
static void test_round_trip(void **state)
{
	(void)state;
	static const size_t sizes[] = {0, 1, 1000, 65536 + 3, CTL_MAX_FRAME};
	int sv[2];
	pair(sv);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[1]);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct buf b;
			buf_init(&b);
			for (size_t j = 0; j < sizes[i]; j++)
				buf_put_u8(&b, (uint8_t)(j * 7 + i));
			if (ctl_write_frame(sv[0], &b) < 0)
				_exit(1);
			buf_free(&b);
		}
		_exit(0);
	}
	close(sv[0]);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(ctl_read_frame(sv[1], &b), 0);
		assert_int_equal(b.len, sizes[i]);
		for (size_t j = 0; j < sizes[i]; j++)
			if (b.data[j] != (uint8_t)(j * 7 + i))
				fail_msg("frame %zu byte %zu differs", i, j);
	}
	assert_int_equal(ctl_read_frame(sv[1], &b), -1);
	assert_int_equal(errno, EPIPE);
	buf_free(&b);
	close(sv[1]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* The peer sends a frame one byte at a time; the reader must assemble the short reads. */
static void test_short_reads(void **state)
{
	(void)state;
	static const char raw[] = "\0\0\0\x0bshort reads";
	int sv[2];
	pair(sv);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[1]);
		for (size_t i = 0; i < sizeof(raw) - 1; i++) {
			if (write(sv[0], raw + i, 1) != 1)
				_exit(1);
			usleep(2000);
		}
		_exit(0);
	}
	close(sv[0]);
	struct buf b;
	buf_init(&b);
	assert_int_equal(ctl_read_frame(sv[1], &b), 0);
	assert_int_equal(b.len, 11);
	assert_memory_equal(b.data, "short reads", 11);
	buf_free(&b);
	close(sv[1]);
	waitpid(pid, NULL, 0);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) { (void)sig, alarms++; }

/* A signal without SA_RESTART interrupts the blocked read; the frame still arrives whole. */
static void test_eintr(void **state)
{
	(void)state;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	int sv[2];
	pair(sv);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[1]);
		usleep(300000);
		struct buf b;
		buf_init(&b);
		buf_put_str(&b, "late");
		_exit(ctl_write_frame(sv[0], &b) < 0);
	}
	close(sv[0]);
	struct itimerval it = {{0, 20000}, {0, 20000}};
	alarms = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	struct buf b;
	buf_init(&b);
	int rc = ctl_read_frame(sv[1], &b);
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	signal(SIGALRM, SIG_DFL);
	assert_int_equal(rc, 0);
	assert_true(alarms > 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "late", 4);
	buf_free(&b);
	close(sv[1]);
	waitpid(pid, NULL, 0);
}

static void test_write_errors(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	struct buf b;
	buf_init(&b);
	assert_int_equal(buf_reserve(&b, CTL_MAX_FRAME + 1), 0);
	memset(b.data, 'x', CTL_MAX_FRAME + 1);
	b.len = CTL_MAX_FRAME + 1;
	assert_int_equal(ctl_write_frame(sv[0], &b), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* Nothing was written for the refused frame. */
	close(sv[0]);
	char c;
	assert_int_equal(read(sv[1], &c, 1), 0);
	/* A closed peer is EPIPE, not a SIGPIPE that would kill xmppctl or the supervisor. */
	pair(sv);
	close(sv[1]);
	b.len = 10;
	assert_int_equal(ctl_write_frame(sv[0], &b), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
	buf_free(&b);
}

/* ---- xmppctl requests ---- */

struct cmd_case {
	const char *name;
	const char *argv[6];
	int want_rc;		/* 0 ok, -1 usage error */
	const char *want_err;	/* fragment of the usage message */
	int secret;		/* command needs a password */
	const char *want_cmd;
	const char *want_args[4];
};

static const struct cmd_case cmd_cases[] = {
	{"status", {"status"}, 0, NULL, 0, "status", {NULL}},
	{"reload", {"reload"}, 0, NULL, 0, "reload", {NULL}},
	{"stop", {"stop"}, 0, NULL, 0, "stop", {NULL}},
	{"worker restart role", {"worker", "restart", "c2s"}, 0, NULL, 0, "worker", {"restart", "c2s"}},
	{"worker restart instance", {"worker", "restart", "storage.12"}, 0, NULL, 0, "worker",
	 {"restart", "storage.12"}},
	{"worker restart router", {"worker", "restart", "router"}, 0, NULL, 0, "worker", {"restart", "router"}},
	{"user add", {"user", "add", "alice@localhost"}, 0, NULL, 1, "user", {"add", "alice@localhost"}},
	{"user passwd", {"user", "passwd", "a@b"}, 0, NULL, 1, "user", {"passwd", "a@b"}},
	{"user del", {"user", "del", "a@b"}, 0, NULL, 0, "user", {"del", "a@b"}},
	{"user list", {"user", "list", "localhost"}, 0, NULL, 0, "user", {"list", "localhost"}},
	{"no command", {NULL}, -1, "missing command", 0, NULL, {NULL}},
	{"unknown command", {"frob"}, -1, "unknown command 'frob'", 0, NULL, {NULL}},
	{"status extra", {"status", "now"}, -1, "status takes no argument", 0, NULL, {NULL}},
	{"worker no sub", {"worker"}, -1, "usage: xmppctl worker restart ROLE[.N]", 0, NULL, {NULL}},
	{"worker bad sub", {"worker", "kill", "c2s"}, -1, "unknown worker command 'kill'", 0, NULL, {NULL}},
	{"worker bad role", {"worker", "restart", "s2s"}, -1, "ROLE must be one of c2s, http, router, storage", 0, NULL, {NULL}},
	{"worker bad index", {"worker", "restart", "c2s.x"}, -1, "N in ROLE.N must be a number", 0, NULL, {NULL}},
	{"worker empty index", {"worker", "restart", "c2s."}, -1, "N in ROLE.N must be a number", 0, NULL, {NULL}},
	{"worker too many", {"worker", "restart", "c2s", "http"}, -1, "usage: xmppctl worker restart", 0, NULL, {NULL}},
	{"user no jid", {"user", "add"}, -1, "usage: xmppctl user add JID", 0, NULL, {NULL}},
	{"user jid without at", {"user", "add", "alice"}, -1, "'alice' is not a JID like user@host", 0, NULL, {NULL}},
	{"user jid empty local", {"user", "del", "@host"}, -1, "is not a JID", 0, NULL, {NULL}},
	{"user jid empty host", {"user", "passwd", "a@"}, -1, "is not a JID", 0, NULL, {NULL}},
	{"user list jid", {"user", "list", "a@b"}, -1, "HOST must be a domain", 0, NULL, {NULL}},
	{"user bad sub", {"user", "rename", "a@b"}, -1, "unknown user command 'rename'", 0, NULL, {NULL}},
};

static int argv_count(const char *const *v)
{
	int n = 0;
	while (n < 6 && v[n])
		n++;
	return n;
}

/* Decodes a request and compares it with the case; returns 0 when it matches. */
static int check_request(const struct cmd_case *t, const struct buf *b, const char *secret)
{
	struct rbuf r;
	struct tlv v;
	char s[256];
	uint32_t ver;
	int nargs = 0;
	rbuf_init(&r, b->data, b->len);
	if (tlv_next(&r, &v) != 1 || v.tag != CTL_T_VERSION || tlv_u32(&v, &ver) || ver != CTL_VERSION)
		return fprintf(stderr, "case %s: no version first\n", t->name), -1;
	if (tlv_next(&r, &v) != 1 || v.tag != CTL_T_CMD || tlv_str(&v, s, sizeof(s)) || strcmp(s, t->want_cmd))
		return fprintf(stderr, "case %s: bad CMD\n", t->name), -1;
	int rc;
	while ((rc = tlv_next(&r, &v)) == 1) {
		if (tlv_str(&v, s, sizeof(s)) < 0)
			return -1;
		if (v.tag == CTL_T_ARG) {
			if (!t->want_args[nargs] || strcmp(s, t->want_args[nargs]))
				return fprintf(stderr, "case %s: arg %d '%s'\n", t->name, nargs, s), -1;
			nargs++;
		} else if (v.tag == CTL_T_SECRET) {
			if (!secret || strcmp(s, secret) || nargs != argv_count(t->want_args))
				return fprintf(stderr, "case %s: unexpected secret\n", t->name), -1;
			secret = NULL;
		} else {
			return fprintf(stderr, "case %s: tag %u\n", t->name, v.tag), -1;
		}
	}
	if (rc < 0 || t->want_args[nargs] || secret)
		return fprintf(stderr, "case %s: missing args or secret\n", t->name), -1;
	return 0;
}

static void test_cmd_table(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *t = &cmd_cases[i];
		char err[256] = "";
		struct xctl_cmd c;
		int argc = argv_count(t->argv);
		int rc = xctl_cmd_parse(argc, (char **)t->argv, &c, err, sizeof(err));
		if (rc != t->want_rc || (rc < 0 && !strstr(err, t->want_err))) {
			fprintf(stderr, "case %s: rc %d err '%s', want %d '%s'\n", t->name, rc, err,
				t->want_rc, t->want_err ? t->want_err : "");
			bad = 1;
			continue;
		}
		if (rc < 0)
			continue;
		if (c.needs_secret != t->secret) {
			fprintf(stderr, "case %s: needs_secret %d\n", t->name, c.needs_secret);
			bad = 1;
			continue;
		}
		struct buf b;
		buf_init(&b);
		const char *secret = t->secret ? "s3cret pass" : NULL;
		assert_int_equal(xctl_request_build(&b, &c, secret), 0);
		bad |= check_request(t, &b, secret) != 0;
		buf_wipe_free(&b);
	}
	assert_int_equal(bad, 0);
}

struct reply_case {
	const char *name;
	int status;		/* -1: no STATUS record */
	const char *text, *error;
	int want_exit;
};

static const struct reply_case reply_cases[] = {
	{"ok with text", 0, "c2s.0 running\n", NULL, 0},
	{"failed with error", 1, NULL, "no such user", 1},
	{"usage", 2, NULL, "bad role", 2},
	{"unknown status", 7, NULL, NULL, 1},
	{"missing status", -1, "x", NULL, 1},
};

static void test_reply_table(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *t = &reply_cases[i];
		struct buf b;
		buf_init(&b);
		if (t->status >= 0)
			tlv_put_u32(&b, CTL_T_STATUS, (uint32_t)t->status);
		if (t->text)
			tlv_put_str(&b, CTL_T_TEXT, t->text);
		if (t->error)
			tlv_put_str(&b, CTL_T_ERROR, t->error);
		char out[256] = "", errout[256] = "";
		FILE *fo = fmemopen(out, sizeof(out), "w"), *fe = fmemopen(errout, sizeof(errout), "w");
		int ex = xctl_reply_print(b.data, b.len, fo, fe);
		fclose(fo);
		fclose(fe);
		char want_err[300] = "";
		if (t->error)
			snprintf(want_err, sizeof(want_err), "xmppctl: %s\n", t->error);
		if (ex != t->want_exit || (t->status >= 0 && strcmp(out, t->text ? t->text : "")) ||
		    (t->error && strcmp(errout, want_err))) {
			fprintf(stderr, "case %s: exit %d out '%s' err '%s'\n", t->name, ex, out, errout);
			bad = 1;
		}
		buf_free(&b);
	}
	/* Bytes that are not TLVs are a failure, never a crash. */
	char out[64] = "", errout[128] = "";
	FILE *fo = fmemopen(out, sizeof(out), "w"), *fe = fmemopen(errout, sizeof(errout), "w");
	int ex = xctl_reply_print((const uint8_t *)"\0\5\0\0\0\xff", 6, fo, fe);
	fclose(fo);
	fclose(fe);
	assert_int_equal(ex, 1);
	assert_non_null(strstr(errout, "malformed reply"));
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_table),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_short_reads),
		cmocka_unit_test(test_eintr),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_cmd_table),
		cmocka_unit_test(test_reply_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
