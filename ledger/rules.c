/*
 * Domain rules that need the log: the key registry, who may sign what, references to things
 * already recorded, and the few state-dependent conflicts of the domain (a cancelled contract
 * takes no more events, a loan defaults once and is compensated only after it defaulted).
 *
 * STATE. The rules keep what they need in the tl_state, under namespaces owned here (the
 * first byte of the key), or as the entity state of a stream head (below). tl_rules_apply is
 * the only writer (of a head's entity state through the head tl_admit then stores); every
 * value is written once when its entity is created and rewritten only by the few events that
 * change it.
 *
 *   'K' || public key (32) -> status (1: 1 active, 0 revoked) || roles (1) || participant id
 *        The key registry. A participant's roles are fixed when it is registered (no event
 *        changes them), so they are copied into each of its keys: one read authenticates a
 *        signer and tells its roles. The genesis admin key is stored with the admin role and
 *        an empty participant id (it belongs to no participant and cannot be revoked).
 *   'P' || participant id  -> roles (1: bit 1 << tl_role) || kind (1: tl_participant_kind)
 *   contract (in its stream head, below) -> flags (1: bit 0 cancelled) || signed_on (4)
 *                             || registered_on (4) || seller id
 *   'C' || reg_no (16)     -> the same, as ledgers written before contracts moved into their
 *                             stream heads stored it. Read only for a contract whose head holds
 *                             no state; never written.
 *   'F' || fund id         -> kind (1: tl_fund_kind) || manager id
 *   'L' || loan id         -> flags (1: bit 0 defaulted) || issued_on (4) || defaulted_on (4)
 *                             || principal_fen (8) || defaulted_fen (8) || compensated_fen (8)
 *                             || bank length (1) || bank || borrower length (1) || borrower || pool
 *   Dates are days since 1970-01-01 (int32, two's complement), integers big-endian.
 *   Achievements, equity deals and programme entries carry no attributes the rules need:
 *   their stream head ('s' || stream, tl_state.h) says whether they exist.
 *
 * ENTITY STATE IN THE HEAD. A stream head is version (8) || entity state (tl_state.h), and a
 * contract keeps its state there rather than under a key of its own: every event of a contract
 * is on its stream, so tl_admit has read the head anyway and rewrites it for every event. A
 * registration then writes one key fewer (three instead of four per event in the sequencer's
 * WriteBatch, a skip-list insert into a large memtable each, later flushed and compacted),
 * and the later events of a contract read nothing more to find it. The other entities are
 * read by events on other streams (a loan's pool is a fund, a fund's manager a participant)
 * or are few, and keep their keys.
 *
 * COST. tl_admit reads the idempotency index and the stream head and hands the head to
 * tl_rules_check_at, so existence of the event's own entity, and a contract's state, cost
 * nothing here. Reads by the rules per event type (the sequencer judges events one at a time
 * on one thread, so these reads are its inner loop):
 *   contract.registered  3 (signer, seller, buyer) + 1 per listed achievement
 *   contract.amended / cancelled, payment.received   1 (signer; 2 for a contract in the
 *                        older layout: its 'C' key)
 *   achievement.registered 2; equity.recorded 3; fund.established 2-3; fund.* flows 3-4;
 *   loan.issued 4; loan.defaulted 2; loan.compensated 3; participant events 1-3; programme 1.
 *
 * WHO SIGNS (BRIEF.md, event catalogue; the signer column of tl_schema.h documents it):
 *   admin events (participants, keys, programme, fund.established of kind guidance or local):
 *     a key holding the admin role (the genesis key, or a participant registered with it);
 *   contract.*, equity.recorded: a key of a participant holding the registry role;
 *   achievement.registered: a registry, or any key of the owner;
 *   payment.received: a registry, or any key of the contract's seller;
 *   fund.established of kind sub_fund: a key of the parent fund's manager;
 *   fund.committed / called / invested: a key of the fund's manager;
 *   loan.issued / defaulted: a key of the lending bank; loan.compensated: a key of the pool
 *     fund's manager.
 * A local fund is established by the admin, like a guidance fund: it is set up by a
 * government, not under another fund, even when it names a parent for reporting.
 *
 * NOT REJECTED. The guidance-fund rules (guidance share 10%-30% and not the largest investor,
 * qualifying investment >= 3x the guidance money and >= 50% of the size, compensation <= 2%
 * of the bank's eligible lending in a year) and payments reconciling with registered amounts
 * are findings the projections compute over the whole history; an event that makes a fund
 * break them is still a true record of what happened, so it is accepted.
 */
#include "tl_rules.h"

#include <stdio.h>
#include <string.h>

#include "tl_domain.h"
#include "tl_schema.h"

#define ROLE(r) (1u << (r))
#define TYPE(t) (1u << (t))

#define C_CANCELLED 0x1u
#define L_DEFAULTED 0x1u

/* Fixed parts of the 'C' and 'L' values (see above). */
#define C_FIXED_BYTES 9u
#define L_FIXED_BYTES 33u

#define STATE_KEY_BYTES (1u + TL_STREAM_BYTES_MAX)

/* ---- Reading the event ------------------------------------------------------------------- */

/* The data field `name` when present with the wire type `type`, else NULL. The schema has run
 * before the rules (tl_event_check), so a NULL for a required field means a caller skipped it. */
static const tl_mp_node *field(const tl_event *ev, const char *name, uint8_t type)
{
    uint32_t i = tl_mp_map_get(&ev->doc, ev->data, name);
    if (i == 0 || ev->doc.nodes[i].type != type)
        return NULL;
    return &ev->doc.nodes[i];
}

static bool node_eq(const tl_mp_node *n, const char *s, size_t len)
{
    return n->v.s.len == len && memcmp(n->v.s.ptr, s, len) == 0;
}

/* ---- The judge: one event being checked --------------------------------------------------- */

typedef struct judge {
    tl_state *st;
    const tl_event *ev;
    const tl_event_spec *spec;
    tl_error *err;
    tl_buf val; /* the value of the last state read */
    uint64_t head;
    /* The entity state the stream head holds (empty for most streams), and in tl_rules_apply
     * the new head, whose entity state the rules rewrite when the event changes it. */
    const uint8_t *entity;
    size_t entity_len;
    tl_buf *new_head;
    /* The signer, from the key registry. */
    unsigned roles;
    char who[TL_ID_BYTES_MAX + 1]; /* participant id; "" for the genesis admin key */
    size_t who_len;
} judge;

static int fail_read(judge *j, int rc)
{
    return tl_fail(j->err, rc, "state.read", "", "cannot read the ledger state");
}

static int fail_corrupt(judge *j, const char *what)
{
    return tl_fail(j->err, TL_ECORRUPT, "state.corrupt", "", "the stored %s is malformed", what);
}

static int fail_missing(judge *j, const char *name)
{
    char path[TL_ERROR_PATH_BYTES];
    return tl_fail(j->err, TL_EINVAL, "schema.required", tl_field_path(path, name, -1),
                   "%s requires %s", j->ev->type, name);
}

/* Reads ns || id into j->val. *found tells whether it exists. 0 or a state.read failure. */
static int get(judge *j, uint8_t ns, const void *id, size_t len, bool *found)
{
    uint8_t key[STATE_KEY_BYTES];
    if (len > sizeof key - 1)
        return tl_fail(j->err, TL_EINVAL, "schema.length", "", "identifier too long");
    key[0] = ns;
    memcpy(key + 1, id, len);
    int rc = tl_state_get(j->st, key, 1 + len, &j->val);
    *found = rc == 0;
    if (rc == TL_ENOTFOUND)
        return 0;
    return rc == 0 ? 0 : fail_read(j, rc);
}

