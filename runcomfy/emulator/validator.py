"""The emulator's own check of a submit against its model's input schema, the way the service
would judge it: written from the documented dialects (the shared API notes, "The catalog"), and
importing nothing of the client's schema code (runcomfy/schema), so that a dialect bug in the
client fails a socket test instead of being agreed with on both sides (tests/test_layers.py).

What it reads of a schema:
- types ``string``, ``integer``, ``number``, ``boolean``, ``array``, ``object``, the nonstandard
  ``float`` (a number), ``["T", "null"]`` (nullable); a missing type is inferred from
  ``properties`` / ``items`` / a media format, else any value goes;
- ``enum`` compared as JSON values (``5`` is not ``"5"``, ``true`` is not ``1``);
- ``minimum`` / ``maximum`` / ``exclusiveMinimum`` / ``exclusiveMaximum``, ``minLength`` /
  ``maxLength``, ``minItems`` / ``maxItems``, ``required``, ``additionalProperties: false``;
- media: ``format`` ``image_uri`` / ``video_uri`` / ``audio_uri`` on a string, an array whose
  ``items`` carry that format, or an array with ``format`` ``image_uris`` / ``video_uris`` /
  ``audio_uris``, at the top level and inside structured values; each file an http(s) URL or a
  ``data:<kind>/...`` URI;
- ``validations`` rules on media fields (the field's own and its ``items``'), checked on what the
  server measured of each top-level file, and on what this module measures itself of each
  ``data:`` URI nested in a structured value (pixels, encoded bytes, duration; URLs nested there
  are not fetched):
  ``file_size_mb<`` (strictly under, MB = 10^6 bytes), ``width_pixels>`` / ``<``,
  ``height_pixels>`` / ``<``, ``width/height>`` / ``<`` (bounds allowed), and duration / frame
  rate / frame count bounds on video and audio.

Answers are 422 ``detail`` items: ``{"loc": ["body", field, index...], "msg", "type"}``, the
message naming the field (list items counted from 1), the rule with its limit, and the value.
"""

from __future__ import annotations

import binascii
import io
import math
import re
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..media.codecs import audio as audio_codec
from ..media.codecs import video as video_codec

# format -> (media kind, a list of files)
MEDIA_FORMATS = {
    "image_uri": ("image", False), "video_uri": ("video", False), "audio_uri": ("audio", False),
    "image_uris": ("image", True), "video_uris": ("video", True), "audio_uris": ("audio", True),
}
_TYPE_ALIASES = {"float": "number", "double": "number"}
_TYPES = ("string", "integer", "number", "boolean", "array", "object")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){1,3}$")
# Limits the shipped overlay states that the published schema only says in prose (Wan's prompt).
_OVERLAY_LIMITS = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems")
MAX_DEPTH = 8
MB = 1_000_000

_SIZE_RULE = re.compile(r"(file_size_mb|width_pixels|height_pixels|width/height)\s*([<>])")
_TIME_RULE = re.compile(r"(duration_seconds|duration_s|duration|video_duration|audio_duration|fps|frame_rate|"
                        r"frames|frame_count)\s*([<>])=?")


class Unreadable(ValueError):
    """A catalog entry whose input schema is not a schema at all (it is listed, never run)."""


@dataclass
class Measured:
    """What the server measured of one media input (None: not known)."""

    width: int | None = None
    height: int | None = None
    nbytes: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    frames: int | None = None
    source: str = ""


@dataclass
class Input:
    name: str
    spec: dict
    required: bool
    kind: str | None = None       # "image" | "video" | "audio" for a media input
    many: bool = False            # a list of files

    @property
    def default(self):
        return self.spec.get("default")


@dataclass
class ModelInputs:
    model_id: str
    inputs: list[Input]
    display_name: str
    output_kind: str = "image"

    def get(self, name: str) -> Input | None:
        return next((i for i in self.inputs if i.name == name), None)

    def media(self, *kinds: str) -> list[Input]:
        return [i for i in self.inputs if i.kind is not None and (not kinds or i.kind in kinds)]


