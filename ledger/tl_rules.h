/*
 * The domain rules that depend on the log: the key registry (who may sign what, as of an
 * event's place in the log), references to things already recorded, and per-entity signers.
 * Stateless checks (schema, codes, dates) are in tl_schema.h and run before sequencing.
 *
 * The rules read and write only a tl_state, so the sequencer and `verify` share them exactly.
 * Contract: tl_rules_check reads and never writes; tl_rules_apply writes the effects of an
 * event that was accepted. A rejected event therefore leaves the state untouched.
 */
#ifndef TL_RULES_H
#define TL_RULES_H

#include <stdint.h>

#include "tl_event.h"
#include "tl_schema.h"
#include "tl_state.h"

/* May this event, signed by ev->key, be appended at position seq? 0 or TL_EDENIED /
 * TL_EREF / TL_ECONFLICT / TL_ESTATE / TL_EINVAL with the rule and field named (the rules are
 * listed by tl_rules_doc; a failure to read the state is rule "state.read" or "state.corrupt",
 * which the sequencer treats as the store's fault, not the event's). */
int tl_rules_check(tl_state *st, const tl_event *ev, uint64_t seq, tl_error *err)
    __attribute__((warn_unused_result));

/* tl_rules_check when the caller has already read the stream's head (its value in the state,
 * version (8) || entity state, tl_state.h; head_len 0 when the stream does not exist): tl_admit
 * reads it for `expect` and passes it on, which saves the sequencer one state read per event.
 * tl_rules_check reads the head itself and calls this. */
int tl_rules_check_at(tl_state *st, const tl_event *ev, uint64_t seq, const uint8_t *head, size_t head_len,
                      tl_error *err) __attribute__((warn_unused_result));

/* Records the effects of an accepted event in the state, except its stream head: head holds
 * the new head (the event's version || the entity state before the event) and the rules
 * replace its entity state when the event changes it; the caller then stores it. */
int tl_rules_apply(tl_state *st, const tl_event *ev, uint64_t seq, tl_buf *head, tl_error *err)
    __attribute__((warn_unused_result));

/* The generic sequencing rules plus the domain rules, for one event at position seq:
 * idempotency (an event id seen before is reported as a duplicate, with its original seq, and
 * nothing changes), stream version and `expect`, record 0 is the genesis, then tl_rules_check
 * and, when all pass, every state change. */
typedef struct tl_admission {
    uint64_t version;       /* the event's version in its stream */
    int duplicate;          /* nonzero: the id is already in the log at original_seq */
    uint64_t original_seq;
} tl_admission;

int tl_admit(tl_state *st, const tl_event *ev, uint64_t seq, tl_admission *out, tl_error *err)
    __attribute__((warn_unused_result));

/* Every rule tl_admit and the domain rules report, with its path and the event types it
 * applies to, in the order they are checked (several entries share a rule name when it is
 * reported at several paths). For documentation (`techledger schema`) and for the tests that
 * make every rule fail once. The table is static; *count receives its length. */
const tl_rule_doc *tl_rules_doc(size_t *count);

#endif
