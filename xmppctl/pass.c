/* Password input for xmppctl: one line from a pipe, or two prompts on a terminal with echo off.
 * Reads with read(2), not stdio, so no copy of the password stays in a FILE buffer. */
#include "cmd.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The terminal state to restore if a signal arrives while echo is off; global because the
 * signal handler needs it. */
static struct termios xctl_saved_tio;
static int xctl_tty_fd = -1;

static void xctl_restore_tty(int sig)
{
	if (xctl_tty_fd >= 0)
		tcsetattr(xctl_tty_fd, TCSAFLUSH, &xctl_saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One line into out (without the newline); -1 on error, on a line longer than cap - 1 or on EOF
 * before any byte. */
static int xctl_read_line(int fd, char *out, size_t cap, char *err, size_t errlen)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			explicit_bzero(out, cap);
			snprintf(err, errlen, "cannot read password: %s", strerror(errno));
			return -1;
		}
		if (r == 0 || c == '\n')
			break;
		if (n + 1 >= cap) {
			explicit_bzero(out, cap);
			snprintf(err, errlen, "password longer than %zu bytes", cap - 1);
			return -1;
		}
		out[n++] = c;
	}
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = 0;
	if (n == 0) {
		snprintf(err, errlen, "empty password");
		return -1;
	}
	return 0;
}

static int xctl_prompt(int fd, const char *prompt, char *out, size_t cap, char *err, size_t errlen)
{
	if (write(STDERR_FILENO, prompt, strlen(prompt)) < 0) {
		/* The prompt is a courtesy; reading still works. */
	}
	int rc = xctl_read_line(fd, out, cap, err, errlen);
	if (write(STDERR_FILENO, "\n", 1) < 0) {
		/* as above */
	}
	return rc;
}

static int xctl_read_tty(int fd, char *out, size_t cap, char *err, size_t errlen)
{
	struct termios tio;
	if (tcgetattr(fd, &xctl_saved_tio) < 0) {
		snprintf(err, errlen, "cannot read the terminal: %s", strerror(errno));
		return -1;
	}
	tio = xctl_saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	tio.c_lflag |= ICANON;
	xctl_tty_fd = fd;
	signal(SIGINT, xctl_restore_tty);
	signal(SIGTERM, xctl_restore_tty);
	signal(SIGHUP, xctl_restore_tty);
	if (tcsetattr(fd, TCSAFLUSH, &tio) < 0) {
		snprintf(err, errlen, "cannot turn echo off: %s", strerror(errno));
		xctl_tty_fd = -1;
		return -1;
	}
	char again[XCTL_MAX_PASSWORD + 1];
	int rc = xctl_prompt(fd, "Password: ", out, cap, err, errlen);
	if (rc == 0)
		rc = xctl_prompt(fd, "Again: ", again, sizeof(again), err, errlen);
	if (rc == 0 && strcmp(out, again) != 0) {
		snprintf(err, errlen, "passwords do not match");
		rc = -1;
	}
	explicit_bzero(again, sizeof(again));
	tcsetattr(fd, TCSAFLUSH, &xctl_saved_tio);
	xctl_tty_fd = -1;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (rc < 0)
		explicit_bzero(out, cap);
	return rc;
}

int xctl_read_password(int fd, char *out, size_t cap, char *err, size_t errlen)
{
	if (isatty(fd))
		return xctl_read_tty(fd, out, cap, err, errlen);
	return xctl_read_line(fd, out, cap, err, errlen);
}
