"""Answers as the client accepts them: bounded in bytes, strict JSON of bounded depth, and with
the token scrubbed from anything the server echoed back."""

from __future__ import annotations

import json
import math

# An API answer is a few hundred bytes; a catalog page with schemas a few hundred KB.
MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_JSON_DEPTH = 64
REDACTED = "[redacted]"


class TooLarge(Exception):
    def __init__(self, size: int | None, limit: int):
        self.size, self.limit = size, limit
        super().__init__(f"over {limit} bytes" + (f" ({size} declared)" if size is not None else ""))


class NotJson(Exception):
    """The text is not a JSON document this client accepts; the reason is the message."""


def read_capped(resp, limit: int, chunk: int = 64 * 1024) -> bytes:
    """The body of a streamed ``requests`` response, refusing more than ``limit`` bytes (also when
    Content-Length says so up front, before reading)."""
    declared = resp.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge(int(declared), limit)
    parts, total = [], 0
    for piece in resp.iter_content(chunk):
        total += len(piece)
        if total > limit:
            raise TooLarge(None, limit)
        parts.append(piece)
    return b"".join(parts)


def _depth_ok(obj, limit: int) -> bool:
    stack = [(obj, 1)]
    while stack:
        cur, d = stack.pop()
        if d > limit:
            return False
        if isinstance(cur, dict):
            stack.extend((v, d + 1) for v in cur.values())
        elif isinstance(cur, list):
            stack.extend((v, d + 1) for v in cur)
    return True


def parse_json(text: str, max_depth: int = MAX_JSON_DEPTH):
    """JSON of at most ``max_depth`` levels. NaN and Infinity (which JSON does not allow, but
    Python's parser would pass on) and numbers too large for a float read as None, "not
    reported", so a paid result is never lost to a broken cost or queue position; a field that
    matters (a status, a request id) is then missing and reported as such. Raises NotJson with
    a short reason."""
    def finite_float(s: str):
        v = float(s)
        return v if math.isfinite(v) else None
    try:
        obj = json.loads(text, parse_constant=lambda _name: None, parse_float=finite_float)
    except RecursionError:
        raise NotJson(f"it is nested more than {max_depth} levels deep") from None
    except ValueError as exc:
        raise NotJson(f"it is not valid JSON ({str(exc)[:80]})") from None
    if not _depth_ok(obj, max_depth):
        raise NotJson(f"it is nested more than {max_depth} levels deep")
    return obj


def redact_text(text: str, secrets_: tuple[str, ...]) -> str:
    for s in secrets_:
        if s and s in text:
            text = text.replace(s, REDACTED)
    return text


def redact(obj, secrets_: tuple[str, ...]):
    """``obj`` with every occurrence of a secret in its strings (keys included) replaced."""
    if isinstance(obj, str):
        return redact_text(obj, secrets_)
    if isinstance(obj, list):
        return [redact(v, secrets_) for v in obj]
    if isinstance(obj, dict):
        return {redact_text(k, secrets_) if isinstance(k, str) else k: redact(v, secrets_) for k, v in obj.items()}
    return obj


def finite_number(v, low: float, high: float) -> float | None:
    """``v`` when it is a real, finite number within low..high; None for anything else."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) and low <= f <= high else None
