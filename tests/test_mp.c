/* The canonical MessagePack reader: one accept/reject case for every rule of FORMAT.md 1. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "tl_mp.h"

static int parse_hex(const char *hex, tl_error *err)
{
    uint8_t buf[256];
    size_t n = strlen(hex) / 2;
    assert_true(n <= sizeof buf);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        buf[i] = (uint8_t)v;
    }
    tl_mp_doc doc;
    tl_error_clear(err);
    int rc = tl_mp_parse(&doc, buf, n, NULL, err);
    if (rc == 0)
        tl_mp_doc_free(&doc);
    return rc;
}

#define ACCEPT(hex)                                                                         \
    do {                                                                                    \
        tl_error e_;                                                                        \
        int rc_ = parse_hex(hex, &e_);                                                      \
        if (rc_ != 0)                                                                       \
            fail_msg("%s rejected: %s at %s: %s", hex, e_.rule, e_.path, e_.msg);           \
    } while (0)

#define REJECT(hex, want_rule, want_path)                                                   \
    do {                                                                                    \
        tl_error e_;                                                                        \
        int rc_ = parse_hex(hex, &e_);                                                      \
        if (rc_ == 0)                                                                       \
            fail_msg("%s accepted", hex);                                                   \
        assert_string_equal(e_.rule, want_rule);                                            \
        assert_string_equal(e_.path, want_path);                                            \
    } while (0)

static void test_integers(void **state)
{
    (void)state;
    ACCEPT("00");
    ACCEPT("7f");
    ACCEPT("cc80");
    ACCEPT("cd0100");
    ACCEPT("ce00010000");
    ACCEPT("cf0000000100000000");
    REJECT("cc7f", "canonical.shortest", "");
    REJECT("cd00ff", "canonical.shortest", "");
    REJECT("ce0000ffff", "canonical.shortest", "");
    REJECT("cf00000000ffffffff", "canonical.shortest", "");
    /* the int family only for negative numbers, shortest */
    ACCEPT("ff");
    ACCEPT("e0");
    ACCEPT("d0df");
    ACCEPT("d1ff7f");
    REJECT("d001", "canonical.int_family", "");
    REJECT("d300000000000000ff", "canonical.int_family", "");
    REJECT("d0ff", "canonical.shortest", "");
    REJECT("d1ff80", "canonical.shortest", "");
}

static void test_strings_and_bins(void **state)
{
    (void)state;
    ACCEPT("a3616263");
    REJECT("d903616263", "canonical.shortest", "");
    REJECT("da0003616263", "canonical.shortest", "");
    ACCEPT("c403010203");
    REJECT("c50003010203", "canonical.shortest", "");
    /* UTF-8: 中 is e4 b8 ad; overlong, surrogate and truncated forms rejected */
    ACCEPT("a3e4b8ad");
    REJECT("a2c0af", "canonical.utf8", "");
    REJECT("a3eda080", "canonical.utf8", "");
    REJECT("a2e4b8", "canonical.utf8", "");
    REJECT("a4f4908080", "canonical.utf8", "");
    /* ASCII is checked eight bytes at a time: multi-byte and bad bytes inside, after and at the
     * edges of such runs */
    ACCEPT("ac6162636465666768e4b8ad6a");           /* "abcdefgh中j" */
    ACCEPT("abe4b8ad6162636465666768");             /* "中abcdefgh" */
    REJECT("aa61626364656667686990", "canonical.utf8", "");  /* a lone continuation byte */
    REJECT("a9616263646566676880", "canonical.utf8", "");    /* ... as the ninth byte */
    REJECT("a961626364656667ff68", "canonical.utf8", "");    /* ... as the eighth */
    REJECT("b26162636465666768696a6b6c6d6e6f70c0af", "canonical.utf8", ""); /* overlong */
}

