/* Localparts of stored accounts: nodeprep, and the escaping that turns one into a file name
 * that can never leave its directory (no '/', no leading '.', no "..", bounded length). */
#include "accounts_file.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <stringprep.h>

int sto_localpart_prep(const char *in, size_t inlen, char *out, size_t cap)
{
	/* nodeprep works in place and may grow the string (case folding): give it room. */
	char tmp[STO_USER_IN_MAX * 2 + 1];

	if (inlen == 0 || inlen > STO_USER_IN_MAX || memchr(in, 0, inlen) ||
	    cap < STO_LOCALPART_MAX + 1)
		goto bad;
	memcpy(tmp, in, inlen);
	tmp[inlen] = 0;
	if (stringprep(tmp, sizeof(tmp), STRINGPREP_NO_UNASSIGNED, stringprep_xmpp_nodeprep) !=
	    STRINGPREP_OK)
		goto bad;
	size_t n = strlen(tmp);
	if (n == 0 || n > STO_LOCALPART_MAX)
		goto bad;
	memcpy(out, tmp, n + 1);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

static int sto_fname_plain(unsigned char c, int first)
{
	if (c == '.')
		return !first;
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int sto_localpart_escape(const char *user, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; user[i]; i++) {
		unsigned char c = (unsigned char)user[i];
		if (sto_fname_plain(c, i == 0)) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= cap)
				return -1;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
	return 0;
}

int sto_localpart_fname(const char *user, char *out, size_t cap)
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	if (!user[0] || cap < 66) {
		errno = EINVAL;
		return -1;
	}
	if (sto_localpart_escape(user, out, cap < STO_FNAME_MAX + 1 ? cap : STO_FNAME_MAX + 1) == 0)
		return 0;
	if (!EVP_Digest(user, strlen(user), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -1;
	out[0] = '~';
	for (unsigned i = 0; i < 32; i++) {
		out[1 + 2 * i] = "0123456789abcdef"[md[i] >> 4];
		out[2 + 2 * i] = "0123456789abcdef"[md[i] & 15];
	}
	out[65] = 0;
	return 0;
}

static int sto_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sto_localpart_unescape(const char *name, char *out, size_t cap)
{
	char check[3 * STO_LOCALPART_MAX + 1];
	size_t o = 0;

	for (size_t i = 0; name[i]; i++) {
		if (o + 1 >= cap)
			goto bad;
		if (name[i] != '%') {
			out[o++] = name[i];
			continue;
		}
		int hi = sto_hexval(name[i + 1]), lo = hi < 0 ? -1 : sto_hexval(name[i + 2]);
		if (hi < 0 || lo < 0)
			goto bad;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = 0;
	/* Only the canonical escape of a name counts: no aliases, no embedded NULs. */
	if (o == 0 || strlen(out) != o || sto_localpart_escape(out, check, sizeof(check)) < 0 ||
	    strcmp(check, name) != 0)
		goto bad;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int sto_host_valid(const char *host)
{
	size_t n = strlen(host);
	if (n == 0 || n > STO_HOST_MAX || host[0] == '.' || strchr(host, '/'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)host[i] < 0x21 || host[i] == 0x7f)
			return 0;
	return 1;
}
