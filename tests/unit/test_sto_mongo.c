/* Unit tests for the MongoDB document mapping (no server needed): the documents of keyval,
 * map and archive items as canonical extended JSON, their parsing back, and malformed or
 * hostile documents refused. The backend itself runs in test_sto_shapes when
 * XMPPD_TEST_MONGODB_URI names a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "workers/storage/mongo_doc.h"

static const struct sto_where W = {0, "localhost", "vcard", "alice", "storage:bookmarks"};

static void assert_json(const struct buf *doc, const char *want)
{
	struct buf j;
	buf_init(&j);
	assert_int_equal(sto_mdoc_json(doc->data, doc->len, &j), 0);
	assert_string_equal((const char *)j.data, want);
	buf_free(&j);
}

static void test_kv_doc(void **state)
{
	struct buf d, v;
	char *u;
	(void)state;
	buf_init(&d);
	buf_init(&v);
	assert_int_equal(sto_mdoc_value_doc(&d, &W, 0, (const uint8_t *)"<v/>", 4), 0);
	assert_json(&d, "{ \"_id\" : { \"h\" : \"localhost\", \"s\" : \"vcard\", \"u\" : \"alice\" }, "
			"\"v\" : { \"$binary\" : { \"base64\" : \"PHYvPg==\", \"subType\" : \"00\" } } }");
	assert_int_equal(sto_mdoc_value(d.data, d.len, &v), 0);
	assert_int_equal(v.len, 4);
	assert_memory_equal(v.data, "<v/>", 4);
	assert_non_null(u = sto_mdoc_str(d.data, d.len, 1, "u"));
	assert_string_equal(u, "alice");
	free(u);
	assert_null(sto_mdoc_str(d.data, d.len, 1, "k"));
	buf_reset(&d);
	assert_int_equal(sto_mdoc_id(&d, &W, 0), 0);
	assert_json(&d, "{ \"_id\" : { \"h\" : \"localhost\", \"s\" : \"vcard\", \"u\" : \"alice\" } }");
	/* an empty value is a value */
	buf_reset(&d);
	buf_reset(&v);
	assert_int_equal(sto_mdoc_value_doc(&d, &W, 0, NULL, 0), 0);
	assert_int_equal(sto_mdoc_value(d.data, d.len, &v), 0);
	assert_int_equal(v.len, 0);
	buf_free(&d);
	buf_free(&v);
}

static void test_map_doc(void **state)
{
	struct buf d;
	char *k;
	(void)state;
	buf_init(&d);
	assert_int_equal(sto_mdoc_value_doc(&d, &W, 1, (const uint8_t *)"\x00\xff", 2), 0);
	assert_json(&d, "{ \"_id\" : { \"h\" : \"localhost\", \"s\" : \"vcard\", \"u\" : \"alice\", "
			"\"k\" : \"storage:bookmarks\" }, \"v\" : { \"$binary\" : { \"base64\" : "
			"\"AP8=\", \"subType\" : \"00\" } } }");
	assert_non_null(k = sto_mdoc_str(d.data, d.len, 1, "k"));
	assert_string_equal(k, "storage:bookmarks");
	free(k);
	buf_free(&d);
}

static void test_item_doc(void **state)
{
	struct buf d, v;
	uint64_t seq, when;
	char *id, *with;
	(void)state;
	buf_init(&d);
	buf_init(&v);
	assert_int_equal(sto_mdoc_item(&d, &W, 42, "id-1", 1700000000123ull, "bob@localhost",
				       (const uint8_t *)"<m/>", 4), 0);
	assert_json(&d, "{ \"h\" : \"localhost\", \"s\" : \"vcard\", \"u\" : \"alice\", \"seq\" : { "
			"\"$numberLong\" : \"42\" }, \"id\" : \"id-1\", \"at\" : { \"$numberLong\" : "
			"\"1700000000123\" }, \"with\" : \"bob@localhost\", \"v\" : { \"$binary\" : { "
			"\"base64\" : \"PG0vPg==\", \"subType\" : \"00\" } } }");
	assert_int_equal(sto_mdoc_item_meta(d.data, d.len, &seq, &when, &id, &with), 0);
	assert_int_equal(seq, 42);
	assert_int_equal(when, 1700000000123ull);
	assert_string_equal(id, "id-1");
	assert_string_equal(with, "bob@localhost");
	free(id);
	free(with);
	assert_int_equal(sto_mdoc_value(d.data, d.len, &v), 0);
	assert_memory_equal(v.data, "<m/>", 4);
	/* a time that does not fit a signed 64-bit integer is refused, not wrapped */
	buf_reset(&d);
	assert_int_equal(sto_mdoc_item(&d, &W, 1, "x", UINT64_MAX, "", NULL, 0), -1);
	buf_free(&d);
	buf_free(&v);
}

/* Hand-made BSON: {"v": "text"} and {"seq": int32 1, ...}, truncations, embedded NULs. */
static void test_malformed(void **state)
{
	static const uint8_t v_str[] = {0x11, 0, 0, 0, 0x02, 'v', 0, 5, 0, 0, 0, 't', 'e', 'x', 't', 0, 0};
	static const uint8_t id_nul[] = {0x11, 0, 0, 0, 0x02, 'i', 'd', 0, 4, 0, 0, 0, 'a', 0, 'b', 0, 0};
	struct buf d, v;
	uint64_t seq, when;
	char *id, *with;
	(void)state;
	buf_init(&d);
	buf_init(&v);
	assert_int_equal(sto_mdoc_value(v_str, sizeof(v_str), &v), -1);	/* v is not binary */
	assert_int_equal(sto_mdoc_value(v_str, sizeof(v_str) - 1, &v), -1);	/* wrong length */
	char *t = sto_mdoc_str(v_str, sizeof(v_str), 0, "v");			/* well-formed */
	assert_non_null(t);
	assert_string_equal(t, "text");
	free(t);
	assert_int_equal(sto_mdoc_value(id_nul, sizeof(id_nul), &v), -1);
	assert_null(sto_mdoc_str(id_nul, sizeof(id_nul), 0, "id"));
	assert_int_equal(sto_mdoc_item(&d, &W, 7, "i", 5, "w", (const uint8_t *)"x", 1), 0);
	for (size_t cut = 0; cut < d.len; cut++) {
		assert_int_equal(sto_mdoc_item_meta(d.data, cut, &seq, &when, &id, &with), -1);
		assert_int_equal(sto_mdoc_value(d.data, cut, &v), -1);
	}
	/* a kv document is not an item */
	buf_reset(&d);
	assert_int_equal(sto_mdoc_value_doc(&d, &W, 0, (const uint8_t *)"x", 1), 0);
	assert_int_equal(sto_mdoc_item_meta(d.data, d.len, &seq, &when, &id, &with), -1);
	buf_free(&d);
	buf_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_doc),
		cmocka_unit_test(test_map_doc),
		cmocka_unit_test(test_item_doc),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
