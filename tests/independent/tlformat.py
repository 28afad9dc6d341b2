#!/usr/bin/env python3
"""An independent implementation of the techledger wire format, version 1.

Written from shared/spec/FORMAT.md alone, with the Python 3 standard library only, so that
it proves two things: the spec is enough to talk to the ledger, and the ledger follows the
spec to the byte. It must never import or read project code.

What it holds, by FORMAT.md section:
  1  canonical MessagePack: encode() writes the one canonical form, decode() accepts only it
     and says which rule failed at which path (FormatError.rule / .path).
  2  Ed25519 (RFC 8032, pure), after the reference code of RFC 8032 section 6, and the event
     signature context "techledger/event/v1" || 0x00 || body.
  3-5  event bodies, envelopes and records: builders and strict checkers.
  6  RFC 6962 / RFC 9162 Merkle trees: roots, incremental roots, inclusion and consistency
     proofs (generation for tests, verification after RFC 9162 2.1.3.2 and 2.1.4.2).
  7  C2SP signed-note checkpoints and the verifier key line.
  9  key files.

`python3 tlformat.py --self-test [VECTORS.json]` checks Ed25519 against RFC 8032 section 7.1,
the Merkle code against shared/testdata/rfc6962-vectors.json, and the MessagePack rules.
Speed is not a goal: Ed25519 here takes milliseconds per operation.
"""

import base64
import binascii
import hashlib
import json
import os
import re
import sys

# ---------------------------------------------------------------------------------------------
# Errors


class FormatError(Exception):
    """A violation of FORMAT.md: `rule` names the rule, `path` where it failed."""

    def __init__(self, rule, path, message):
        super().__init__(message)
        self.rule = rule
        self.path = path
        self.message = message

    def __str__(self):
        where = self.path if self.path else "(top)"
        return "%s: %s [rule %s]" % (where, self.message, self.rule)


def _join(path, key):
    if isinstance(key, int):
        return "%s[%d]" % (path, key)
    return key if not path else path + "." + key


# ---------------------------------------------------------------------------------------------
# Section 1: canonical MessagePack

MP_DEPTH_MAX = 64  # nesting deeper than this is refused rather than recursed into


def encode(obj):
    """The canonical MessagePack encoding of obj: int, bool, str, bytes, list, dict."""
    out = bytearray()
    _enc(obj, out, "")
    return bytes(out)


def _enc_len(n, out, fix_base, fix_max, c8, c16, c32, path):
    if fix_base is not None and n <= fix_max:
        out.append(fix_base | n)
    elif c8 is not None and n <= 0xFF:
        out += bytes([c8, n])
    elif n <= 0xFFFF:
        out.append(c16)
        out += n.to_bytes(2, "big")
    elif n <= 0xFFFFFFFF:
        out.append(c32)
        out += n.to_bytes(4, "big")
    else:
        raise FormatError("mp.length", path, "too long for MessagePack")


def _enc(obj, out, path):
    if isinstance(obj, bool):
        out.append(0xC3 if obj else 0xC2)
    elif isinstance(obj, int):
        v = obj
        if v >= 0:
            if v <= 0x7F:
                out.append(v)
            elif v <= 0xFF:
                out += bytes([0xCC, v])
            elif v <= 0xFFFF:
                out.append(0xCD)
                out += v.to_bytes(2, "big")
            elif v <= 0xFFFFFFFF:
                out.append(0xCE)
                out += v.to_bytes(4, "big")
            elif v <= 0xFFFFFFFFFFFFFFFF:
                out.append(0xCF)
                out += v.to_bytes(8, "big")
            else:
                raise FormatError("mp.range", path, "integer above 2^64-1")
        else:
            if v >= -32:
                out.append(v & 0xFF)
            elif v >= -0x80:
                out.append(0xD0)
                out += v.to_bytes(1, "big", signed=True)
            elif v >= -0x8000:
                out.append(0xD1)
                out += v.to_bytes(2, "big", signed=True)
            elif v >= -0x80000000:
                out.append(0xD2)
                out += v.to_bytes(4, "big", signed=True)
            elif v >= -0x8000000000000000:
                out.append(0xD3)
                out += v.to_bytes(8, "big", signed=True)
            else:
                raise FormatError("mp.range", path, "integer below -2^63")
    elif isinstance(obj, str):
        b = obj.encode("utf-8")  # raises on lone surrogates: not valid UTF-8
        _enc_len(len(b), out, 0xA0, 31, 0xD9, 0xDA, 0xDB, path)
        out += b
    elif isinstance(obj, (bytes, bytearray)):
        _enc_len(len(obj), out, None, -1, 0xC4, 0xC5, 0xC6, path)
        out += obj
    elif isinstance(obj, (list, tuple)):
        _enc_len(len(obj), out, 0x90, 15, None, 0xDC, 0xDD, path)
        for i, item in enumerate(obj):
            _enc(item, out, _join(path, i))
    elif isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, str):
                raise FormatError("mp.key_type", path, "map key is not a string")
            items.append((k.encode("utf-8"), k, v))
        items.sort(key=lambda t: t[0])
        _enc_len(len(items), out, 0x80, 15, None, 0xDE, 0xDF, path)
        for kb, k, v in items:
            _enc(k, out, path)
            _enc(v, out, _join(path, k))
    else:
        raise FormatError("mp.type", path, "cannot encode %s" % type(obj).__name__)