# --- reading a model ----------------------------------------------------------------------

def media_of(spec: dict) -> tuple[str | None, bool]:
    """(kind, many) of a media field in any of its spellings; (None, False) otherwise."""
    if not isinstance(spec, dict):
        return None, False
    fmt = spec.get("format")
    if fmt in MEDIA_FORMATS:
        kind, many = MEDIA_FORMATS[fmt]
        return kind, many or _declared_types(spec)[0] == {"array"}
    items = spec.get("items")
    if isinstance(items, dict) and items.get("format") in MEDIA_FORMATS and not MEDIA_FORMATS[items["format"]][1]:
        return MEDIA_FORMATS[items["format"]][0], True
    return None, False


def _output_kind(doc: dict, overlay: dict) -> str:
    for cat in doc.get("categories") or []:
        tail = str(cat).rsplit("-", 1)[-1].lower()
        if tail in ("image", "video", "audio"):
            return tail
    cat = str(overlay.get("category") or "").lower()
    for kind in ("video", "audio", "image"):
        if f"/{kind}" in cat:
            return kind
    out = (doc.get("output_schema") or {}).get("output") if isinstance(doc.get("output_schema"), dict) else None
    props = (out or {}).get("properties") if isinstance(out, dict) else None
    kinds = {k.rstrip("s") for k in (props or {}) if k.rstrip("s") in ("image", "video", "audio")}
    return kinds.pop() if len(kinds) == 1 else "image"


def read_model(doc: dict, overlay: dict | None = None) -> ModelInputs:
    """A catalog entry (or a shipped ``*.schema.json`` with its overlay) as the inputs the
    emulator checks submits against. Raises Unreadable for a bad id or no input properties."""
    overlay = overlay or {}
    if not isinstance(doc, dict):
        raise Unreadable("not a JSON object")
    model_id = doc.get("model_id")
    if not isinstance(model_id, str) or not _MODEL_ID.match(model_id):
        raise Unreadable(f"model_id must be 2 to 4 path segments, got {model_id!r}")
    schema = doc.get("input_schema")
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        raise Unreadable(f"{model_id}: input_schema.properties is missing or not an object")
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    limits = overlay.get("fields") if isinstance(overlay.get("fields"), dict) else {}
    inputs = []
    for name, spec in props.items():
        spec = dict(spec) if isinstance(spec, dict) else {}
        extra = limits.get(name) if isinstance(limits.get(name), dict) else {}
        spec.update({k: extra[k] for k in _OVERLAY_LIMITS if k in extra})
        kind, many = media_of(spec)
        inputs.append(Input(name, spec, name in required, kind, many))
    display = overlay.get("display_name") or doc.get("display_name")
    if not isinstance(display, str) or not display.strip():
        display = model_id
    return ModelInputs(model_id, inputs, display.strip(), _output_kind(doc, overlay))


# --- one value against one spec -------------------------------------------------------------

def _declared_types(spec: dict) -> tuple[set[str] | None, bool]:
    """(allowed types or None for any, nullable)."""
    t = spec.get("type")
    nullable = spec.get("nullable") is True
    if isinstance(t, list):
        nullable = nullable or "null" in t
        names = {_TYPE_ALIASES.get(x, x) for x in t if isinstance(x, str) and x != "null"}
        known = names & set(_TYPES)
        return (known or None) if known == names else None, nullable
    if isinstance(t, str):
        t = _TYPE_ALIASES.get(t, t)
        return ({t} if t in _TYPES else None), nullable or t == "null"
    fmt = spec.get("format")
    if fmt in MEDIA_FORMATS:
        return {"array" if MEDIA_FORMATS[fmt][1] else "string"}, nullable
    if isinstance(spec.get("properties"), dict):
        return {"object"}, nullable
    if "items" in spec:
        return {"array"}, nullable
    return None, nullable


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _has_type(v, t: str) -> bool:
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return _is_number(v) and float(v).is_integer()
    if t == "number":
        return _is_number(v)
    if t == "array":
        return isinstance(v, list)
    return isinstance(v, dict)


