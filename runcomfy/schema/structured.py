"""Structured fields (objects and arrays of objects) as JSON text, checked against the schema's
own item properties before anything is sent.

A multi-shot ``multi_prompt`` list of ``{"index", "prompt", "duration"}``, ``elements`` or
``keyframes`` become one multiline JSON input. ``describe``/``example`` build its tooltip;
``parse_json`` turns the text into a value (empty text = not sent); ``check_value`` reports every
problem with its path (``multi_prompt[2].duration``, list items counted from 1), rule and value.
"""

from __future__ import annotations

import json
import math
import re

from ..errors import Problem, ValidationError
from ..media import spec as media_spec
from .model import MEDIA_FORMATS, Field

MAX_DEPTH = 8           # nesting the checker follows (deeper values are not inspected)
MAX_JSON_CHARS = 1_000_000

_TYPES = {"float": "number", "double": "number"}
_EXAMPLE_EXT = {k.name: k.default_extension for k in media_spec.KINDS.values()}


def _type_of(spec: dict) -> tuple[str | None, bool]:
    t = spec.get("type")
    nullable = False
    if isinstance(t, list):
        kinds = [x for x in t if x != "null"]
        nullable = len(kinds) < len(t)
        t = kinds[0] if len(kinds) == 1 else None
    if t is None:
        if spec.get("format") in MEDIA_FORMATS:
            t = "array" if MEDIA_FORMATS[spec["format"]][1] else "string"
        elif "properties" in spec:
            t = "object"
        elif "items" in spec:
            t = "array"
    t = _TYPES.get(t, t)
    return (t if t in ("string", "integer", "number", "boolean", "array", "object") else None), nullable


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _type_ok(v, t: str) -> bool:
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
    if t == "object":
        return isinstance(v, dict)
    return True


def _num(v):
    return v if _is_number(v) else None


def looks_like_media_uri(value: str, kind: str) -> bool:
    return value.startswith(("https://", "http://")) or value.startswith(f"data:{kind}/")


def media_uri_problem(path: str, kind: str, value) -> Problem | None:
    """One file of a media field, at the top level or nested: an http(s) URL or a
    ``data:<kind>/`` URI, else the problem naming the path and the value."""
    if not isinstance(value, str):
        return Problem(path, "must be of type", "string", value)
    if looks_like_media_uri(value, kind):
        return None
    return Problem(path, f"must be an http(s) URL or a data:{kind} URI", None, value[:60])


def _list_media_kind(spec: dict) -> str | None:
    """The kind of the files an array holds when the array itself carries the format (the
    ``"format": "image_uris"`` spelling, or a single-file format on an array); items whose own
    spec carries the format are checked through ``items``."""
    fmt = spec.get("format")
    return MEDIA_FORMATS[fmt][0] if fmt in MEDIA_FORMATS else None


def _file_spec(kind: str) -> dict:
    """The spec of one file of a kind (what an ``image_uris`` array's items are)."""
    return {"type": "string", "format": media_spec.KINDS[kind].single_format}


