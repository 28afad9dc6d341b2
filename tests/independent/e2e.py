#!/usr/bin/env python3
"""End-to-end test of the techledger command against the independent implementation.

usage: e2e.py TECHLEDGER cli|http [--keep]

Everything on the submitting and auditing side is done by tlformat.py / sign_events.py /
verify_bundle.py, written from FORMAT.md alone; the project supplies only the command under test.

cli:  keygen (key file format, section 9) -> init DIR --origin --admin-key -> the independent
      signer's envelopes are byte-identical to `techledger sign` -> submit participants and a
      contract with its amendment and payment -> refused submissions (non-canonical body, bad
      signature, unknown key, wrong expect, trailing byte) change nothing -> resubmission is
      idempotent -> export DIR --audit OUT -> verify_bundle OUT passes, every stored record holds
      the submitted body, key and signature byte for byte -> every byte flipped in OUT/records or
      in a checkpoint makes verify_bundle fail -> `techledger verify` accepts a bundle written
      here from FORMAT.md alone, and refuses it with a byte flipped.
http: init -> serve DIR --listen -> POST /v1/events (single: 201, resubmission: 200; batch: 200
      with per-envelope results; non-canonical: 4xx) -> GET /v1/checkpoint verifies against
      DIR/ledger.vkey -> GET /v1/events/<seq>?proof=<size> gives the submitted record and an
      inclusion proof that verifies -> GET /v1/proofs/consistency verifies -> SIGTERM stops it
      cleanly -> export and verify_bundle, the served checkpoint is in the bundle byte for byte.

A subcommand the test needs that the binary does not have yet fails the test with a message
naming it. Exit status 0 when every check passes, 1 otherwise.
"""

import base64
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sign_events  # noqa: E402
import tlformat as tf  # noqa: E402
import verify_bundle as vb  # noqa: E402

# Verification is deterministic; remembering results keeps the flipped-byte sweeps fast.
tf.ed25519_verify = functools.lru_cache(maxsize=None)(tf.ed25519_verify)

ORIGIN = "techledger.example/independent-e2e"
REG_NO = "2019110108000123"
CMD_TIMEOUT_S = 120
EXIT_FAILURE = 1


class TestFailed(Exception):
    pass


class Waiting(TestFailed):
    """The binary lacks a subcommand the test needs (it is still being written)."""