/* Strict UTF-8 for three-byte sequences, straight from the definition (RFC 3629). */
static bool reference_utf8_3(uint8_t a, uint8_t b, uint8_t c)
{
    if (a < 0xe0 || a > 0xef || (b & 0xc0) != 0x80 || (c & 0xc0) != 0x80)
        return false;
    uint32_t cp = (uint32_t)(a & 0x0f) << 12 | (uint32_t)(b & 0x3f) << 6 | (c & 0x3f);
    return cp >= 0x800 && !(cp >= 0xd800 && cp <= 0xdfff);
}

/* Every three-byte string led by e0..ef, against the reference, alone and after ASCII. */
static void test_utf8_three_bytes(void **state)
{
    (void)state;
    for (unsigned a = 0xe0; a <= 0xef; a++)
        for (unsigned b = 0x70; b <= 0xcf; b++)
            for (unsigned c = 0x70; c <= 0xcf; c++) {
                uint8_t buf[1 + 12] = {0xa3, (uint8_t)a, (uint8_t)b, (uint8_t)c};
                uint8_t buf2[1 + 12] = {0xac, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
                                        (uint8_t)a, (uint8_t)b, (uint8_t)c};
                bool want = reference_utf8_3((uint8_t)a, (uint8_t)b, (uint8_t)c);
                tl_mp_doc doc;
                tl_error err;
                int rc = tl_mp_parse(&doc, buf, 4, "", &err);
                if (rc == 0)
                    tl_mp_doc_free(&doc);
                if ((rc == 0) != want)
                    fail_msg("%02x %02x %02x: %s", a, b, c, want ? "rejected" : "accepted");
                rc = tl_mp_parse(&doc, buf2, sizeof buf2, "", &err);
                if (rc == 0)
                    tl_mp_doc_free(&doc);
                if ((rc == 0) != want)
                    fail_msg("after ASCII %02x %02x %02x: %s", a, b, c,
                             want ? "rejected" : "accepted");
            }
}

/* Strict UTF-8, one character at a time: the reference for the reader's word-wise paths. */
static bool reference_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (len == 0 || n - i < len)
            return false;
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* ASCII text is checked a word at a time, the last word overlapping the one before: a
 * non-ASCII byte sequence must be judged alike at every position of strings of every length,
 * including the one just before and after a word boundary. */
static void test_utf8_any_position(void **state)
{
    (void)state;
    static const struct {
        uint8_t b[9];
        size_t n;
    } seqs[] = {{{0x80}, 1},
                {{0xc3}, 1},
                {{0xff}, 1},
                {{0xc3, 0xa9}, 2},
                {{0xc0, 0xaf}, 2},
                {{0xe4, 0xb8, 0x80}, 3},
                {{0xed, 0xa0, 0x80}, 3},
                {{0xe4, 0xb8}, 2},
                {{0xf0, 0x9f, 0x98, 0x80}, 4},
                {{0x7f}, 1},
                /* runs of Chinese characters, whole, cut short, or ending in a bad one */
                {{0xe4, 0xb8, 0x80, 0xe4, 0xb8, 0x80, 0xe4, 0xb8, 0x80}, 9},
                {{0xe4, 0xb8, 0x80, 0xe4, 0xb8, 0x80, 0xe4, 0xb8}, 8},
                {{0xe4, 0xb8, 0x80, 0xe4, 0xb8, 0x41}, 6},
                {{0xe4, 0xb8, 0x80, 0xed, 0xa0, 0x80}, 6},
                {{0xe4, 0xb8, 0x80, 0xe0, 0x80, 0x80}, 6}};
    for (size_t len = 1; len <= 40; len++)
        for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++)
            for (size_t at = 0; at + seqs[k].n <= len; at++) {
                uint8_t buf[2 + 40];
                size_t hdr = len < 32 ? 1 : 2;
                if (hdr == 1) {
                    buf[0] = (uint8_t)(0xa0 | len);
                } else {
                    buf[0] = 0xd9;
                    buf[1] = (uint8_t)len;
                }
                memset(buf + hdr, 'a', len);
                memcpy(buf + hdr + at, seqs[k].b, seqs[k].n);
                bool want = reference_utf8(buf + hdr, len);
                tl_mp_doc doc;
                tl_error err;
                int rc = tl_mp_parse(&doc, buf, hdr + len, "", &err);
                if (rc == 0)
                    tl_mp_doc_free(&doc);
                if ((rc == 0) != want)
                    fail_msg("sequence %zu at %zu of %zu bytes: %s", k, at, len, want ? "rejected" : "accepted");
            }
}

