/*
 * JSON events as `techledger sign` and the tests write them (tl_json_envelope), signed with
 * the fixed registry key; then what the ledger would do with the envelope (tl_event_prepare),
 * and the body shown back as JSON (tl_mp_to_json), as GET /v1/events does.
 *
 * Invariants: an envelope that tl_json_envelope builds is within the body limit and carries a
 * valid signature; every refusal names a rule.
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "tl_json_event.h"

static void refused(int rc, const tl_error *err)
{
    FUZZ_CHECK(rc < 0 && err->code == rc, "a refusal fills the error with its code");
    FUZZ_CHECK(err->rule[0] != '\0', "a refusal names a rule");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size > FUZZ_INPUT_BYTES_MAX)
        return 0;
    static tl_keypair kp;
    static int have_kp;
    if (!have_kp) {
        fuzz_keypair(&kp, FUZZ_KEY_REGISTRY);
        have_kp = 1;
    }
    json_error_t jerr;
    json_t *ev = json_loadb((const char *)data, size, 0, &jerr);
    if (ev == NULL)
        return 0;
    tl_buf env;
    tl_buf_init(&env);
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_json_envelope(&env, ev, &kp, 1500000000000ull, &err);
    if (rc != 0) {
        refused(rc, &err);
    } else {
        tl_event e;
        tl_error_clear(&err);
        rc = tl_envelope_decode(&e, env.data, env.len, &err);
        if (rc != 0) {
            /* Only what the JSON layer passes through unchecked (stream and type text, the
             * shape of data) may be refused here, never the envelope it built itself. */
            refused(rc, &err);
            FUZZ_CHECK(strncmp(err.rule, "envelope.", 9) != 0, "a built envelope has the right shape");
        } else {
            FUZZ_CHECK(e.body_len <= TL_BODY_BYTES_MAX, "a built body is within the limit");
            FUZZ_CHECK(tl_event_verify(e.sig, e.body, e.body_len, e.key), "a built envelope is signed");
            json_t *back = tl_mp_to_json(&e.doc, 0);
            FUZZ_CHECK(back != NULL, "the body converts back to JSON");
            json_decref(back);
            tl_error_clear(&err);
            rc = tl_event_check(&e, &err);
            if (rc != 0)
                refused(rc, &err);
            tl_event_free(&e);
        }
    }
    tl_buf_free(&env);
    json_decref(ev);
    return 0;
}