static int str_field(judge *j, const char *name, const tl_mp_node **out)
{
    *out = field(j->ev, name, TL_MP_STR);
    return *out != NULL ? 0 : fail_missing(j, name);
}

/* The participant in node n, the field data.<name> (element index when >= 0), must be
 * registered; when role >= 0 it must hold that role. */
static int ref_participant(judge *j, const tl_mp_node *n, const char *name, long index, int role,
                           unsigned *roles_out)
{
    char path[TL_ERROR_PATH_BYTES];
    bool found;
    int rc = get(j, 'P', n->v.s.ptr, n->v.s.len, &found);
    if (rc != 0)
        return rc;
    if (!found)
        return tl_fail(j->err, TL_EREF, "ref.unknown", tl_field_path(path, name, index),
                       "no participant \"%.*s\" in the log", (int)n->v.s.len, (const char *)n->v.s.ptr);
    if (j->val.len != 2)
        return fail_corrupt(j, "participant");
    unsigned roles = j->val.data[0];
    if (role >= 0 && !(roles & ROLE(role)))
        return tl_fail(j->err, TL_EREF, "ref.role", tl_field_path(path, name, index),
                       "participant \"%.*s\" does not hold the %s role", (int)n->v.s.len,
                       (const char *)n->v.s.ptr, tl_code_name(&tl_codes_role, role));
    if (roles_out != NULL)
        *roles_out = roles;
    return 0;
}

static int ref_participant_field(judge *j, const char *name, int role)
{
    const tl_mp_node *n;
    int rc = str_field(j, name, &n);
    if (rc != 0)
        return rc;
    return ref_participant(j, n, name, -1, role, NULL);
}

/* A fund's record: kind and manager (copied out of j->val, which the next read replaces). */
typedef struct fund_rec {
    unsigned kind;
    char manager[TL_ID_BYTES_MAX + 1];
    size_t manager_len;
} fund_rec;

static int read_fund(judge *j, const char *id, size_t len, bool *found, fund_rec *out)
{
    int rc = get(j, 'F', id, len, found);
    if (rc != 0 || !*found)
        return rc;
    if (j->val.len < 2 || j->val.len > 1 + TL_ID_BYTES_MAX)
        return fail_corrupt(j, "fund");
    out->kind = j->val.data[0];
    out->manager_len = j->val.len - 1;
    memcpy(out->manager, j->val.data + 1, out->manager_len);
    out->manager[out->manager_len] = '\0';
    return 0;
}

static int ref_fund_field(judge *j, const char *name, fund_rec *out)
{
    const tl_mp_node *n;
    int rc = str_field(j, name, &n);
    if (rc != 0)
        return rc;
    bool found;
    if ((rc = read_fund(j, (const char *)n->v.s.ptr, n->v.s.len, &found, out)) != 0)
        return rc;
    if (!found) {
        char path[TL_ERROR_PATH_BYTES];
        return tl_fail(j->err, TL_EREF, "ref.unknown", tl_field_path(path, name, -1),
                       "no fund \"%.*s\" in the log", (int)n->v.s.len, (const char *)n->v.s.ptr);
    }
    return 0;
}

static int ref_achievement(judge *j, const tl_mp_node *n, const char *name, long index)
{
    char path[TL_ERROR_PATH_BYTES];
    static const char prefix[] = "achievement/";
    char stream[sizeof prefix + TL_ID_BYTES_MAX];
    if (n->v.s.len > TL_ID_BYTES_MAX)
        return fail_missing(j, "achievement");
    memcpy(stream, prefix, sizeof prefix - 1);
    memcpy(stream + sizeof prefix - 1, n->v.s.ptr, n->v.s.len);
    bool found;
    int rc = get(j, 's', stream, sizeof prefix - 1 + n->v.s.len, &found);
    if (rc != 0)
        return rc;
    if (!found)
        return tl_fail(j->err, TL_EREF, "ref.unknown", tl_field_path(path, name, index),
                       "no achievement \"%.*s\" in the log", (int)n->v.s.len, (const char *)n->v.s.ptr);
    return 0;
}

/* Is the signer a key of the participant named by n? */
static bool signer_is(const judge *j, const tl_mp_node *n)
{
    return j->who_len > 0 && node_eq(n, j->who, j->who_len);
}

static bool signer_is_id(const judge *j, const char *id, size_t len)
{
    return j->who_len > 0 && j->who_len == len && memcmp(j->who, id, len) == 0;
}

static const char *entity_id(const judge *j)
{
    const char *slash = strchr(j->ev->stream, '/');
    return slash != NULL ? slash + 1 : j->ev->stream;
}

static int32_t date_field(const tl_event *ev, const char *name)
{
    const tl_mp_node *n = field(ev, name, TL_MP_STR);
    int32_t day = 0;
    if (n != NULL)
        (void)tl_date_parse(&day, (const char *)n->v.s.ptr, n->v.s.len);
    return day;
}

static void be32_put(uint8_t out[4], int32_t v)
{
    uint32_t u = (uint32_t)v;
    out[0] = (uint8_t)(u >> 24);
    out[1] = (uint8_t)(u >> 16);
    out[2] = (uint8_t)(u >> 8);
    out[3] = (uint8_t)u;
}

static int32_t be32_get(const uint8_t in[4])
{
    uint32_t u = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
    return (int32_t)u;
}

static int date_order(judge *j, const char *name, int32_t not_before, const char *what)
{
    int32_t day = date_field(j->ev, name);
    if (day >= not_before)
        return 0;
    char path[TL_ERROR_PATH_BYTES], when[TL_DATE_LEN + 1];
    tl_date_format(when, not_before);
    return tl_fail(j->err, TL_ECONFLICT, "date.order", tl_field_path(path, name, -1),
                   "before %s (%s)", what, when);
}

/* ---- Records of contracts and loans ------------------------------------------------------- */

typedef struct contract_rec {
    unsigned flags;
    int32_t signed_on, registered_on;
    char seller[TL_ID_BYTES_MAX + 1];
    size_t seller_len;
} contract_rec;

/* The contract of the event's stream: from its head, or from its 'C' key when the head holds
 * no state (a contract of the older layout, see above). */
static int read_contract(judge *j, contract_rec *out)
{
    const uint8_t *v = j->entity;
    size_t n = j->entity_len;
    if (n == 0) {
        bool found;
        const char *reg_no = entity_id(j);
        int rc = get(j, 'C', reg_no, strlen(reg_no), &found);
        if (rc != 0)
            return rc;
        /* The stream exists (tl_admit saw its head), so its record must too. */
        if (!found)
            return fail_corrupt(j, "contract");
        v = j->val.data;
        n = j->val.len;
    }
    if (n <= C_FIXED_BYTES || n > C_FIXED_BYTES + TL_ID_BYTES_MAX)
        return fail_corrupt(j, "contract");
    out->flags = v[0];
    out->signed_on = be32_get(v + 1);
    out->registered_on = be32_get(v + 5);
    out->seller_len = n - C_FIXED_BYTES;
    memcpy(out->seller, v + C_FIXED_BYTES, out->seller_len);
    out->seller[out->seller_len] = '\0';
    return 0;
}