class _Reader:
    def __init__(self, buf, pos):
        self.buf = buf
        self.pos = pos

    def take(self, n, path):
        if n > len(self.buf) - self.pos:
            raise FormatError("mp.truncated", path, "input ends inside an object")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def uint(self, n, path):
        return int.from_bytes(self.take(n, path), "big")


def decode(buf, path=""):
    """Decode exactly one canonical object filling all of buf (rule 6: nothing may follow)."""
    obj, end = decode_prefix(buf, 0, path)
    if end != len(buf):
        raise FormatError("mp.trailing", path, "%d bytes follow the top-level object" % (len(buf) - end))
    return obj


def decode_prefix(buf, pos=0, path=""):
    """Decode one canonical object starting at pos; returns (object, position after it)."""
    buf = bytes(buf)
    r = _Reader(buf, pos)
    obj = _dec(r, path, 0)
    return obj, r.pos


def _dec_str(r, n, path):
    raw = r.take(n, path)
    try:
        return raw.decode("utf-8")  # strict: rejects overlongs, surrogates, bad sequences
    except UnicodeDecodeError:
        raise FormatError("mp.utf8", path, "str is not valid UTF-8") from None


def _need_min(n, least, path, what):
    if n < least:
        raise FormatError("mp.shortest", path, "not the shortest encoding (%s)" % what)


def _dec(r, path, depth):
    if depth > MP_DEPTH_MAX:
        raise FormatError("mp.depth", path, "nested deeper than %d" % MP_DEPTH_MAX)
    t = r.uint(1, path)
    if t <= 0x7F:
        return t
    if t >= 0xE0:
        return t - 0x100
    if 0xA0 <= t <= 0xBF:
        return _dec_str(r, t & 0x1F, path)
    if 0x90 <= t <= 0x9F:
        return _dec_array(r, t & 0x0F, path, depth)
    if 0x80 <= t <= 0x8F:
        return _dec_map(r, t & 0x0F, path, depth)
    if t == 0xC2:
        return False
    if t == 0xC3:
        return True
    if t == 0xC0:
        raise FormatError("mp.nil", path, "nil is not allowed")
    if t in (0xCA, 0xCB):
        raise FormatError("mp.float", path, "float is not allowed")
    if t in (0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8):
        raise FormatError("mp.ext", path, "ext is not allowed")
    if t == 0xC1:
        raise FormatError("mp.invalid", path, "0xc1 is never used")
    if t in (0xCC, 0xCD, 0xCE, 0xCF):
        width = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}[t]
        v = r.uint(width, path)
        least = {1: 0x80, 2: 0x100, 4: 0x10000, 8: 0x100000000}[width]
        _need_min(v, least, path, "uint%d holding %d" % (8 * width, v))
        return v
    if t in (0xD0, 0xD1, 0xD2, 0xD3):
        width = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}[t]
        v = int.from_bytes(r.take(width, path), "big", signed=True)
        if v >= 0:
            raise FormatError("mp.int_family", path, "non-negative value in the int family")
        most = {1: -33, 2: -0x81, 4: -0x8001, 8: -0x80000001}[width]
        if v > most:
            raise FormatError("mp.shortest", path, "not the shortest encoding (int%d holding %d)" % (8 * width, v))
        return v
    if t in (0xD9, 0xDA, 0xDB):
        width = {0xD9: 1, 0xDA: 2, 0xDB: 4}[t]
        n = r.uint(width, path)
        _need_min(n, {1: 32, 2: 0x100, 4: 0x10000}[width], path, "str%d header for %d bytes" % (8 * width, n))
        return _dec_str(r, n, path)
    if t in (0xC4, 0xC5, 0xC6):
        width = {0xC4: 1, 0xC5: 2, 0xC6: 4}[t]
        n = r.uint(width, path)
        _need_min(n, {1: 0, 2: 0x100, 4: 0x10000}[width], path, "bin%d header for %d bytes" % (8 * width, n))
        return r.take(n, path)
    if t in (0xDC, 0xDD):
        width = 2 if t == 0xDC else 4
        n = r.uint(width, path)
        _need_min(n, 16 if width == 2 else 0x10000, path, "array%d header for %d items" % (8 * width, n))
        return _dec_array(r, n, path, depth)
    if t in (0xDE, 0xDF):
        width = 2 if t == 0xDE else 4
        n = r.uint(width, path)
        _need_min(n, 16 if width == 2 else 0x10000, path, "map%d header for %d entries" % (8 * width, n))
        return _dec_map(r, n, path, depth)
    raise FormatError("mp.invalid", path, "unknown type byte 0x%02x" % t)  # unreachable


def _dec_array(r, n, path, depth):
    # Every item takes at least one byte: a count beyond the remaining bytes is a lie.
    if n > len(r.buf) - r.pos:
        raise FormatError("mp.truncated", path, "array of %d items in %d bytes" % (n, len(r.buf) - r.pos))
    return [_dec(r, _join(path, i), depth + 1) for i in range(n)]


