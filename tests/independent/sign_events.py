#!/usr/bin/env python3
"""Sign techledger events into envelopes, independently of the project (FORMAT.md sections 2-4).

usage: sign_events.py --key FILE [--out-dir DIR] [--batch FILE] [--post URL] EVENTS.json ...

An events file holds one JSON event, a JSON array of events, or one event per line:

    {"type": "contract.registered", "stream": "contract/2019110108000123",
     "data": {...}, "id": "<32 hex digits>"?, "time": <ms>?, "expect": <n>?, "key": "<FILE>"?}

A missing id is random, a missing time is now; "key" overrides --key for that event. JSON has
no bytes, so a bin value in data is written as one of
    {"$hex": "..."}    {"$b64": "..."}    {"$pub": "NAME.pub or NAME.key"} (that key's public key)
Integers must be integers (no floats), null is refused: the body must be canonical MessagePack.

Outputs (any combination; at least one of them, or the manifest alone):
  --out-dir DIR   one envelope per file, DIR/0000.msgpack, 0001.msgpack, ... in input order
  --batch FILE    all envelopes in one batch (an array of envelopes)
  --post URL      POST to URL (e.g. http://127.0.0.1:8080/v1/events): each envelope on its own,
                  or the batch when --batch is given; prints each reply
The manifest on standard output lists every event: file, id, type, stream, key and body (hex).
Exit status: 0 ok, 1 the server refused an event, 2 bad input or usage, 3 I/O failure.
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlformat  # noqa: E402

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_IO = 0, 1, 2, 3


class InputError(Exception):
    pass


def _convert(value, path):
    """JSON value -> the Python value tlformat.encode() writes (bytes for the $ forms)."""
    if value is None:
        raise InputError("%s: null has no canonical encoding (leave the field out)" % path)
    if isinstance(value, float):
        raise InputError("%s: floats are not allowed (amounts are integer fen)" % path)
    if isinstance(value, list):
        return [_convert(v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if len(value) == 1:
            (k, v), = value.items()
            if k == "$hex":
                try:
                    return bytes.fromhex(v)
                except (TypeError, ValueError):
                    raise InputError("%s: $hex is not hex" % path) from None
            if k == "$b64":
                try:
                    return base64.b64decode(v, validate=True)
                except (TypeError, ValueError):
                    raise InputError("%s: $b64 is not base64" % path) from None
            if k == "$pub":
                return public_key_of(v)
        return {k: _convert(v, path + "." + k) for k, v in value.items()}
    return value


def public_key_of(path):
    """The public key named by a .pub file, or derived from a .key file."""
    if path.endswith(".key"):
        return tlformat.ed25519_public_key(tlformat.read_secret_key(path))
    return tlformat.read_public_key(path)


def load_events(path):
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    try:
        doc = json.loads(text)
        return doc if isinstance(doc, list) else [doc]
    except json.JSONDecodeError:
        pass
    events = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError("%s:%d: %s" % (path, n, e)) from None
    return events


def sign_event(desc, default_seed=None, now_ms=None):
    """One event description (dict) -> (envelope bytes, body bytes, public key)."""
    if not isinstance(desc, dict):
        raise InputError("an event is a JSON object")
    for k in desc:
        if k not in ("type", "stream", "data", "id", "time", "expect", "key"):
            raise InputError("unknown event key %r" % k)
    for k in ("type", "stream", "data"):
        if k not in desc:
            raise InputError("event needs %r" % k)
    seed = tlformat.read_secret_key(desc["key"]) if "key" in desc else default_seed
    if seed is None:
        raise InputError("no key: give --key or a \"key\" in the event")
    id_ = bytes.fromhex(desc["id"]) if "id" in desc else os.urandom(16)
    if len(id_) != 16:
        raise InputError("id is 16 bytes (32 hex digits)")
    t = desc.get("time", now_ms if now_ms is not None else int(time.time() * 1000))
    data = _convert(desc["data"], "data")
    if not isinstance(data, dict):
        raise InputError("data is a JSON object")
    body = tlformat.make_body(desc["type"], desc["stream"], data, id_, t, desc.get("expect"))
    return tlformat.make_envelope(seed, body), body, tlformat.ed25519_public_key(seed)


def post(url, payload, timeout_s=30):
    """POST msgpack bytes; returns (HTTP status, reply text)."""
    req = urllib.request.Request(url, data=payload, method="POST",
                                 headers={"Content-Type": "application/msgpack"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def main(argv):
    args = argv[1:]
    if not args or "-h" in args or "--help" in args:
        print(__doc__.strip())
        return EXIT_OK if args else EXIT_USAGE
    key_path = out_dir = batch_path = url = None
    files = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--key", "--out-dir", "--batch", "--post"):
            if i + 1 >= len(args):
                print("sign_events: %s needs a value" % a, file=sys.stderr)
                return EXIT_USAGE
            v = args[i + 1]
            if a == "--key":
                key_path = v
            elif a == "--out-dir":
                out_dir = v
            elif a == "--batch":
                batch_path = v
            else:
                url = v
            i += 2
        elif a.startswith("-") and a != "-":
            print("sign_events: unknown option %s" % a, file=sys.stderr)
            return EXIT_USAGE
        else:
            files.append(a)
            i += 1
    if not files:
        print("sign_events: no events files", file=sys.stderr)
        return EXIT_USAGE
    try:
        seed = tlformat.read_secret_key(key_path) if key_path else None
        signed = []
        for path in files:
            for n, desc in enumerate(load_events(path)):
                try:
                    signed.append(sign_event(desc, seed))
                except (InputError, tlformat.FormatError, ValueError) as e:
                    raise InputError("%s: event %d: %s" % (path, n, e)) from None
    except (InputError, tlformat.FormatError) as e:
        print("sign_events: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print("sign_events: %s" % e, file=sys.stderr)
        return EXIT_IO

    manifest = []
    try:
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
        for n, (env, body, pub) in enumerate(signed):
            b = tlformat.check_body(body)
            entry = {"id": b["id"].hex(), "type": b["type"], "stream": b["stream"],
                     "key": pub.hex(), "body": body.hex()}
            if out_dir:
                entry["file"] = os.path.join(out_dir, "%04d.msgpack" % n)
                with open(entry["file"], "wb") as f:
                    f.write(env)
            manifest.append(entry)
        batch = None
        if batch_path:
            # Each envelope is already canonical; a batch is an array header plus them.
            batch = bytearray()
            tlformat._enc_len(len(signed), batch, 0x90, 15, None, 0xDC, 0xDD, "batch")
            for env, _, _ in signed:
                batch += env
            batch = bytes(batch)
            if len(batch) > tlformat.BATCH_BYTES_MAX or len(signed) > tlformat.BATCH_ENVELOPES_MAX:
                print("sign_events: batch exceeds 1 MiB or 10,000 envelopes", file=sys.stderr)
                return EXIT_USAGE
            with open(batch_path, "wb") as f:
                f.write(batch)
    except OSError as e:
        print("sign_events: %s" % e, file=sys.stderr)
        return EXIT_IO

    rc = EXIT_OK
    if url:
        payloads = [batch] if batch is not None else [env for env, _, _ in signed]
        for n, payload in enumerate(payloads):
            try:
                status, reply = post(url, payload)
            except OSError as e:
                print("sign_events: POST %s: %s" % (url, e), file=sys.stderr)
                return EXIT_IO
            if batch is None:
                manifest[n]["status"] = status
                manifest[n]["reply"] = reply
            else:
                for entry in manifest:
                    entry["batch_status"] = status
                print(reply, file=sys.stderr)
            if status >= 300:
                rc = EXIT_FAILURE
    json.dump(manifest, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