def check_value(value, spec: dict, path: str, problems: list[Problem], depth: int = 0) -> None:
    """Appends every problem of ``value`` against the JSON-schema subset the catalog uses."""
    if not isinstance(spec, dict) or depth > MAX_DEPTH:
        return
    t, nullable = _type_of(spec)
    if value is None:
        if not nullable:
            problems.append(Problem(path, "must not be null", None, value))
        return
    if t is not None and not _type_ok(value, t):
        problems.append(Problem(path, "must be of type", t, value))
        return
    enum = spec.get("enum")
    if isinstance(enum, list) and enum and value not in enum:
        problems.append(Problem(path, "must be one of", list(enum), value))
    if _is_number(value):
        lo, hi = _num(spec.get("minimum")), _num(spec.get("maximum"))
        xlo, xhi = _num(spec.get("exclusiveMinimum")), _num(spec.get("exclusiveMaximum"))
        if lo is not None and value < lo:
            problems.append(Problem(path, "must be at least", lo, value))
        if hi is not None and value > hi:
            problems.append(Problem(path, "must be at most", hi, value))
        if xlo is not None and value <= xlo:
            problems.append(Problem(path, "must be greater than", xlo, value))
        if xhi is not None and value >= xhi:
            problems.append(Problem(path, "must be less than", xhi, value))
    if isinstance(value, str):
        lo, hi = spec.get("minLength"), spec.get("maxLength")
        if isinstance(hi, int) and len(value) > hi:
            problems.append(Problem(path, "must have at most this many characters:", hi, f"{len(value)} characters"))
        if isinstance(lo, int) and len(value) < lo:
            problems.append(Problem(path, "must have at least this many characters:", lo, f"{len(value)} characters"))
        fmt = spec.get("format")
        if fmt in MEDIA_FORMATS:
            problem = media_uri_problem(path, MEDIA_FORMATS[fmt][0], value)
            if problem is not None:
                problems.append(problem)
    if isinstance(value, list):
        lo, hi = spec.get("minItems"), spec.get("maxItems")
        if isinstance(lo, int) and len(value) < lo:
            problems.append(Problem(path, "needs at least this many items:", lo, f"{len(value)} items"))
        if isinstance(hi, int) and len(value) > hi:
            problems.append(Problem(path, "takes at most this many items:", hi, f"{len(value)} items"))
        items = spec.get("items")
        kind = _list_media_kind(spec)
        for i, item in enumerate(value):
            label = f"{path}[{i + 1}]"
            if kind is not None:
                problem = media_uri_problem(label, kind, item)
                if problem is not None:
                    problems.append(problem)
                    continue
            if isinstance(items, dict):
                check_value(item, items, label, problems, depth + 1)
    if isinstance(value, dict):
        props = spec.get("properties") if isinstance(spec.get("properties"), dict) else {}
        for key in spec.get("required") or []:
            if key not in value:
                problems.append(Problem(f"{path}.{key}", "is required", message="is required but missing"))
        extra = spec.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                check_value(item, props[key], f"{path}.{key}", problems, depth + 1)
            elif extra is False:
                shown = repr(item) if len(repr(item)) <= 40 else repr(item)[:37] + "..."
                problems.append(Problem(f"{path}.{key}", "is not a property of", path.split("[")[0], item,
                                        message=f"is not allowed here (got {shown}; allowed: {', '.join(props)})"))
            elif isinstance(extra, dict):
                check_value(item, extra, f"{path}.{key}", problems, depth + 1)


def data_uris(value, spec: dict, path: str, out: list, depth: int = 0) -> list:
    """(path, media kind, spec, uri) of every ``data:`` URI at a media-format position of a
    structured value, so the pipeline can measure them like socket values."""
    if not isinstance(spec, dict) or depth > MAX_DEPTH:
        return out
    if isinstance(value, str):
        fmt = spec.get("format")
        if fmt in MEDIA_FORMATS and value.startswith("data:"):
            out.append((path, MEDIA_FORMATS[fmt][0], spec, value))
    elif isinstance(value, list) and _list_media_kind(spec) is not None:
        # "format": "image_uris" on the array: each item is a file, the array's validations apply to each.
        for i, item in enumerate(value):
            if isinstance(item, str) and item.startswith("data:"):
                out.append((f"{path}[{i + 1}]", _list_media_kind(spec), spec, item))
    elif isinstance(value, list) and isinstance(spec.get("items"), dict):
        for i, item in enumerate(value):
            data_uris(item, spec["items"], f"{path}[{i + 1}]", out, depth + 1)
    elif isinstance(value, dict) and isinstance(spec.get("properties"), dict):
        for key, item in value.items():
            if key in spec["properties"]:
                data_uris(item, spec["properties"][key], f"{path}.{key}", out, depth + 1)
    return out


def parse_json(f: Field, text) -> object | None:
    """The value typed into a structured field's JSON input; None when it is empty (not sent).
    Invalid JSON is a ValidationError naming the field, the line and the column."""
    if text is None:
        return None
    if not isinstance(text, str):
        return text         # already a value (API-format prompts may carry lists directly)
    if not text.strip():
        return None
    if len(text) > MAX_JSON_CHARS:
        raise ValidationError([Problem(f.name, "must be at most this many characters of JSON:", MAX_JSON_CHARS,
                                       f"{len(text)} characters")])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError([Problem(
            f.name, "is not valid JSON",
            message=f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
                    f" (near {text[max(0, exc.pos - 15): exc.pos + 15]!r})")]) from None
    except RecursionError:
        raise ValidationError([Problem(f.name, "is nested too deeply", message="is nested too deeply to read")]) \
            from None


# --- what the tooltip says ------------------------------------------------------------------

