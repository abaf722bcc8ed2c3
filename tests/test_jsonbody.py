"""The submit body encoder: the same JSON as json.dumps, with long safe strings copied verbatim."""

from __future__ import annotations

import base64
import json
import math

import pytest

from runcomfy.api import jsonbody
from runcomfy.api.jsonbody import SPLICE_MIN_CHARS, dumps_bytes

LONG_B64 = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 400).decode("ascii")


def _round_trip(obj):
    raw = dumps_bytes(obj)
    assert isinstance(raw, bytes)
    return json.loads(raw.decode("ascii"))


@pytest.mark.parametrize("long_text", [
    LONG_B64,
    "x" * SPLICE_MIN_CHARS + '"quoted"',                 # needs escaping: must fall back
    "y" * SPLICE_MIN_CHARS + "back\\slash",
    "z" * SPLICE_MIN_CHARS + "line\nbreak\ttab\x00nul",
    "w" * SPLICE_MIN_CHARS + "caf\u00e9 \u6f22\u5b57 \U0001f600",   # non-ASCII
    "v" * SPLICE_MIN_CHARS + "\x7f",                     # DEL needs no escape in JSON
])
def test_same_values_as_json_dumps(long_text):
    payload = {"prompt": 'a "short" prompt\n', "image_urls": [LONG_B64, long_text], "seed": 42,
               "strength": 0.5, "flag": True, "none": None, "nested": {"k": [1, 2.5, "s", long_text]},
               "tuple": (1, 2)}
    assert _round_trip(payload) == json.loads(json.dumps(payload))


def test_safe_long_strings_are_not_escaped_or_copied_through_json(monkeypatch):
    seen = []
    real = jsonbody._encode
    monkeypatch.setattr(jsonbody, "_encode", lambda o: seen.append(o) or real(o))
    raw = dumps_bytes({"image_urls": [LONG_B64], "prompt": "p"})
    assert LONG_B64 not in seen                  # spliced, not passed to the JSON encoder
    assert b'"' + LONG_B64.encode() + b'"' in raw
    seen.clear()
    tricky = "q" * SPLICE_MIN_CHARS + '"'
    assert json.loads(dumps_bytes([tricky])) == [tricky]
    assert tricky in seen                         # escaped by the JSON encoder


def test_non_string_keys_and_scalars_behave_like_json():
    obj = {1: "a", None: "b"}
    assert _round_trip(obj) == json.loads(json.dumps(obj))
    for scalar in (0, -3, 1.25, "short", True, None, []):
        assert _round_trip(scalar) == scalar


def test_nan_and_unserialisable_values_are_refused():
    with pytest.raises(ValueError):
        dumps_bytes({"x": math.nan})
    with pytest.raises(TypeError):
        dumps_bytes({"x": b"bytes"})
