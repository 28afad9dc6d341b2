/*
 * Checkpoints as an auditor receives them: the verifier key line (tl_note_vkey_parse), the
 * signed note (tl_note_verify against the fixed checkpoint key of fuzz.h), the checkpoint body
 * (tl_checkpoint_parse) and both together (tl_checkpoint_open).
 *
 * Invariants: an accepted key line formats back to itself; an accepted checkpoint body formats
 * back to itself (one tree head has one text); a verified note's text is a prefix of the note
 * that ends in a newline; every refusal names a rule.
 */
#include <string.h>

#include "fuzz.h"
#include "tl_checkpoint.h"
#include "tl_note.h"

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
    static tl_note_verifier v;
    static int have_v;
    if (!have_v) {
        tl_keypair kp;
        fuzz_keypair(&kp, FUZZ_KEY_CHECKPOINT);
        FUZZ_CHECK(tl_note_verifier_init(&v, FUZZ_ORIGIN, kp.pk, NULL) == 0, "fixed verifier");
        tl_keypair_wipe(&kp);
        have_v = 1;
    }
    const char *s = (const char *)data;
    tl_error err;

    /* the verifier key line */
    tl_note_verifier pv;
    tl_error_clear(&err);
    int rc = tl_note_vkey_parse(&pv, s, size, &err);
    if (rc != 0) {
        refused(rc, &err);
    } else {
        char line[TL_NOTE_VKEY_BYTES_MAX];
        tl_note_vkey_format(line, &pv);
        size_t n = strlen(line);
        FUZZ_CHECK((size == n || (size == n + 1 && s[n] == '\n')) && memcmp(line, s, n) == 0,
                   "an accepted key line formats back to itself");
    }

    /* the checkpoint body on its own */
    tl_checkpoint cp;
    tl_error_clear(&err);
    rc = tl_checkpoint_parse(&cp, s, size, &err);
    if (rc != 0) {
        refused(rc, &err);
    } else {
        char text[TL_CHECKPOINT_TEXT_BYTES_MAX];
        size_t n;
        FUZZ_CHECK(tl_checkpoint_format(text, &n, &cp, NULL) == 0, "an accepted checkpoint formats");
        FUZZ_CHECK(n == size && memcmp(text, s, n) == 0, "an accepted checkpoint formats back to itself");
    }

    /* the signed note, then the checkpoint inside it */
    size_t text_len = 0;
    tl_error_clear(&err);
    rc = tl_note_verify(&text_len, s, size, &v, &err);
    if (rc != 0) {
        refused(rc, &err);
    } else {
        FUZZ_CHECK(text_len > 0 && text_len < size && s[text_len - 1] == '\n',
                   "the signed text is a prefix ending in a newline");
    }
    tl_error_clear(&err);
    int rc2 = tl_checkpoint_open(&cp, s, size, &v, &err);
    if (rc2 != 0) {
        refused(rc2, &err);
    } else {
        FUZZ_CHECK(rc == 0, "an opened checkpoint verified as a note");
        FUZZ_CHECK(strcmp(cp.origin, FUZZ_ORIGIN) == 0, "an opened checkpoint names the key's origin");
    }

    /* the small checks every note builder relies on */
    tl_error_clear(&err);
    rc = tl_note_text_check(s, size, &err);
    if (rc != 0)
        refused(rc, &err);
    tl_error_clear(&err);
    rc = tl_note_name_check(s, size, &err);
    if (rc != 0)
        refused(rc, &err);
    return 0;
}
