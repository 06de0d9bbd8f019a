/* XEP-0115 entity capabilities of each vhost, as the router computed them from the vhost's
 * disco#info (XE_HOST_CAPS): kept here and written as <c/> into the stream features after
 * authentication. What the router sends is checked like any worker input, never trusted. */
#include <string.h>
#include <strings.h>

#include "c2s.h"
#include "log.h"
#include "route.h"
#include "tlv.h"

#define C2S_CAPS_NODE "urn:x-xmppd:caps"	/* names the software (XEP-0115 §4 'node') */
#define C2S_CAPS_VER_MAX 64			/* base64 of the longest hash we would accept */

/* The ver of each vhost, by its index in env->vhosts (read once at start, never moved); a
 * file-level table beside env because only this file uses it. "" = no caps. */
static char caps_ver[MAX_VHOSTS][C2S_CAPS_VER_MAX + 1];

static int caps_base64(const uint8_t *p, size_t n)
{
	if (n == 0 || n > C2S_CAPS_VER_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
		      p[i] == '+' || p[i] == '/' || p[i] == '='))
			return 0;
	return 1;
}

int c2s_caps_set(const char *host, size_t host_len, const uint8_t *body, size_t len)
{
	struct rbuf r;
	struct tlv t;
	int sha1 = 0, has_ver = 0, rc;
	const uint8_t *ver = NULL;
	size_t ver_len = 0, i;
	for (i = 0; i < env->nvhosts && i < MAX_VHOSTS; i++)
		if (strlen(env->vhosts[i].name) == host_len && strncasecmp(env->vhosts[i].name, host, host_len) == 0)
			break;
	if (i == env->nvhosts || i == MAX_VHOSTS)
		return -1;
	rbuf_init(&r, body, len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		if (t.tag == RT_CAPS_HASH)
			sha1 = t.len == 5 && memcmp(t.val, "sha-1", 5) == 0;
		else if (t.tag == RT_CAPS_VER)
			ver = t.val, ver_len = t.len, has_ver = 1;
	}
	/* an empty ver withdraws the caps (the vhost has no disco#info) */
	if (rc < 0 || !has_ver || (ver_len && (!sha1 || !caps_base64(ver, ver_len))))
		return -1;
	memcpy(caps_ver[i], ver, ver_len);
	caps_ver[i][ver_len] = 0;
	log_debug("entity capabilities of a vhost", "host=%s ver=%s", env->vhosts[i].name,
		  ver_len ? caps_ver[i] : "-");
	return 0;
}

void c2s_caps_clear(void)
{
	memset(caps_ver, 0, sizeof(caps_ver));
}

int c2s_caps_put(struct buf *b, const struct c2s_vhost *vh)
{
	size_t i = vh ? (size_t)(vh - env->vhosts) : MAX_VHOSTS;
	if (i >= env->nvhosts || i >= MAX_VHOSTS || !caps_ver[i][0])
		return 0;
	return buf_printf(b, "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='" C2S_CAPS_NODE
			     "' ver='%s'/>", caps_ver[i]);
}
