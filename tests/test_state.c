/*
 * The byte-string map and the in-memory state (tl_state.h): what goes in comes back out,
 * whether it is stored inside the slot array or on the heap, through growth, replacement,
 * iteration and clearing, and oversized entries are refused without changing the map.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_crypto.h"
#include "tl_state.h"

/* Entry i: a key and value whose lengths cross the inline/heap boundary as i varies. */
static size_t make_key(uint8_t *k, unsigned i)
{
    return (size_t)snprintf((char *)k, 64, "k%u/%0*u", i, (int)(i % 50), i);
}
static size_t make_val(uint8_t *v, unsigned i, unsigned round)
{
    size_t n = (i * 7 + round * 13) % 90;
    for (size_t j = 0; j < n; j++)
        v[j] = (uint8_t)(i + j + round);
    return n;
}

static void check_all(const tl_map *m, unsigned n, unsigned round)
{
    uint8_t k[64], v[128];
    for (unsigned i = 0; i < n; i++) {
        size_t klen = make_key(k, i), want = make_val(v, i, round), vlen = 999;
        const uint8_t *got = tl_map_get(m, k, klen, &vlen);
        assert_non_null(got);
        assert_int_equal(vlen, want);
        if (want > 0)
            assert_memory_equal(got, v, want);
    }
}

static void test_put_get_grow_replace(void **state)
{
    (void)state;
    tl_map *m = tl_map_new();
    assert_non_null(m);
    enum { N = 5000 };
    uint8_t k[64], v[128];
    for (unsigned round = 0; round < 3; round++) { /* rounds 1, 2 replace every value, changing sizes */
        for (unsigned i = 0; i < N; i++) {
            size_t klen = make_key(k, i), vlen = make_val(v, i, round);
            assert_int_equal(tl_map_put(m, k, klen, v, vlen), 0);
        }
        assert_int_equal(tl_map_count(m), N);
        check_all(m, N, round);
    }
    size_t vlen;
    assert_null(tl_map_get(m, (const uint8_t *)"absent", 6, &vlen));

    /* Iteration visits every entry exactly once. */
    size_t cursor = 0, seen = 0, klen2;
    const uint8_t *key, *val;
    while (tl_map_next(m, &cursor, &key, &klen2, &val, &vlen))
        seen++;
    assert_int_equal(seen, N);

    tl_map_clear(m);
    assert_int_equal(tl_map_count(m), 0);
    size_t klen = make_key(k, 1);
    assert_null(tl_map_get(m, k, klen, &vlen));
    cursor = 0;
    assert_int_equal(tl_map_next(m, &cursor, &key, &klen2, &val, &vlen), 0);
    /* Usable again after clearing. */
    assert_int_equal(tl_map_put(m, k, klen, (const uint8_t *)"x", 1), 0);
    assert_non_null(tl_map_get(m, k, klen, &vlen));
    assert_int_equal(vlen, 1);
    tl_map_free(m);
}

static void test_empty_key_and_value(void **state)
{
    (void)state;
    tl_map *m = tl_map_new();
    assert_non_null(m);
    assert_int_equal(tl_map_put(m, (const uint8_t *)"", 0, NULL, 0), 0);
    size_t vlen = 9;
    assert_non_null(tl_map_get(m, (const uint8_t *)"", 0, &vlen));
    assert_int_equal(vlen, 0);
    assert_int_equal(tl_map_count(m), 1);
    tl_map_free(m);
}

static void test_too_big_refused(void **state)
{
    (void)state;
    tl_map *m = tl_map_new();
    assert_non_null(m);
    uint8_t *big = calloc(1, TL_MAP_BYTES_MAX + 1);
    assert_non_null(big);
    assert_int_equal(tl_map_put(m, big, TL_MAP_BYTES_MAX + 1, (const uint8_t *)"v", 1), TL_ETOOBIG);
    assert_int_equal(tl_map_put(m, (const uint8_t *)"k", 1, big, TL_MAP_BYTES_MAX + 1), TL_ETOOBIG);
    assert_int_equal(tl_map_count(m), 0); /* nothing changed */
    /* The largest allowed sizes work. */
    assert_int_equal(tl_map_put(m, (const uint8_t *)"k", 1, big, TL_MAP_BYTES_MAX), 0);
    size_t vlen;
    assert_non_null(tl_map_get(m, (const uint8_t *)"k", 1, &vlen));
    assert_int_equal(vlen, TL_MAP_BYTES_MAX);
    free(big);
    tl_map_free(m);
}

static void test_mem_state(void **state)
{
    (void)state;
    tl_mem_state st;
    assert_int_equal(tl_mem_state_init(&st), 0);
    tl_buf out;
    tl_buf_init(&out);
    assert_int_equal(tl_state_get(&st.base, (const uint8_t *)"sx", 2, &out), TL_ENOTFOUND);
    uint8_t v8[8];
    tl_be64_put(v8, 0x0102030405060708ULL);
    assert_int_equal(tl_state_put(&st.base, (const uint8_t *)"sx", 2, v8, 8), 0);
    assert_int_equal(tl_state_get(&st.base, (const uint8_t *)"sx", 2, &out), 0);
    assert_int_equal(out.len, 8);
    assert_true(tl_be64_get(out.data) == 0x0102030405060708ULL);
    tl_buf_free(&out);
    tl_mem_state_free(&st);
}

int main(void)
{
    assert_int_equal(tl_crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_grow_replace),
        cmocka_unit_test(test_empty_key_and_value),
        cmocka_unit_test(test_too_big_refused),
        cmocka_unit_test(test_mem_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
