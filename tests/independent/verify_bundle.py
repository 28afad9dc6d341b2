#!/usr/bin/env python3
"""Verify a techledger audit bundle on its own (FORMAT.md section 8), independently of the project.

usage: verify_bundle.py [--quiet] BUNDLE

BUNDLE is the directory `techledger export --audit` writes: records, checkpoints/<size>,
ledger.vkey, admin.pub. Checked, in this order, stopping at the first failure:

  bundle files   admin.pub is 64 hex digits and a newline; ledger.vkey is a valid verifier key
                 line; every checkpoints/<size> is a checkpoint signed by that key, its origin
                 is the key name and its tree size is its file name.
  every record   decodes as canonical MessagePack ([1, seq, recorded, version, body, key, sig]);
                 seq runs 0..n-1; the body is a canonical section 3 body; the Ed25519 signature
                 over "techledger/event/v1" 0x00 body verifies; the event id is new; the stream
                 version is the previous one + 1 and equals expect + 1 when expect is given;
                 the signer was entitled to the event type at that point of the log (below).
  every checkpoint  the Merkle root recomputed at its size equals the signed root; no checkpoint
                 is beyond the records, and the last one covers every record (a record after the
                 last checkpoint is not authenticated by anything).

Entitlement (from the BRIEF.md event catalogue, as of the event's place in the log):
  record 0 is ledger.genesis in stream "ledger", signed by the key in admin.pub, naming that key
  as data.admin and the checkpoint origin as data.origin; no other record is ledger.genesis.
  participant.* and programme.*: the admin.pub key, or an active key of a participant with role
  admin. contract.registered/amended/cancelled and equity.recorded: an active key of a participant
  with role registry. payment.received: registry, or a key of the contract's seller.
  achievement.registered: registry, or a key of data.owner. fund.established of kind guidance:
  admin; of kind sub_fund: a key of the parent fund's manager. fund.committed/called/invested: a
  key of the fund's manager. loan.issued/defaulted: a key of the lending bank. loan.compensated:
  a key of the pool fund's manager. Any other type: the admin key or any active participant key.
  A key is active for a participant from participant.registered (data.keys) or
  participant.key_added until participant.key_revoked.

Exit status: 0 the bundle verifies (a summary is printed), 1 the first failure is printed as
seq/file, field and rule, 2 usage.
"""

import base64
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlformat  # noqa: E402
from tlformat import FormatError  # noqa: E402

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
RECORDS_BYTES_MAX = 1 << 34  # refuse to read absurd files into memory


class Failure(Exception):
    """The first thing in the bundle that does not verify."""

    def __init__(self, where, field, rule, message):
        super().__init__(message)
        self.where, self.field, self.rule, self.message = where, field, rule, message

    def __str__(self):
        return "%s: field %s: rule %s: %s" % (self.where, self.field or "-", self.rule, self.message)


def _read(bundle, name, rule):
    path = os.path.join(bundle, name)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise Failure(name, "-", rule, "cannot read: %s" % e.strerror) from None


# ---------------------------------------------------------------------------------------------
# Entitlement and stream rules (the domain part of section 8)

ADMIN_TYPES = ("participant.", "programme.")
REGISTRY_TYPES = ("contract.registered", "contract.amended", "contract.cancelled", "equity.recorded")
STREAM_PREFIX = {
    "participant": "participant/", "programme": "programme/", "achievement": "achievement/",
    "contract": "contract/", "payment": "contract/", "equity": "equity/", "fund": "fund/", "loan": "loan/",
}