def fail(msg):
    raise TestFailed(msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


class Techledger:
    def __init__(self, path, work):
        self.path = path
        self.work = work

    def run(self, *args, want=None, what=None):
        p = subprocess.run([self.path] + list(args), cwd=self.work, capture_output=True, text=True,
                           timeout=CMD_TIMEOUT_S)
        shown = "techledger " + " ".join(os.path.relpath(a, self.work) if os.path.isabs(a) else a for a in args)
        if want is not None and p.returncode != want:
            fail("%s exited %d, want %d%s\nstdout: %s\nstderr: %s" % (shown, p.returncode, want,
                 " (" + what + ")" if what else "", p.stdout.strip(), p.stderr.strip()))
        return p

    def subcommands(self):
        p = self.run("--help", want=0)
        names, inside = set(), False
        for line in p.stdout.splitlines():
            if line.strip() == "commands:":
                inside = True
            elif inside and line.startswith("  ") and line.strip():
                names.add(line.split()[0])
            elif inside and not line.strip():
                inside = False
        return names

    def require(self, *names):
        missing = [n for n in names if n not in self.subcommands()]
        if missing:
            raise Waiting("waiting for techledger subcommand(s): %s (not in `techledger --help` yet)" % ", ".join(missing))


# ---------------------------------------------------------------------------------------------
# The events: descriptions in sign_events.py's JSON form, with fixed ids and times.

def new_desc(type_, stream, data, key, expect=None):
    d = {"type": type_, "stream": stream, "data": data, "id": os.urandom(16).hex(),
         "time": int(time.time() * 1000), "key": key}
    if expect is not None:
        d["expect"] = expect
    return d


def participants(admin_key, registry_pub):
    return [
        new_desc("participant.registered", "participant/bjreg",
                 {"id": "bjreg", "name": "北京技术市场管理办公室", "kind": "registry", "region": "110108",
                  "roles": ["registry"], "keys": [{"$hex": registry_pub.hex()}]}, admin_key, expect=0),
        new_desc("participant.registered", "participant/pku",
                 {"id": "pku", "name": "北京大学", "kind": "university", "region": "110108",
                  "roles": ["member"], "keys": []}, admin_key, expect=0),
        new_desc("participant.registered", "participant/acme-sh",
                 {"id": "acme-sh", "name": "上海示例科技有限公司", "kind": "enterprise", "region": "310115",
                  "roles": ["member"], "keys": []}, admin_key),
    ]


def contract_registered(registry_key, reg_no=REG_NO):
    return new_desc("contract.registered", "contract/" + reg_no,
                    {"reg_no": reg_no, "class": "transfer", "subtype": "patent", "seller": "pku",
                     "buyer": "acme-sh", "seller_region": "110108", "buyer_region": "310115",
                     "field": "electronic_information", "signed_on": "2019-03-01", "registered_on": "2019-03-15",
                     "total_fen": 1234500000, "tech_fen": 1000000000, "confidentiality": "public"},
                    registry_key, expect=0)


def contract_followups(registry_key):
    return [
        new_desc("contract.amended", "contract/" + REG_NO,
                 {"total_fen": 1500000000, "tech_fen": 1200000000, "amended_on": "2019-06-01",
                  "reason": "补充协议增加技术服务内容"}, registry_key, expect=1),
        new_desc("payment.received", "contract/" + REG_NO,
                 {"amount_fen": 500000000, "received_on": "2019-07-01"}, registry_key),
    ]


def to_techledger_json(desc):
    """The same event in `techledger sign`'s JSON: bin values are plain hex strings."""
    def conv(v):
        if isinstance(v, dict):
            if set(v) == {"$hex"}:
                return v["$hex"]
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v
    d = {k: conv(v) for k, v in desc.items() if k != "key"}
    return d


class Signed:
    """An event signed by the independent signer, written to an envelope file."""

    def __init__(self, work, name, desc):
        self.desc = desc
        self.envelope, self.body, self.key = sign_events.sign_event(desc)
        self.sig = tf.parse_envelope(self.envelope)[2]
        self.id = bytes.fromhex(desc["id"])
        self.path = os.path.join(work, name + ".msgpack")
        with open(self.path, "wb") as f:
            f.write(self.envelope)


def encode_in_order(d):
    """A map with its keys in the order given (not canonical unless that order is sorted)."""
    out = bytearray()
    tf._enc_len(len(d), out, 0x80, 15, None, 0xDE, 0xDF, "")
    for k, v in d.items():
        out += tf.encode(k) + tf.encode(v)
    return bytes(out)


def resign(work, name, body, seed, tail=b""):
    """An envelope around arbitrary body bytes, correctly signed, written to a file."""
    env = tf.encode([1, body, tf.ed25519_public_key(seed), tf.event_sign(seed, body)]) + tail
    path = os.path.join(work, name + ".msgpack")
    with open(path, "wb") as f:
        f.write(env)
    return path, env


# ---------------------------------------------------------------------------------------------
# Shared checks

def read_records(bundle):
    with open(os.path.join(bundle, "records"), "rb") as f:
        buf = f.read()
    return list(tf.iter_records(buf))


def check_stored(bundle, submitted, admin_pub, want_count):
    """Every accepted event is stored with the submitted body, key and sig, in submission order."""
    recs = read_records(bundle)
    check(len(recs) == want_count, "bundle holds %d records (got %d)" % (want_count, len(recs)))
    g = tf.check_body(recs[0].body)
    check(g["type"] == "ledger.genesis" and g["data"].get("admin") == admin_pub and g["data"].get("origin") == ORIGIN
          and recs[0].key == admin_pub, "record 0 is the genesis naming the origin and admin key, signed by it")
    by_id = {tf.check_body(r.body)["id"]: r for r in recs}
    last_seq = 0
    versions = {}
    for s in submitted:
        r = by_id.get(s.id)
        if r is None:
            fail("event %s (%s) is not in the bundle" % (s.id.hex(), s.desc["type"]))
        if r.body != s.body:
            fail("record %d body differs from the submitted body:\n stored    %s\n submitted %s" %
                 (r.seq, r.body.hex(), s.body.hex()))
        if r.key != s.key or r.sig != s.sig:
            fail("record %d key or sig differs from the submitted envelope" % r.seq)
        if r.seq <= last_seq:
            fail("record %d (%s) is out of submission order" % (r.seq, s.desc["type"]))
        last_seq = r.seq
        v = versions.get(s.desc["stream"], 0) + 1
        versions[s.desc["stream"]] = v
        if r.version != v:
            fail("record %d has stream version %d, want %d" % (r.seq, r.version, v))
    print("ok: %d submitted events stored byte for byte (body, key, sig), in order, with versions 1, 2, 3..."
          % len(submitted))
    return recs


def check_bundle_verifies(bundle):
    try:
        s = vb.verify_bundle(bundle)
    except vb.Failure as f:
        fail("verify_bundle fails on the exported bundle: %s" % f)
    p = subprocess.run([sys.executable, os.path.join(HERE, "verify_bundle.py"), "--quiet", bundle],
                       capture_output=True, text=True, timeout=CMD_TIMEOUT_S)
    check(p.returncode == 0, "verify_bundle.py exits 0 on the bundle: %s" % p.stdout.strip())
    return s


def check_tamper(bundle, work):
    """Every byte flip in records and in the last checkpoint makes verify_bundle fail."""
    t = os.path.join(work, "tampered")
    shutil.rmtree(t, ignore_errors=True)
    shutil.copytree(bundle, t)
    cps = sorted(int(n) for n in os.listdir(os.path.join(t, "checkpoints")))
    for name in ("records", os.path.join("checkpoints", str(cps[-1])), os.path.join("checkpoints", str(cps[0]))):
        path = os.path.join(t, name)
        with open(path, "rb") as f:
            orig = f.read()
        missed = []
        rules = set()
        for i in range(len(orig)):
            bad = bytearray(orig)
            bad[i] ^= 0x01 if i % 2 == 0 else 0x40
            with open(path, "wb") as f:
                f.write(bad)
            try:
                vb.verify_bundle(t)
                missed.append(i)
            except vb.Failure as f:
                rules.add(f.rule)
        if len(orig) > 0:
            bad = bytearray(orig)
            bad[len(orig) // 2] ^= 0x01
            with open(path, "wb") as f:
                f.write(bad)
            p = subprocess.run([sys.executable, os.path.join(HERE, "verify_bundle.py"), "--quiet", t],
                               capture_output=True, text=True, timeout=CMD_TIMEOUT_S)
            check(p.returncode == 1 and "FAIL" in p.stdout,
                  "verify_bundle.py exits 1 on a flipped byte in %s: %s" % (name, p.stdout.strip()))
        with open(path, "wb") as f:
            f.write(orig)
        check(not missed, "all %d single-byte flips in %s detected (rules seen: %s)%s" %
              (len(orig), name, ", ".join(sorted(rules)), "" if not missed else "; missed offsets %s" % missed[:20]))


# ---------------------------------------------------------------------------------------------
# cli

def test_cli(tl, work):
    # Section 9 key files, written by techledger and read here.
    tl.run("keygen", os.path.join(work, "admin"), want=0)
    admin_seed = tf.read_secret_key(os.path.join(work, "admin.key"))
    admin_pub = tf.read_public_key(os.path.join(work, "admin.pub"))
    check(tf.ed25519_public_key(admin_seed) == admin_pub, "keygen: admin.pub is the public key of the seed in admin.key")
    check(os.stat(os.path.join(work, "admin.key")).st_mode & 0o777 == 0o600, "keygen: admin.key has mode 0600")
    registry_seed, registry_pub = tf.write_key_pair(os.path.join(work, "registry"))
    tf.write_key_pair(os.path.join(work, "stranger"))
    stranger_key = os.path.join(work, "stranger.key")

    ledger = os.path.join(work, "ledger")
    p = tl.run("init", ledger, "--origin", ORIGIN, "--admin-key", os.path.join(work, "admin.key"), want=0)
    with open(os.path.join(ledger, "ledger.vkey")) as f:
        vkey_line = f.read().strip()
    name, _, _ = tf.parse_vkey(vkey_line)
    check(name == ORIGIN, "init: DIR/ledger.vkey is a valid verifier key line named by the origin")
    check(vkey_line in p.stdout, "init prints the verifier key line")
    p = tl.run("init", ledger, "--origin", ORIGIN, "--admin-key", os.path.join(work, "admin.key"))
    check(p.returncode != 0, "init refuses a directory that already holds a ledger (exit %d)" % p.returncode)

    admin_key, registry_key = os.path.join(work, "admin.key"), os.path.join(work, "registry.key")
    stage1 = [Signed(work, "p%d" % i, d) for i, d in enumerate(participants(admin_key, registry_pub))]
    stage2 = [Signed(work, "c0", contract_registered(registry_key))]
    stage3 = [Signed(work, "c%d" % (i + 1), d) for i, d in enumerate(contract_followups(registry_key))]

    if "sign" in tl.subcommands():
        for s in stage1 + stage2 + stage3:
            j = os.path.join(work, "tl-sign.json")
            out = os.path.join(work, "tl-sign.out")
            with open(j, "w") as f:
                json.dump(to_techledger_json(s.desc), f, ensure_ascii=False)
            tl.run("sign", "--key", s.desc["key"], j, "-o", out, want=0)
            with open(out, "rb") as f:
                theirs = f.read()
            if theirs != s.envelope:
                fail("techledger sign and the independent signer differ for %s:\n theirs %s\n ours   %s" %
                     (s.desc["type"], theirs.hex(), s.envelope.hex()))
        print("ok: techledger sign and the independent signer write identical envelopes for all %d events"
              % len(stage1 + stage2 + stage3))
    else:
        print("note: no `techledger sign` to compare envelopes with")

    tl.require("submit", "export")
    tl.run("submit", ledger, *[s.path for s in stage1], want=0, what="participants")
    tl.run("submit", ledger, *[s.path for s in stage2], want=0, what="contract.registered")
    tl.run("submit", ledger, *[s.path for s in stage3], want=0, what="contract.amended and payment.received")
    print("ok: submit accepted %d independently signed events" % len(stage1 + stage2 + stage3))

    # Refusals: each must exit 1 and leave the log as it was (checked by the record count below).
    d = contract_followups(registry_key)[1]
    good_body = tf.make_body(d["type"], d["stream"], {"amount_fen": 1, "received_on": "2019-08-01"},
                             os.urandom(16), d["time"])
    non_canonical = good_body.replace(b"\xaaamount_fen\x01", b"\xaaamount_fen\xcc\x01")
    check(non_canonical != good_body, "built a body whose data.amount_fen is not the shortest encoding")
    bad_sig_path, env = resign(work, "bad2", good_body, registry_seed)
    with open(bad_sig_path, "wb") as f:
        f.write(env[:-1] + bytes([env[-1] ^ 0x01]))
    stranger = Signed(work, "bad3", dict(contract_registered(registry_key, "2019110108000124"), key=stranger_key))
    unsorted = encode_in_order({k: v for k, v in reversed(list(tf.check_body(good_body).items()))})
    refused = [  # what, envelope file, the path the refusal must name (FORMAT.md section 1)
        ("a body that is not canonical (amount_fen 1 as uint8)", resign(work, "bad1", non_canonical, registry_seed)[0],
         "data.amount_fen"),
        ("a signature that does not verify", bad_sig_path, "sig"),
        ("a contract signed by an unknown key", stranger.path, "key"),
        ("an amendment whose expect is stale", Signed(work, "bad4", dict(contract_followups(registry_key)[0], expect=0)).path,
         "expect"),
        ("a body whose keys are not sorted", resign(work, "bad5", unsorted, registry_seed)[0], None),
    ]
    for what, path, want_path in refused:
        p = tl.run("submit", ledger, path, want=EXIT_FAILURE, what="must refuse " + what)
        lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
        if len(lines) != 1 or lines[0].get("status") != "rejected" or not lines[0].get("error") or \
                (want_path is not None and lines[0].get("path") != want_path):
            fail("submit of %s: want one rejected line naming path %s, got %s" % (what, want_path, p.stdout.strip()))
        print("ok: submit refuses %s: %s" % (what, p.stdout.strip()))

    tl.run("submit", ledger, stage2[0].path, want=0, what="resubmitting the same signed event is idempotent")
    print("ok: resubmitting contract.registered is accepted (idempotent)")

    out = os.path.join(work, "bundle")
    tl.run("export", ledger, "--audit", out, want=0)
    for f in ("records", "checkpoints", "ledger.vkey", "admin.pub"):
        check(os.path.exists(os.path.join(out, f)), "export wrote %s" % f)
    with open(os.path.join(out, "admin.pub")) as f:
        check(f.read() == admin_pub.hex() + "\n", "bundle admin.pub is the admin key, 64 hex digits and a newline")
    with open(os.path.join(out, "ledger.vkey")) as f:
        check(f.read().strip() == vkey_line, "bundle ledger.vkey is the key init printed")

    s = check_bundle_verifies(out)
    print("ok: verify_bundle: %d records, %d checkpoints, root %s" % (s["records"], s["checkpoints"], s["root"]))
    check_stored(out, stage1 + stage2 + stage3, admin_pub, 1 + len(stage1 + stage2 + stage3))
    check_tamper(out, work)

    # The other direction: the project's auditor reads a bundle written from FORMAT.md alone.
    if "verify" in tl.subcommands():
        import test_verify_bundle as tvb
        mine = os.path.join(work, "independent-bundle")
        tvb.good_ledger().write(mine)
        tl.run("verify", mine, want=0, what="a bundle written by the independent implementation")
        print("ok: techledger verify accepts a bundle written by the independent implementation")
        with open(os.path.join(mine, "records"), "r+b") as f:
            f.seek(300)
            b = f.read(1)
            f.seek(300)
            f.write(bytes([b[0] ^ 0x01]))
        tl.run("verify", mine, want=EXIT_FAILURE, what="the independent bundle with a flipped byte")
        print("ok: techledger verify refuses it with a byte flipped")
    else:
        print("note: no `techledger verify` to read an independently written bundle")


# ---------------------------------------------------------------------------------------------
# http

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout_s=30):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/msgpack"} if body is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def http_json(method, url, body=None):
    status, ctype, raw = http(method, url, body)
    try:
        return status, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        fail("%s %s: status %d, reply is not JSON: %r" % (method, url, status, raw[:200]))


def test_http(tl, work):
    tl.require("serve")
    admin_seed, admin_pub = tf.write_key_pair(os.path.join(work, "admin"))
    registry_seed, registry_pub = tf.write_key_pair(os.path.join(work, "registry"))
    ledger = os.path.join(work, "ledger")
    tl.run("init", ledger, "--origin", ORIGIN, "--admin-key", os.path.join(work, "admin.key"), want=0)
    with open(os.path.join(ledger, "ledger.vkey")) as f:
        vkey = tf.parse_vkey(f.read().strip())

    port = free_port()
    base = "http://127.0.0.1:%d" % port
    log_path = os.path.join(work, "serve.log")
    log = open(log_path, "w")
    srv = subprocess.Popen([tl.path, "serve", ledger, "--listen", "127.0.0.1:%d" % port], cwd=work,
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                http("GET", base + "/healthz", timeout_s=2)  # any HTTP reply means it listens
                break
            except OSError:
                pass
            if srv.poll() is not None or time.time() > deadline:
                fail("serve did not come up on %s (exit %s)" % (base, srv.poll()))
            time.sleep(0.2)
        print("ok: serve is up on %s" % base)

        admin_key, registry_key = os.path.join(work, "admin.key"), os.path.join(work, "registry.key")
        submitted = [Signed(work, "p%d" % i, d) for i, d in enumerate(participants(admin_key, registry_pub))]
        for n, s in enumerate(submitted):
            status, j = http_json("POST", base + "/v1/events", s.envelope)
            check(status == 201 and j.get("seq") == n + 1 and j.get("stream") == s.desc["stream"] and j.get("version") == 1,
                  "POST %s: 201 %s" % (s.desc["type"], j))
        status, j = http_json("POST", base + "/v1/events", submitted[0].envelope)
        check(status == 200 and j.get("seq") == 1, "POST the same event again: 200 with the same seq %s" % j)

        c0 = Signed(work, "c0", contract_registered(registry_key))
        c1, c2 = (Signed(work, "c%d" % (i + 1), d) for i, d in enumerate(contract_followups(registry_key)))
        bad = bytearray(c2.envelope)
        bad[-1] ^= 0x01
        batch = bytearray()
        tf._enc_len(4, batch, 0x90, 15, None, 0xDC, 0xDD, "batch")
        batch += c0.envelope + bytes(bad) + c1.envelope + c2.envelope
        status, j = http_json("POST", base + "/v1/events", bytes(batch))
        res = j.get("results") if isinstance(j, dict) else None
        check(status == 200 and isinstance(res, list) and len(res) == 4, "POST a batch of 4: 200 with 4 results %s" % j)
        check(res[0].get("seq") == 4 and res[0].get("version") == 1, "batch[0] contract.registered accepted %s" % res[0])
        check("error" in res[1] and "seq" not in res[1], "batch[1] with a bad signature refused %s" % res[1])
        check(res[2].get("seq") == 5 and res[2].get("version") == 2, "batch[2] contract.amended accepted %s" % res[2])
        check(res[3].get("seq") == 6 and res[3].get("version") == 3, "batch[3] payment.received accepted %s" % res[3])
        submitted += [c0, c1, c2]

        body = tf.make_body("payment.received", "contract/" + REG_NO, {"amount_fen": 1, "received_on": "2019-08-01"},
                            os.urandom(16), 1)
        body = body.replace(b"\xa4time\x01", b"\xa4time\xcc\x01")
        _, env = resign(work, "nc", body, registry_seed)
        status, j = http_json("POST", base + "/v1/events", env)
        check(400 <= status < 500 and "error" in j, "POST a non-canonical body: %d %s" % (status, j))
        status, j = http_json("POST", base + "/v1/events", b"\x94\x01")
        check(400 <= status < 500 and "error" in j, "POST a truncated envelope: %d %s" % (status, j))
        extra = Signed(work, "extra", dict(contract_followups(registry_key)[1]))
        status, j = http_json("POST", base + "/v1/events", extra.envelope + b"\x00")
        check(400 <= status < 500 and "error" in j, "POST an envelope with a byte after it (rule 6): %d %s" % (status, j))

        n = 1 + len(submitted)
        deadline = time.time() + 10
        while True:
            status, ctype, note = http("GET", base + "/v1/checkpoint")
            cp = tf.verify_checkpoint(note, vkey) if status == 200 else None
            if cp is not None and cp.size == n:
                break
            if time.time() > deadline:
                fail("no checkpoint of size %d within 10 s (last: %s)" % (n, cp.size if cp else status))
            time.sleep(0.2)
        check(ctype.startswith("text/plain"), "GET /v1/checkpoint is text/plain, verifies against DIR/ledger.vkey, size %d" % n)

        records = []
        for seq in range(n):
            status, j = http_json("GET", base + "/v1/events/%d?proof=%d" % (seq, n))
            if status != 200:
                fail("GET /v1/events/%d?proof=%d: %d %s" % (seq, n, status, j))
            raw = base64.b64decode(j["record"], validate=True)
            rec = tf.check_record(tf.decode(raw, "record"), raw)
            body = tf.check_body(rec.body)
            if rec.seq != seq or j.get("seq") != seq or j.get("version") != rec.version or \
                    j.get("stream") != body["stream"] or j.get("type") != body["type"] or j.get("recorded") != rec.recorded:
                fail("GET /v1/events/%d: JSON fields disagree with the record: %s" % (seq, j))
            if seq >= 1 and rec.body != submitted[seq - 1].body:
                fail("GET /v1/events/%d: body differs from the submitted one" % seq)
            ev = j.get("event")
            if not isinstance(ev, dict) or ev.get("type") != body["type"] or ev.get("stream") != body["stream"] or \
                    ev.get("time") != body["time"] or ev.get("id") != base64.b64encode(body["id"]).decode():
                fail("GET /v1/events/%d: \"event\" is not the body as JSON with bytes in base64: %s" % (seq, ev))
            pr = j.get("proof") or {}
            lh = tf.leaf_hash(raw)
            hashes = [base64.b64decode(h, validate=True) for h in pr.get("hashes", [])]
            if pr.get("tree_size") != n or base64.b64decode(pr.get("leaf_hash", ""), validate=True) != lh or \
                    not tf.verify_inclusion(seq, n, lh, hashes, cp.root):
                fail("GET /v1/events/%d?proof=%d: the inclusion proof does not verify: %s" % (seq, n, pr))
            records.append(raw)
        print("ok: every record served with its submitted body and an inclusion proof that verifies against the checkpoint")

        lhs = [tf.leaf_hash(r) for r in records]
        for m in range(1, n):
            status, j = http_json("GET", base + "/v1/proofs/consistency?from=%d&to=%d" % (m, n))
            hashes = [base64.b64decode(h, validate=True) for h in j.get("hashes", [])]
            if status != 200 or j.get("from") != m or j.get("to") != n or \
                    not tf.verify_consistency(m, n, tf.merkle_root(lhs[:m]), cp.root, hashes):
                fail("GET /v1/proofs/consistency?from=%d&to=%d does not verify: %d %s" % (m, n, status, j))
        print("ok: consistency proofs from every size 1..%d to %d verify" % (n - 1, n))
    finally:
        if srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
            try:
                srv.wait(timeout=30)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait()
        log.close()
    check(srv.returncode == 0, "serve stops cleanly on SIGTERM (exit %d)" % srv.returncode)

    tl.require("export")
    out = os.path.join(work, "bundle")
    tl.run("export", ledger, "--audit", out, want=0)
    check_bundle_verifies(out)
    check_stored(out, submitted, admin_pub, n)
    with open(os.path.join(out, "checkpoints", str(cp.size)), "rb") as f:
        check(f.read() == note, "the served checkpoint is in the bundle byte for byte")


def main(argv):
    args = [a for a in argv[1:] if a != "--keep"]
    keep = "--keep" in argv
    if len(args) != 2 or args[1] not in ("cli", "http"):
        print("usage: e2e.py TECHLEDGER cli|http [--keep]", file=sys.stderr)
        return 2
    binary = os.path.abspath(args[0])
    work = tempfile.mkdtemp(prefix="tl-indep-e2e-")
    tl = Techledger(binary, work)
    ok = False
    waiting = False
    try:
        (test_cli if args[1] == "cli" else test_http)(tl, work)
        ok = True
    except TestFailed as e:
        print("FAIL: %s" % e)
        waiting = isinstance(e, Waiting)
        log = os.path.join(work, "serve.log")
        if os.path.exists(log):
            with open(log) as f:
                print("--- serve log (tail) ---\n" + "".join(f.readlines()[-30:]))
    except (tf.FormatError, vb.Failure, OSError, subprocess.TimeoutExpired, KeyError, ValueError) as e:
        print("FAIL: %s: %s" % (type(e).__name__, e))
    finally:
        if keep or not (ok or waiting):
            print("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("e2e %s: %s" % (args[1], "PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