def same_json(a, b) -> bool:
    """JSON equality: 5 == 5.0, but "5" != 5 and true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _bound(v):
    return v if _is_number(v) else None


def _count(v):
    return int(v) if _is_number(v) and v >= 0 else None


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 63 else text[:60] + "..."


def _label(path: list) -> str:
    out = ""
    for p in path:
        out += f"[{p + 1}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Problems(list):
    def add(self, path: list, text: str, value=None, show_value: bool = True) -> None:
        got = f" (got {_shown(value)})" if show_value else ""
        self.append({"loc": ["body", *path], "msg": f"'{_label(path)}' {text}{got}", "type": "value_error"})


def _media_uri(value, kind: str, path: list, out: _Problems) -> None:
    if not isinstance(value, str):
        out.add(path, "must be of type 'string'", value)
    elif not (value.startswith(("https://", "http://")) or value.startswith(f"data:{kind}/")):
        out.add(path, f"must be an http(s) URL or a data:{kind}/... URI", value[:60])


class _BadFile(ValueError):
    """An inline file this module could not measure (its text goes into the 422)."""


def _decode(uri: str, kind: str) -> bytes:
    header, sep, data = uri.partition(",")
    if not sep or not header.endswith(";base64"):
        raise _BadFile(f"data URI must be base64-encoded (data:{kind}/...;base64,...)")
    try:
        try:
            return binascii.a2b_base64(data, strict_mode=True)
        except binascii.Error:
            return binascii.a2b_base64("".join(data.split()), strict_mode=True)   # line-wrapped
    except (binascii.Error, ValueError):
        raise _BadFile("data URI has invalid base64") from None


def measure_data_uri(kind: str, uri: str) -> Measured:
    """What the emulator measures of one inline file nested in a structured value: the server
    measures top-level inputs only, so without this a nested file's size rules went unjudged."""
    raw = _decode(uri, kind)
    if kind == "image":
        try:
            with Image.open(io.BytesIO(raw)) as img:        # reads the header, not the pixels
                return Measured(width=img.width, height=img.height, nbytes=len(raw), source="data URI")
        except (UnidentifiedImageError, OSError):
            raise _BadFile("not a decodable image (data URI)") from None
    if kind == "video":
        try:
            p = video_codec.probe(raw)
        except video_codec.VideoError as exc:
            raise _BadFile(f"not a decodable video (data URI): {exc}") from None
        return Measured(width=p.width, height=p.height, nbytes=len(raw), duration_s=p.duration_s, fps=p.fps,
                        frames=p.frames, source="data URI")
    try:
        p = audio_codec.probe(raw)
    except audio_codec.AudioError as exc:
        raise _BadFile(f"not decodable audio (data URI): {exc}") from None
    return Measured(nbytes=len(raw), duration_s=p.duration_s, source="data URI")


def _judge_nested(value, kind: str, spec: dict, path: list, out: _Problems) -> None:
    """One file of a nested media field: a data: URI of its kind is measured and held to the
    field's rules; anything else was already judged by its shape (or is a URL)."""
    if not (isinstance(value, str) and value.startswith(f"data:{kind}/")):
        return
    try:
        info = measure_data_uri(kind, value)
    except _BadFile as exc:
        out.append(input_problem(path, str(exc)))
        return
    check_rules(spec, info, path, out)


