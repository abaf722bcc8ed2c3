"""Every schema dialect of RunComfy's catalog, reduced to one ``Field`` shape.

What the catalog is seen to use (see the shared API notes, "The catalog"):
- media as a string with ``format`` ``image_uri`` / ``video_uri`` / ``audio_uri`` (names vary);
- media lists as ``"type": "array", "items": {"format": "image_uri"}`` or as
  ``"type": "array", "format": "image_uris"`` (no items format), with or without maxItems;
- ``"type": "float"`` (a number), ``["string", "null"]`` style nullable types, enums of numeric
  strings, missing or ``null`` defaults;
- structured fields: objects and arrays of objects (``multi_prompt``, ``elements``, ``keyframes``).

Sample content in defaults is not the user's input (see ``is_sample_default``): a media field's
default is never used, and a sample prompt (any default of a positive prompt field, or any text
longer than SAMPLE_TEXT_CHARS) becomes a placeholder, never a value.

A field the pack cannot represent (an unknown type or format) raises ``Unrepresentable``; the
loader drops it when it is optional and refuses the model when it is required.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from ..media import spec as media_spec
from .model import MEDIA_FORMATS, Field, ModelSchema, SchemaError

MEDIA_KINDS = tuple(media_spec.KINDS)       # "image", "video", "audio": the kinds' table

# Matched whole (fullmatch): "$" alone also matches before a final line break.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){1,3}")
# Names a ComfyUI input can carry and the pack can round-trip through kwargs.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
# Names the node function itself uses (its hidden inputs and Python's own).
RESERVED_NAMES = {"unique_id", "self", "extra_pnginfo", "runcomfy_model_id"}
# Names that are not plain keys of a JavaScript object (ComfyUI's frontend keeps inputs and
# widget values in objects keyed by name): ``obj["__proto__"] = v`` sets the prototype,
# ``obj["constructor"]`` exists before it is set. Such a field keeps its name in the payload and
# gets the node input ``field_<name>``.
JS_UNSAFE_NAMES = {"__proto__", "constructor", "prototype", "hasOwnProperty", "isPrototypeOf",
                   "propertyIsEnumerable", "toLocaleString", "toString", "valueOf", "__defineGetter__",
                   "__defineSetter__", "__lookupGetter__", "__lookupSetter__"}
INPUT_PREFIX = "field_"

TYPE_ALIASES = {"float": "number", "double": "number"}
SCALAR_TYPES = {"string", "integer", "number", "boolean"}
KNOWN_TYPES = SCALAR_TYPES | {"array", "object"}
# String formats that are still plain text to the pack (checked by the service, if at all).
PLAIN_STRING_FORMATS = {"uri", "url", "uri-reference", "iri", "date", "date-time", "time", "email",
                        "color", "textarea", "text", "multiline", "prompt", "hostname", "uuid"}

# A free-text default longer than this is taken for sample content (a sample prompt): the widget
# starts empty, the sample shows as its placeholder, and nothing is sent unless the user types it.
# Short defaults ("blurry, low quality", "auto") are real defaults and are kept.
SAMPLE_TEXT_CHARS = 100
_URL_LIKE = re.compile(r"^\s*(https?://|data:)", re.IGNORECASE)


class Unrepresentable(ValueError):
    """This field has a shape the pack cannot turn into a node input."""


_POSITIVE_PROMPT = re.compile(r"^(?!negative)(.*_)?prompt$", re.IGNORECASE)


def is_sample_default(value, name: str = "") -> bool:
    """A string default that is sample content rather than a setting: a URL (sample media),
    any text longer than ``SAMPLE_TEXT_CHARS`` characters, or any non-empty default of a positive
    prompt field (``prompt``, ``*_prompt`` except negative ones): the user's main text is never
    pre-filled. Short defaults of other texts ("blurry, low quality") are real defaults."""
    if not isinstance(value, str):
        return False
    if _URL_LIKE.match(value) or len(value) > SAMPLE_TEXT_CHARS:
        return True
    return bool(value.strip()) and bool(_POSITIVE_PROMPT.match(name)) and "negative" not in name.lower()


def humanize(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").strip().capitalize()


def _words(segment: str) -> str:
    words = [w if w.isdigit() else w.capitalize() for w in re.split(r"[-_]", segment) if w]
    # "Wan 2 6" reads better as "Wan 2.6"
    return re.sub(r"(\d) (?=\d\b)", r"\1.", " ".join(words))


def display_name_from_id(model_id: str) -> str:
    parts = model_id.split("/")[1:] or [model_id]
    return "RunComfy " + " ".join(_words(p) for p in parts)


def family_of(model_id: str) -> str:
    """The model family for the node category: the id's model segment without its version,
    e.g. ``kling/kling-3-0/text-to-video`` -> "Kling", ``wan-ai/wan-2-6/...`` -> "Wan"."""
    parts = model_id.split("/")
    seg = parts[1] if len(parts) > 1 else parts[0]
    tokens = [t for t in re.split(r"[-_]", seg) if t]
    # The family is the name before the first version token: seedance-2-5-pro -> Seedance.
    for i, t in enumerate(tokens):
        if i > 0 and re.fullmatch(r"v?\d+(\.\d+)*[a-z]?", t, re.IGNORECASE):
            tokens = tokens[:i]
            break
    return " ".join(t.capitalize() for t in tokens) or "Other"


def _number(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v if math.isfinite(v) else None


def _count(v):
    return int(v) if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def normalise_type(spec: dict) -> tuple[str, bool]:
    """(type, nullable) of a property spec. ``float`` is a number; a missing type is inferred."""
    t = spec.get("type")
    nullable = False
    if isinstance(t, list):
        kinds = [x for x in t if x != "null"]
        nullable = len(kinds) < len(t)
        if len(kinds) != 1:
            raise Unrepresentable(f"type {t!r} (more than one type)")
        t = kinds[0]
    if t is None:
        if any(k in spec for k in ("anyOf", "oneOf", "allOf")):
            raise Unrepresentable("a combined type (anyOf/oneOf/allOf)")
        fmt = spec.get("format")
        if "properties" in spec:
            t = "object"
        elif "items" in spec or (fmt in MEDIA_FORMATS and MEDIA_FORMATS[fmt][1]):
            t = "array"
        elif isinstance(spec.get("enum"), list) and spec["enum"]:
            vals = spec["enum"]
            if all(isinstance(v, bool) for v in vals):
                t = "boolean"
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
                t = "integer"
            elif all(_number(v) is not None for v in vals):
                t = "number"
            else:
                t = "string"
        else:
            t = "string"
    if not isinstance(t, str):
        raise Unrepresentable(f"type {t!r}")
    t = TYPE_ALIASES.get(t, t)
    if t not in KNOWN_TYPES:
        raise Unrepresentable(f"unknown type {t!r}")
    return t, nullable


def _media_of(ftype: str, spec: dict) -> tuple[str | None, str | None]:
    """(kind, single-file format) of a media field, (None, None) otherwise; raises for a format
    the pack does not know."""
    fmt = spec.get("format")
    items = spec.get("items") if isinstance(spec.get("items"), dict) else {}
    if ftype == "string":
        if fmt is None or fmt in PLAIN_STRING_FORMATS:
            return None, None
        if fmt in MEDIA_FORMATS and not MEDIA_FORMATS[fmt][1]:
            return MEDIA_FORMATS[fmt][0], fmt
        raise Unrepresentable(f"unknown format {fmt!r}")
    if ftype == "array":
        if fmt is not None:
            if fmt in MEDIA_FORMATS:
                kind = MEDIA_FORMATS[fmt][0]
                return kind, f"{kind}_uri"
            raise Unrepresentable(f"unknown format {fmt!r}")
        ifmt = items.get("format")
        if ifmt is None or ifmt in PLAIN_STRING_FORMATS:
            return None, None
        if ifmt in MEDIA_FORMATS and not MEDIA_FORMATS[ifmt][1]:
            return MEDIA_FORMATS[ifmt][0], ifmt
        raise Unrepresentable(f"unknown items format {ifmt!r}")
    if fmt is not None and fmt in MEDIA_FORMATS:
        raise Unrepresentable(f"format {fmt!r} on a {ftype} field")
    return None, None


def _is_structured(ftype: str, spec: dict) -> bool:
    if ftype == "object":
        return True
    if ftype != "array":
        return False
    items = spec.get("items")
    if not isinstance(items, dict):
        return False
    it = items.get("type")
    if isinstance(it, list):
        it = next((x for x in it if x != "null"), None)
    return it in ("object", "array") or "properties" in items


def _enum_default(default, enum: list):
    if default in enum:
        return default
    for e in enum:   # a default of 5 for the enum ["auto", "5", "10"], or "5" for [5, 10]
        if str(e) == str(default):
            return e
    return None


def _clean_default(f: Field, raw):
    """The default the node may pre-fill, or None; sample content goes to ``f.sample``."""
    if raw is None:
        return None
    if f.kind is not None or f.structured:
        f.sample = raw          # sample media URLs are never sent; a structured sample is an example
        return None
    if f.enum:
        return _enum_default(raw, f.enum)
    if f.type == "boolean":
        return raw if isinstance(raw, bool) else None
    if f.type == "integer":
        if _number(raw) is not None and float(raw).is_integer():
            return int(raw)
        return None
    if f.type == "number":
        return float(raw) if _number(raw) is not None else None
    if f.type == "string":
        if not isinstance(raw, str):
            return None
        if is_sample_default(raw, f.name):
            f.sample = raw
            return None
        return raw
    if f.type == "array":
        if isinstance(raw, list) and all(isinstance(x, (str, int, float, bool)) for x in raw) \
                and not any(is_sample_default(x, f.name) for x in raw):
            return raw
        f.sample = raw
        return None
    return None


def parse_field(name: str, spec: dict, required: bool, ov: dict, has_overlay: bool) -> Field:
    if not isinstance(spec, dict):
        raise Unrepresentable(f"its schema is a {type(spec).__name__}, not an object")
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise Unrepresentable("a name a node input cannot carry")
    ftype, _nullable = normalise_type(spec)
    kind, fmt = _media_of(ftype, spec)
    items = spec.get("items") if isinstance(spec.get("items"), dict) else {}
    structured = kind is None and _is_structured(ftype, spec)
    item_type = None
    if ftype == "array":
        if kind is not None:
            item_type = "string"
        elif not structured:
            item_type = normalise_type(items)[0] if items else "string"
    enum = spec.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum or ftype not in SCALAR_TYPES
                             or not all(isinstance(e, (str, int, float, bool)) for e in enum)):
        raise Unrepresentable(f"an enum the pack cannot show as a list of choices: {enum!r}")
    src_title = spec.get("title", "") if isinstance(spec.get("title"), str) else ""
    src_desc = spec.get("description", "") if isinstance(spec.get("description"), str) else ""
    f = Field(
        name=name,
        type=ftype,
        required=required,
        title=ov.get("title") or (src_title if not has_overlay else "") or humanize(name),
        description=ov.get("description", src_desc if not has_overlay else ""),
        enum=list(enum) if enum else None,
        minimum=_number(ov.get("minimum", spec.get("minimum"))),
        maximum=_number(ov.get("maximum", spec.get("maximum"))),
        exclusive_minimum=_number(spec.get("exclusiveMinimum")),
        exclusive_maximum=_number(spec.get("exclusiveMaximum")),
        min_length=_count(ov.get("minLength", spec.get("minLength"))),
        max_length=_count(ov.get("maxLength", spec.get("maxLength"))),
        min_items=_count(spec.get("minItems")),
        max_items=_count(spec.get("maxItems")),
        item_type=item_type,
        format=fmt if kind is not None else spec.get("format"),
        kind=kind,
        validations=[r for r in (spec.get("validations") or []) if isinstance(r, dict)],
        structured=structured,
        spec=spec,
        source_title=src_title,
        source_description=src_desc,
        multiline=bool(ov.get("multiline", name in ("prompt", "negative_prompt") or structured)),
    )
    f.default = _clean_default(f, spec.get("default"))
    return f


def output_kind_of(doc: dict, overlay: dict) -> str:
    """Which kind of media the model returns: the catalog category's suffix (``image-to-video``),
    else the overlay's category, else the output schema when it names one kind, else image."""
    for cat in doc.get("categories") or []:
        if isinstance(cat, str):
            tail = cat.rsplit("-", 1)[-1].lower()
            if tail in MEDIA_KINDS:
                return tail
    cat = overlay.get("category")
    if isinstance(cat, str):
        for kind in MEDIA_KINDS:
            if f"/{kind}" in cat.lower():
                return kind
    props = ((doc.get("output_schema") or {}).get("output") or {}).get("properties") or {}
    kinds = {hit.name for hit in map(media_spec.for_output_key, props) if hit is not None}
    if len(kinds) == 1:
        return kinds.pop()
    return "image"