class Domain:
    def __init__(self, admin_key, origin):
        self.admin_key = admin_key
        self.origin = origin
        self.participants = {}  # id -> {"roles": set, "keys": set of active keys}
        self.key_owners = {}    # active key -> set of participant ids holding it
        self.contracts = {}     # stream -> seller id
        self.funds = {}         # fund id -> manager id
        self.loans = {}         # stream -> (bank id, pool fund id)

    # -- helpers

    def owners(self, key):
        return self.key_owners.get(key, ())

    def _activate(self, pid, key, active):
        p = self.participants[pid]
        if active:
            p["keys"].add(key)
            self.key_owners.setdefault(key, set()).add(pid)
        else:
            p["keys"].discard(key)
            self.key_owners.get(key, set()).discard(pid)

    def has_role(self, key, role):
        return any(role in self.participants[pid]["roles"] for pid in self.owners(key))

    def is_admin(self, key):
        return key == self.admin_key or self.has_role(key, "admin")

    def key_of(self, key, pid):
        p = self.participants.get(pid)
        return p is not None and key in p["keys"]

    @staticmethod
    def field(data, name, kind, where):
        v = data.get(name)
        ok = isinstance(v, kind) and not (kind is int and isinstance(v, bool))
        if not ok:
            raise Failure(where, "body.data." + name, "data.field",
                          "missing or not a %s" % {str: "str", bytes: "bin", list: "array", int: "uint"}[kind])
        return v

    # -- the rules

    def check(self, seq, body, key):
        where = "seq %d" % seq
        t, stream, data = body["type"], body["stream"], body["data"]
        deny = lambda rule, msg: Failure(where, "key", rule, "%s: key %s %s" % (t, key.hex()[:16], msg))  # noqa: E731

        if seq == 0 or t == "ledger.genesis":
            if seq != 0:
                raise Failure(where, "body.type", "genesis.only_first", "ledger.genesis after record 0")
            if t != "ledger.genesis":
                raise Failure(where, "body.type", "genesis.first", "record 0 is %r, not ledger.genesis" % t)
            if stream != "ledger":
                raise Failure(where, "body.stream", "genesis.stream", "genesis stream is %r, not 'ledger'" % stream)
            if key != self.admin_key:
                raise deny("genesis.signer", "is not the key in admin.pub")
            if self.field(data, "admin", bytes, where) != self.admin_key:
                raise Failure(where, "body.data.admin", "genesis.admin", "data.admin is not the key in admin.pub")
            if self.field(data, "origin", str, where) != self.origin:
                raise Failure(where, "body.data.origin", "genesis.origin",
                              "origin %r is not the checkpoint origin %r" % (data["origin"], self.origin))
            return

        family = t.split(".", 1)[0]
        prefix = STREAM_PREFIX.get(family)
        if prefix is not None and not stream.startswith(prefix):
            raise Failure(where, "body.stream", "stream.type", "%s belongs in %s<id>, not %r" % (t, prefix, stream))
        suffix = stream[len(prefix):] if prefix else ""

        if t.startswith(ADMIN_TYPES):
            if not self.is_admin(key):
                raise deny("signer.admin", "is neither the admin key nor an active key of a participant with role admin")
        elif t in REGISTRY_TYPES:
            if not self.has_role(key, "registry"):
                raise deny("signer.registry", "is not an active key of a participant with role registry")
        elif t == "payment.received":
            seller = self.contracts.get(stream)
            if seller is None:
                raise Failure(where, "body.stream", "reference.contract", "payment for unregistered %s" % stream)
            if not (self.has_role(key, "registry") or self.key_of(key, seller)):
                raise deny("signer.payment", "is neither registry nor a key of the seller %r" % seller)
        elif t == "achievement.registered":
            owner = self.field(data, "owner", str, where)
            if not (self.has_role(key, "registry") or self.key_of(key, owner)):
                raise deny("signer.achievement", "is neither registry nor a key of the owner %r" % owner)
        elif t == "fund.established":
            kind = self.field(data, "kind", str, where)
            if kind == "guidance":
                if not self.is_admin(key):
                    raise deny("signer.fund_guidance", "is not admin (a guidance fund is established by admin)")
            elif kind == "sub_fund":
                parent = self.field(data, "parent", str, where)
                manager = self.funds.get(parent)
                if manager is None:
                    raise Failure(where, "body.data.parent", "reference.fund", "parent fund %r is not in the log" % parent)
                if not self.key_of(key, manager):
                    raise deny("signer.fund_sub", "is not a key of the parent fund's manager %r" % manager)
            else:
                self.floor(key, deny)
        elif t in ("fund.committed", "fund.called", "fund.invested"):
            manager = self.funds.get(suffix)
            if manager is None:
                raise Failure(where, "body.stream", "reference.fund", "%s is not an established fund" % stream)
            if not self.key_of(key, manager):
                raise deny("signer.fund_manager", "is not a key of the fund's manager %r" % manager)
        elif t in ("loan.issued", "loan.defaulted"):
            if t == "loan.issued":
                bank = self.field(data, "bank", str, where)
            else:
                if stream not in self.loans:
                    raise Failure(where, "body.stream", "reference.loan", "%s is not an issued loan" % stream)
                bank = self.loans[stream][0]
            if not self.key_of(key, bank):
                raise deny("signer.bank", "is not a key of the lending bank %r" % bank)
        elif t == "loan.compensated":
            if stream not in self.loans:
                raise Failure(where, "body.stream", "reference.loan", "%s is not an issued loan" % stream)
            manager = self.funds.get(self.loans[stream][1])
            if manager is None or not self.key_of(key, manager):
                raise deny("signer.pool_manager", "is not a key of the pool fund's manager %r" % manager)
        else:
            self.floor(key, deny)

        self.apply(where, t, stream, suffix, data)

    def floor(self, key, deny):
        if key != self.admin_key and not self.owners(key):
            raise deny("signer.registered", "is not the admin key nor an active key of any participant")

    def apply(self, where, t, stream, suffix, data):
        if t == "participant.registered":
            pid = self.field(data, "id", str, where)
            if pid != suffix:
                raise Failure(where, "body.data.id", "stream.id", "data.id %r does not name stream %r" % (pid, stream))
            if pid in self.participants:
                raise Failure(where, "body.data.id", "participant.exists", "participant %r registered twice" % pid)
            roles = self.field(data, "roles", list, where)
            keys = self.field(data, "keys", list, where)
            for i, k in enumerate(keys):
                if not isinstance(k, bytes) or len(k) != 32:
                    raise Failure(where, "body.data.keys[%d]" % i, "data.key", "not bin 32")
            self.participants[pid] = {"roles": set(r for r in roles if isinstance(r, str)), "keys": set()}
            for k in keys:
                self._activate(pid, k, True)
        elif t in ("participant.key_added", "participant.key_revoked"):
            p = self.participants.get(suffix)
            if p is None:
                raise Failure(where, "body.stream", "reference.participant", "participant %r is not registered" % suffix)
            k = self.field(data, "key", bytes, where)
            if len(k) != 32:
                raise Failure(where, "body.data.key", "data.key", "not bin 32")
            self._activate(suffix, k, t == "participant.key_added")
        elif t == "contract.registered":
            if self.field(data, "reg_no", str, where) != suffix:
                raise Failure(where, "body.data.reg_no", "stream.id", "reg_no does not name stream %r" % stream)
            for party in ("seller", "buyer"):
                pid = self.field(data, party, str, where)
                if pid not in self.participants:
                    raise Failure(where, "body.data." + party, "reference.participant",
                                  "%s %r is not a registered participant" % (party, pid))
            self.contracts[stream] = data["seller"]
        elif t == "fund.established":
            fid = self.field(data, "id", str, where)
            if fid != suffix:
                raise Failure(where, "body.data.id", "stream.id", "data.id %r does not name stream %r" % (fid, stream))
            self.funds[fid] = self.field(data, "manager", str, where)
        elif t == "loan.issued":
            self.loans[stream] = (data["bank"], self.field(data, "pool", str, where))