def _dec_map(r, n, path, depth):
    if 2 * n > len(r.buf) - r.pos:
        raise FormatError("mp.truncated", path, "map of %d entries in %d bytes" % (n, len(r.buf) - r.pos))
    out = {}
    prev = None
    for _ in range(n):
        t = r.buf[r.pos] if r.pos < len(r.buf) else None
        if t is None:
            raise FormatError("mp.truncated", path, "input ends inside a map")
        if not (0xA0 <= t <= 0xBF or t in (0xD9, 0xDA, 0xDB)):
            raise FormatError("mp.key_type", path, "map key is not a str")
        k = _dec(r, path, depth + 1)
        kb = k.encode("utf-8")
        if prev is not None:
            if kb == prev:
                raise FormatError("mp.key_duplicate", _join(path, k), "duplicate map key")
            if kb < prev:
                raise FormatError("mp.key_order", _join(path, k), "map keys not sorted bytewise")
        prev = kb
        out[k] = _dec(r, _join(path, k), depth + 1)
    return out


# ---------------------------------------------------------------------------------------------
# Section 2: Ed25519 after RFC 8032 section 6 (pure Ed25519, no context, no prehash)

_P = 2 ** 255 - 19
_Q = 2 ** 252 + 27742317777372353535851937790883648493  # the group order L


def _inv(x):
    return pow(x, _P - 2, _P)


_D = -121665 * _inv(121666) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _sha512_modq(data):
    return int.from_bytes(hashlib.sha512(data).digest(), "little") % _Q


def _pt_add(a, b):
    # Extended homogeneous coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z.
    A = (a[1] - a[0]) * (b[1] - b[0]) % _P
    B = (a[1] + a[0]) * (b[1] + b[0]) % _P
    C = 2 * a[3] * b[3] * _D % _P
    D = 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % _P, G * H % _P, F * G % _P, E * H % _P)


def _pt_mul(s, p):
    q = (0, 1, 1, 0)  # the neutral element
    while s > 0:
        if s & 1:
            q = _pt_add(q, p)
        p = _pt_add(p, p)
        s >>= 1
    return q


def _pt_equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y, sign):
    if y >= _P:
        return None  # a non-canonical y is not a valid encoding
    x2 = (y * y - 1) * _inv(_D * y * y + 1)
    if x2 % _P == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


_GY = 4 * _inv(5) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def _compress(p):
    zinv = _inv(p[2])
    x = p[0] * zinv % _P
    y = p[1] * zinv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _expand(seed):
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def ed25519_public_key(seed):
    """The 32-byte public key of a 32-byte seed (libsodium crypto_sign_seed_keypair)."""
    a, _ = _expand(seed)
    return _compress(_pt_mul(a, _G))


def ed25519_sign(seed, msg):
    a, prefix = _expand(seed)
    pub = _compress(_pt_mul(a, _G))
    r = _sha512_modq(prefix + msg)
    rs = _compress(_pt_mul(r, _G))
    h = _sha512_modq(rs + pub + msg)
    s = (r + h * a) % _Q
    return rs + s.to_bytes(32, "little")


def ed25519_verify(pub, msg, sig):
    """RFC 8032 5.1.7 verification: canonical A and R, S < L, [S]B = R + [k]A."""
    if len(pub) != 32 or len(sig) != 64:
        return False
    a = _decompress(pub)
    if a is None:
        return False
    r = _decompress(sig[:32])
    if r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _Q:
        return False
    h = _sha512_modq(sig[:32] + pub + msg)
    return _pt_equal(_pt_mul(s, _G), _pt_add(r, _pt_mul(h, a)))


EVENT_CONTEXT = b"techledger/event/v1\x00"


def event_sign(seed, body):
    return ed25519_sign(seed, EVENT_CONTEXT + body)


def event_verify(pub, body, sig):
    return ed25519_verify(pub, EVENT_CONTEXT + body, sig)


# ---------------------------------------------------------------------------------------------
# Sections 3-5: bodies, envelopes, records

BODY_BYTES_MAX = 64 * 1024
BATCH_BYTES_MAX = 1024 * 1024
BATCH_ENVELOPES_MAX = 10000
STREAM_RE = re.compile(r"[a-z0-9._:/-]{1,128}\Z")
BODY_KEYS = ("data", "expect", "id", "stream", "time", "type")


def make_body(type_, stream, data, id_, time_ms, expect=None):
    """The body bytes a submitter signs (section 3); keys sorted and shortest forms by encode()."""
    body = {"type": type_, "stream": stream, "data": data, "id": bytes(id_), "time": time_ms}
    if expect is not None:
        body["expect"] = expect
    raw = encode(body)
    check_body(raw)
    return raw


def make_envelope(seed, body):
    """[1, body, key, sig] (section 4)."""
    return encode([1, body, ed25519_public_key(seed), event_sign(seed, body)])


def _want(cond, rule, path, message):
    if not cond:
        raise FormatError(rule, path, message)