static void test_forbidden_types(void **state)
{
    (void)state;
    REJECT("c0", "canonical.nil", "");
    REJECT("c1", "canonical.invalid_byte", "");
    REJECT("ca00000000", "canonical.float", "");
    REJECT("cb0000000000000000", "canonical.float", "");
    REJECT("d40100", "canonical.ext", "");
    REJECT("c70100", "canonical.ext", "");
    ACCEPT("c2");
    ACCEPT("c3");
}

static void test_maps(void **state)
{
    (void)state;
    ACCEPT("82a16101a16202");         /* {"a":1,"b":2} */
    ACCEPT("82a16101a2616202");       /* "a" < "ab": a prefix sorts first */
    REJECT("82a16201a16102", "canonical.key_order", "a");
    REJECT("82a16101a16102", "canonical.duplicate_key", "a");
    REJECT("82a2616201a2616102", "canonical.key_order", "aa"); /* same first byte */
    REJECT("82a2616101a2616102", "canonical.duplicate_key", "aa");
    REJECT("810101", "canonical.key_type", "");
    REJECT("de0001a16101", "canonical.shortest", "");
    /* the path names nested keys and array positions */
    REJECT("81a46461746181a3746f74cc05", "canonical.shortest", "data.tot");
    REJECT("81a16b9301c0", "canonical.nil", "k[1]");
}

static void test_arrays_and_limits(void **state)
{
    (void)state;
    ACCEPT("93010203");
    REJECT("dc0003010203", "canonical.shortest", "");
    /* announced counts and lengths are checked against what remains, before allocating */
    REJECT("dd04000000", "canonical.truncated", "");
    REJECT("df7fffffff", "canonical.truncated", "");
    REJECT("c6ffffffff", "canonical.truncated", "");
    REJECT("dbffffffff41", "canonical.truncated", "");
    REJECT("92", "canonical.truncated", "[0]");
    REJECT("", "canonical.truncated", "");
    /* trailing bytes */
    REJECT("0101", "canonical.trailing_bytes", "");
    /* depth limit */
    char deep[2 * (TL_MP_DEPTH_MAX + 2) + 1] = "";
    for (int i = 0; i <= TL_MP_DEPTH_MAX; i++)
        strcat(deep, "91");
    strcat(deep, "01");
    REJECT(deep, "canonical.depth", "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]");
}

/* The node array starts small and grows; documents of any size come out the same. */
static void test_node_array_growth(void **state)
{
    (void)state;
    for (uint32_t count = 0; count <= 300; count += 15) {
        uint8_t buf[3 + 300];
        buf[0] = 0xdc; /* array16, so every count below 16 is canonical only as a fixarray */
        buf[1] = (uint8_t)(count >> 8);
        buf[2] = (uint8_t)count;
        for (uint32_t i = 0; i < count; i++)
            buf[3 + i] = (uint8_t)(i & 0x7f);
        const uint8_t *p = buf;
        size_t len = 3 + count;
        if (count < 16) {
            buf[2] = (uint8_t)(0x90 | count);
            p = buf + 2;
            len = 1 + count;
        }
        /* malloc'd from the start, and starting in a caller's array of 16 nodes */
        tl_mp_node scratch[16];
        for (int into = 0; into < 2; into++) {
            tl_mp_doc doc;
            tl_error err;
            if (into)
                assert_int_equal(tl_mp_parse_into(&doc, scratch, 16, p, len, "", &err), 0);
            else
                assert_int_equal(tl_mp_parse(&doc, p, len, "", &err), 0);
            assert_int_equal(doc.count, 1 + count);
            assert_true((doc.nodes == scratch) == (into && 1 + count <= 16));
            assert_int_equal(doc.nodes[0].count, count);
            assert_int_equal(doc.nodes[0].end, 1 + count);
            uint32_t c = tl_mp_first(0);
            for (uint32_t i = 0; i < count; i++, c = tl_mp_next(&doc, c))
                assert_int_equal(doc.nodes[c].v.u, i & 0x7f);
            tl_mp_doc_free(&doc); /* frees only what was allocated (ASan checks) */
        }
    }
    /* a failure after outgrowing the caller's array releases the allocation */
    tl_mp_node scratch[4];
    tl_mp_doc doc;
    tl_error err;
    static const uint8_t bad[] = {0x96, 1, 2, 3, 4, 5, 0xc0};
    assert_int_equal(tl_mp_parse_into(&doc, scratch, 4, bad, sizeof bad, "", &err), TL_EINVAL);
    assert_string_equal(err.rule, "canonical.nil");
    assert_string_equal(err.path, "[5]");
}

