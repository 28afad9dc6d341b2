/*
 * The event catalogue as data, and the stateless check of one event against it.
 *
 * Each event type has one tl_event_spec: its stream shape, who signs it (documentation; the
 * sequencer enforces it against the log) and a table of tl_field_spec listing every field of
 * `data` with its type, whether it is optional and its bounds. The checker walks the tables,
 * so the same tables can generate the catalogue's documentation. What needs more than one
 * field (tech_fen <= total_fen, subtype of class, ...) is a small cross-field check per type,
 * listed in the spec's `rules` text.
 *
 * Only what one event shows on its own is judged here: references (does the seller exist? is
 * the key active?) need the log and are checked elsewhere.
 *
 * Rules reported (tl_error.rule) and where (tl_error.path):
 *   schema.type              type      the type is not in the catalogue
 *   schema.type_mismatch     data.F    wrong MessagePack type (also `data` not a map)
 *   schema.required          data.F    a required field is absent (also data.parent of a sub_fund)
 *   schema.unknown_field     data.F    a field the catalogue does not define
 *   schema.code              data.F    not a name in the field's code list
 *   schema.region            data.F    not six digits naming a GB/T 2260 code
 *   schema.date              data.F    not YYYY-MM-DD, no such day, or outside 1949..2099
 *   schema.id                data.F    not 1..64 bytes of [a-z0-9._-] (or "." / "..")
 *   schema.reg_no            data.F    not 16 digits
 *   schema.credit_code       data.F    length, alphabet or check character (GB 32100-2015)
 *   schema.origin            data.F    the ledger origin is not 1..128 printable ASCII bytes
 *                                      without space or '+' (it is a signed-note key name)
 *   schema.text              data.F    text holds control or bidirectional-override characters
 *   schema.length            data.F    text, bin or array length outside its bounds
 *   schema.amount_range      data.F    amount above TL_AMOUNT_FEN_MAX, or 0 where it must be >= 1
 *   schema.range             data.F    a bounded integer (ppm, term_months, count) out of range
 *   schema.duplicate         data.F[i] an array element repeats an earlier one
 *   schema.subtype           data.subtype       the subtype is not of the contract's class
 *   schema.tech_exceeds_total data.tech_fen     技术交易额 above 成交额
 *   schema.date_order        data.registered_on registered before signed
 *   schema.same_party        data.buyer, data.borrower  both sides are one participant
 *   schema.parent            data.parent        a guidance fund with a parent, or its own parent
 *   schema.stream            stream    the stream does not match the type and the data's id
 * All of them return TL_EINVAL.
 */
#ifndef TL_SCHEMA_H
#define TL_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tl_domain.h"
#include "tl_error.h"
#include "tl_mp.h"

#define TL_SCHEMA_TEXT_BYTES_MAX 512  /* names, titles, reasons, ip descriptions */
#define TL_SCHEMA_ORIGIN_BYTES_MAX 128
#define TL_SCHEMA_KEY_BYTES 32        /* Ed25519 public key (TL_PUBKEY_BYTES) */
#define TL_SCHEMA_KEYS_MAX 16         /* keys listed in one participant.registered */
#define TL_SCHEMA_ACHIEVEMENTS_MAX 64 /* achievements named by one contract */
#define TL_SCHEMA_TERM_MONTHS_MAX 600 /* 50 years: longer than any loan a bank books */
#define TL_SCHEMA_COUNT_MAX 10000000u /* programme counts: 10^7, above the whole workforce */

typedef enum tl_event_type {
    TL_EV_LEDGER_GENESIS,
    TL_EV_PARTICIPANT_REGISTERED,
    TL_EV_PARTICIPANT_KEY_ADDED,
    TL_EV_PARTICIPANT_KEY_REVOKED,
    TL_EV_ACHIEVEMENT_REGISTERED,
    TL_EV_CONTRACT_REGISTERED,
    TL_EV_CONTRACT_AMENDED,
    TL_EV_CONTRACT_CANCELLED,
    TL_EV_PAYMENT_RECEIVED,
    TL_EV_EQUITY_RECORDED,
    TL_EV_FUND_ESTABLISHED,
    TL_EV_FUND_COMMITTED,
    TL_EV_FUND_CALLED,
    TL_EV_FUND_INVESTED,
    TL_EV_LOAN_ISSUED,
    TL_EV_LOAN_DEFAULTED,
    TL_EV_LOAN_COMPENSATED,
    TL_EV_PROGRAMME_INSTITUTION_DESIGNATED,
    TL_EV_PROGRAMME_ZONE_DESIGNATED,
    TL_EV_PROGRAMME_TRAINING_COMPLETED,
    TL_EV_COUNT
} tl_event_type;

/* What a field's value (or each element of an array field) must be. */
typedef enum tl_field_type {
    TL_FT_TEXT = 1,    /* str, min..max bytes, no control or bidi-override characters */
    TL_FT_ID,          /* str, tl_id_valid */
    TL_FT_REG_NO,      /* str, 16 digits */
    TL_FT_REGION,      /* str, GB/T 2260 code */
    TL_FT_DATE,        /* str, YYYY-MM-DD */
    TL_FT_FEN,         /* uint, 0..TL_AMOUNT_FEN_MAX (1.. with TL_FIELD_POSITIVE) */
    TL_FT_UINT,        /* uint, min..max */
    TL_FT_BOOL,        /* bool */
    TL_FT_KEY,         /* bin, exactly 32 bytes: an Ed25519 public key */
    TL_FT_CODE,        /* str, a name from `codes` */
    TL_FT_CREDIT_CODE, /* str, 统一社会信用代码 with a valid check character */
    TL_FT_ORIGIN       /* str, the ledger's name (a signed-note key name) */
} tl_field_type;