def _range(spec: dict) -> str:
    lo, hi = _num(spec.get("minimum")), _num(spec.get("maximum"))
    if lo is not None and hi is not None:
        return f" {lo:g}..{hi:g}"
    if lo is not None:
        return f" >= {lo:g}"
    if hi is not None:
        return f" <= {hi:g}"
    return ""


def describe(spec: dict, depth: int = 0) -> str:
    """A one-line shape: ``a list of 1 to 6 objects {"index": integer (required), ...}``."""
    t, _ = _type_of(spec)
    if depth > 3:
        return t or "value"
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        shown = ", ".join(json.dumps(e, ensure_ascii=False) for e in enum[:8]) + (", ..." if len(enum) > 8 else "")
        return f"one of {shown}"
    if t == "object":
        props = spec.get("properties") if isinstance(spec.get("properties"), dict) else {}
        req = set(spec.get("required") or [])
        parts = []
        for k, p in props.items():
            tag = " (required)" if k in req else ""
            parts.append(f'"{k}": {describe(p, depth + 1) if isinstance(p, dict) else "value"}{tag}')
        return "{" + ", ".join(parts) + "}" if parts else "an object"
    if t == "array":
        items = spec.get("items") if isinstance(spec.get("items"), dict) else {}
        if _list_media_kind(spec) is not None:
            items = _file_spec(_list_media_kind(spec))
        lo, hi = spec.get("minItems"), spec.get("maxItems")
        count = (f"{lo} to {hi} " if isinstance(lo, int) and isinstance(hi, int) else
                 f"at least {lo} " if isinstance(lo, int) and lo > 0 else
                 f"up to {hi} " if isinstance(hi, int) else "")
        return f"a list of {count}items, each {describe(items, depth + 1)}"
    if t == "string":
        fmt = spec.get("format")
        if fmt in MEDIA_FORMATS:
            return f"string ({MEDIA_FORMATS[fmt][0]} URL)"
        hi = spec.get("maxLength")
        return "string" + (f" (at most {hi} characters)" if isinstance(hi, int) else "")
    if t in ("integer", "number"):
        return t + _range(spec)
    return t or "value"


def example(spec: dict, depth: int = 0):
    """A short value of the right shape, built from the schema (defaults, enums, minimums)."""
    t, _ = _type_of(spec)
    if depth > 3:
        return None
    if "default" in spec and spec["default"] is not None and not isinstance(spec["default"], (list, dict)) \
            and len(json.dumps(spec["default"])) <= 40:
        return spec["default"]
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if t == "object":
        props = spec.get("properties") if isinstance(spec.get("properties"), dict) else {}
        return {k: example(p, depth + 1) for k, p in props.items() if isinstance(p, dict)}
    if t == "array":
        items = spec.get("items") if isinstance(spec.get("items"), dict) else {}
        if _list_media_kind(spec) is not None:
            items = _file_spec(_list_media_kind(spec))
        lo = spec.get("minItems") if isinstance(spec.get("minItems"), int) else 1
        n = max(1, min(2, lo, spec.get("maxItems") if isinstance(spec.get("maxItems"), int) else 2))
        first = example(items, depth + 1)
        out = [first]
        if n > 1:
            second = example(items, depth + 1)
            if isinstance(second, dict):
                for k, v in second.items():    # an "index" counts up; nothing else is guessed
                    if re.fullmatch(r"(index|shot|order|id)", k) and _is_number(v):
                        second[k] = v + 1
            out.append(second)
        return out
    if t == "integer":
        lo = _num(spec.get("minimum"))
        return int(lo) if lo is not None else 1
    if t == "number":
        lo = _num(spec.get("minimum"))
        return lo if lo is not None else 1.0
    if t == "boolean":
        return False
    if t == "string":
        fmt = spec.get("format")
        if fmt in MEDIA_FORMATS:
            kind = MEDIA_FORMATS[fmt][0]
            return f"https://example.com/{kind}.{_EXAMPLE_EXT[kind]}"
        return "..."
    return None


def tooltip(f: Field) -> str:
    """Description, the expected shape, a short example; empty = not sent."""
    sample = f.sample if f.sample is not None else None
    ex = sample if sample is not None and len(json.dumps(sample, ensure_ascii=False)) <= 300 else example(f.spec)
    lead = (f.description or f.title).strip()
    parts = [lead + ("" if lead.endswith(".") else ".") if lead else "",
             f"JSON: {describe(f.spec)}.",
             f"Example: {json.dumps(ex, ensure_ascii=False)}",
             "Empty = not sent."]
    return " ".join(p for p in parts if p)
