/*
 * Domain rules that need the log: the key registry and who may sign what.
 *
 * State kept (tl_state namespaces owned here):
 *   'A'                     -> admin public key (32), from the genesis record
 *   'K' || public key (32)  -> [status (1 = active, 0 = revoked)] || participant id
 *   'P' || participant id   -> [roles bitmask (1 << tl_role)] [kind (tl_participant_kind)]
 *
 * A key signs only while it is active for a participant that holds a role the event type
 * allows, as of the event's place in the log (BRIEF.md, event catalogue). The genesis admin key
 * is active with the admin role from record 0 on.
 */
#include "tl_rules.h"

#include <stdio.h>
#include <string.h>

#include "tl_domain.h"
#include "tl_schema.h"

#define ROLE(r) (1u << (r))

typedef struct signer {
    bool known;
    bool active;
    bool is_admin_key;
    char participant[TL_ID_BYTES_MAX + 1];
    unsigned roles;
} signer;

static int data_str(const tl_event *ev, const char *field, const uint8_t **ptr, size_t *len)
{
    uint32_t n = tl_mp_map_get(&ev->doc, ev->data, field);
    if (n == 0)
        return TL_ENOTFOUND;
    *ptr = ev->doc.nodes[n].v.s.ptr;
    *len = ev->doc.nodes[n].v.s.len;
    return 0;
}