def _is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_body(raw, path="body"):
    """Decode an event body canonically and check section 3; returns the decoded map."""
    _want(len(raw) <= BODY_BYTES_MAX, "body.size", path, "body of %d bytes exceeds %d" % (len(raw), BODY_BYTES_MAX))
    body = decode(raw, path)
    _want(isinstance(body, dict), "body.type", path, "body is not a map")
    for k in body:
        _want(k in BODY_KEYS, "body.unknown_key", _join(path, k), "key not defined by FORMAT.md section 3")
    for k in ("data", "id", "stream", "time", "type"):
        _want(k in body, "body.missing", _join(path, k), "required key missing")
    _want(isinstance(body["data"], dict), "body.data", _join(path, "data"), "data is not a map")
    if "expect" in body:
        _want(_is_uint(body["expect"]), "body.expect", _join(path, "expect"), "expect is not a uint")
    _want(isinstance(body["id"], bytes) and len(body["id"]) == 16, "body.id", _join(path, "id"), "id is not bin 16")
    st = body["stream"]
    _want(isinstance(st, str) and STREAM_RE.match(st) is not None and len(st.encode()) <= 128,
          "body.stream", _join(path, "stream"), "stream is not 1..128 bytes of [a-z0-9._:/-]")
    _want(_is_uint(body["time"]), "body.time", _join(path, "time"), "time is not a uint")
    _want(isinstance(body["type"], str) and body["type"] != "", "body.type", _join(path, "type"), "type is not a non-empty str")
    return body


def parse_envelope(raw, path="envelope"):
    """Returns (body bytes, key, sig) after checking the envelope shape (section 4)."""
    env = decode(raw, path)
    return _envelope_fields(env, path)


def _envelope_fields(env, path):
    _want(isinstance(env, list) and len(env) == 4, "envelope.shape", path, "envelope is not an array of 4")
    _want(env[0] == 1 and not isinstance(env[0], bool), "envelope.version", _join(path, 0), "format version is not 1")
    _want(isinstance(env[1], bytes), "envelope.body", _join(path, 1), "body is not bin")
    _want(isinstance(env[2], bytes) and len(env[2]) == 32, "envelope.key", _join(path, 2), "key is not bin 32")
    _want(isinstance(env[3], bytes) and len(env[3]) == 64, "envelope.sig", _join(path, 3), "sig is not bin 64")
    return env[1], env[2], env[3]


class Record:
    __slots__ = ("raw", "seq", "recorded", "version", "body", "key", "sig")

    def __init__(self, raw, fields):
        self.raw = raw
        self.seq, self.recorded, self.version, self.body, self.key, self.sig = fields


def check_record(obj, raw, path="record"):
    """Check a decoded record (section 5) whose canonical bytes are raw."""
    _want(isinstance(obj, list) and len(obj) == 7, "record.shape", path, "record is not an array of 7")
    _want(obj[0] == 1 and not isinstance(obj[0], bool), "record.version", "format", "format version is not 1")
    _want(_is_uint(obj[1]), "record.seq", "seq", "seq is not a uint")
    _want(_is_uint(obj[2]), "record.recorded", "recorded", "recorded is not a uint")
    _want(_is_uint(obj[3]) and obj[3] >= 1, "record.stream_version", "version", "version is not a uint >= 1")
    _want(isinstance(obj[4], bytes), "record.body", "body", "body is not bin")
    _want(isinstance(obj[5], bytes) and len(obj[5]) == 32, "record.key", "key", "key is not bin 32")
    _want(isinstance(obj[6], bytes) and len(obj[6]) == 64, "record.sig", "sig", "sig is not bin 64")
    return Record(raw, obj[1:])


def iter_records(buf):
    """Yield Record objects from concatenated canonical records; FormatError names the offset."""
    pos = 0
    index = 0
    while pos < len(buf):
        try:
            obj, end = decode_prefix(buf, pos, "record")
        except FormatError as e:
            e.offset = pos
            e.index = index
            raise
        raw = buf[pos:end]
        try:
            rec = check_record(obj, raw)
        except FormatError as e:
            e.offset = pos
            e.index = index
            raise
        yield rec
        pos = end
        index += 1


# ---------------------------------------------------------------------------------------------
# Section 6: Merkle trees (RFC 6962 / RFC 9162 section 2.1)

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k  # the largest power of two smaller than n (n >= 2)


def merkle_root(leaf_hashes):
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(merkle_root(leaf_hashes[:k]), merkle_root(leaf_hashes[k:]))


class CompactTree:
    """Appends leaf hashes and gives the root at the current size in O(log n) memory.

    The stack holds the roots of the perfect subtrees that make up the tree, largest first,
    which is exactly how RFC 6962 splits it; folding them from the right gives the root."""

    def __init__(self):
        self.size = 0
        self.stack = []  # (height, hash)

    def append(self, lh):
        h, height = lh, 0
        while self.stack and self.stack[-1][0] == height:
            _, left = self.stack.pop()
            h = node_hash(left, h)
            height += 1
        self.stack.append((height, h))
        self.size += 1

    def root(self):
        if not self.stack:
            return EMPTY_ROOT
        r = self.stack[-1][1]
        for _, h in reversed(self.stack[:-1]):
            r = node_hash(h, r)
        return r


