/*
 * Stored records (tl_record_decode), as the ledger reads them back, `verify` reads an audit
 * bundle and projections fold the log; then the body inside, as tl_event_from_parts and the
 * schema see it. Concatenated records (an audit bundle's `records` file) are split with
 * tl_mp_object_len first.
 *
 * Invariants: an accepted record re-encodes (tl_record_encode) to exactly its bytes, its
 * pointers lie inside the input, and every refusal names a rule.
 */
#include <string.h>

#include "fuzz.h"
#include "tl_event.h"
#include "tl_schema.h"

static void refused(int rc, const tl_error *err)
{
    FUZZ_CHECK(rc < 0 && err->code == rc, "a refusal fills the error with its code");
    FUZZ_CHECK(err->rule[0] != '\0', "a refusal names a rule");
}

static void one_record(const uint8_t *p, size_t len)
{
    tl_record r;
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_record_decode(&r, p, len, &err);
    if (rc != 0) {
        refused(rc, &err);
        return;
    }
    FUZZ_CHECK(r.version >= 1, "stream versions start at 1");
    FUZZ_CHECK(r.body >= p && r.body + r.body_len <= p + len, "body inside the input");
    FUZZ_CHECK(r.key >= p && r.key + TL_PUBKEY_BYTES <= p + len, "key inside the input");
    FUZZ_CHECK(r.sig >= p && r.sig + TL_SIG_BYTES <= p + len, "sig inside the input");
    tl_buf again;
    tl_buf_init(&again);
    FUZZ_CHECK(tl_record_encode(&again, &r) == 0, "re-encode");
    FUZZ_CHECK(again.len == len && memcmp(again.data, p, len) == 0, "a record re-encodes to its bytes");
    tl_buf_free(&again);

    tl_event ev;
    tl_error_clear(&err);
    rc = tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err);
    if (rc != 0) {
        refused(rc, &err);
        return;
    }
    tl_error_clear(&err);
    rc = tl_schema_check(&ev.doc, ev.data, ev.type, strlen(ev.type), ev.stream, ev.stream_len, &err);
    if (rc != 0)
        refused(rc, &err);
    tl_error_clear(&err);
    rc = tl_event_check(&ev, &err);
    if (rc != 0)
        refused(rc, &err);
    tl_event_free(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size > FUZZ_INPUT_BYTES_MAX)
        return 0;
    one_record(data, size);
    /* The same bytes as a bundle's records file: objects back to back. */
    size_t off = 0;
    while (off < size) {
        size_t n = tl_mp_object_len(data + off, size - off);
        if (n == 0)
            break;
        FUZZ_CHECK(n <= size - off, "tl_mp_object_len stays inside the input");
        if (off > 0 || n < size) /* the whole input was already judged above */
            one_record(data + off, n);
        off += n;
    }
    return 0;
}
