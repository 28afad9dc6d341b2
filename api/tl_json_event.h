/*
 * Events as JSON, for people and scripts: `techledger sign` reads them, the HTTP API shows
 * them, tests and the demo write them.
 *
 * JSON event (input to tl_json_envelope):
 *   {"type": "contract.registered", "stream": "contract/2019110108000123",
 *    "data": {...}, "id"?: hex(16 bytes) or base64, "time"?: ms, "expect"?: uint}
 * A missing id is random; a missing time is now. In data, fields the catalogue types as keys
 * (bin 32: `admin`, `key`, `keys`) are written as 64 hex digits or base64; integers must be
 * whole numbers (JSON reals are refused: money is integer fen); objects become maps with keys
 * sorted as canonical MessagePack requires. Output (tl_mp_to_json) shows bin as standard
 * base64, as FORMAT.md section 11 asks.
 */
#ifndef TL_JSON_EVENT_H
#define TL_JSON_EVENT_H

#include <jansson.h>

#include "tl_crypto.h"
#include "tl_event.h"
#include "tl_mp.h"

/* The canonical MessagePack map for the data object of an event of this type. */
int tl_json_event_data(tl_buf *out, const char *type, const json_t *data, tl_error *err)
    __attribute__((warn_unused_result));

/* A signed envelope for a JSON event, signed with kp. now_ms supplies a missing time. */
int tl_json_envelope(tl_buf *out, const json_t *event, const tl_keypair *kp, uint64_t now_ms,
                     tl_error *err) __attribute__((warn_unused_result));

/* The value at node i of doc as JSON (new reference; NULL on allocation failure). */
json_t *tl_mp_to_json(const tl_mp_doc *doc, uint32_t i);

#endif
