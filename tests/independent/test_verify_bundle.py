#!/usr/bin/env python3
"""Tests of verify_bundle.py on bundles built here from FORMAT.md alone (no techledger needed).

A small ledger is written by FakeLedger (records, checkpoints, ledger.vkey, admin.pub); the good
bundle must verify, and every way of breaking it must fail with the expected rule at the
expected place: every single byte flipped in records and in a checkpoint, and each rule of
verify_bundle's docstring broken once.

usage: test_verify_bundle.py   (exit 0 when every check passes)
"""

import functools
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlformat as tf  # noqa: E402
import verify_bundle as vb  # noqa: E402

# Verification is deterministic: remembering results keeps the thousands of flipped-byte runs fast.
tf.ed25519_verify = functools.lru_cache(maxsize=None)(tf.ed25519_verify)

ORIGIN = "techledger.example/independent-test"
T0 = 1552608000000  # 2019-03-15, ms


def seeded(n):
    return bytes([n]) * 32


ADMIN, CP, REGISTRY, OTHER, ADMIN2 = (seeded(i) for i in (1, 2, 3, 4, 5))
PUB = {s: tf.ed25519_public_key(s) for s in (ADMIN, CP, REGISTRY, OTHER, ADMIN2)}


class FakeLedger:
    """Appends records as FORMAT.md section 5 describes and issues checkpoints."""

    def __init__(self):
        self.records = []
        self.versions = {}
        self.checkpoints = {}
        self.next_id = 0

    def append(self, seed, type_, stream, data, expect=None, version=None, seq=None, body=None, sig=None, id_=None):
        if id_ is None:
            self.next_id += 1
            id_ = self.next_id.to_bytes(16, "big")
        if body is None:
            body = tf.make_body(type_, stream, data, id_, T0 + len(self.records), expect)
        v = self.versions.get(stream, 0) + 1 if version is None else version
        self.versions[stream] = v
        s = len(self.records) if seq is None else seq
        sig = tf.event_sign(seed, body) if sig is None else sig
        self.records.append(tf.encode([1, s, T0 + 1000 + len(self.records), v, body, PUB[seed], sig]))

    def checkpoint(self, seed=CP, size=None):
        n = len(self.records) if size is None else size
        root = tf.merkle_root([tf.leaf_hash(r) for r in self.records[:n]])
        self.checkpoints[n] = tf.sign_checkpoint(ORIGIN, seed, ORIGIN, n, root)

    def write(self, d):
        os.makedirs(os.path.join(d, "checkpoints"))
        with open(os.path.join(d, "records"), "wb") as f:
            f.write(b"".join(self.records))
        for n, note in self.checkpoints.items():
            with open(os.path.join(d, "checkpoints", str(n)), "wb") as f:
                f.write(note)
        with open(os.path.join(d, "ledger.vkey"), "w") as f:
            f.write(tf.format_vkey(ORIGIN, PUB[CP]) + "\n")
        with open(os.path.join(d, "admin.pub"), "w") as f:
            f.write(PUB[ADMIN].hex() + "\n")


def participant(pid, roles, keys, kind="enterprise", region="110108"):
    return {"id": pid, "name": pid.upper(), "kind": kind, "region": region, "roles": roles, "keys": keys}


def contract(reg_no, seller="pku", buyer="acme"):
    return {"reg_no": reg_no, "class": "transfer", "subtype": "patent", "seller": seller, "buyer": buyer,
            "seller_region": "110108", "buyer_region": "310115", "field": "electronic_information",
            "signed_on": "2019-03-01", "registered_on": "2019-03-15", "total_fen": 1234500, "tech_fen": 1000000}