def check_value(value, spec, path: list, out: _Problems, depth: int = 0, judge_files: bool = True) -> None:
    """Appends every problem of ``value`` (not None) against ``spec``. Below the top level
    (``depth`` > 0) inline media files are measured here; top-level ones come measured from the
    server (validate's ``measured``). ``judge_files=False``: the caller measured this file."""
    if not isinstance(spec, dict) or depth > MAX_DEPTH:
        return
    types, nullable = _declared_types(spec)
    if value is None:
        if not nullable and types is not None:
            out.add(path, "must not be null", value)
        return
    if types is not None and not any(_has_type(value, t) for t in types):
        out.add(path, f"must be of type {' or '.join(repr(t) for t in sorted(types))}", value)
        return
    enum = spec.get("enum")
    if isinstance(enum, list) and enum and not any(same_json(value, e) for e in enum):
        out.add(path, f"must be one of {enum!r}", value)
    if _is_number(value):
        for key, bad, word in (("minimum", lambda v, b: v < b, "must be at least"),
                               ("maximum", lambda v, b: v > b, "must be at most"),
                               ("exclusiveMinimum", lambda v, b: v <= b, "must be greater than"),
                               ("exclusiveMaximum", lambda v, b: v >= b, "must be less than")):
            b = _bound(spec.get(key))
            if b is not None and bad(value, b):
                out.add(path, f"{word} {b!r}", value)
    kind, many = media_of(spec)
    if isinstance(value, str):
        lo, hi = _count(spec.get("minLength")), _count(spec.get("maxLength"))
        if hi is not None and len(value) > hi:
            out.add(path, f"must have at most {hi} characters", f"{len(value)} characters")
        if lo is not None and len(value) < lo:
            out.add(path, f"must have at least {lo} characters", f"{len(value)} characters")
        if kind is not None and not many:
            before = len(out)
            _media_uri(value, kind, path, out)
            if depth > 0 and judge_files and len(out) == before:
                _judge_nested(value, kind, spec, path, out)
    if isinstance(value, list):
        lo, hi = _count(spec.get("minItems")), _count(spec.get("maxItems"))
        if lo is not None and len(value) < lo:
            out.add(path, f"needs at least {lo} items", f"{len(value)} items")
        if hi is not None and len(value) > hi:
            out.add(path, f"takes at most {hi} items", f"{len(value)} items")
        items = spec.get("items") if isinstance(spec.get("items"), dict) else None
        files = kind is not None and many and spec.get("format") in MEDIA_FORMATS
        if files and items is not None:
            items = {k: v for k, v in items.items() if k != "format"}
        for i, item in enumerate(value):
            before = len(out)
            if files:
                # "format": "image_uris" on the array: every item is one file, whatever items says.
                _media_uri(item, kind, path + [i], out)
                if not isinstance(item, str):
                    continue
            if items is not None:
                # A media list's files are measured here, against the list's rules and its items'.
                check_value(item, items, path + [i], out, depth + 1, judge_files=kind is None)
            if kind is not None and many and depth > 0 and len(out) == before:
                _judge_nested(item, kind, spec, path + [i], out)
    if isinstance(value, dict):
        props = spec.get("properties") if isinstance(spec.get("properties"), dict) else {}
        for key in spec.get("required") or []:
            if isinstance(key, str) and key not in value:
                out.add(path + [key], "is required but missing", show_value=False)
        extra = spec.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                check_value(item, props[key], path + [key], out, depth + 1)
            elif extra is False:
                out.add(path + [key], f"is not allowed here (allowed: {', '.join(props)})", item)
            elif isinstance(extra, dict):
                check_value(item, extra, path + [key], out, depth + 1)


# --- measured media against validations ------------------------------------------------------

def _rule(rule) -> tuple[str, str, float] | None:
    if not isinstance(rule, dict):
        return None
    name = str(rule.get("validation_rule", "")).strip()
    value = rule.get("validation_value")
    try:
        value = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        value = None
    if value is None or not math.isfinite(value):
        return None
    m = _SIZE_RULE.fullmatch(name) or _TIME_RULE.fullmatch(name)
    return (m.group(1), m.group(2), value) if m else None


def _num(x: float):
    return int(x) if float(x).is_integer() else round(float(x), 4)


def check_measured(inp: Input, info: Measured, path: list, out: _Problems) -> None:
    """The field's ``validations`` against what was measured of one of its files."""
    check_rules(inp.spec, info, path, out)


