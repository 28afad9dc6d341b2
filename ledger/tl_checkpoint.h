/*
 * The body of a checkpoint (FORMAT.md section 7): a C2SP tlog-checkpoint, signed as a C2SP
 * signed note (tl_note.h).
 *
 *     <origin>\n
 *     <tree size, decimal>\n
 *     <root hash, standard base64>\n
 *
 * The origin is the ledger's name, fixed at init, and is also the name of the checkpoint key.
 * The size is plain decimal: digits only, no leading zero except in "0". The root is the
 * canonical base64 of exactly 32 bytes (44 characters). tlog-checkpoint allows extension lines
 * after the root; a techledger checkpoint has none, and the parser refuses them, so one tree
 * head has exactly one text.
 */
#ifndef TL_CHECKPOINT_H
#define TL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "tl_crypto.h"
#include "tl_error.h"
#include "tl_note.h"

/* The origin doubles as the note key name, so it obeys the same limit. */
#define TL_CHECKPOINT_ORIGIN_BYTES_MAX TL_NOTE_NAME_BYTES_MAX
/* origin, 20 digits, 44 base64 characters, three newlines and a NUL */
#define TL_CHECKPOINT_TEXT_BYTES_MAX (TL_CHECKPOINT_ORIGIN_BYTES_MAX + 20 + 44 + 3 + 1)

typedef struct tl_checkpoint {
    char origin[TL_CHECKPOINT_ORIGIN_BYTES_MAX + 1]; /* NUL-terminated */
    uint64_t size;
    uint8_t root[TL_HASH_BYTES];
} tl_checkpoint;

/* Writes the body of cp into out, NUL-terminated; *out_len excludes the NUL. TL_EINVAL when
 * the origin is empty, too long, or holds a control character or invalid UTF-8. */
int tl_checkpoint_format(char out[TL_CHECKPOINT_TEXT_BYTES_MAX], size_t *out_len,
                         const tl_checkpoint *cp, tl_error *err) TL_WUR;

/* Parses a body of len bytes strictly (see above). TL_EINVAL naming the line that failed. */
int tl_checkpoint_parse(tl_checkpoint *out, const char *text, size_t len, tl_error *err) TL_WUR;

/* Verifies a signed checkpoint note against v (tl_note_verify), parses its body, and checks
 * that the origin is v's key name. Codes as for those two calls; TL_EINVAL ("checkpoint.origin")
 * for an origin that is not the key's name. */
int tl_checkpoint_open(tl_checkpoint *out, const char *note, size_t len, const tl_note_verifier *v,
                       tl_error *err) TL_WUR;

#endif