def _price_of(doc: dict) -> dict | None:
    amount = doc.get("base_price_usd")
    if _number(amount) is None:
        return None
    return {"base_price_usd": float(amount), "price_unit": doc.get("price_unit"),
            "pricing_note": doc.get("pricing_note") if isinstance(doc.get("pricing_note"), str) else None}


def input_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a node input's own name, or None."""
    if name in RESERVED_NAMES:
        return "the node itself uses that name"
    if name in JS_UNSAFE_NAMES:
        return "the browser cannot keep it as a plain key (a JavaScript object's built-in name)"
    return None


def _rename_unsafe_inputs(fields: list[Field]) -> list[tuple[str, str, str]]:
    """Give every field whose name cannot be an input's an input name of its own, unique among
    the fields; the payload keeps the real name."""
    taken = {f.name for f in fields}
    renamed = []
    for f in fields:
        reason = input_name_problem(f.name)
        if reason is None:
            continue
        new, n = INPUT_PREFIX + f.name, 2
        while new in taken or input_name_problem(new):
            new, n = f"{INPUT_PREFIX}{f.name}_{n}", n + 1
        taken.add(new)
        f.input_name = new
        renamed.append((f.name, new, reason))
    return renamed


def parse_schema(doc: dict, overlay: dict | None = None, source_path: Path | None = None) -> ModelSchema:
    """A catalog entry (or a shipped ``*.schema.json``) as a ``ModelSchema``.

    Raises SchemaError when the model cannot become a node: a bad id, a malformed input schema,
    or a required field the pack cannot represent. Optional fields it cannot represent are left
    out and listed in ``skipped``."""
    overlay = overlay or {}
    if not isinstance(doc, dict):
        raise SchemaError(f"schema {source_path or ''}: not a JSON object")
    model_id = doc.get("model_id")
    if not isinstance(model_id, str) or not _MODEL_ID.fullmatch(model_id):
        raise SchemaError(f"schema {source_path}: 'model_id' must be 2 to 4 path segments, got {model_id!r}")
    inp = doc.get("input_schema") or {}
    props = inp.get("properties") if isinstance(inp, dict) else None
    if not isinstance(props, dict):
        raise SchemaError(f"model {model_id}: 'input_schema.properties' is missing or not an object")
    req = inp.get("required") or []
    required = set(req) if isinstance(req, list) else set()
    field_overlay = overlay.get("fields") or {}
    fields: list[Field] = []
    skipped: list[tuple[str, str]] = []
    for name, spec in props.items():
        try:
            fields.append(parse_field(name, spec, name in required, field_overlay.get(name, {}), bool(overlay)))
        except Unrepresentable as exc:
            if name in required:
                raise SchemaError(f"model {model_id}: required input '{name}' has {exc}; "
                                  "the pack cannot represent it, so no node is made") from None
            skipped.append((name, str(exc)))
    renamed = _rename_unsafe_inputs(fields)
    output_kind = output_kind_of(doc, overlay)
    family = family_of(model_id)
    categories = [c for c in (doc.get("categories") or []) if isinstance(c, str)]
    display = overlay.get("display_name") or doc.get("display_name")
    if not isinstance(display, str) or not display.strip():
        display = display_name_from_id(model_id)
    description = overlay.get("description") or (doc.get("description") if isinstance(doc.get("description"), str)
                                                 else "")
    return ModelSchema(
        model_id=model_id,
        fields=fields,
        output=(doc.get("output_schema") or {}).get("output", {}) if isinstance(doc.get("output_schema"), dict) else {},
        display_name=display.strip(),
        description=description,
        category=overlay.get("category") or f"RunComfy/{output_kind.capitalize()}/{family}",
        source_path=source_path,
        categories=categories,
        output_kind=output_kind,
        family=family,
        catalog_kind=doc.get("kind") if isinstance(doc.get("kind"), str) else None,
        price=_price_of(doc),
        skipped=skipped,
        renamed=renamed,
        doc=doc,
    )