typedef struct loan_rec {
    unsigned flags;
    int32_t issued_on, defaulted_on;
    uint64_t principal_fen, defaulted_fen, compensated_fen;
    const uint8_t *bank, *borrower, *pool; /* into the buffer the record was parsed from */
    size_t bank_len, borrower_len, pool_len;
} loan_rec;

static bool loan_parse(loan_rec *out, const uint8_t *v, size_t len)
{
    if (len < L_FIXED_BYTES + 3)
        return false;
    out->flags = v[0];
    out->issued_on = be32_get(v + 1);
    out->defaulted_on = be32_get(v + 5);
    out->principal_fen = tl_be64_get(v + 9);
    out->defaulted_fen = tl_be64_get(v + 17);
    out->compensated_fen = tl_be64_get(v + 25);
    size_t at = L_FIXED_BYTES;
    out->bank_len = v[at++];
    if (out->bank_len == 0 || at + out->bank_len + 1 >= len)
        return false;
    out->bank = v + at;
    at += out->bank_len;
    out->borrower_len = v[at++];
    if (out->borrower_len == 0 || at + out->borrower_len >= len)
        return false;
    out->borrower = v + at;
    at += out->borrower_len;
    out->pool = v + at;
    out->pool_len = len - at;
    return out->pool_len <= TL_ID_BYTES_MAX;
}

static int loan_encode(tl_buf *out, const loan_rec *r)
{
    uint8_t fixed[L_FIXED_BYTES];
    fixed[0] = (uint8_t)r->flags;
    be32_put(fixed + 1, r->issued_on);
    be32_put(fixed + 5, r->defaulted_on);
    tl_be64_put(fixed + 9, r->principal_fen);
    tl_be64_put(fixed + 17, r->defaulted_fen);
    tl_be64_put(fixed + 25, r->compensated_fen);
    uint8_t bl = (uint8_t)r->bank_len, ol = (uint8_t)r->borrower_len;
    tl_buf_reset(out);
    if (tl_buf_append(out, fixed, sizeof fixed) != 0 || tl_buf_append(out, &bl, 1) != 0 ||
        tl_buf_append(out, r->bank, r->bank_len) != 0 || tl_buf_append(out, &ol, 1) != 0 ||
        tl_buf_append(out, r->borrower, r->borrower_len) != 0 ||
        tl_buf_append(out, r->pool, r->pool_len) != 0)
        return TL_ENOMEM;
    return 0;
}

static int read_loan(judge *j, loan_rec *out)
{
    bool found;
    const char *id = entity_id(j);
    int rc = get(j, 'L', id, strlen(id), &found);
    if (rc != 0)
        return rc;
    if (!found || !loan_parse(out, j->val.data, j->val.len))
        return fail_corrupt(j, "loan");
    return 0;
}

/* ---- The signer --------------------------------------------------------------------------- */

static int lookup_signer(judge *j)
{
    uint8_t key[1 + TL_PUBKEY_BYTES];
    key[0] = 'K';
    memcpy(key + 1, j->ev->key, TL_PUBKEY_BYTES);
    int rc = tl_state_get(j->st, key, sizeof key, &j->val);
    if (rc == TL_ENOTFOUND)
        return tl_fail(j->err, TL_EDENIED, "auth.unknown_key", "key",
                       "the signing key is not registered to any participant");
    if (rc != 0)
        return fail_read(j, rc);
    if (j->val.len < 2 || j->val.len > 2 + TL_ID_BYTES_MAX)
        return fail_corrupt(j, "key registry entry");
    if (j->val.data[0] != 1)
        return tl_fail(j->err, TL_EDENIED, "auth.key_revoked", "key", "the signing key was revoked");
    j->roles = j->val.data[1];
    j->who_len = j->val.len - 2;
    memcpy(j->who, j->val.data + 2, j->who_len);
    j->who[j->who_len] = '\0';
    return 0;
}

static int require_role(judge *j, tl_role role)
{
    if (j->roles & ROLE(role))
        return 0;
    return tl_fail(j->err, TL_EDENIED, "auth.role", "key",
                   "%s is signed by %s; the key's participant%s%s does not hold the %s role",
                   j->ev->type, j->spec->signer, j->who_len ? " " : "", j->who,
                   tl_code_name(&tl_codes_role, (int)role));
}

/* ---- Per-type rules ----------------------------------------------------------------------- */

static int check_genesis(judge *j)
{
    const tl_mp_node *admin = field(j->ev, "admin", TL_MP_BIN);
    if (admin == NULL || admin->v.s.len != TL_PUBKEY_BYTES ||
        memcmp(admin->v.s.ptr, j->ev->key, TL_PUBKEY_BYTES) != 0)
        return tl_fail(j->err, TL_EDENIED, "auth.genesis_signer", "key",
                       "the genesis record must be signed by the key in data.admin");
    return 0;
}

/* Keys named by participant.registered and key_added must be new to the registry: one key
 * belongs to one participant for ever, so a revoked key can never come back. */
static int check_new_key(judge *j, const tl_mp_node *k, const char *name, long index)
{
    char path[TL_ERROR_PATH_BYTES];
    bool found;
    int rc = get(j, 'K', k->v.s.ptr, k->v.s.len, &found);
    if (rc != 0)
        return rc;
    if (found)
        return tl_fail(j->err, TL_ECONFLICT, "registry.key_in_use", tl_field_path(path, name, index),
                       "this key is already registered%s%s", j->val.len > 2 ? " to " : "",
                       j->val.len > 2 ? "a participant" : " as the genesis admin key");
    return 0;
}

