/*
 * What POST /v1/events does with a body before the sequencer: tl_submission_split, then for
 * each envelope tl_envelope_decode, the event's stateless checks (signature, tl_schema_check)
 * and the whole-body schema entry point.
 *
 * Invariants: the spans of an accepted submission tile it (a batch: header then envelopes back
 * to back); a decoded envelope rewraps to its own bytes; a decoded event's fields lie within
 * their limits; every refusal names a rule.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "tl_event.h"
#include "tl_schema.h"

static void refused(int rc, const tl_error *err)
{
    FUZZ_CHECK(rc < 0 && err->code == rc, "a refusal fills the error with its code");
    FUZZ_CHECK(err->rule[0] != '\0', "a refusal names a rule");
}

static void one_envelope(const uint8_t *p, size_t len)
{
    tl_event ev;
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_envelope_decode(&ev, p, len, &err);
    if (rc != 0) {
        refused(rc, &err);
        return;
    }
    FUZZ_CHECK(ev.body_len <= TL_BODY_BYTES_MAX, "body within its limit");
    FUZZ_CHECK(ev.stream_len >= 1 && ev.stream_len <= TL_STREAM_BYTES_MAX, "stream within its limit");
    FUZZ_CHECK(strlen(ev.stream) == ev.stream_len, "stream holds no NUL");
    FUZZ_CHECK(ev.data < ev.doc.count && ev.doc.nodes[ev.data].type == TL_MP_MAP, "data is a map node");
    tl_buf again;
    tl_buf_init(&again);
    FUZZ_CHECK(tl_envelope_wrap(&again, ev.body, ev.body_len, ev.key, ev.sig) == 0, "rewrap");
    FUZZ_CHECK(again.len == len && memcmp(again.data, p, len) == 0, "an envelope rewraps to its bytes");
    tl_buf_free(&again);

    tl_error_clear(&err);
    rc = tl_schema_check(&ev.doc, ev.data, ev.type, strlen(ev.type), ev.stream, ev.stream_len, &err);
    if (rc != 0)
        refused(rc, &err);
    tl_error e2;
    tl_error_clear(&e2);
    int rc2 = tl_schema_check_body(&ev.doc, &e2);
    FUZZ_CHECK((rc == 0) == (rc2 == 0), "schema check of data and of the whole body agree");
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
    tl_span *spans;
    size_t n;
    bool is_batch;
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_submission_split(&spans, &n, &is_batch, data, size, &err);
    if (rc != 0) {
        refused(rc, &err);
        FUZZ_CHECK(spans == NULL && n == 0, "a refused split returns nothing");
        /* The decoder alone must also cope with whatever the split refused. */
        one_envelope(data, size);
        return 0;
    }
    FUZZ_CHECK(n >= 1 && n <= TL_BATCH_EVENTS_MAX, "span count within the limit");
    if (!is_batch) {
        FUZZ_CHECK(n == 1 && spans[0].ptr == data && spans[0].len == size, "one envelope, the whole input");
    } else {
        size_t header = data[0] <= 0x9f ? 1 : data[0] == 0xdc ? 3 : 5;
        const uint8_t *p = data + header;
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(spans[i].ptr == p && spans[i].len > 0, "spans are back to back");
            p += spans[i].len;
        }
        FUZZ_CHECK(p == data + size, "the spans end where the batch ends");
    }
    for (size_t i = 0; i < n; i++)
        one_envelope(spans[i].ptr, spans[i].len);
    free(spans);
    return 0;
}
