/* Session state records (ipc/sstate.c): set, replace, delete and read back keys; updates
 * applied in order; bad keys, oversized state and malformed updates change nothing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"
#include "sstate.h"
#include "tlv.h"

/* A step: set key=val (val NULL deletes); want the return and errno; then "k=v,..." state. */
struct sst_case {
	const char *name;
	const char *key, *val;
	int want_rc, want_errno;
	const char *want_state;
};

/* The state as "k=v,k=v" in record order. */
static void dump(const struct buf *st, char *out, size_t cap)
{
	struct rbuf r;
	struct tlv rec, f;
	out[0] = 0;
	rbuf_init(&r, st->data, st->len);
	while (tlv_next(&r, &rec) == 1) {
		struct rbuf in;
		rbuf_init(&in, rec.val, rec.len);
		size_t n = strlen(out);
		snprintf(out + n, cap - n, "%s", n ? "," : "");
		while (tlv_next(&in, &f) == 1) {
			n = strlen(out);
			snprintf(out + n, cap - n, "%s%.*s", f.tag == RT_STATE_VALUE ? "=" : "", (int)f.len,
				 (const char *)f.val);
		}
	}
}

static void test_set_get_delete(void **unused)
{
	static char long_key[RT_STATE_KEY_MAX + 2];
	memset(long_key, 'k', RT_STATE_KEY_MAX + 1);
	static const struct sst_case cases[] = {
		{"first key", "carbons", "1", 0, 0, "carbons=1"},
		{"second key", "presence.directed", "a@b", 0, 0, "carbons=1,presence.directed=a@b"},
		{"replace keeps one record", "carbons", "2", 0, 0, "presence.directed=a@b,carbons=2"},
		{"empty value is a value", "blocking.asker", "", 0, 0, "presence.directed=a@b,carbons=2,blocking.asker="},
		{"delete", "carbons", NULL, 0, 0, "presence.directed=a@b,blocking.asker="},
		{"delete a missing key", "nothing", NULL, 0, 0, "presence.directed=a@b,blocking.asker="},
		{"empty key", "", "x", -1, EINVAL, "presence.directed=a@b,blocking.asker="},
		{"key too long", long_key, "x", -1, EINVAL, "presence.directed=a@b,blocking.asker="},
	};
	struct buf st;
	char got[512];
	(void)unused;
	buf_init(&st);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sst_case *c = &cases[i];
		errno = 0;
		int rc = sst_set(&st, c->key, c->val, c->val ? strlen(c->val) : 0);
		dump(&st, got, sizeof(got));
		if (rc != c->want_rc || (c->want_errno && errno != c->want_errno) || strcmp(got, c->want_state) != 0)
			fail_msg("case '%s': rc %d errno %d state '%s', want %d %d '%s'", c->name, rc, errno, got,
				 c->want_rc, c->want_errno, c->want_state);
	}
	const uint8_t *v;
	size_t vl;
	assert_int_equal(sst_get(st.data, st.len, "presence.directed", &v, &vl), 1);
	assert_int_equal(vl, 3);
	assert_memory_equal(v, "a@b", 3);
	assert_int_equal(sst_get(st.data, st.len, "blocking.asker", &v, &vl), 1);
	assert_int_equal(vl, 0);
	assert_int_equal(sst_get(st.data, st.len, "carbons", &v, &vl), 0);
	assert_int_equal(sst_get(st.data, st.len, "presence", &v, &vl), 0);	/* no prefix match */
	buf_free(&st);
}

static void test_size_limit(void **unused)
{
	static char big[RT_STATE_MAX];
	struct buf st;
	char got[64];
	(void)unused;
	buf_init(&st);
	memset(big, 'x', sizeof(big));
	assert_int_equal(sst_set(&st, "small", "1", 1), 0);
	errno = 0;
	assert_int_equal(sst_set(&st, "big", big, sizeof(big)), -1);
	assert_int_equal(errno, EMSGSIZE);
	dump(&st, got, sizeof(got));
	assert_string_equal(got, "small=1");
	assert_int_equal(sst_set(&st, "big", big, sizeof(big) / 2), 0);	/* fits */
	buf_free(&st);
}