static int check_participant_registered(judge *j)
{
    uint32_t keys = tl_mp_map_get(&j->ev->doc, j->ev->data, "keys");
    if (keys == 0 || j->ev->doc.nodes[keys].type != TL_MP_ARRAY)
        return fail_missing(j, "keys");
    const tl_mp_doc *d = &j->ev->doc;
    uint32_t c = tl_mp_first(keys);
    for (uint32_t i = 0; i < d->nodes[keys].count; i++, c = tl_mp_next(d, c)) {
        int rc = check_new_key(j, &d->nodes[c], "keys", (long)i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int check_key_added(judge *j)
{
    const tl_mp_node *k = field(j->ev, "key", TL_MP_BIN);
    if (k == NULL)
        return fail_missing(j, "key");
    return check_new_key(j, k, "key", -1);
}

static int check_key_revoked(judge *j)
{
    const tl_mp_node *k = field(j->ev, "key", TL_MP_BIN);
    if (k == NULL)
        return fail_missing(j, "key");
    bool found;
    int rc = get(j, 'K', k->v.s.ptr, k->v.s.len, &found);
    if (rc != 0)
        return rc;
    const char *pid = entity_id(j);
    size_t plen = strlen(pid);
    if (!found || j->val.len != 2 + plen || memcmp(j->val.data + 2, pid, plen) != 0)
        return tl_fail(j->err, TL_EREF, "registry.key_not_held", "data.key",
                       "participant %s holds no such key", pid);
    if (j->val.data[0] != 1)
        return tl_fail(j->err, TL_ECONFLICT, "registry.key_revoked", "data.key",
                       "the key is already revoked");
    return 0;
}

static int check_achievement(judge *j)
{
    const tl_mp_node *owner;
    int rc = str_field(j, "owner", &owner);
    if (rc == 0)
        rc = ref_participant(j, owner, "owner", -1, -1, NULL);
    if (rc != 0)
        return rc;
    if (!(j->roles & ROLE(TL_ROLE_REGISTRY)) && !signer_is(j, owner))
        return tl_fail(j->err, TL_EDENIED, "auth.owner", "key",
                       "achievement.registered is signed by a registry or a key of the owner %.*s",
                       (int)owner->v.s.len, (const char *)owner->v.s.ptr);
    return 0;
}

static int check_contract_registered(judge *j)
{
    int rc;
    if ((rc = ref_participant_field(j, "seller", -1)) != 0 ||
        (rc = ref_participant_field(j, "buyer", -1)) != 0)
        return rc;
    uint32_t a = tl_mp_map_get(&j->ev->doc, j->ev->data, "achievements");
    if (a == 0)
        return 0;
    const tl_mp_doc *d = &j->ev->doc;
    if (d->nodes[a].type != TL_MP_ARRAY)
        return fail_missing(j, "achievements");
    uint32_t c = tl_mp_first(a);
    for (uint32_t i = 0; i < d->nodes[a].count; i++, c = tl_mp_next(d, c)) {
        if (d->nodes[c].type != TL_MP_STR)
            return fail_missing(j, "achievements");
        if ((rc = ref_achievement(j, &d->nodes[c], "achievements", (long)i)) != 0)
            return rc;
    }
    return 0;
}

/* amended, cancelled, payment.received: the contract is live, and dates follow it. */
static int check_contract_event(judge *j)
{
    contract_rec c;
    int rc = read_contract(j, &c);
    if (rc != 0)
        return rc;
    bool payment = j->spec->id == TL_EV_PAYMENT_RECEIVED;
    if (payment && !(j->roles & ROLE(TL_ROLE_REGISTRY)) && !signer_is_id(j, c.seller, c.seller_len))
        return tl_fail(j->err, TL_EDENIED, "auth.seller", "key",
                       "payment.received is signed by a registry or a key of the seller %s", c.seller);
    if (c.flags & C_CANCELLED)
        return tl_fail(j->err, TL_ESTATE, "contract.cancelled", "stream",
                       "%s was cancelled; it takes no further events", j->ev->stream);
    switch (j->spec->id) {
    case TL_EV_CONTRACT_AMENDED:
        return date_order(j, "amended_on", c.registered_on, "the registration");
    case TL_EV_CONTRACT_CANCELLED:
        return date_order(j, "cancelled_on", c.registered_on, "the registration");
    case TL_EV_PAYMENT_RECEIVED:
        return date_order(j, "received_on", c.signed_on, "the contract was signed");
    default:
        return 0;
    }
}

static int check_equity(judge *j)
{
    const tl_mp_node *ach;
    int rc = str_field(j, "achievement", &ach);
    if (rc == 0)
        rc = ref_achievement(j, ach, "achievement", -1);
    if (rc == 0)
        rc = ref_participant_field(j, "company", -1);
    return rc;
}

static int check_fund_established(judge *j)
{
    const tl_mp_node *kind_node;
    int rc = str_field(j, "kind", &kind_node);
    if (rc != 0)
        return rc;
    int kind = tl_code_parse(&tl_codes_fund_kind, (const char *)kind_node->v.s.ptr, kind_node->v.s.len);
    if (kind != TL_FUND_SUB_FUND && (rc = require_role(j, TL_ROLE_ADMIN)) != 0)
        return rc;
    if ((rc = ref_participant_field(j, "manager", TL_ROLE_FUND_MANAGER)) != 0)
        return rc;
    if (tl_mp_map_get(&j->ev->doc, j->ev->data, "parent") == 0)
        return kind == TL_FUND_SUB_FUND ? fail_missing(j, "parent") : 0;
    fund_rec parent;
    if ((rc = ref_fund_field(j, "parent", &parent)) != 0)
        return rc;
    if (kind == TL_FUND_SUB_FUND && !signer_is_id(j, parent.manager, parent.manager_len))
        return tl_fail(j->err, TL_EDENIED, "auth.manager", "key",
                       "a sub_fund is established by a key of its parent's manager %s", parent.manager);
    return 0;
}

/* committed, called, invested: signed by the fund's manager; the counterparty exists. */
static int check_fund_flow(judge *j)
{
    bool found;
    fund_rec f;
    const char *id = entity_id(j);
    int rc = read_fund(j, id, strlen(id), &found, &f);
    if (rc != 0)
        return rc;
    if (!found)
        return fail_corrupt(j, "fund");
    if (!signer_is_id(j, f.manager, f.manager_len))
        return tl_fail(j->err, TL_EDENIED, "auth.manager", "key",
                       "%s is signed by a key of the fund's manager %s", j->ev->type, f.manager);
    if (j->spec->id == TL_EV_FUND_INVESTED)
        return ref_participant_field(j, "investee", -1);
    /* The investor is a participant, or a fund (a guidance fund committing to a sub-fund). */
    const tl_mp_node *inv;
    if ((rc = str_field(j, "investor", &inv)) != 0)
        return rc;
    if ((rc = get(j, 'P', inv->v.s.ptr, inv->v.s.len, &found)) != 0)
        return rc;
    if (!found && (rc = get(j, 'F', inv->v.s.ptr, inv->v.s.len, &found)) != 0)
        return rc;
    if (!found)
        return tl_fail(j->err, TL_EREF, "ref.unknown", "data.investor",
                       "no participant or fund \"%.*s\" in the log", (int)inv->v.s.len,
                       (const char *)inv->v.s.ptr);
    return 0;
}

static int check_loan_issued(judge *j)
{
    const tl_mp_node *bank;
    int rc = str_field(j, "bank", &bank);
    if (rc == 0)
        rc = ref_participant(j, bank, "bank", -1, TL_ROLE_BANK, NULL);
    if (rc == 0)
        rc = ref_participant_field(j, "borrower", -1);
    fund_rec pool;
    if (rc == 0)
        rc = ref_fund_field(j, "pool", &pool);
    if (rc != 0)
        return rc;
    if (!signer_is(j, bank))
        return tl_fail(j->err, TL_EDENIED, "auth.bank", "key",
                       "%s is signed by a key of the lending bank %.*s", j->ev->type,
                       (int)bank->v.s.len, (const char *)bank->v.s.ptr);
    return 0;
}

static int same_as_loan(judge *j, const char *name, const uint8_t *want, size_t len)
{
    const tl_mp_node *n;
    int rc = str_field(j, name, &n);
    if (rc != 0)
        return rc;
    if (node_eq(n, (const char *)want, len))
        return 0;
    char path[TL_ERROR_PATH_BYTES];
    return tl_fail(j->err, TL_ECONFLICT, "loan.mismatch", tl_field_path(path, name, -1),
                   "the loan was issued with %s %.*s",
                   name, (int)len, (const char *)want);
}

static int check_loan_defaulted(judge *j)
{
    loan_rec l;
    int rc = read_loan(j, &l);
    if (rc != 0)
        return rc;
    if (!signer_is_id(j, (const char *)l.bank, l.bank_len))
        return tl_fail(j->err, TL_EDENIED, "auth.bank", "key",
                       "loan.defaulted is signed by a key of the lending bank %.*s", (int)l.bank_len,
                       (const char *)l.bank);
    if ((rc = same_as_loan(j, "bank", l.bank, l.bank_len)) != 0 ||
        (rc = same_as_loan(j, "borrower", l.borrower, l.borrower_len)) != 0 ||
        (rc = same_as_loan(j, "pool", l.pool, l.pool_len)) != 0)
        return rc;
    if (l.flags & L_DEFAULTED)
        return tl_fail(j->err, TL_ESTATE, "loan.defaulted", "stream", "%s has already defaulted",
                       j->ev->stream);
    const tl_mp_node *amount = field(j->ev, "amount_fen", TL_MP_UINT);
    if (amount == NULL)
        return fail_missing(j, "amount_fen");
    if (amount->v.u > l.principal_fen)
        return tl_fail(j->err, TL_ECONFLICT, "loan.amount", "data.amount_fen",
                       "%llu fen in default exceeds the principal of %llu fen",
                       (unsigned long long)amount->v.u, (unsigned long long)l.principal_fen);
    return date_order(j, "dated", l.issued_on, "the loan was issued");
}

static int check_loan_compensated(judge *j)
{
    loan_rec l;
    int rc = read_loan(j, &l);
    if (rc != 0)
        return rc;
    /* l points into j->val, which read_fund replaces: keep what is needed after it. */
    uint64_t defaulted_fen = l.defaulted_fen, compensated_fen = l.compensated_fen;
    int32_t defaulted_on = l.defaulted_on;
    unsigned flags = l.flags;
    bool found;
    fund_rec pool;
    char pool_id[TL_ID_BYTES_MAX + 1];
    memcpy(pool_id, l.pool, l.pool_len);
    pool_id[l.pool_len] = '\0';
    if ((rc = read_fund(j, pool_id, strlen(pool_id), &found, &pool)) != 0)
        return rc;
    if (!found)
        return fail_corrupt(j, "loan pool");
    if (!signer_is_id(j, pool.manager, pool.manager_len))
        return tl_fail(j->err, TL_EDENIED, "auth.manager", "key",
                       "loan.compensated is signed by a key of the pool fund's manager %s",
                       pool.manager);
    if (!(flags & L_DEFAULTED))
        return tl_fail(j->err, TL_ESTATE, "loan.not_defaulted", "stream",
                       "%s has not defaulted; compensation covers defaults", j->ev->stream);
    const tl_mp_node *amount = field(j->ev, "amount_fen", TL_MP_UINT);
    if (amount == NULL)
        return fail_missing(j, "amount_fen");
    /* Both terms are <= TL_AMOUNT_FEN_MAX (the schema and this rule keep them so): no overflow. */
    if (amount->v.u > defaulted_fen - compensated_fen)
        return tl_fail(j->err, TL_ECONFLICT, "loan.overcompensated", "data.amount_fen",
                       "compensation would total %llu fen, above the %llu fen in default",
                       (unsigned long long)(compensated_fen + amount->v.u),
                       (unsigned long long)defaulted_fen);
    return date_order(j, "dated", defaulted_on, "the default");
}

/* Events that create an entity open its stream; events on an entity need it to exist. */
static bool creates_entity(tl_event_type t)
{
    switch (t) {
    case TL_EV_PARTICIPANT_REGISTERED:
    case TL_EV_ACHIEVEMENT_REGISTERED:
    case TL_EV_CONTRACT_REGISTERED:
    case TL_EV_EQUITY_RECORDED:
    case TL_EV_FUND_ESTABLISHED:
    case TL_EV_LOAN_ISSUED:
    /* A designation is made once: a second one under the same id would count twice towards
     * the plan's targets (100 institutions, 10 zones, 10,000 people trained). */
    case TL_EV_PROGRAMME_INSTITUTION_DESIGNATED:
    case TL_EV_PROGRAMME_ZONE_DESIGNATED:
    case TL_EV_PROGRAMME_TRAINING_COMPLETED: return true;
    default: return false;
    }
}

/* The role every signer of the type must hold, or -1 when the signer is decided per entity. */
static int role_required(tl_event_type t)
{
    switch (t) {
    case TL_EV_PARTICIPANT_REGISTERED:
    case TL_EV_PARTICIPANT_KEY_ADDED:
    case TL_EV_PARTICIPANT_KEY_REVOKED:
    case TL_EV_PROGRAMME_INSTITUTION_DESIGNATED:
    case TL_EV_PROGRAMME_ZONE_DESIGNATED:
    case TL_EV_PROGRAMME_TRAINING_COMPLETED: return TL_ROLE_ADMIN;
    case TL_EV_CONTRACT_REGISTERED:
    case TL_EV_CONTRACT_AMENDED:
    case TL_EV_CONTRACT_CANCELLED:
    case TL_EV_EQUITY_RECORDED: return TL_ROLE_REGISTRY;
    default: return -1;
    }
}

static int judge_event(judge *j)
{
    if (j->spec->id == TL_EV_LEDGER_GENESIS)
        return check_genesis(j);
    int rc = lookup_signer(j);
    if (rc != 0)
        return rc;
    int role = role_required(j->spec->id);
    if (role >= 0 && (rc = require_role(j, (tl_role)role)) != 0)
        return rc;
    bool creates = creates_entity(j->spec->id);
    if (creates && j->head != 0)
        return tl_fail(j->err, TL_ECONFLICT, "entity.exists", "stream", "%s already exists",
                       j->ev->stream);
    if (!creates && j->head == 0)
        return tl_fail(j->err, TL_EREF, "entity.unknown", "stream", "%s does not exist",
                       j->ev->stream);
    switch (j->spec->id) {
    case TL_EV_PARTICIPANT_REGISTERED: return check_participant_registered(j);
    case TL_EV_PARTICIPANT_KEY_ADDED: return check_key_added(j);
    case TL_EV_PARTICIPANT_KEY_REVOKED: return check_key_revoked(j);
    case TL_EV_ACHIEVEMENT_REGISTERED: return check_achievement(j);
    case TL_EV_CONTRACT_REGISTERED: return check_contract_registered(j);
    case TL_EV_CONTRACT_AMENDED:
    case TL_EV_CONTRACT_CANCELLED:
    case TL_EV_PAYMENT_RECEIVED: return check_contract_event(j);
    case TL_EV_EQUITY_RECORDED: return check_equity(j);
    case TL_EV_FUND_ESTABLISHED: return check_fund_established(j);
    case TL_EV_FUND_COMMITTED:
    case TL_EV_FUND_CALLED:
    case TL_EV_FUND_INVESTED: return check_fund_flow(j);
    case TL_EV_LOAN_ISSUED: return check_loan_issued(j);
    case TL_EV_LOAN_DEFAULTED: return check_loan_defaulted(j);
    case TL_EV_LOAN_COMPENSATED: return check_loan_compensated(j);
    default: return 0;
    }
}

static int judge_init(judge *j, tl_state *st, const tl_event *ev, tl_error *err)
{
    memset(j, 0, sizeof *j);
    j->st = st;
    j->ev = ev;
    j->err = err;
    tl_buf_init(&j->val);
    j->spec = tl_schema_for_type(ev->type, strlen(ev->type));
    if (j->spec == NULL)
        return tl_fail(err, TL_EINVAL, "schema.type", "type", "unknown event type %s", ev->type);
    return 0;
}

int tl_rules_check_at(tl_state *st, const tl_event *ev, uint64_t seq, const uint8_t *head, size_t head_len,
                      tl_error *err)
{
    (void)seq;
    if (st == NULL || ev == NULL || (head_len != 0 && head_len < 8))
        return tl_fail(err, TL_EINVAL, "rules.internal", "", "bad arguments");
    judge j;
    int rc = judge_init(&j, st, ev, err);
    if (rc == 0) {
        if (head_len != 0) {
            j.head = tl_be64_get(head);
            j.entity = head + 8;
            j.entity_len = head_len - 8;
        }
        rc = judge_event(&j);
    }
    tl_buf_free(&j.val);
    return rc;
}

int tl_rules_check(tl_state *st, const tl_event *ev, uint64_t seq, tl_error *err)
{
    if (st == NULL || ev == NULL)
        return tl_fail(err, TL_EINVAL, "rules.internal", "", "bad arguments");
    uint8_t key[1 + TL_STREAM_BYTES_MAX];
    key[0] = 's';
    memcpy(key + 1, ev->stream, ev->stream_len);
    tl_buf v;
    tl_buf_init(&v);
    int rc = tl_state_get(st, key, 1 + ev->stream_len, &v);
    if (rc == 0 && v.len < 8)
        rc = tl_fail(err, TL_ECORRUPT, "state.corrupt", "", "the stored stream head is malformed");
    else if (rc != 0 && rc != TL_ENOTFOUND)
        rc = tl_fail(err, rc, "state.read", "", "cannot read the stream head");
    else
        rc = tl_rules_check_at(st, ev, seq, v.data, rc == 0 ? v.len : 0, err);
    tl_buf_free(&v);
    return rc;
}

/* ---- Effects ------------------------------------------------------------------------------ */

/* Writes ns || id -> val. 0, or a state.write failure reported in j->err. */
static int put(judge *j, uint8_t ns, const void *id, size_t len, const void *val, size_t vlen)
{
    uint8_t key[STATE_KEY_BYTES];
    if (len > sizeof key - 1)
        return tl_fail(j->err, TL_EINVAL, "schema.length", "", "identifier too long");
    key[0] = ns;
    memcpy(key + 1, id, len);
    int rc = tl_state_put(j->st, key, 1 + len, val, vlen);
    if (rc != 0)
        return tl_fail(j->err, rc, "state.write", "", "cannot update the ledger state");
    return 0;
}

/* Makes val the entity state of the event's new stream head. val must not point into it. */
static int set_entity(judge *j, const void *val, size_t vlen)
{
    j->new_head->len = 8;
    j->entity = NULL;
    j->entity_len = 0;
    if (tl_buf_append(j->new_head, val, vlen) != 0)
        return tl_fail(j->err, TL_ENOMEM, "state.write", "", "cannot update the ledger state");
    return 0;
}

static int put_key(judge *j, const uint8_t *pk, uint8_t status, uint8_t roles, const void *pid,
                   size_t plen)
{
    uint8_t val[2 + TL_ID_BYTES_MAX];
    if (plen > TL_ID_BYTES_MAX)
        return fail_missing(j, "id");
    val[0] = status;
    val[1] = roles;
    memcpy(val + 2, pid, plen);
    return put(j, 'K', pk, TL_PUBKEY_BYTES, val, 2 + plen);
}

static int apply_participant(judge *j)
{
    const tl_event *ev = j->ev;
    const tl_mp_doc *d = &ev->doc;
    const tl_mp_node *id = field(ev, "id", TL_MP_STR), *kind = field(ev, "kind", TL_MP_STR);
    uint32_t r = tl_mp_map_get(d, ev->data, "roles"), keys = tl_mp_map_get(d, ev->data, "keys");
    if (id == NULL || r == 0 || keys == 0 || id->v.s.len > TL_ID_BYTES_MAX)
        return fail_missing(j, "id");
    uint8_t roles = 0;
    uint32_t c = tl_mp_first(r);
    for (uint32_t i = 0; i < d->nodes[r].count; i++, c = tl_mp_next(d, c)) {
        int v = tl_code_parse(&tl_codes_role, (const char *)d->nodes[c].v.s.ptr, d->nodes[c].v.s.len);
        if (v >= 0)
            roles = (uint8_t)(roles | ROLE(v));
    }
    int kv = kind != NULL ? tl_code_parse(&tl_codes_participant_kind, (const char *)kind->v.s.ptr,
                                          kind->v.s.len)
                          : -1;
    uint8_t pval[2] = {roles, (uint8_t)(kv < 0 ? TL_KIND_OTHER : kv)};
    int rc = put(j, 'P', id->v.s.ptr, id->v.s.len, pval, sizeof pval);
    c = tl_mp_first(keys);
    for (uint32_t i = 0; i < d->nodes[keys].count && rc == 0; i++, c = tl_mp_next(d, c))
        rc = put_key(j, d->nodes[c].v.s.ptr, 1, roles, id->v.s.ptr, id->v.s.len);
    return rc;
}

static int apply_key(judge *j, bool added)
{
    const tl_mp_node *k = field(j->ev, "key", TL_MP_BIN);
    if (k == NULL || k->v.s.len != TL_PUBKEY_BYTES)
        return fail_missing(j, "key");
    const char *pid = entity_id(j);
    bool found;
    int rc = get(j, 'P', pid, strlen(pid), &found);
    if (rc != 0)
        return rc;
    if (!found || j->val.len != 2)
        return fail_corrupt(j, "participant");
    return put_key(j, k->v.s.ptr, added ? 1 : 0, j->val.data[0], pid, strlen(pid));
}

static int apply_contract_registered(judge *j)
{
    const tl_mp_node *reg_no = field(j->ev, "reg_no", TL_MP_STR), *seller = field(j->ev, "seller", TL_MP_STR);
    if (reg_no == NULL || seller == NULL || seller->v.s.len > TL_ID_BYTES_MAX)
        return fail_missing(j, "seller");
    uint8_t val[C_FIXED_BYTES + TL_ID_BYTES_MAX];
    val[0] = 0;
    be32_put(val + 1, date_field(j->ev, "signed_on"));
    be32_put(val + 5, date_field(j->ev, "registered_on"));
    memcpy(val + C_FIXED_BYTES, seller->v.s.ptr, seller->v.s.len);
    return set_entity(j, val, C_FIXED_BYTES + seller->v.s.len);
}

/* Rewritten into the head even for a contract of the older layout, whose 'C' key is then
 * never read again. */
static int apply_contract_cancelled(judge *j)
{
    contract_rec c;
    int rc = read_contract(j, &c);
    if (rc != 0)
        return rc;
    uint8_t val[C_FIXED_BYTES + TL_ID_BYTES_MAX];
    val[0] = (uint8_t)(c.flags | C_CANCELLED);
    be32_put(val + 1, c.signed_on);
    be32_put(val + 5, c.registered_on);
    memcpy(val + C_FIXED_BYTES, c.seller, c.seller_len);
    return set_entity(j, val, C_FIXED_BYTES + c.seller_len);
}

static int apply_fund(judge *j)
{
    const tl_mp_node *id = field(j->ev, "id", TL_MP_STR), *kind = field(j->ev, "kind", TL_MP_STR),
                     *manager = field(j->ev, "manager", TL_MP_STR);
    if (id == NULL || kind == NULL || manager == NULL || manager->v.s.len > TL_ID_BYTES_MAX)
        return fail_missing(j, "manager");
    uint8_t val[1 + TL_ID_BYTES_MAX];
    int kv = tl_code_parse(&tl_codes_fund_kind, (const char *)kind->v.s.ptr, kind->v.s.len);
    val[0] = (uint8_t)(kv < 0 ? 0 : kv);
    memcpy(val + 1, manager->v.s.ptr, manager->v.s.len);
    return put(j, 'F', id->v.s.ptr, id->v.s.len, val, 1 + manager->v.s.len);
}

static int apply_loan(judge *j)
{
    const tl_event *ev = j->ev;
    const char *id = entity_id(j);
    loan_rec l;
    tl_buf out;
    tl_buf_init(&out);
    int rc = 0;
    if (j->spec->id == TL_EV_LOAN_ISSUED) {
        const tl_mp_node *bank = field(ev, "bank", TL_MP_STR), *borrower = field(ev, "borrower", TL_MP_STR),
                         *pool = field(ev, "pool", TL_MP_STR), *amount = field(ev, "amount_fen", TL_MP_UINT);
        if (bank == NULL || borrower == NULL || pool == NULL || amount == NULL ||
            bank->v.s.len > TL_ID_BYTES_MAX || borrower->v.s.len > TL_ID_BYTES_MAX)
            return fail_missing(j, "bank");
        memset(&l, 0, sizeof l);
        l.issued_on = date_field(ev, "dated");
        l.principal_fen = amount->v.u;
        l.bank = bank->v.s.ptr;
        l.bank_len = bank->v.s.len;
        l.borrower = borrower->v.s.ptr;
        l.borrower_len = borrower->v.s.len;
        l.pool = pool->v.s.ptr;
        l.pool_len = pool->v.s.len;
    } else {
        if ((rc = read_loan(j, &l)) != 0)
            return rc;
        const tl_mp_node *amount = field(ev, "amount_fen", TL_MP_UINT);
        if (amount == NULL)
            return fail_missing(j, "amount_fen");
        if (j->spec->id == TL_EV_LOAN_DEFAULTED) {
            l.flags |= L_DEFAULTED;
            l.defaulted_on = date_field(ev, "dated");
            l.defaulted_fen = amount->v.u;
        } else {
            l.compensated_fen += amount->v.u;
        }
    }
    if (loan_encode(&out, &l) != 0)
        rc = tl_fail(j->err, TL_ENOMEM, "state.write", "", "out of memory");
    else
        rc = put(j, 'L', id, strlen(id), out.data, out.len);
    tl_buf_free(&out);
    return rc;
}

static int apply_event(judge *j)
{
    switch (j->spec->id) {
    case TL_EV_LEDGER_GENESIS:
        /* The admin key: active, admin role, no participant. */
        return put_key(j, j->ev->key, 1, (uint8_t)ROLE(TL_ROLE_ADMIN), "", 0);
    case TL_EV_PARTICIPANT_REGISTERED: return apply_participant(j);
    case TL_EV_PARTICIPANT_KEY_ADDED: return apply_key(j, true);
    case TL_EV_PARTICIPANT_KEY_REVOKED: return apply_key(j, false);
    case TL_EV_CONTRACT_REGISTERED: return apply_contract_registered(j);
    case TL_EV_CONTRACT_CANCELLED: return apply_contract_cancelled(j);
    case TL_EV_FUND_ESTABLISHED: return apply_fund(j);
    case TL_EV_LOAN_ISSUED:
    case TL_EV_LOAN_DEFAULTED:
    case TL_EV_LOAN_COMPENSATED: return apply_loan(j);
    default: return 0;
    }
}

int tl_rules_apply(tl_state *st, const tl_event *ev, uint64_t seq, tl_buf *head, tl_error *err)
{
    (void)seq;
    if (st == NULL || ev == NULL || head == NULL || head->len < 8)
        return tl_fail(err, TL_EINVAL, "rules.internal", "", "bad arguments");
    judge j;
    int rc = judge_init(&j, st, ev, err);
    if (rc == 0) {
        j.head = tl_be64_get(head->data);
        j.entity = head->data + 8;
        j.entity_len = head->len - 8;
        j.new_head = head;
        rc = apply_event(&j);
    }
    tl_buf_free(&j.val);
    return rc;
}

/* ---- Documentation ------------------------------------------------------------------------ */

#define ALL_TYPES ((1u << TL_EV_COUNT) - 1u)
#define SIGNED_TYPES (ALL_TYPES & ~TYPE(TL_EV_LEDGER_GENESIS))
#define ADMIN_TYPES                                                                              \
    (TYPE(TL_EV_PARTICIPANT_REGISTERED) | TYPE(TL_EV_PARTICIPANT_KEY_ADDED) |                    \
     TYPE(TL_EV_PARTICIPANT_KEY_REVOKED) | TYPE(TL_EV_PROGRAMME_INSTITUTION_DESIGNATED) |        \
     TYPE(TL_EV_PROGRAMME_ZONE_DESIGNATED) | TYPE(TL_EV_PROGRAMME_TRAINING_COMPLETED) |          \
     TYPE(TL_EV_FUND_ESTABLISHED))
#define REGISTRY_TYPES                                                                           \
    (TYPE(TL_EV_CONTRACT_REGISTERED) | TYPE(TL_EV_CONTRACT_AMENDED) |                            \
     TYPE(TL_EV_CONTRACT_CANCELLED) | TYPE(TL_EV_EQUITY_RECORDED))
#define CREATING_TYPES                                                                           \
    (TYPE(TL_EV_PARTICIPANT_REGISTERED) | TYPE(TL_EV_ACHIEVEMENT_REGISTERED) |                   \
     TYPE(TL_EV_CONTRACT_REGISTERED) | TYPE(TL_EV_EQUITY_RECORDED) |                             \
     TYPE(TL_EV_FUND_ESTABLISHED) | TYPE(TL_EV_LOAN_ISSUED) |                                    \
     TYPE(TL_EV_PROGRAMME_INSTITUTION_DESIGNATED) | TYPE(TL_EV_PROGRAMME_ZONE_DESIGNATED) |      \
     TYPE(TL_EV_PROGRAMME_TRAINING_COMPLETED))
#define FLOW_TYPES (TYPE(TL_EV_FUND_COMMITTED) | TYPE(TL_EV_FUND_CALLED))
#define CONTRACT_EVENTS                                                                          \
    (TYPE(TL_EV_CONTRACT_AMENDED) | TYPE(TL_EV_CONTRACT_CANCELLED) | TYPE(TL_EV_PAYMENT_RECEIVED))

/* Roughly in the order they are checked: generic sequencing, the signer, the entity, then each
 * type's own rules (references before the per-entity signer, whose identity they give). */
static const tl_rule_doc rule_docs[] = {
    /* Generic sequencing (tl_admit, the ledger's writer) */
    {"signature.invalid", "sig", TL_ESIG, ALL_TYPES,
     "the Ed25519 signature over \"techledger/event/v1\" || 0x00 || body does not verify"},
    {"event.id_reused", "id", TL_ECONFLICT, ALL_TYPES,
     "the event id is already in the log with a different body (the same signed event again is "
     "an idempotent success)"},
    {"stream.expect", "expect", TL_ECONFLICT, ALL_TYPES,
     "expect is present and differs from the stream's current version (0: the stream must not exist)"},
    {"log.genesis_first", "type", TL_EINVAL, SIGNED_TYPES, "record 0 must be ledger.genesis"},
    {"log.genesis_once", "type", TL_ECONFLICT, TYPE(TL_EV_LEDGER_GENESIS),
     "ledger.genesis is only ever record 0"},
    /* Keys and roles */
    {"auth.genesis_signer", "key", TL_EDENIED, TYPE(TL_EV_LEDGER_GENESIS),
     "the genesis record is signed by the key it names in data.admin"},
    {"auth.unknown_key", "key", TL_EDENIED, SIGNED_TYPES,
     "the signing key was never registered (to a participant, or as the genesis admin key)"},
    {"auth.key_revoked", "key", TL_EDENIED, SIGNED_TYPES,
     "the signing key was revoked before this event's place in the log"},
    {"auth.role", "key", TL_EDENIED, ADMIN_TYPES | REGISTRY_TYPES,
     "the signer's participant lacks the role: admin for participants, keys, programme entries "
     "and guidance or local funds; registry for contract.* and equity.recorded"},
    /* Entities */
    {"entity.exists", "stream", TL_ECONFLICT, CREATING_TYPES,
     "the entity is already registered (one registration per id; programme entries count once)"},
    {"entity.unknown", "stream", TL_EREF, SIGNED_TYPES & ~CREATING_TYPES,
     "the event is about an entity that is not in the log"},
    /* Key registry */
    {"registry.key_in_use", "data.keys[i]", TL_ECONFLICT, TYPE(TL_EV_PARTICIPANT_REGISTERED),
     "a listed key is already registered (keys are never shared or reused)"},
    {"registry.key_in_use", "data.key", TL_ECONFLICT, TYPE(TL_EV_PARTICIPANT_KEY_ADDED),
     "the key is already registered (keys are never shared or reused, even after revocation)"},
    {"registry.key_not_held", "data.key", TL_EREF, TYPE(TL_EV_PARTICIPANT_KEY_REVOKED),
     "the participant holds no such key"},
    {"registry.key_revoked", "data.key", TL_ECONFLICT, TYPE(TL_EV_PARTICIPANT_KEY_REVOKED),
     "the key is already revoked"},
    /* References */
    {"ref.unknown", "data.owner", TL_EREF, TYPE(TL_EV_ACHIEVEMENT_REGISTERED), "no such participant"},
    {"ref.unknown", "data.seller", TL_EREF, TYPE(TL_EV_CONTRACT_REGISTERED), "no such participant"},
    {"ref.unknown", "data.buyer", TL_EREF, TYPE(TL_EV_CONTRACT_REGISTERED), "no such participant"},
    {"ref.unknown", "data.achievements[i]", TL_EREF, TYPE(TL_EV_CONTRACT_REGISTERED),
     "no such achievement"},
    {"ref.unknown", "data.achievement", TL_EREF, TYPE(TL_EV_EQUITY_RECORDED), "no such achievement"},
    {"ref.unknown", "data.company", TL_EREF, TYPE(TL_EV_EQUITY_RECORDED), "no such participant"},
    {"ref.unknown", "data.manager", TL_EREF, TYPE(TL_EV_FUND_ESTABLISHED), "no such participant"},
    {"ref.role", "data.manager", TL_EREF, TYPE(TL_EV_FUND_ESTABLISHED),
     "the manager does not hold the fund_manager role"},
    {"ref.unknown", "data.parent", TL_EREF, TYPE(TL_EV_FUND_ESTABLISHED), "no such fund"},
    {"ref.unknown", "data.investor", TL_EREF, FLOW_TYPES, "no such participant or fund"},
    {"ref.unknown", "data.investee", TL_EREF, TYPE(TL_EV_FUND_INVESTED), "no such participant"},
    {"ref.unknown", "data.bank", TL_EREF, TYPE(TL_EV_LOAN_ISSUED), "no such participant"},
    {"ref.role", "data.bank", TL_EREF, TYPE(TL_EV_LOAN_ISSUED), "the bank does not hold the bank role"},
    {"ref.unknown", "data.borrower", TL_EREF, TYPE(TL_EV_LOAN_ISSUED), "no such participant"},
    {"ref.unknown", "data.pool", TL_EREF, TYPE(TL_EV_LOAN_ISSUED), "no such fund"},
    /* Per-entity signers */
    {"auth.owner", "key", TL_EDENIED, TYPE(TL_EV_ACHIEVEMENT_REGISTERED),
     "signed neither by a registry nor by a key of the owner"},
    {"auth.seller", "key", TL_EDENIED, TYPE(TL_EV_PAYMENT_RECEIVED),
     "signed neither by a registry nor by a key of the contract's seller"},
    {"auth.manager", "key", TL_EDENIED,
     TYPE(TL_EV_FUND_ESTABLISHED) | FLOW_TYPES | TYPE(TL_EV_FUND_INVESTED) | TYPE(TL_EV_LOAN_COMPENSATED),
     "not a key of the fund's manager (for a sub_fund: the parent fund's manager; for "
     "loan.compensated: the pool fund's manager)"},
    {"auth.bank", "key", TL_EDENIED, TYPE(TL_EV_LOAN_ISSUED) | TYPE(TL_EV_LOAN_DEFAULTED),
     "not a key of the lending bank"},
    /* Domain state */
    {"contract.cancelled", "stream", TL_ESTATE, CONTRACT_EVENTS,
     "the contract was cancelled; it takes no further amendments, cancellations or payments"},
    {"date.order", "data.amended_on", TL_ECONFLICT, TYPE(TL_EV_CONTRACT_AMENDED),
     "before the contract's registered_on"},
    {"date.order", "data.cancelled_on", TL_ECONFLICT, TYPE(TL_EV_CONTRACT_CANCELLED),
     "before the contract's registered_on"},
    {"date.order", "data.received_on", TL_ECONFLICT, TYPE(TL_EV_PAYMENT_RECEIVED),
     "before the contract's signed_on"},
    {"date.order", "data.dated", TL_ECONFLICT, TYPE(TL_EV_LOAN_DEFAULTED) | TYPE(TL_EV_LOAN_COMPENSATED),
     "a default before the loan was issued, or compensation before the default"},
    {"loan.mismatch", "data.bank", TL_ECONFLICT, TYPE(TL_EV_LOAN_DEFAULTED),
     "not the bank the loan was issued by"},
    {"loan.mismatch", "data.borrower", TL_ECONFLICT, TYPE(TL_EV_LOAN_DEFAULTED),
     "not the borrower the loan was issued to"},
    {"loan.mismatch", "data.pool", TL_ECONFLICT, TYPE(TL_EV_LOAN_DEFAULTED),
     "not the pool the loan was issued under"},
    {"loan.amount", "data.amount_fen", TL_ECONFLICT, TYPE(TL_EV_LOAN_DEFAULTED),
     "the amount in default exceeds the principal"},
    {"loan.defaulted", "stream", TL_ESTATE, TYPE(TL_EV_LOAN_DEFAULTED), "the loan has already defaulted"},
    {"loan.not_defaulted", "stream", TL_ESTATE, TYPE(TL_EV_LOAN_COMPENSATED),
     "risk compensation covers defaults; this loan has not defaulted"},
    {"loan.overcompensated", "data.amount_fen", TL_ECONFLICT, TYPE(TL_EV_LOAN_COMPENSATED),
     "compensation paid on the loan would exceed the amount in default"},
};

const tl_rule_doc *tl_rules_doc(size_t *count)
{
    *count = sizeof rule_docs / sizeof rule_docs[0];
    return rule_docs;
}