static int lookup_signer(tl_state *st, const uint8_t key[TL_PUBKEY_BYTES], signer *out, tl_buf *tmp)
{
    memset(out, 0, sizeof *out);
    int rc = tl_state_get(st, (const uint8_t *)"A", 1, tmp);
    if (rc == 0 && tmp->len == TL_PUBKEY_BYTES && memcmp(tmp->data, key, TL_PUBKEY_BYTES) == 0) {
        out->known = out->active = out->is_admin_key = true;
        out->roles = ROLE(TL_ROLE_ADMIN);
    } else if (rc != 0 && rc != TL_ENOTFOUND) {
        return rc;
    }
    uint8_t kkey[1 + TL_PUBKEY_BYTES];
    kkey[0] = 'K';
    memcpy(kkey + 1, key, TL_PUBKEY_BYTES);
    rc = tl_state_get(st, kkey, sizeof kkey, tmp);
    if (rc == TL_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (tmp->len < 2 || tmp->len > 1 + TL_ID_BYTES_MAX)
        return TL_ECORRUPT;
    out->known = true;
    bool key_active = tmp->data[0] == 1;
    memcpy(out->participant, tmp->data + 1, tmp->len - 1);
    out->participant[tmp->len - 1] = '\0';
    uint8_t pkey[1 + TL_ID_BYTES_MAX];
    size_t plen = strlen(out->participant);
    pkey[0] = 'P';
    memcpy(pkey + 1, out->participant, plen);
    rc = tl_state_get(st, pkey, 1 + plen, tmp);
    if (rc != 0)
        return rc == TL_ENOTFOUND ? TL_ECORRUPT : rc;
    if (key_active) {
        out->active = true;
        out->roles |= tmp->data[0];
    }
    return 0;
}

/* The roles whose keys may sign each type. Entity-specific signers (a fund's own manager, the
 * lending bank) are narrowed further below. */
static unsigned roles_allowed(tl_event_type t)
{
    switch (t) {
    case TL_EV_LEDGER_GENESIS: return 0; /* signed by data.admin, checked separately */
    case TL_EV_PARTICIPANT_REGISTERED:
    case TL_EV_PARTICIPANT_KEY_ADDED:
    case TL_EV_PARTICIPANT_KEY_REVOKED:
    case TL_EV_PROGRAMME_INSTITUTION_DESIGNATED:
    case TL_EV_PROGRAMME_ZONE_DESIGNATED:
    case TL_EV_PROGRAMME_TRAINING_COMPLETED: return ROLE(TL_ROLE_ADMIN);
    case TL_EV_ACHIEVEMENT_REGISTERED: return ROLE(TL_ROLE_REGISTRY) | ROLE(TL_ROLE_MEMBER);
    case TL_EV_CONTRACT_REGISTERED:
    case TL_EV_CONTRACT_AMENDED:
    case TL_EV_CONTRACT_CANCELLED:
    case TL_EV_EQUITY_RECORDED: return ROLE(TL_ROLE_REGISTRY);
    case TL_EV_PAYMENT_RECEIVED: return ROLE(TL_ROLE_REGISTRY) | ROLE(TL_ROLE_MEMBER);
    case TL_EV_FUND_ESTABLISHED: return ROLE(TL_ROLE_ADMIN) | ROLE(TL_ROLE_FUND_MANAGER);
    case TL_EV_FUND_COMMITTED:
    case TL_EV_FUND_CALLED:
    case TL_EV_FUND_INVESTED:
    case TL_EV_LOAN_COMPENSATED: return ROLE(TL_ROLE_FUND_MANAGER);
    case TL_EV_LOAN_ISSUED:
    case TL_EV_LOAN_DEFAULTED: return ROLE(TL_ROLE_BANK);
    default: return 0;
    }
}

static int check_genesis(const tl_event *ev, tl_error *err)
{
    uint32_t n = tl_mp_map_get(&ev->doc, ev->data, "admin");
    if (n == 0 || ev->doc.nodes[n].v.s.len != TL_PUBKEY_BYTES ||
        memcmp(ev->doc.nodes[n].v.s.ptr, ev->key, TL_PUBKEY_BYTES) != 0)
        return tl_fail(err, TL_EDENIED, "auth.genesis_signer", "key",
                       "the genesis record must be signed by the key in data.admin");
    return 0;
}

static bool key_field_registered(tl_state *st, const uint8_t *key, tl_buf *tmp)
{
    uint8_t kkey[1 + TL_PUBKEY_BYTES];
    kkey[0] = 'K';
    memcpy(kkey + 1, key, TL_PUBKEY_BYTES);
    return tl_state_get(st, kkey, sizeof kkey, tmp) == 0;
}

/* Keys named by participant.registered and key_added must be new to the registry: one key
 * belongs to one participant for ever, so a revoked key can never come back. */
static int check_new_keys(tl_state *st, const tl_event *ev, tl_buf *tmp, tl_error *err)
{
    const tl_mp_doc *d = &ev->doc;
    uint32_t keys = tl_mp_map_get(d, ev->data, "keys");
    uint32_t key = tl_mp_map_get(d, ev->data, "key");
    if (keys != 0) {
        uint32_t c = tl_mp_first(keys);
        for (uint32_t i = 0; i < d->nodes[keys].count; i++, c = tl_mp_next(d, c)) {
            if (key_field_registered(st, d->nodes[c].v.s.ptr, tmp)) {
                char path[32];
                snprintf(path, sizeof path, "data.keys[%u]", i);
                return tl_fail(err, TL_ECONFLICT, "registry.key_in_use", path,
                               "this key is already registered to a participant");
            }
        }
    }
    if (key != 0 && strcmp(ev->type, "participant.key_added") == 0 &&
        key_field_registered(st, d->nodes[key].v.s.ptr, tmp))
        return tl_fail(err, TL_ECONFLICT, "registry.key_in_use", "data.key",
                       "this key is already registered to a participant");
    return 0;
}

static int check_revocation(tl_state *st, const tl_event *ev, tl_buf *tmp, tl_error *err)
{
    uint32_t key = tl_mp_map_get(&ev->doc, ev->data, "key");
    uint8_t kkey[1 + TL_PUBKEY_BYTES];
    kkey[0] = 'K';
    memcpy(kkey + 1, ev->doc.nodes[key].v.s.ptr, TL_PUBKEY_BYTES);
    int rc = tl_state_get(st, kkey, sizeof kkey, tmp);
    const char *pid = ev->stream + strlen("participant/");
    if (rc == TL_ENOTFOUND || tmp->len != 1 + strlen(pid) || memcmp(tmp->data + 1, pid, strlen(pid)) != 0)
        return tl_fail(err, TL_EREF, "registry.key_not_held", "data.key",
                       "participant %s holds no such key", pid);
    if (rc != 0)
        return tl_fail(err, rc, "state.read", "", "cannot read the key registry");
    if (tmp->data[0] != 1)
        return tl_fail(err, TL_ECONFLICT, "registry.key_revoked", "data.key", "the key is already revoked");
    return 0;
}

/* Events that create an entity must open its stream; events on an entity need it to exist. */
static bool creates_entity(tl_event_type t)
{
    return t == TL_EV_PARTICIPANT_REGISTERED || t == TL_EV_ACHIEVEMENT_REGISTERED ||
           t == TL_EV_CONTRACT_REGISTERED || t == TL_EV_EQUITY_RECORDED || t == TL_EV_FUND_ESTABLISHED ||
           t == TL_EV_LOAN_ISSUED;
}

static int stream_head(tl_state *st, const tl_event *ev, uint64_t *head, tl_buf *tmp)
{
    uint8_t skey[1 + TL_STREAM_BYTES_MAX];
    skey[0] = 's';
    memcpy(skey + 1, ev->stream, ev->stream_len);
    int rc = tl_state_get(st, skey, 1 + ev->stream_len, tmp);
    *head = rc == 0 && tmp->len == 8 ? tl_be64_get(tmp->data) : 0;
    return rc == TL_ENOTFOUND ? 0 : rc;
}

int tl_rules_check(tl_state *st, const tl_event *ev, uint64_t seq, tl_error *err)
{
    (void)seq;
    const tl_event_spec *spec = tl_schema_for_type(ev->type, strlen(ev->type));
    if (spec == NULL)
        return tl_fail(err, TL_EINVAL, "schema.type", "type", "unknown event type %s", ev->type);
    if (spec->id == TL_EV_LEDGER_GENESIS)
        return check_genesis(ev, err);
    tl_buf tmp;
    tl_buf_init(&tmp);
    signer s;
    int rc = lookup_signer(st, ev->key, &s, &tmp);
    if (rc != 0) {
        rc = tl_fail(err, rc, "state.read", "", "cannot read the key registry");
        goto done;
    }
    if (!s.known) {
        rc = tl_fail(err, TL_EDENIED, "auth.unknown_key", "key", "the signing key is not registered");
        goto done;
    }
    if (!s.active) {
        rc = tl_fail(err, TL_EDENIED, "auth.key_revoked", "key", "the signing key was revoked");
        goto done;
    }
    unsigned allowed = roles_allowed(spec->id);
    if ((s.roles & allowed) == 0) {
        rc = tl_fail(err, TL_EDENIED, "auth.role", "key", "%s is signed by %s; the key's participant holds no such role",
                     ev->type, spec->signer);
        goto done;
    }
    uint64_t head;
    if ((rc = stream_head(st, ev, &head, &tmp)) != 0) {
        rc = tl_fail(err, rc, "state.read", "", "cannot read the stream head");
        goto done;
    }
    if (creates_entity(spec->id) && head != 0) {
        rc = tl_fail(err, TL_ECONFLICT, "entity.exists", "stream", "%s already exists", ev->stream);
        goto done;
    }
    if (!creates_entity(spec->id) && spec->stream_field == NULL && head == 0) {
        rc = tl_fail(err, TL_EREF, "entity.unknown", "stream", "%s does not exist", ev->stream);
        goto done;
    }
    if (spec->id == TL_EV_PARTICIPANT_REGISTERED || spec->id == TL_EV_PARTICIPANT_KEY_ADDED)
        rc = check_new_keys(st, ev, &tmp, err);
    else if (spec->id == TL_EV_PARTICIPANT_KEY_REVOKED)
        rc = check_revocation(st, ev, &tmp, err);
done:
    tl_buf_free(&tmp);
    return rc;
}

static int put_key(tl_state *st, const uint8_t *pk, uint8_t status, const uint8_t *pid, size_t plen)
{
    uint8_t kkey[1 + TL_PUBKEY_BYTES], val[1 + TL_ID_BYTES_MAX];
    kkey[0] = 'K';
    memcpy(kkey + 1, pk, TL_PUBKEY_BYTES);
    val[0] = status;
    memcpy(val + 1, pid, plen);
    return tl_state_put(st, kkey, sizeof kkey, val, 1 + plen);
}

int tl_rules_apply(tl_state *st, const tl_event *ev, uint64_t seq, tl_error *err)
{
    (void)seq;
    const tl_event_spec *spec = tl_schema_for_type(ev->type, strlen(ev->type));
    const tl_mp_doc *d = &ev->doc;
    int rc = 0;
    switch (spec->id) {
    case TL_EV_LEDGER_GENESIS:
        rc = tl_state_put(st, (const uint8_t *)"A", 1, ev->key, TL_PUBKEY_BYTES);
        break;
    case TL_EV_PARTICIPANT_REGISTERED: {
        const uint8_t *id;
        size_t idlen;
        if (data_str(ev, "id", &id, &idlen) != 0)
            return tl_fail(err, TL_EINVAL, "schema.required", "data.id", "missing id");
        uint8_t roles = 0;
        uint32_t r = tl_mp_map_get(d, ev->data, "roles");
        uint32_t c = tl_mp_first(r);
        for (uint32_t i = 0; i < d->nodes[r].count; i++, c = tl_mp_next(d, c)) {
            int v = tl_code_parse(&tl_codes_role, (const char *)d->nodes[c].v.s.ptr, d->nodes[c].v.s.len);
            if (v >= 0)
                roles |= (uint8_t)ROLE(v);
        }
        const uint8_t *kind;
        size_t kind_len;
        int kv = data_str(ev, "kind", &kind, &kind_len) == 0
                     ? tl_code_parse(&tl_codes_participant_kind, (const char *)kind, kind_len)
                     : TL_KIND_OTHER;
        uint8_t pkey[1 + TL_ID_BYTES_MAX], pval[2] = {roles, (uint8_t)(kv < 0 ? TL_KIND_OTHER : kv)};
        pkey[0] = 'P';
        memcpy(pkey + 1, id, idlen);
        if ((rc = tl_state_put(st, pkey, 1 + idlen, pval, sizeof pval)) != 0)
            break;
        uint32_t keys = tl_mp_map_get(d, ev->data, "keys");
        c = tl_mp_first(keys);
        for (uint32_t i = 0; keys != 0 && i < d->nodes[keys].count && rc == 0; i++, c = tl_mp_next(d, c))
            rc = put_key(st, d->nodes[c].v.s.ptr, 1, id, idlen);
        break;
    }
    case TL_EV_PARTICIPANT_KEY_ADDED:
    case TL_EV_PARTICIPANT_KEY_REVOKED: {
        uint32_t key = tl_mp_map_get(d, ev->data, "key");
        const char *pid = ev->stream + strlen("participant/");
        rc = put_key(st, d->nodes[key].v.s.ptr, spec->id == TL_EV_PARTICIPANT_KEY_ADDED ? 1 : 0,
                     (const uint8_t *)pid, strlen(pid));
        break;
    }
    default:
        break;
    }
    if (rc != 0)
        return tl_fail(err, rc, "state.write", "", "cannot update the key registry");
    return 0;
}