def inclusion_proof(leaf_hashes, m):
    """RFC 6962 2.1.1 PATH(m, D[n]); for tests."""
    n = len(leaf_hashes)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return inclusion_proof(leaf_hashes[:k], m) + [merkle_root(leaf_hashes[k:])]
    return inclusion_proof(leaf_hashes[k:], m - k) + [merkle_root(leaf_hashes[:k])]


def consistency_proof(leaf_hashes, m):
    """RFC 6962 2.1.2 PROOF(m, D[n]); for tests."""
    def sub(d, m_, whole):
        n = len(d)
        if m_ == n:
            return [] if whole else [merkle_root(d)]
        k = _split(n)
        if m_ <= k:
            return sub(d[:k], m_, whole) + [merkle_root(d[k:])]
        return sub(d[k:], m_ - k, False) + [merkle_root(d[:k])]
    if m == 0 or m == len(leaf_hashes):
        return []
    return sub(leaf_hashes, m, True)


def verify_inclusion(leaf_index, tree_size, lh, proof, root):
    """RFC 9162 2.1.3.2. True when proof shows lh at leaf_index in the tree with root."""
    if leaf_index >= tree_size or leaf_index < 0 or len(lh) != 32 or len(root) != 32:
        return False
    fn, sn, r = leaf_index, tree_size - 1, lh
    for p in proof:
        if len(p) != 32 or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(size1, size2, root1, root2, proof):
    """RFC 9162 2.1.4.2. True when proof shows the tree (size1, root1) is a prefix of (size2, root2)."""
    if size1 <= 0 or size2 < size1:
        return False  # a proof from the empty tree proves nothing (as transparency-dev/merkle)
    if size1 == size2:
        return len(proof) == 0 and root1 == root2
    if len(root1) != 32 or len(root2) != 32:
        return False
    if len(proof) == 0 or any(len(p) != 32 for p in proof):
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


# ---------------------------------------------------------------------------------------------
# Section 7: checkpoints in C2SP signed notes

EM_DASH = "\u2014"
KEY_NAME_RE = re.compile(r"[^\s+]+\Z")
DECIMAL_RE = re.compile(r"(0|[1-9][0-9]*)\Z")
NOTE_BYTES_MAX = 1 << 20


