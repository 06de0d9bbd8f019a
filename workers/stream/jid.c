/* JID preparation for c2s (RFC 7622 with the stringprep profiles of RFC 3920): the `to` of a
 * client's stanza is normalised before the router sees it, so routing compares canonical JIDs. */
#include <stdio.h>
#include <string.h>
#include <stringprep.h>

#include "c2s.h"
#include "xlimits.h"

#define JID_PART_MAX 1023u

/* Preps one part in place (part holds len bytes and room for JID_PART_MAX + 1). */
static int prep_part(char *part, size_t len, const Stringprep_profile *profile)
{
	if (len == 0 || len > JID_PART_MAX)
		return -1;
	part[len] = 0;
	if (stringprep(part, JID_PART_MAX + 1, 0, profile) != STRINGPREP_OK)
		return -1;
	size_t n = strlen(part);
	return n > 0 && n <= JID_PART_MAX ? 0 : -1;
}

int c2s_jid_prep(const char *in, char *out, size_t cap)
{
	char local[JID_PART_MAX + 1], domain[JID_PART_MAX + 1], res[JID_PART_MAX + 1];
	const char *slash = strchr(in, '/');
	size_t barelen = slash ? (size_t)(slash - in) : strlen(in);
	const char *at = memchr(in, '@', barelen);
	const char *dom = at ? at + 1 : in;
	size_t domlen = barelen - (size_t)(dom - in);
	if (at) {
		size_t ll = (size_t)(at - in);
		if (ll > JID_PART_MAX)
			return -1;
		memcpy(local, in, ll);
		if (prep_part(local, ll, stringprep_xmpp_nodeprep) < 0)
			return -1;
	}
	if (domlen > JID_PART_MAX || memchr(dom, '@', domlen))
		return -1;
	memcpy(domain, dom, domlen);
	if (domlen > 0 && domain[domlen - 1] == '.')
		domlen--;	/* a trailing dot names the same host */
	if (prep_part(domain, domlen, stringprep_nameprep) < 0)
		return -1;
	if (slash) {
		size_t rl = strlen(slash + 1);
		if (rl > JID_PART_MAX)
			return -1;
		memcpy(res, slash + 1, rl);
		if (prep_part(res, rl, stringprep_xmpp_resourceprep) < 0)
			return -1;
	}
	int n = snprintf(out, cap, "%s%s%s%s%s", at ? local : "", at ? "@" : "", domain,
			 slash ? "/" : "", slash ? res : "");
	return n > 0 && (size_t)n < cap && (size_t)n <= XE_MAX_JID ? 0 : -1;
}