/* tl_field_spec.flags */
#define TL_FIELD_OPTIONAL 0x1u /* may be absent (never nil: absent means left out) */
#define TL_FIELD_ARRAY 0x2u    /* an array of `type`, min..max elements, no duplicates */
#define TL_FIELD_POSITIVE 0x4u /* TL_FT_FEN: at least 1 fen (a flow of money is never 0) */

typedef struct tl_field_spec {
    const char *name;
    size_t name_len; /* strlen(name) */
    uint8_t type;  /* tl_field_type (of each element when TL_FIELD_ARRAY) */
    uint8_t flags; /* TL_FIELD_... */
    const tl_codelist *codes; /* TL_FT_CODE only */
    uint64_t min, max; /* TEXT: bytes; UINT: value; ARRAY: element count; else unused */
    const char *doc;   /* one line for generated documentation */
} tl_field_spec;

typedef struct tl_event_spec {
    tl_event_type id;
    const char *type; /* "contract.registered" */
    size_t type_len;  /* strlen(type) */
    /* The stream: exactly `stream` when stream_field is NULL and stream has no '/' (genesis);
     * otherwise stream is a prefix such as "contract/" followed by the value of the data field
     * stream_field, or, when stream_field is NULL (events on an existing entity), by a valid
     * suffix for the family (a reg_no for contract/, an id elsewhere). */
    const char *stream;
    const char *stream_field;
    const char *signer; /* who must sign (enforced against the log, not here) */
    const tl_field_spec *fields;
    size_t field_count;
    const char *rules; /* the cross-field rules in prose, for documentation; "" when none */
    const char *doc;
} tl_event_spec;

/* One rule as documentation: what tl_error.rule and tl_error.path will say, the code, and the
 * event types it can reject (bit 1 << tl_event_type). Paths with "[i]" or "F" stand for any
 * index or field. */
typedef struct tl_rule_doc {
    const char *rule;
    const char *path;
    int code;       /* TL_E... */
    uint32_t types; /* bit 1 << tl_event_type for each type it applies to */
    const char *text;
} tl_rule_doc;

static inline bool tl_rule_doc_applies(const tl_rule_doc *r, tl_event_type t)
{
    return (r->types >> (unsigned)t) & 1u;
}

/*
 * Worked examples: one history of valid events that walks through every event type (and the
 * participants and the guidance fund the others refer to). The documentation shows the entry
 * marked `shown` for each type; the tests replay the whole list against a real ledger, so the
 * documented examples are known to pass every rule. Each is signed by the key whose seed is 32
 * bytes of `seed` (0x01 is the genesis admin key); ids and times are the caller's choice.
 */
typedef struct tl_schema_example {
    const char *type;
    const char *stream;
    const char *signer; /* who signs, for the documentation: "admin" or a participant id */
    uint8_t seed;       /* the signing key's seed is 32 bytes of this value */
    const char *data;   /* the data map as JSON (api/tl_json_event.h: keys as hex) */
    bool shown;         /* the example documented for its type */
} tl_schema_example;

#define TL_SCHEMA_EXAMPLE_ORIGIN "techledger.example/national"

/* The example history, in log order, starting with ledger.genesis. Static. */
const tl_schema_example *tl_schema_examples(size_t *count);

/* The stateless rules tl_schema_check reports (the list above), for documentation. Static. */
const tl_rule_doc *tl_schema_rules_doc(size_t *count);

/* The spec of an event type named by len bytes at type, or NULL when it is not in the
 * catalogue. Returned pointers are static. */
const tl_event_spec *tl_schema_for_type(const char *type, size_t len);
/* The spec of an enum value, or NULL when out of range. Iterate 0..TL_EV_COUNT-1 for docs. */
const tl_event_spec *tl_schema_event(tl_event_type t);
/* A short name for a field type ("id", "region", "uint fen"...), for documentation. */
const char *tl_field_type_name(tl_field_type t);
/* "data.<name>", or "data.<name>[index]" when index >= 0: the path of a field in errors, written
 * into out and returned. Schema checks and domain rules format it only when a check fails:
 * the checks run for every field of every event, and formatting dominated their cost. */
const char *tl_field_path(char out[TL_ERROR_PATH_BYTES], const char *name, long index);

/*
 * Checks the `data` map (node data_node of the parsed body) and the stream against the spec of
 * type. body must come from tl_mp_parse, so its strings are already valid UTF-8 and its maps
 * canonical. Returns 0, or TL_EINVAL with err naming the rule and path (see above).
 */
int tl_schema_check(const tl_mp_doc *body, uint32_t data_node, const char *type, size_t type_len,
                    const char *stream, size_t stream_len, tl_error *err)
    __attribute__((warn_unused_result));

/* The same for a whole parsed body map (nodes[0]): finds `type`, `stream` and `data` itself.
 * A missing or mistyped one of those three is schema.required / schema.type_mismatch at its
 * key. The other body keys (id, time, expect) are judged by the event decoder. */
int tl_schema_check_body(const tl_mp_doc *body, tl_error *err) __attribute__((warn_unused_result));

#endif