static void test_writer_round_trip(void **state)
{
    (void)state;
    tl_buf b;
    tl_buf_init(&b);
    tl_mp_writer w;
    tl_mp_writer_init(&w, &b);
    tl_mp_map(&w, 3);
    tl_mp_key(&w, "a");
    tl_mp_uint(&w, 200);
    tl_mp_key(&w, "b");
    tl_mp_bin(&w, "xyz", 3);
    tl_mp_key(&w, "c");
    tl_mp_array(&w, 2);
    tl_mp_bool(&w, true);
    tl_mp_str(&w, "中文");
    assert_int_equal(w.failed, 0);
    tl_mp_doc doc;
    tl_error err;
    assert_int_equal(tl_mp_parse(&doc, b.data, b.len, NULL, &err), 0);
    uint32_t a = tl_mp_map_get(&doc, 0, "a");
    assert_int_not_equal(a, 0);
    assert_int_equal(doc.nodes[a].type, TL_MP_UINT);
    assert_int_equal(doc.nodes[a].v.u, 200);
    assert_int_equal(tl_mp_map_get(&doc, 0, "zz"), 0);
    /* A key given by length need not end in NUL: "ab" names "a" with one byte. */
    assert_int_equal(tl_mp_map_get_n(&doc, 0, "ab", 1), a);
    assert_int_equal(tl_mp_map_get_n(&doc, 0, "ab", 2), 0);
    uint32_t c = tl_mp_map_get(&doc, 0, "c");
    assert_int_equal(doc.nodes[c].count, 2);
    uint32_t second = tl_mp_next(&doc, tl_mp_first(c));
    assert_true(tl_mp_str_eq(&doc, second, "中文"));
    assert_int_equal(tl_mp_object_len(b.data, b.len), b.len);
    assert_int_equal(tl_mp_object_len(b.data, b.len - 1), 0);
    tl_mp_doc_free(&doc);
    tl_buf_free(&b);
}

/* Random bytes never crash the reader and never leave a document behind on failure. */
static void test_random_inputs(void **state)
{
    (void)state;
    srand(42);
    uint8_t buf[64];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        tl_mp_doc doc;
        tl_error err;
        if (tl_mp_parse(&doc, buf, n, "x", &err) == 0) {
            assert_true(doc.count >= 1 && doc.count <= n);
            assert_int_equal(doc.nodes[0].end, doc.count);
            assert_int_equal(tl_mp_object_len(buf, n), n);
            tl_mp_doc_free(&doc);
        } else {
            assert_null(doc.nodes);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers),        cmocka_unit_test(test_strings_and_bins),
        cmocka_unit_test(test_forbidden_types), cmocka_unit_test(test_maps),
        cmocka_unit_test(test_arrays_and_limits), cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_random_inputs),   cmocka_unit_test(test_node_array_growth),
        cmocka_unit_test(test_utf8_three_bytes), cmocka_unit_test(test_utf8_any_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