def b64decode_strict(text, path, rule):
    """Standard base64 with padding, exactly as a canonical encoder writes it."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(rule, path, "not standard base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise FormatError(rule, path, "not canonical base64")
    return raw


def key_hash(name, pub):
    return hashlib.sha256(name.encode("utf-8") + b"\x0a\x01" + pub).digest()[:4]


def format_vkey(name, pub):
    return "%s+%s+%s" % (name, key_hash(name, pub).hex(), base64.b64encode(b"\x01" + pub).decode("ascii"))


def parse_vkey(line):
    """`<name>+<hash hex8>+<base64(0x01 || key)>` -> (name, key hash, public key)."""
    parts = line.split("+", 2)  # the base64 key may itself hold '+'
    _want(len(parts) == 3, "vkey.syntax", "ledger.vkey", "not name+hash+key")
    name, hexhash, b64 = parts
    _want(KEY_NAME_RE.match(name) is not None, "vkey.name", "ledger.vkey", "bad key name")
    _want(re.fullmatch(r"[0-9a-f]{8}", hexhash) is not None, "vkey.hash", "ledger.vkey", "key hash is not 8 lowercase hex digits")
    raw = b64decode_strict(b64, "ledger.vkey", "vkey.key")
    _want(len(raw) == 33 and raw[0] == 1, "vkey.key", "ledger.vkey", "key is not 0x01 || 32-byte Ed25519 key")
    pub = raw[1:]
    _want(key_hash(name, pub).hex() == hexhash, "vkey.hash", "ledger.vkey", "key hash does not match name and key")
    return name, bytes.fromhex(hexhash), pub


def sign_checkpoint(name, seed, origin, size, root):
    """A checkpoint note (for tests)."""
    text = "%s\n%d\n%s\n" % (origin, size, base64.b64encode(root).decode("ascii"))
    pub = ed25519_public_key(seed)
    sig = ed25519_sign(seed, text.encode("utf-8"))
    line = "%s %s %s\n" % (EM_DASH, name, base64.b64encode(key_hash(name, pub) + sig).decode("ascii"))
    return (text + "\n" + line).encode("utf-8")


class Checkpoint:
    __slots__ = ("origin", "size", "root", "text")

    def __init__(self, origin, size, root, text):
        self.origin, self.size, self.root, self.text = origin, size, root, text


def verify_checkpoint(note, vkey, path="checkpoint"):
    """Parse and verify a checkpoint note (bytes) against a parsed vkey; returns a Checkpoint."""
    name, khash, pub = vkey
    _want(len(note) <= NOTE_BYTES_MAX, "note.size", path, "note too large")
    try:
        s = note.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("note.utf8", path, "note is not UTF-8") from None
    _want(all(c == "\n" or ord(c) >= 0x20 for c in s) and "\x7f" not in s, "note.control", path,
          "note holds control characters")
    _want(s.endswith("\n"), "note.newline", path, "note does not end with a newline")
    cut = s.find("\n\n")
    _want(cut >= 0, "note.blank_line", path, "no blank line between text and signatures")
    text, sigs = s[:cut + 1], s[cut + 2:]
    lines = text[:-1].split("\n")
    _want(len(lines) == 3, "checkpoint.lines", path + ".text",
          "checkpoint text has %d lines, FORMAT.md section 7 has 3 (origin, size, root)" % len(lines))
    origin, size_s, root_s = lines
    _want(origin != "", "checkpoint.origin", path + ".origin", "empty origin")
    _want(DECIMAL_RE.match(size_s) is not None, "checkpoint.size", path + ".size", "tree size is not decimal")
    root = b64decode_strict(root_s, path + ".root", "checkpoint.root")
    _want(len(root) == 32, "checkpoint.root", path + ".root", "root hash is not 32 bytes")
    _want(sigs != "", "note.signature", path + ".signature", "no signature lines")
    found = False
    for line in sigs[:-1].split("\n"):
        _want(line.startswith(EM_DASH + " "), "note.signature_line", path + ".signature",
              "signature line does not start with an em dash and a space")
        fields = line[2:].split(" ")
        _want(len(fields) == 2 and KEY_NAME_RE.match(fields[0]) is not None, "note.signature_line",
              path + ".signature", "signature line is not '— name base64'")
        raw = b64decode_strict(fields[1], path + ".signature", "note.signature_base64")
        _want(len(raw) >= 5, "note.signature_line", path + ".signature", "signature too short")
        if fields[0] != name or raw[:4] != khash:
            continue  # a signature by another key: C2SP says verifiers ignore those
        _want(len(raw) == 68, "note.signature_length", path + ".signature", "Ed25519 signature is not 4+64 bytes")
        _want(ed25519_verify(pub, text.encode("utf-8"), raw[4:]), "checkpoint.signature", path + ".signature",
              "signature does not verify against ledger.vkey")
        found = True
    _want(found, "checkpoint.signer", path + ".signature", "no signature by the key in ledger.vkey (%s)" % name)
    _want(origin == name, "checkpoint.origin", path + ".origin", "origin %r is not the key name %r" % (origin, name))
    return Checkpoint(origin, int(size_s), root, text)


# ---------------------------------------------------------------------------------------------
# Section 9: key files

def read_secret_key(path):
    with open(path, "rb") as f:
        raw = f.read()
    if re.fullmatch(rb"[0-9a-f]{64}\n", raw) is None:
        raise FormatError("key.file", path, "secret key file is not 64 lowercase hex digits and a newline")
    return bytes.fromhex(raw[:64].decode())


def read_public_key(path):
    with open(path, "rb") as f:
        raw = f.read()
    if re.fullmatch(rb"[0-9a-fA-F]{64}\n", raw) is None:
        raise FormatError("key.file", path, "public key file is not 64 hex digits and a newline")
    return bytes.fromhex(raw[:64].decode())


def write_key_pair(prefix, seed=None):
    """Writes prefix.key (0600) and prefix.pub like `techledger keygen`; returns (seed, pub)."""
    seed = seed if seed is not None else os.urandom(32)
    pub = ed25519_public_key(seed)
    fd = os.open(prefix + ".key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(seed.hex() + "\n")
    with open(prefix + ".pub", "x") as f:
        f.write(pub.hex() + "\n")
    return seed, pub


# ---------------------------------------------------------------------------------------------
# Self-test

RFC8032_VECTORS = [  # RFC 8032 section 7.1: seed, public key, message, signature
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
     "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
     "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
     "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
     "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
     "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
     "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d"
     "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
     "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b"
     "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
     "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b"
     "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
     "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d"
     "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
     "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
     "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
     "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
     "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
     "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161"
     "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
     "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca"
     "c60c905c15fc910840b94c00a0b9d0",
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"),
    ("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]


class _Check:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def __call__(self, cond, what):
        self.n += 1
        if not cond:
            self.failed += 1
            print("FAIL: " + what)


def _selftest_ed25519(check):
    for seed_h, pub_h, msg_h, sig_h in RFC8032_VECTORS:
        seed, pub, msg, sig = (bytes.fromhex(x) for x in (seed_h, pub_h, msg_h, sig_h))
        check(ed25519_public_key(seed) == pub, "RFC 8032 public key for seed %s" % seed_h[:8])
        check(ed25519_sign(seed, msg) == sig, "RFC 8032 signature for seed %s" % seed_h[:8])
        check(ed25519_verify(pub, msg, sig), "RFC 8032 verify for seed %s" % seed_h[:8])
        check(not ed25519_verify(pub, msg + b"x", sig), "verify rejects another message")
        bad = bytearray(sig)
        bad[5] ^= 1
        check(not ed25519_verify(pub, msg, bytes(bad)), "verify rejects a flipped R bit")
        s = int.from_bytes(sig[32:], "little") + _Q  # same point equation, non-canonical S
        if s < 2 ** 256:
            check(not ed25519_verify(pub, msg, sig[:32] + s.to_bytes(32, "little")), "verify rejects S >= L")
    # A y coordinate >= p is not a canonical encoding.
    check(_decompress((_P + 1).to_bytes(32, "little")) is None, "non-canonical y rejected")


def _selftest_merkle(check, vectors_path):
    with open(vectors_path) as f:
        v = json.load(f)
    leaves = [bytes.fromhex(x) for x in v["leaves"]]
    lhs = [leaf_hash(x) for x in leaves]
    check(EMPTY_ROOT.hex() == v["roots"][0], "empty root")
    ct = CompactTree()
    check(ct.root().hex() == v["roots"][0], "compact empty root")
    for n in range(1, len(leaves) + 1):
        check(merkle_root(lhs[:n]).hex() == v["roots"][n], "root of %d leaves" % n)
        ct.append(lhs[n - 1])
        check(ct.root().hex() == v["roots"][n], "compact root of %d leaves" % n)
    for level, hashes in enumerate(v["node_hashes"]):
        for i, h in enumerate(hashes):
            lo, hi = i << level, (i + 1) << level
            check(merkle_root(lhs[lo:hi]).hex() == h, "node hash level %d index %d" % (level, i))
    for k in v["hasher_kats"]:
        if k["op"] == "empty_root":
            got = EMPTY_ROOT
        elif k["op"] == "leaf":
            got = leaf_hash(bytes.fromhex(k["input"]))
        else:
            got = node_hash(bytes.fromhex(k["left"]), bytes.fromhex(k["right"]))
        check(got.hex() == k["want"], "hasher KAT %s" % k["op"])
    for c in v["inclusion"]:
        proof = [bytes.fromhex(h) for h in c["proof"]]
        n, m = c["tree_size"], c["leaf_index"]
        check(inclusion_proof(lhs[:n], m) == proof, "inclusion proof generation %d/%d" % (m, n))
        check(verify_inclusion(m, n, bytes.fromhex(c["leaf_hash"]), proof, bytes.fromhex(c["root"])),
              "inclusion %d/%d verifies" % (m, n))
    for c in v["consistency"]:
        proof = [bytes.fromhex(h) for h in c["proof"]]
        m, n = c["size1"], c["size2"]
        check(consistency_proof(lhs[:n], m) == proof, "consistency proof generation %d->%d" % (m, n))
        check(verify_consistency(m, n, bytes.fromhex(c["root1"]), bytes.fromhex(c["root2"]), proof),
              "consistency %d->%d verifies" % (m, n))
    for c in v["inclusion_probes"]:
        ok = verify_inclusion(c["leaf_index"], c["tree_size"], bytes.fromhex(c["leaf_hash"]),
                              [bytes.fromhex(h) for h in c["proof"]], bytes.fromhex(c["root"]))
        check(ok == (not c["want_err"]), "inclusion probe %s" % c["file"])
    for c in v["consistency_probes"]:
        ok = verify_consistency(c["size1"], c["size2"], bytes.fromhex(c["root1"]), bytes.fromhex(c["root2"]),
                                [bytes.fromhex(h) for h in c["proof"]])
        check(ok == (not c["want_err"]), "consistency probe %s" % c["file"])
    r = v["real_log_inclusion"]
    proof = r["proof"]
    if isinstance(proof, str):
        proof = json.loads(proof.replace("'", '"'))
    lh = leaf_hash(bytes.fromhex(r["leaf_input"]))
    check(lh.hex() == r["leaf_hash"], "real log leaf hash")
    check(verify_inclusion(r["leaf_index"], r["tree_size"], lh, [bytes.fromhex(h) for h in proof],
                           bytes.fromhex(r["root"])), "real log inclusion")
    # Every inclusion and consistency proof of trees up to 8 leaves, against our own roots.
    for n in range(1, 9):
        root = merkle_root(lhs[:n])
        for m in range(n):
            check(verify_inclusion(m, n, lhs[m], inclusion_proof(lhs[:n], m), root), "own inclusion %d/%d" % (m, n))
            check(not verify_inclusion(m, n, lhs[(m + 1) % 8], inclusion_proof(lhs[:n], m), root),
                  "own inclusion rejects another leaf %d/%d" % (m, n))
        for m in range(1, n + 1):
            check(verify_consistency(m, n, merkle_root(lhs[:m]), root, consistency_proof(lhs[:n], m)),
                  "own consistency %d->%d" % (m, n))


def _selftest_msgpack(check):
    def rejects(raw, rule, path=None):
        try:
            decode(raw, "x")
        except FormatError as e:
            check(e.rule == rule and (path is None or e.path == path),
                  "%s rejected as %s at %s (got %s at %s)" % (raw.hex(), rule, path, e.rule, e.path))
            return
        check(False, "%s should be rejected (%s)" % (raw.hex(), rule))

    samples = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 64 - 1,
               -1, -32, -33, -128, -129, -32768, -32769, -2 ** 31, -2 ** 31 - 1, -2 ** 63,
               True, False, "", "a" * 31, "a" * 32, "a" * 255, "a" * 256, "a" * 65536, "北京",
               b"", b"x" * 255, b"x" * 256, b"x" * 65536, [], list(range(15)), list(range(16)),
               {}, {"b": 1, "a": 2, "ab": 3, "": 0}, {str(i): i for i in range(16)}]
    for s in samples:
        enc = encode(s)
        check(decode(enc) == s, "round trip %r" % (s if len(repr(s)) < 40 else repr(s)[:40]))
    check(encode(127) == b"\x7f" and encode(128) == b"\xcc\x80" and encode(-33) == b"\xd0\xdf", "int forms")
    check(encode({"b": 1, "a": 2, "ab": 3}) == bytes.fromhex("83a16102a2616203a16201"), "map key order")
    rejects(b"\xcc\x05", "mp.shortest")
    rejects(b"\xcd\x00\xff", "mp.shortest")
    rejects(b"\xce\x00\x00\xff\xff", "mp.shortest")
    rejects(b"\xcf\x00\x00\x00\x00\xff\xff\xff\xff", "mp.shortest")
    rejects(b"\xd0\x05", "mp.int_family")
    rejects(b"\xd0\xff", "mp.shortest")
    rejects(b"\xd1\xff\x80", "mp.shortest")
    rejects(b"\xd9\x01a", "mp.shortest")
    rejects(b"\xda\x00\x20" + b"a" * 32, "mp.shortest")
    rejects(b"\xc5\x00\x01a", "mp.shortest")
    rejects(b"\xdc\x00\x01\x01", "mp.shortest")
    rejects(b"\xde\x00\x01\xa1a\x01", "mp.shortest")
    rejects(b"\xc0", "mp.nil")
    rejects(b"\xca\x00\x00\x00\x00", "mp.float")
    rejects(b"\xd4\x01\x01", "mp.ext")
    rejects(b"\xc1", "mp.invalid")
    rejects(b"\x01\x02", "mp.trailing")
    rejects(b"\xa2\xc3\x28", "mp.utf8")
    rejects(b"\xa3\xed\xa0\x80", "mp.utf8")  # an encoded surrogate
    rejects(b"\x82\xa1b\x01\xa1a\x02", "mp.key_order", "x.a")
    rejects(b"\x82\xa1a\x01\xa1a\x02", "mp.key_duplicate", "x.a")
    rejects(b"\x81\x01\x01", "mp.key_type")
    rejects(b"\x81\xc4\x01a\x01", "mp.key_type")
    rejects(b"\xdd\xff\xff\xff\xff", "mp.truncated")
    rejects(b"\xc6\xff\xff\xff\xff", "mp.truncated")
    rejects(b"\x81\xa4data\x81\xa3fen\xcd\x00\x05", "mp.shortest", "x.data.fen")
    rejects(b"\x91" * 100 + b"\x01", "mp.depth")


def _selftest_formats(check):
    seed = bytes(range(32))
    pub = ed25519_public_key(seed)
    body = make_body("contract.registered", "contract/2019110108000123", {"total_fen": 5}, bytes(16), 1)
    check(body[0] == 0x85 and body[1:6] == b"\xa4data", "body keys in canonical order")
    env = make_envelope(seed, body)
    b, k, s = parse_envelope(env)
    check(b == body and k == pub and event_verify(pub, body, s), "envelope round trip and signature")
    check(not ed25519_verify(pub, body, s), "signature covers the context string")
    vkey_line = format_vkey("techledger.example/test", pub)
    vk = parse_vkey(vkey_line)
    note = sign_checkpoint("techledger.example/test", seed, "techledger.example/test", 3, EMPTY_ROOT)
    cp = verify_checkpoint(note, vk)
    check(cp.size == 3 and cp.root == EMPTY_ROOT and cp.origin == "techledger.example/test", "checkpoint round trip")
    for i in range(len(note)):
        bad = bytearray(note)
        bad[i] ^= 0x01
        try:
            verify_checkpoint(bytes(bad), vk)
            check(False, "checkpoint with byte %d flipped should fail" % i)
        except FormatError:
            check(True, "")


def self_test(vectors_path):
    check = _Check()
    _selftest_msgpack(check)
    _selftest_ed25519(check)
    _selftest_merkle(check, vectors_path)
    _selftest_formats(check)
    print("tlformat self-test: %d checks, %d failed" % (check.n, check.failed))
    return check.failed == 0


def _default_vectors():
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", "..", "..", "shared", "testdata", "rfc6962-vectors.json"),
                 os.path.join(here, "..", "rfc6962-vectors.json"),
                 "/work/shared/testdata/rfc6962-vectors.json"):
        if os.path.exists(cand):
            return cand
    return None


def main(argv):
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        print("usage: tlformat.py --self-test [RFC6962-VECTORS.json]\n\n"
              "Checks this independent implementation of FORMAT.md against RFC 8032 section 7.1\n"
              "and the RFC 6962 vectors (default: shared/testdata/rfc6962-vectors.json).")
        return 0
    if len(argv) >= 2 and argv[1] == "--self-test":
        path = argv[2] if len(argv) > 2 else _default_vectors()
        if path is None:
            print("tlformat: cannot find rfc6962-vectors.json; name it", file=sys.stderr)
            return 2
        return 0 if self_test(path) else 1
    print("usage: tlformat.py --self-test [RFC6962-VECTORS.json]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
