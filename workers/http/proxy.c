/* The client address behind trusted reverse proxies: X-Forwarded-For is believed only when the
 * peer is in `trusted-proxies`, and then only up to the first hop that is not trusted itself. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"

/* "192.0.2.1", "10.0.0.0/8", "::1", "2001:db8::/32" → out (IPv4 mapped into IPv6). */
int http_cidr_parse(const char *s, struct http_cidr *out)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	memset(out, 0, sizeof(*out));
	unsigned max = 128, base = 0;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		out->addr[10] = out->addr[11] = 0xff;
		memcpy(out->addr + 12, &a4, 4);
		max = 32;
		base = 96;
	} else if (inet_pton(AF_INET6, host, out->addr) != 1) {
		return -1;
	}
	unsigned bits = max;
	if (slash) {
		char *end;
		unsigned long b = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || b > max)
			return -1;
		bits = (unsigned)b;
	}
	out->bits = base + bits;
	return 0;
}

int http_cidr_match(const struct http_cidr *c, const uint8_t addr[16])
{
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t m = (uint8_t)(0xff << (8 - rest));
	return (c->addr[full] & m) == (addr[full] & m);
}

void http_addr_format(const uint8_t addr[16], char *out, size_t cap)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(addr, v4mapped, 12) == 0)
		inet_ntop(AF_INET, addr + 12, out, (socklen_t)cap);
	else
		inet_ntop(AF_INET6, addr, out, (socklen_t)cap);
}

int http_proxy_trusted(const uint8_t addr[16])
{
	for (size_t i = 0; i < henv->conf.nproxies; i++)
		if (http_cidr_match(&henv->conf.proxies[i], addr))
			return 1;
	return 0;
}

/* One X-Forwarded-For entry (an IP address, IPv6 possibly in brackets) → addr. */
static int xff_entry(const char *p, size_t n, uint8_t addr[16])
{
	char tmp[64];
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n >= 2 && p[0] == '[' && p[n - 1] == ']')
		p++, n -= 2;
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = 0;
	struct http_cidr c;
	if (strchr(tmp, '/') || http_cidr_parse(tmp, &c) < 0)
		return -1;
	memcpy(addr, c.addr, 16);
	return 0;
}

int http_request_secure(const struct http_conn *c, const struct http_req *r)
{
	if (c->ssl)
		return 1;
	const struct http_field *f = http_field_get(r, "x-forwarded-proto");
	return f && http_proxy_trusted(c->addr) && f->value_len == 5 && strncasecmp(f->value, "https", 5) == 0;
}

void http_client_ip(struct http_conn *c, const struct http_req *r)
{
	http_addr_format(c->addr, c->ip, sizeof(c->ip));
	memcpy(c->client, c->addr, 16);
	if (!http_proxy_trusted(c->addr))
		return;
	const struct http_field *f = http_field_get(r, "x-forwarded-for");
	if (!f)
		return;
	/* right to left: the last entry was added by our peer, earlier ones by hops before it */
	size_t end = f->value_len;
	for (unsigned hop = 0; hop < HTTP_MAX_FORWARDED_HOPS && end > 0; hop++) {
		size_t start = end;
		while (start > 0 && f->value[start - 1] != ',')
			start--;
		uint8_t addr[16];
		if (xff_entry(f->value + start, end - start, addr) < 0) {
			log_info("http bad X-Forwarded-For entry from a trusted proxy", "peer=%s", c->ip);
			return;
		}
		http_addr_format(addr, c->ip, sizeof(c->ip));
		memcpy(c->client, addr, 16);
		if (!http_proxy_trusted(addr))
			return;
		end = start ? start - 1 : 0;
	}
}