# ---------------------------------------------------------------------------------------------

def _verify_sig(cache, key, body, sig):
    if cache is None:
        return tlformat.event_verify(key, body, sig)
    k = (key, body, sig)
    if k not in cache:
        cache[k] = tlformat.event_verify(key, body, sig)
    return cache[k]


def verify_bundle(bundle, sig_cache=None, progress=None):
    """Verify the bundle directory; returns a summary dict or raises Failure."""
    raw = _read(bundle, "admin.pub", "bundle.admin_pub")
    if re.fullmatch(rb"[0-9a-fA-F]{64}\n", raw) is None:
        raise Failure("admin.pub", "-", "bundle.admin_pub", "not 64 hex digits and a newline")
    admin_key = bytes.fromhex(raw[:64].decode())

    raw = _read(bundle, "ledger.vkey", "bundle.vkey")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure("ledger.vkey", "-", "vkey.syntax", "not UTF-8") from None
    if line.endswith("\n"):
        line = line[:-1]
    try:
        vkey = tlformat.parse_vkey(line)
    except FormatError as e:
        raise Failure("ledger.vkey", e.path, e.rule, e.message) from None
    origin = vkey[0]

    cp_dir = os.path.join(bundle, "checkpoints")
    try:
        names = sorted(os.listdir(cp_dir))
    except OSError as e:
        raise Failure("checkpoints", "-", "bundle.checkpoints", "cannot list: %s" % e.strerror) from None
    checkpoints = {}
    for name in names:
        where = "checkpoints/" + name
        if tlformat.DECIMAL_RE.match(name) is None:
            raise Failure(where, "-", "bundle.checkpoint_name", "file name is not a decimal tree size")
        note = _read(bundle, where, "bundle.checkpoint")
        try:
            cp = tlformat.verify_checkpoint(note, vkey, "checkpoint")
        except FormatError as e:
            raise Failure(where, e.path, e.rule, e.message) from None
        if cp.size != int(name):
            raise Failure(where, "checkpoint.size", "checkpoint.name", "tree size %d in a file named %s" % (cp.size, name))
        checkpoints[cp.size] = cp
    if not checkpoints:
        raise Failure("checkpoints", "-", "bundle.no_checkpoint", "no checkpoint: nothing authenticates the records")

    records = _read(bundle, "records", "bundle.records")
    if len(records) > RECORDS_BYTES_MAX:
        raise Failure("records", "-", "bundle.records", "too large")

    tree = tlformat.CompactTree()
    domain = Domain(admin_key, origin)
    versions = {}
    ids = {}
    roots_checked = 0

    def check_root():
        nonlocal roots_checked
        cp = checkpoints.get(tree.size)
        if cp is not None:
            if tree.root() != cp.root:
                raise Failure("checkpoints/%d" % cp.size, "checkpoint.root", "checkpoint.root_mismatch",
                              "the Merkle root of records 0..%d is %s, the checkpoint signs %s" %
                              (cp.size - 1, base64.b64encode(tree.root()).decode(), base64.b64encode(cp.root).decode()))
            roots_checked += 1

    check_root()  # a checkpoint of the empty tree
    seq = 0
    pos = 0
    while pos < len(records):
        where = "seq %d" % seq
        try:
            obj, end = tlformat.decode_prefix(records, pos, "record")
            rec = tlformat.check_record(obj, records[pos:end])
        except FormatError as e:
            raise Failure("%s (records offset %d)" % (where, pos), e.path, e.rule, e.message) from None
        if rec.seq != seq:
            raise Failure(where, "seq", "record.seq", "record %d of the file has seq %d" % (seq, rec.seq))
        try:
            body = tlformat.check_body(rec.body, "body")
        except FormatError as e:
            raise Failure(where, e.path, e.rule, e.message) from None
        if not _verify_sig(sig_cache, rec.key, rec.body, rec.sig):
            raise Failure(where, "sig", "event.signature",
                          "Ed25519 signature over the body does not verify for key %s" % rec.key.hex())
        if body["id"] in ids:
            raise Failure(where, "body.id", "event.id_unique", "event id %s is also record %d" % (body["id"].hex(), ids[body["id"]]))
        ids[body["id"]] = seq
        cur = versions.get(body["stream"], 0)
        if "expect" in body and body["expect"] != cur:
            raise Failure(where, "body.expect", "stream.expect",
                          "expect %d but stream %s was at version %d" % (body["expect"], body["stream"], cur))
        if rec.version != cur + 1:
            raise Failure(where, "version", "stream.version",
                          "version %d but stream %s was at version %d" % (rec.version, body["stream"], cur))
        versions[body["stream"]] = rec.version
        domain.check(seq, body, rec.key)
        tree.append(tlformat.leaf_hash(rec.raw))
        seq += 1
        pos = end
        check_root()
        if progress and seq % 10000 == 0:
            progress(seq)

    if seq == 0:
        raise Failure("records", "-", "genesis.first", "no records: record 0 must be ledger.genesis")
    beyond = [s for s in checkpoints if s > seq]
    if beyond:
        raise Failure("checkpoints/%d" % min(beyond), "checkpoint.size", "checkpoint.beyond_records",
                      "checkpoint of size %d but the bundle holds %d records" % (min(beyond), seq))
    last = max(checkpoints)
    if last < seq:
        raise Failure("seq %d" % last, "-", "bundle.uncovered",
                      "records %d..%d come after the last checkpoint (size %d): nothing authenticates them"
                      % (last, seq - 1, last))
    return {"records": seq, "streams": len(versions), "checkpoints": len(checkpoints),
            "roots_checked": roots_checked, "origin": origin, "size": seq,
            "root": base64.b64encode(tree.root()).decode(), "participants": len(domain.participants)}


def main(argv):
    args = [a for a in argv[1:]]
    quiet = "--quiet" in args
    args = [a for a in args if a != "--quiet"]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip())
        return EXIT_OK
    if len(args) != 1:
        print("usage: verify_bundle.py [--quiet] BUNDLE", file=sys.stderr)
        return EXIT_USAGE
    bundle = args[0]
    if not os.path.isdir(bundle):
        print("verify_bundle: %s is not a directory" % bundle, file=sys.stderr)
        return EXIT_USAGE
    progress = None if quiet else (lambda n: print("verify_bundle: %d records..." % n, file=sys.stderr))
    try:
        s = verify_bundle(bundle, progress=progress)
    except Failure as f:
        print("verify_bundle: FAIL %s" % f)
        return EXIT_FAILURE
    print("verify_bundle: OK %s: %d records in %d streams, %d participants; %d checkpoints, every root "
          "recomputed; tree size %d root %s" % (s["origin"], s["records"], s["streams"], s["participants"],
                                                s["checkpoints"], s["size"], s["root"]))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv))
