/* xmppctl's command table: client-side argument checks, request encoding and reply printing.
 * Kept apart from main.c so the unit tests link it (libctl.a). */
#ifndef XMPPD_XMPPCTL_CMD_H
#define XMPPD_XMPPCTL_CMD_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

#define XCTL_MAX_ARGS 4
#define XCTL_MAX_PASSWORD 1024	/* bytes of one password, newline excluded */

struct xctl_cmd {
	const char *cmd;			/* borrowed from argv */
	const char *args[XCTL_MAX_ARGS];	/* borrowed from argv */
	int nargs;
	int needs_secret;			/* user add / user passwd */
};

/* argv[0] is the command word. 0 ok, -1 with a one-line usage message in err. */
int xctl_cmd_parse(int argc, char **argv, struct xctl_cmd *out, char *err, size_t errlen);
/* Appends VERSION, CMD, each ARG and, when secret is not NULL, SECRET. The caller wipes b. */
int xctl_request_build(struct buf *b, const struct xctl_cmd *c, const char *secret);
/* Prints a reply (TEXT to out as is, ERROR to err as "xmppctl: REASON") and returns the exit
 * code: 0 ok, 1 failed or malformed, 2 usage. Nothing is printed from a malformed reply. */
int xctl_reply_print(const uint8_t *p, size_t len, FILE *out, FILE *err);
/* Reads a password from fd: one line when fd is not a terminal, otherwise prompted twice on
 * stderr with echo off. 0 ok, -1 with a reason in err. out holds XCTL_MAX_PASSWORD + 1 bytes;
 * the caller wipes it. */
int xctl_read_password(int fd, char *out, size_t cap, char *err, size_t errlen);

#endif