def check_rules(spec: dict, info: Measured, path: list, out: _Problems) -> None:
    """A media field's ``validations`` (its own and its items') against one measured file."""
    rules = [r for r in (spec.get("validations") or []) if isinstance(r, dict)]
    items = spec.get("items")
    if isinstance(items, dict):
        rules += [r for r in (items.get("validations") or []) if isinstance(r, dict)]
    where = f" ({info.source})" if info.source else ""
    for rule in rules:
        parsed = _rule(rule)
        if parsed is None:
            continue
        what, op, limit = parsed
        if what == "file_size_mb":
            if info.nbytes is not None:
                mb = info.nbytes / MB
                if (mb >= limit) if op == "<" else (mb <= limit):
                    word = "must be under" if op == "<" else "must be over"
                    out.add(path, f"{word} {_num(limit)} MB (encoded)", f"{mb:.2f} MB{where}")
            continue
        word = "at most" if op == "<" else "at least"
        if what == "width/height":
            if info.width and info.height:
                ratio = info.width / info.height
                if (ratio > limit) if op == "<" else (ratio < limit):
                    out.add(path, f"aspect ratio (width/height) must be {word} {_num(limit)}",
                            f"{ratio:.4g} ({info.width}x{info.height} px){where}")
            continue
        if what in ("width_pixels", "height_pixels"):
            side = what.split("_")[0]
            px = info.width if side == "width" else info.height
            if px is not None and ((px > limit) if op == "<" else (px < limit)):
                out.add(path, f"{side} must be {word} {_num(limit)} px", f"{px} px{where}")
            continue
        attr, unit, name = {"fps": ("fps", "fps", "frame rate"), "frame_rate": ("fps", "fps", "frame rate"),
                            "frames": ("frames", "frames", "frame count"),
                            "frame_count": ("frames", "frames", "frame count")}.get(
            what, ("duration_s", "s", "duration"))
        actual = getattr(info, attr)
        if actual is not None and ((actual > limit) if op == "<" else (actual < limit)):
            out.add(path, f"{name} must be {word} {_num(limit)} {unit}", f"{_num(actual)} {unit}{where}")


# --- a whole payload ------------------------------------------------------------------------

def validate(model: ModelInputs, payload: dict, measured: dict[str, list[Measured | None]] | None = None) -> list[dict]:
    """Every problem of a submit's JSON body, as 422 ``detail`` items; [] = accepted.
    ``measured`` maps a media input to what was measured of each of its files, in order."""
    out = _Problems()
    measured = measured or {}
    for key, value in payload.items():
        if model.get(key) is None:
            out.add([key], f"is not an input of {model.model_id}", value)
    for inp in model.inputs:
        value = payload.get(inp.name)
        if value is None:
            # An optional input sent as null counts as not sent.
            if inp.required:
                out.add([inp.name], "is required but missing", show_value=False)
            continue
        if inp.required and isinstance(value, str) and not value.strip():
            out.add([inp.name], "is required but empty", show_value=False)
            continue
        check_value(value, inp.spec, [inp.name], out)
        if inp.kind is not None:
            files = value if inp.many and isinstance(value, list) else [value]
            for i, info in enumerate(measured.get(inp.name, [])[:len(files)]):
                if info is not None:
                    check_measured(inp, info, [inp.name, i] if inp.many else [inp.name], out)
    return list(out)


def media_items(inp: Input, value: Any) -> list[tuple[list, Any]]:
    """(loc path, item) of every file given for a media input (nothing for a wrong shape)."""
    if inp.many:
        return [([inp.name, i], v) for i, v in enumerate(value)] if isinstance(value, list) else []
    return [([inp.name], value)] if isinstance(value, str) else []


def input_problem(path: list, text: str) -> dict:
    """A 422 detail item for a file the server could not use (undecodable, over a cap)."""
    return {"loc": ["body", *path], "msg": f"'{_label(path)}': {text}", "type": "value_error"}
