/*
 * Admission of one event at a position of the log: the generic rules every event obeys
 * (FORMAT.md sections 3 and 5) before the domain rules of rules.c. Shared by the sequencer
 * and by `verify`.
 */
#include "tl_rules.h"

#include <string.h>

static void stream_key(uint8_t *key, size_t *klen, const tl_event *ev)
{
    key[0] = 's';
    memcpy(key + 1, ev->stream, ev->stream_len);
    *klen = 1 + ev->stream_len;
}

int tl_admit(tl_state *st, const tl_event *ev, uint64_t seq, tl_admission *out, tl_error *err)
{
    memset(out, 0, sizeof *out);
    tl_buf val;
    tl_buf_init(&val);
    int rc;

    uint8_t idkey[1 + TL_EVENT_ID_BYTES];
    idkey[0] = 'i';
    memcpy(idkey + 1, ev->id, TL_EVENT_ID_BYTES);
    rc = tl_state_get(st, idkey, sizeof idkey, &val);
    if (rc == 0 && val.len == 8) {
        out->duplicate = 1;
        out->original_seq = tl_be64_get(val.data);
        goto done;
    }
    if (rc != TL_ENOTFOUND) {
        rc = tl_fail(err, rc, "state.read", "", "cannot read the idempotency index");
        goto done;
    }

    /* The head: version (8) || the entity state the rules keep with it (tl_state.h). */
    uint8_t skey[1 + TL_STREAM_BYTES_MAX];
    size_t sklen;
    stream_key(skey, &sklen, ev);
    uint64_t head = 0;
    rc = tl_state_get(st, skey, sklen, &val);
    if (rc == 0 && val.len >= 8) {
        head = tl_be64_get(val.data);
    } else if (rc == 0) {
        rc = tl_fail(err, TL_ECORRUPT, "state.corrupt", "", "the stored head of stream %s is malformed", ev->stream);
        goto done;
    } else if (rc != TL_ENOTFOUND) {
        rc = tl_fail(err, rc, "state.read", "", "cannot read the stream head");
        goto done;
    } else {
        tl_buf_reset(&val);
    }
    if (ev->has_expect && ev->expect != head) {
        rc = tl_fail(err, TL_ECONFLICT, "stream.expect", "expect",
                     "stream %s is at version %llu, the event expects %llu", ev->stream,
                     (unsigned long long)head, (unsigned long long)ev->expect);
        goto done;
    }
    bool genesis = strcmp(ev->type, "ledger.genesis") == 0;
    if (seq == 0 && !genesis) {
        rc = tl_fail(err, TL_EINVAL, "log.genesis_first", "type", "record 0 must be ledger.genesis");
        goto done;
    }
    if (seq != 0 && genesis) {
        rc = tl_fail(err, TL_ECONFLICT, "log.genesis_once", "type",
                     "ledger.genesis is only ever record 0");
        goto done;
    }
    if ((rc = tl_rules_check_at(st, ev, seq, val.data, val.len, err)) != 0)
        goto done;

    /* Every check passed: from here on only writes. The new head keeps the entity state
     * unless the rules change it. */
    uint8_t v8[8];
    out->version = head + 1;
    tl_be64_put(v8, seq);
    if ((rc = tl_state_put(st, idkey, sizeof idkey, v8, 8)) != 0)
        goto write_failed;
    tl_be64_put(v8, out->version);
    if (val.len == 0)
        rc = tl_buf_append(&val, v8, 8);
    else
        memcpy(val.data, v8, 8);
    if (rc != 0)
        goto write_failed;
    if ((rc = tl_rules_apply(st, ev, seq, &val, err)) != 0)
        goto done;
    if ((rc = tl_state_put(st, skey, sklen, val.data, val.len)) != 0)
        goto write_failed;
    goto done;
write_failed:
    rc = tl_fail(err, rc, "state.write", "", "cannot update the state");
done:
    tl_buf_free(&val);
    return rc;
}
