"""The JSON body of the pack's POST routes, read one way, with one 400 answer for a wrong one.

A body that is not JSON, not a JSON object, or lacks a field the route needs is answered
HTTP 400 ``{"ok": false, "error": "<what is wrong>. Send JSON like <example>", "example": {...}}``:
the settings page shows ``error``, a script reads ``example``. ``routes._json_errors`` (which every
route has, inside the origin guard) turns ``BadBody`` into that answer, so a route reads its body
in one line and the guard runs first, as before. Nothing here imports aiohttp.
"""

from __future__ import annotations

import json

_JSON_KINDS = ((bool, "true or false"), (str, "a string"), (int, "a number"), (float, "a number"),
               (list, "a list"), (dict, "an object"))


def _kind(value) -> str:
    if value is None:
        return "null"
    return next((name for t, name in _JSON_KINDS if isinstance(value, t)), type(value).__name__)


class BadBody(ValueError):
    """A POST body the route cannot use: ``problem`` says what is wrong, ``example`` what to send."""

    def __init__(self, problem: str, example: dict):
        super().__init__(problem)
        self.problem, self.example = problem, example

    def answer(self) -> tuple[int, dict]:
        return bad_body(self.problem, self.example)


def bad_body(problem: str, example: dict) -> tuple[int, dict]:
    """(400, body) naming what is wrong and an example of the right body; routes whose own checks
    go further than ``parse`` (an id's characters, a list's length) answer with it too."""
    shown = json.dumps(example, ensure_ascii=False)
    return 400, {"ok": False, "error": f"{problem.rstrip('.')}. Send JSON like {shown}", "example": example}


def parse(raw: bytes | str, example: dict, need: tuple[str, ...] = (), *, empty_ok: bool = False) -> dict:
    """The body as a dict. Each key in ``need`` must be there with the JSON kind of its value in
    ``example``; ``empty_ok``: no body at all means ``{}`` (a route whose fields are all optional)."""
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody("The body is not UTF-8 text", example) from None
    if not raw.strip():
        if empty_ok:
            return {}
        raise BadBody("The request has no body", example)
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadBody(f"The body is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", example) \
            from None
    except RecursionError:
        raise BadBody("The body is nested too deeply to read", example) from None
    if not isinstance(body, dict):
        raise BadBody(f"The body is {_kind(body)}, not a JSON object", example)
    for key in need:
        if key not in body:
            raise BadBody(f"'{key}' is missing", example)
        want, got = _kind(example[key]), _kind(body[key])
        if got != want:
            raise BadBody(f"'{key}' must be {want}, got {got}", example)
    return body


async def read_json(request, example: dict, need: tuple[str, ...] = (), *, empty_ok: bool = False) -> dict:
    """``parse`` of an aiohttp request's body; raises ``BadBody``."""
    return parse(await request.read(), example, need, empty_ok=empty_ok)
