"""How the emulator misbehaves when a hostile or broken server is asked for (faults.py kinds
slow_drip, oversized, nested_json, not_json, bad_request_id, non_finite): answers changed after
the call was processed (so a submit is accepted and billed, only its answer is odd), and
answers sent so slowly or so large that only a client with deadlines and caps survives them."""

from __future__ import annotations

import json
import time

MAX_DRIP_SECONDS = 600.0


def transform(fault, reply):
    """The processed ``reply`` as the faulty server sends it (same object type, new body)."""
    p = fault.params
    kind = fault.kind
    if kind == "nested_json":
        depth = int(p.get("depth", 100_000))
        reply.body = b'{"request_id":' + b"[" * depth + b"]" * depth + b"}"
    elif kind == "not_json":
        reply.body = b"<html><body><h1>OK</h1><p>Your request was received.</p></body></html>"
        reply.content_type = "text/html"
    elif kind == "bad_request_id":
        doc = _doc(reply)
        doc["request_id"] = str(p.get("value", "../../admin?x=1"))
        reply.body = json.dumps(doc).encode()
    elif kind == "non_finite":
        doc = _doc(reply)
        doc[str(p.get("field", "queue_position"))] = "__NONFINITE__"
        reply.body = json.dumps(doc).encode().replace(b'"__NONFINITE__"', str(p.get("value", "NaN")).encode())
    return reply


def _doc(reply) -> dict:
    try:
        doc = json.loads(reply.body)
    except ValueError:
        doc = None
    return doc if isinstance(doc, dict) else {}


def _head(handler, reply, length: int) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} {handler.responses.get(reply.status, ('',))[0]}",
             f"Content-Type: {reply.content_type}", f"Content-Length: {length}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in reply.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send(handler, emu, fault, reply) -> None:
    """Send ``reply`` the faulty way; stops as soon as the client hangs up (recorded in
    ``emu.hostile_sends`` as (endpoint, kind, bytes sent, bytes meant))."""
    p = fault.params
    sent, total = 0, 0
    try:
        if fault.kind == "slow_drip":
            raw = _head(handler, reply, len(reply.body)) + reply.body
            total = len(raw)
            interval = max(0.01, float(p.get("interval", 1.5)))
            end = time.monotonic() + MAX_DRIP_SECONDS
            for i in range(total):
                handler.wfile.write(raw[i:i + 1])
                handler.wfile.flush()
                sent += 1
                if time.monotonic() > end or emu._stop.wait(interval):
                    break
        else:   # oversized: the real answer with a padding field in front, valid JSON throughout
            size = int(p.get("bytes", 300 * 1024 * 1024))
            inner = reply.body.strip()
            rest = inner[1:] if inner.startswith(b"{") and inner != b"{}" else b'"end":0}'
            pre, post = b'{"padding":"', b'",' + rest
            pad = max(0, size - len(pre) - len(post))
            total = len(pre) + pad + len(post)
            handler.wfile.write(_head(handler, reply, total) + pre)
            sent = len(pre)
            chunk = b"x" * (1 << 20)
            left = pad
            while left > 0 and not emu._stop.is_set():
                n = min(left, len(chunk))
                handler.wfile.write(chunk[:n])
                sent += n
                left -= n
            handler.wfile.write(post)
            sent += len(post)
            handler.wfile.flush()
    except OSError:
        pass      # the client hung up: exactly what a bounded client does
    finally:
        with emu._lock:
            emu.hostile_sends.append((fault.endpoint, fault.kind, sent, total))