def good_ledger():
    lg = FakeLedger()
    lg.append(ADMIN, "ledger.genesis", "ledger", {"origin": ORIGIN, "admin": PUB[ADMIN]})
    lg.checkpoint()
    lg.append(ADMIN, "participant.registered", "participant/bjreg",
              participant("bjreg", ["registry"], [PUB[REGISTRY]], "registry"), expect=0)
    lg.append(ADMIN, "participant.registered", "participant/pku", participant("pku", ["member"], [], "university"))
    lg.append(ADMIN, "participant.registered", "participant/acme", participant("acme", ["member"], [], region="310115"))
    lg.checkpoint()
    lg.append(REGISTRY, "contract.registered", "contract/2019110108000123", contract("2019110108000123"), expect=0)
    lg.append(REGISTRY, "contract.amended", "contract/2019110108000123",
              {"total_fen": 2000000, "tech_fen": 1500000, "amended_on": "2019-04-01", "reason": "scope"}, expect=1)
    lg.append(REGISTRY, "payment.received", "contract/2019110108000123",
              {"amount_fen": 500000, "received_on": "2019-05-01"})
    lg.checkpoint()
    return lg


class Tests:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.tmp = tempfile.mkdtemp(prefix="tl-indep-")
        self.cache = {}

    def check(self, cond, what):
        self.n += 1
        if not cond:
            self.failed += 1
            print("FAIL: " + what)

    def bundle(self, lg, name):
        d = os.path.join(self.tmp, name)
        lg.write(d)
        return d

    def verify(self, d):
        try:
            return vb.verify_bundle(d, self.cache), None
        except vb.Failure as f:
            return None, f

    def expect_fail(self, lg, name, rule, where=None, field=None):
        s, f = self.verify(self.bundle(lg, name))
        ok = f is not None and f.rule == rule and (where is None or f.where == where) and (field is None or f.field == field)
        self.check(ok, "%s: want rule %s at %s field %s, got %s" % (name, rule, where, field, f if f else "success"))

    def run(self):
        lg = good_ledger()
        d = self.bundle(lg, "good")
        s, f = self.verify(d)
        self.check(f is None, "good bundle verifies (%s)" % f)
        self.check(s is not None and s["records"] == 7 and s["checkpoints"] == 3 and s["roots_checked"] == 3,
                   "summary counts %r" % s)
        rc = vb.main(["verify_bundle.py", "--quiet", d])
        self.check(rc == 0, "CLI exit 0 on the good bundle")

        # Every byte of records and of every checkpoint, flipped one at a time.
        self.flip_all(d, "records")
        for n in lg.checkpoints:
            self.flip_all(d, os.path.join("checkpoints", str(n)))

        # Each rule broken once.
        lg = good_ledger()
        lg.records[0] = tf.encode([1, 0, T0, 1, tf.make_body("ledger.genesis", "ledger", {"origin": ORIGIN, "admin": PUB[ADMIN]},
                                                            bytes(16), T0), PUB[OTHER],
                                   tf.event_sign(OTHER, tf.make_body("ledger.genesis", "ledger", {"origin": ORIGIN, "admin": PUB[ADMIN]}, bytes(16), T0))])
        lg.checkpoints.clear()
        lg.checkpoint()
        self.expect_fail(lg, "genesis-other-key", "genesis.signer", "seq 0")

        lg = FakeLedger()
        lg.append(ADMIN, "ledger.genesis", "ledger", {"origin": "elsewhere", "admin": PUB[ADMIN]})
        lg.checkpoint()
        self.expect_fail(lg, "genesis-origin", "genesis.origin", "seq 0", "body.data.origin")

        lg = FakeLedger()
        lg.append(ADMIN, "participant.registered", "participant/pku", participant("pku", [], []))
        lg.checkpoint()
        self.expect_fail(lg, "no-genesis", "genesis.first", "seq 0")

        lg = good_ledger()
        lg.append(ADMIN, "ledger.genesis", "ledger", {"origin": ORIGIN, "admin": PUB[ADMIN]})
        lg.checkpoint()
        self.expect_fail(lg, "second-genesis", "genesis.only_first", "seq 7")

        lg = good_ledger()
        lg.append(REGISTRY, "participant.registered", "participant/x", participant("x", ["member"], []))
        lg.checkpoint()
        self.expect_fail(lg, "registry-registers-participant", "signer.admin", "seq 7", "key")

        lg = good_ledger()
        lg.append(ADMIN, "participant.registered", "participant/boss", participant("boss", ["admin"], [PUB[ADMIN2]]))
        lg.append(ADMIN2, "participant.registered", "participant/x", participant("x", ["member"], []))
        lg.append(ADMIN2, "programme.zone_designated", "programme/z1", {"id": "z1", "name": "Zone", "dated": "2019-01-01"})
        lg.checkpoint()
        s, f = self.verify(self.bundle(lg, "admin-role-participant"))
        self.check(f is None, "a participant with role admin may register participants (%s)" % f)

        lg = good_ledger()
        lg.append(ADMIN, "participant.registered", "participant/other", participant("other", ["member"], [PUB[OTHER]]))
        lg.append(OTHER, "contract.registered", "contract/2019110108000124", contract("2019110108000124"))
        lg.checkpoint()
        self.expect_fail(lg, "member-registers-contract", "signer.registry", "seq 8", "key")

        lg = good_ledger()
        lg.append(ADMIN, "contract.registered", "contract/2019110108000124", contract("2019110108000124"))
        lg.checkpoint()
        self.expect_fail(lg, "admin-registers-contract", "signer.registry", "seq 7", "key")

        lg = good_ledger()
        lg.append(ADMIN, "participant.key_revoked", "participant/bjreg", {"key": PUB[REGISTRY]})
        lg.append(REGISTRY, "contract.registered", "contract/2019110108000124", contract("2019110108000124"))
        lg.checkpoint()
        self.expect_fail(lg, "revoked-key", "signer.registry", "seq 8", "key")

        lg = good_ledger()
        lg.append(ADMIN, "participant.key_revoked", "participant/bjreg", {"key": PUB[REGISTRY]})
        lg.append(ADMIN, "participant.key_added", "participant/bjreg", {"key": PUB[REGISTRY]})
        lg.append(REGISTRY, "contract.registered", "contract/2019110108000124", contract("2019110108000124"))
        lg.checkpoint()
        s, f = self.verify(self.bundle(lg, "re-added-key"))
        self.check(f is None, "a key added again may sign (%s)" % f)

        lg = good_ledger()
        lg.append(OTHER, "achievement.registered", "achievement/a1", {"id": "a1", "title": "T", "owner": "pku",
                  "field": "aerospace", "fiscal_funded": True, "confidentiality": "public"})
        lg.checkpoint()
        self.expect_fail(lg, "unknown-key", "signer.achievement", "seq 7", "key")

        lg = good_ledger()
        lg.append(REGISTRY, "contract.registered", "contract/2019110108000124", contract("2019110108000124", seller="nobody"))
        lg.checkpoint()
        self.expect_fail(lg, "unknown-seller", "reference.participant", "seq 7", "body.data.seller")

        lg = good_ledger()
        lg.append(REGISTRY, "contract.amended", "contract/2019110108000123",
                  {"total_fen": 1, "tech_fen": 1, "amended_on": "2019-06-01", "reason": "x"}, version=5)
        lg.checkpoint()
        self.expect_fail(lg, "version-gap", "stream.version", "seq 7", "version")

        lg = good_ledger()
        lg.append(REGISTRY, "contract.amended", "contract/2019110108000123",
                  {"total_fen": 1, "tech_fen": 1, "amended_on": "2019-06-01", "reason": "x"}, expect=1)
        lg.checkpoint()
        self.expect_fail(lg, "expect-mismatch", "stream.expect", "seq 7", "body.expect")

        lg = good_ledger()
        lg.append(REGISTRY, "payment.received", "contract/2019110108000123",
                  {"amount_fen": 1, "received_on": "2019-06-01"}, seq=9)
        lg.checkpoint()
        self.expect_fail(lg, "seq-gap", "record.seq", "seq 7", "seq")

        lg = good_ledger()
        lg.append(REGISTRY, "payment.received", "contract/2019110108000123",
                  {"amount_fen": 1, "received_on": "2019-06-01"}, id_=(1).to_bytes(16, "big"))
        lg.checkpoint()
        self.expect_fail(lg, "duplicate-id", "event.id_unique", "seq 7", "body.id")

        lg = good_ledger()
        body = tf.make_body("payment.received", "contract/2019110108000123",
                            {"amount_fen": 1, "received_on": "2019-06-01"}, bytes(range(16)), 5)
        body = body.replace(b"\xa4time\x05", b"\xa4time\xcc\x05")  # 5 as uint8, not the fixint
        lg.append(REGISTRY, None, "contract/2019110108000123", None, body=body)
        lg.checkpoint()
        self.expect_fail(lg, "non-canonical-body", "mp.shortest", "seq 7", "body.time")

        lg = good_ledger()
        lg.append(REGISTRY, "payment.received", "contract/2019110108000123",
                  {"amount_fen": 1, "received_on": "2019-06-01"}, sig=bytes(64))
        lg.checkpoint()
        self.expect_fail(lg, "bad-signature", "event.signature", "seq 7", "sig")

        lg = good_ledger()
        lg.append(REGISTRY, "payment.received", "contract/2019110108000123", {"amount_fen": 1, "received_on": "2019-06-01"})
        self.expect_fail(lg, "uncovered-record", "bundle.uncovered", "seq 7")

        lg = good_ledger()
        lg.checkpoint(size=7)
        lg.checkpoints[9] = lg.checkpoints[7].replace(b"\n7\n", b"\n9\n")
        self.expect_fail(lg, "checkpoint-renumbered", "checkpoint.signature", "checkpoints/9")

        lg = good_ledger()
        lg.checkpoint(seed=OTHER)
        self.expect_fail(lg, "checkpoint-other-key", "checkpoint.signer", "checkpoints/7")

        lg = good_ledger()
        lg.checkpoints[6] = lg.checkpoints.pop(7)
        self.expect_fail(lg, "checkpoint-misnamed", "checkpoint.name", "checkpoints/6")

        lg = good_ledger()
        good_rec = lg.records[5]
        lg.records[5] = lg.records[6]
        lg.records[6] = good_rec
        self.expect_fail(lg, "records-swapped", "record.seq", "seq 5")

        lg = good_ledger()
        lg.records.append(tf.encode([1, 7, T0, 1, b"\x80", PUB[ADMIN], bytes(64)]))
        self.expect_fail(lg, "body-not-event", "body.missing", "seq 7")

        d = self.bundle(good_ledger(), "truncated")
        with open(os.path.join(d, "records"), "r+b") as fh:
            fh.truncate(os.path.getsize(os.path.join(d, "records")) - 1)
        s, f = self.verify(d)
        self.check(f is not None and f.rule == "mp.truncated" and f.where.startswith("seq 6"), "truncated records: %s" % f)

        d = self.bundle(good_ledger(), "no-vkey")
        os.remove(os.path.join(d, "ledger.vkey"))
        s, f = self.verify(d)
        self.check(f is not None and f.rule == "bundle.vkey", "missing ledger.vkey: %s" % f)
        self.check(vb.main(["verify_bundle.py", "--quiet", d]) == 1, "CLI exit 1 on a failure")

        shutil.rmtree(self.tmp)
        print("test_verify_bundle: %d checks, %d failed" % (self.n, self.failed))
        return self.failed == 0

    def flip_all(self, d, name):
        path = os.path.join(d, name)
        with open(path, "rb") as fh:
            orig = fh.read()
        missed = []
        for i in range(len(orig)):
            bad = bytearray(orig)
            bad[i] ^= 0x20 if i % 2 else 0x01
            with open(path, "wb") as fh:
                fh.write(bad)
            s, f = self.verify(d)
            if f is None:
                missed.append(i)
        with open(path, "wb") as fh:
            fh.write(orig)
        self.check(not missed, "every byte flip in %s detected (missed offsets %s)" % (name, missed[:10]))


if __name__ == "__main__":
    sys.exit(0 if Tests().run() else 1)