/* An update as c2s receives it: records built with sst_put_update, or raw bytes. */
struct apply_case {
	const char *name;
	const uint8_t *raw;
	size_t raw_len;
	int want_rc;
	const char *want_state;
};

static void test_apply(void **unused)
{
	struct buf st, upd;
	char got[256];
	(void)unused;
	buf_init(&st);
	buf_init(&upd);
	assert_int_equal(sst_set(&st, "carbons", "1", 1), 0);
	/* in order: set a, delete carbons, set a again */
	assert_int_equal(sst_put_update(&upd, "a", "x", 1), 0);
	assert_int_equal(sst_put_update(&upd, "carbons", NULL, 0), 0);
	assert_int_equal(sst_put_update(&upd, "a", "y", 1), 0);
	assert_int_equal(sst_apply(&st, upd.data, upd.len), 0);
	dump(&st, got, sizeof(got));
	assert_string_equal(got, "a=y");

	static const uint8_t truncated[] = {0, RT_STATE, 0, 0, 0, 9, 0, RT_STATE_KEY};
	static const uint8_t wrong_tag[] = {0, RT_PRESENCE, 0, 0, 0, 0};
	static const uint8_t no_key[] = {0, RT_STATE, 0, 0, 0, 7, 0, RT_STATE_VALUE, 0, 0, 0, 1, 'v'};
	static const uint8_t two_keys[] = {0, RT_STATE, 0, 0, 0, 14, 0, RT_STATE_KEY, 0, 0, 0, 1, 'a',
					   0, RT_STATE_KEY, 0, 0, 0, 1, 'b'};
	static const uint8_t nul_key[] = {0, RT_STATE, 0, 0, 0, 7, 0, RT_STATE_KEY, 0, 0, 0, 1, 0};
	static const uint8_t empty_key[] = {0, RT_STATE, 0, 0, 0, 6, 0, RT_STATE_KEY, 0, 0, 0, 0};
	static const uint8_t good[] = {0, RT_STATE, 0, 0, 0, 7, 0, RT_STATE_KEY, 0, 0, 0, 1, 'b'};
	/* a good record, then a bad one: none of it applies */
	static const uint8_t good_then_bad[] = {0, RT_STATE, 0, 0, 0, 7, 0, RT_STATE_KEY, 0, 0, 0, 1, 'a',
						0, RT_STATE, 0, 0, 0, 0};
	static const struct apply_case cases[] = {
		{"truncated record", truncated, sizeof(truncated), -1, "a=y"},
		{"another tag", wrong_tag, sizeof(wrong_tag), -1, "a=y"},
		{"value without key", no_key, sizeof(no_key), -1, "a=y"},
		{"two keys", two_keys, sizeof(two_keys), -1, "a=y"},
		{"NUL in key", nul_key, sizeof(nul_key), -1, "a=y"},
		{"empty key", empty_key, sizeof(empty_key), -1, "a=y"},
		{"delete of a missing key", good, sizeof(good), 0, "a=y"},
		{"good then bad", good_then_bad, sizeof(good_then_bad), -1, "a=y"},
		{"empty update", (const uint8_t *)"", 0, 0, "a=y"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct apply_case *c = &cases[i];
		int rc = sst_apply(&st, c->raw, c->raw_len);
		dump(&st, got, sizeof(got));
		if (rc != c->want_rc || strcmp(got, c->want_state) != 0)
			fail_msg("case '%s': rc %d state '%s', want %d '%s'", c->name, rc, got, c->want_rc,
				 c->want_state);
	}
	/* a state that is itself malformed reads as empty */
	const uint8_t *v;
	size_t vl;
	assert_int_equal(sst_get(truncated, sizeof(truncated), "a", &v, &vl), 0);
	buf_free(&upd);
	buf_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_get_delete),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
