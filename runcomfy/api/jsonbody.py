"""JSON request bodies as bytes, without re-escaping megabytes of base64.

A submit carries its images inline as data URIs of several MB each. ``json.dumps`` scans every
character of them for escapes (~5 ms per MB) while holding the GIL, stalling every other node
of the graph; ``requests`` then copies the result again to encode it. Strings that need no
escaping (ASCII, no quote, backslash or control character; checked in well under a
millisecond) are copied into the body as they are. Output is equivalent to ``json.dumps``:
the same values, compact separators.
"""

from __future__ import annotations

import json

import numpy as np

# Shorter strings are not worth the check; json.dumps handles them as usual.
SPLICE_MIN_CHARS = 1 << 16

_encode = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode


def _verbatim(s: str) -> bytes | None:
    """``s`` as ASCII bytes when it may stand in a JSON string unescaped, else None."""
    if len(s) < SPLICE_MIN_CHARS or not s.isascii() or '"' in s or "\\" in s:
        return None
    raw = s.encode("ascii")
    if np.frombuffer(raw, np.uint8).min() < 0x20:   # control characters must be escaped
        return None
    return raw


def _emit(obj, out: list[bytes]) -> None:
    if isinstance(obj, str):
        raw = _verbatim(obj)
        if raw is not None:
            out += (b'"', raw, b'"')
            return
    elif isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        out.append(b"{")
        for i, (k, v) in enumerate(obj.items()):
            if i:
                out.append(b",")
            out += (_encode(k).encode("ascii"), b":")
            _emit(v, out)
        out.append(b"}")
        return
    elif isinstance(obj, (list, tuple)):
        out.append(b"[")
        for i, v in enumerate(obj):
            if i:
                out.append(b",")
            _emit(v, out)
        out.append(b"]")
        return
    out.append(_encode(obj).encode("ascii"))


def dumps_bytes(obj) -> bytes:
    """``json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()``, faster for long
    strings. NaN and infinity are refused (ValueError) as JSON has no such numbers."""
    out: list[bytes] = []
    _emit(obj, out)
    return b"".join(out)
