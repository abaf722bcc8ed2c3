"""Model schemas: loading the shipped JSON files and validating a payload against them.

A schema file (``<name>.schema.json``) is the model's input/output schema as RunComfy
publishes it. An optional overlay beside it (``<name>.overlay.json``) holds English UI texts
and limits that the published schema only states in prose (the prompt's 2000 characters).
Nothing here knows about ComfyUI or torch.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any

from .errors import Problem, ValidationError

SCHEMA_DIR = Path(__file__).with_name("schemas")
SCHEMA_SUFFIX = ".schema.json"
OVERLAY_SUFFIX = ".overlay.json"

# Size in bytes of one "MB" in the schema's file_size_mb rules. The stricter decimal reading
# is used so nothing is sent that a server counting in MB (not MiB) would reject after billing.
BYTES_PER_MB = 1_000_000

_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){1,3}$")


@dataclass
class Field:
    name: str
    type: str
    required: bool = False
    default: Any = None
    title: str = ""
    description: str = ""
    enum: list | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    item_type: str | None = None
    format: str | None = None
    validations: list[dict] = dc_field(default_factory=list)
    # Texts of the published schema (for RunComfy's own models they are Korean), kept as a
    # translation; ``title``/``description`` are the English UI texts.
    source_title: str = ""
    source_description: str = ""
    multiline: bool = False

    @property
    def is_image_list(self) -> bool:
        return self.type == "array" and self.format == "image_uri"

    @property
    def is_image(self) -> bool:
        return self.format == "image_uri"


@dataclass
class ModelSchema:
    model_id: str
    fields: list[Field]
    output: dict
    display_name: str
    description: str = ""
    category: str = ""
    source_path: Path | None = None

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def image_fields(self) -> list[Field]:
        return [f for f in self.fields if f.is_image]


def humanize(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").strip().capitalize()


def _display_name_from_id(model_id: str) -> str:
    parts = model_id.split("/")[1:] or [model_id]
    words = []
    for part in parts:
        for w in re.split(r"[-_]", part):
            words.append(w if w.isdigit() else w.capitalize())
    text = " ".join(words)
    # "Wan 2 6" reads better as "Wan 2.6"
    text = re.sub(r"(\d) (\d)\b", r"\1.\2", text)
    return "RunComfy " + text


def parse_schema(doc: dict, overlay: dict | None = None, source_path: Path | None = None) -> ModelSchema:
    overlay = overlay or {}
    model_id = doc.get("model_id")
    if not isinstance(model_id, str) or not _MODEL_ID.match(model_id):
        raise ValueError(f"schema {source_path}: 'model_id' must be 2 to 4 path segments, got {model_id!r}")
    inp = doc.get("input_schema") or {}
    props = inp.get("properties") or {}
    required = set(inp.get("required") or [])
    field_overlay = overlay.get("fields") or {}
    fields = []
    for name, spec in props.items():
        ov = field_overlay.get(name, {})
        items = spec.get("items") or {}
        ftype = spec.get("type", "string")
        fmt = spec.get("format") or (items.get("format") if ftype == "array" else None)
        src_title = spec.get("title", "") or ""
        src_desc = spec.get("description", "") or ""
        f = Field(
            name=name,
            type=ftype,
            required=name in required,
            default=spec.get("default"),
            title=ov.get("title") or (src_title if not overlay else "") or humanize(name),
            description=ov.get("description", src_desc if not overlay else ""),
            enum=spec.get("enum"),
            minimum=ov.get("minimum", spec.get("minimum")),
            maximum=ov.get("maximum", spec.get("maximum")),
            min_length=ov.get("minLength", spec.get("minLength")),
            max_length=ov.get("maxLength", spec.get("maxLength")),
            min_items=spec.get("minItems"),
            max_items=spec.get("maxItems"),
            item_type=items.get("type") if ftype == "array" else None,
            format=fmt,
            validations=list(spec.get("validations") or []),
            source_title=src_title,
            source_description=src_desc,
            multiline=bool(ov.get("multiline", name in ("prompt", "negative_prompt"))),
        )
        fields.append(f)
    return ModelSchema(
        model_id=model_id,
        fields=fields,
        output=(doc.get("output_schema") or {}).get("output", {}),
        display_name=overlay.get("display_name") or _display_name_from_id(model_id),
        description=overlay.get("description", ""),
        category=overlay.get("category", ""),
        source_path=source_path,
    )


def load_schema(path: Path) -> ModelSchema:
    path = Path(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    overlay_path = path.with_name(path.name[: -len(SCHEMA_SUFFIX)] + OVERLAY_SUFFIX)
    overlay = json.loads(overlay_path.read_text(encoding="utf-8")) if overlay_path.exists() else None
    return parse_schema(doc, overlay, path)


def discover_schemas(directory: Path = SCHEMA_DIR) -> list[ModelSchema]:
    return [load_schema(p) for p in sorted(Path(directory).glob("*" + SCHEMA_SUFFIX))]


def find_schema(model_id: str, directory: Path = SCHEMA_DIR) -> ModelSchema:
    for s in discover_schemas(directory):
        if s.model_id == model_id:
            return s
    raise KeyError(f"no schema shipped for model {model_id!r}")


# --- validation -------------------------------------------------------------------------

@dataclass
class ImageInfo:
    """What validation needs to know of one input image. ``None`` fields are unknown
    (an image given as a URL is not downloaded just to be measured)."""

    width: int | None = None
    height: int | None = None
    nbytes: int | None = None
    source: str = ""


_JSON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


def _type_ok(value, ftype: str) -> bool:
    if ftype in ("integer", "number") and isinstance(value, bool):
        return False
    if ftype == "integer" and isinstance(value, float):
        return value.is_integer()
    if ftype == "number" and isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, _JSON_TYPES.get(ftype, (object,)))


def _check_scalar(name: str, f: Field, value, problems: list[Problem], ftype: str) -> None:
    if not _type_ok(value, ftype):
        problems.append(Problem(name, "must be of type", ftype, value))
        return
    if f.enum is not None and value not in f.enum:
        problems.append(Problem(name, "must be one of", list(f.enum), value))
    if ftype in ("integer", "number"):
        if f.minimum is not None and value < f.minimum:
            problems.append(Problem(name, "must be at least", f.minimum, value))
        if f.maximum is not None and value > f.maximum:
            problems.append(Problem(name, "must be at most", f.maximum, value))
    if ftype == "string":
        if f.max_length is not None and len(value) > f.max_length:
            problems.append(Problem(name, "must have at most this many characters:", f.max_length,
                                    f"{len(value)} characters"))
        if f.min_length is not None and len(value) < f.min_length:
            problems.append(Problem(name, "must have at least this many characters:", f.min_length,
                                    f"{len(value)} characters"))


_IMAGE_RULE = re.compile(r"(file_size_mb|width_pixels|height_pixels)([<>])")


def parse_image_rule(rule: dict) -> tuple[str, str, float] | None:
    """``{"validation_rule": "width_pixels>", "validation_value": 384}`` -> ("width_pixels", ">", 384);
    None for a rule this pack does not know."""
    m = _IMAGE_RULE.fullmatch(str(rule.get("validation_rule", "")))
    value = rule.get("validation_value")
    if not m or not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return m.group(1), m.group(2), value


def _rule_check(name: str, rule: dict, info: ImageInfo, index: int | None) -> Problem | None:
    parsed = parse_image_rule(rule)
    if parsed is None:
        return None
    what, op, limit = parsed
    label = name if index is None else f"{name}[{index + 1}]"
    where = f" ({info.source})" if info.source else ""
    if what == "file_size_mb":
        if info.nbytes is None:
            return None
        mb = info.nbytes / BYTES_PER_MB
        # "under N MB": strict.
        bad = mb >= limit if op == "<" else mb <= limit
        if bad:
            word = "must be under" if op == "<" else "must be over"
            return Problem(label, f"{word} (MB, encoded)", limit, f"{mb:.2f} MB{where}")
        return None
    px = info.width if what == "width_pixels" else info.height
    if px is None:
        return None
    side = "width" if what == "width_pixels" else "height"
    # The published messages read "at least 384" / "at most 5000": the bound itself is allowed.
    bad = px < limit if op == ">" else px > limit
    if bad:
        word = "at least" if op == ">" else "at most"
        return Problem(label, f"{side} must be {word} (px)", limit, f"{px} px{where}")
    return None


def validate_payload(schema: ModelSchema, payload: dict,
                     images: dict[str, list[ImageInfo]] | None = None) -> list[Problem]:
    """Every problem of ``payload`` against ``schema``; an empty list means valid.

    ``images`` maps an image field to what is known of each of its images, in order.
    """
    problems: list[Problem] = []
    images = images or {}
    known = {f.name for f in schema.fields}
    for key in payload:
        if key not in known:
            problems.append(Problem(key, "is not an input of", schema.model_id, payload[key]))
    for f in schema.fields:
        if f.name not in payload or payload[f.name] is None:
            if f.required:
                problems.append(Problem(f.name, "is required", message="is required but missing"))
            continue
        value = payload[f.name]
        if f.required and f.type == "string" and isinstance(value, str) and not value.strip():
            problems.append(Problem(f.name, "is required", message="is required but empty"))
            continue
        if f.type == "array":
            if not _type_ok(value, "array"):
                problems.append(Problem(f.name, "must be a list", None, value))
                continue
            n = len(value)
            if f.min_items is not None and n < f.min_items:
                problems.append(Problem(f.name, "needs at least this many items:", f.min_items, f"{n} items"))
            if f.max_items is not None and n > f.max_items:
                problems.append(Problem(f.name, "takes at most this many items:", f.max_items, f"{n} items"))
            if f.item_type:
                for i, item in enumerate(value):
                    if not _type_ok(item, f.item_type):
                        problems.append(Problem(f"{f.name}[{i + 1}]", "must be of type", f.item_type, item))
                    elif f.is_image and not _looks_like_image_uri(item):
                        problems.append(Problem(f"{f.name}[{i + 1}]",
                                                "must be an http(s) URL or a data:image URI", None,
                                                item[:60]))
            for i, info in enumerate(images.get(f.name, [])):
                for rule in f.validations:
                    p = _rule_check(f.name, rule, info, i)
                    if p:
                        problems.append(p)
        else:
            _check_scalar(f.name, f, value, problems, f.type)
            if f.is_image:
                for info in images.get(f.name, [])[:1]:
                    for rule in f.validations:
                        p = _rule_check(f.name, rule, info, None)
                        if p:
                            problems.append(p)
    return problems


def check_payload(schema: ModelSchema, payload: dict,
                  images: dict[str, list[ImageInfo]] | None = None) -> None:
    problems = validate_payload(schema, payload, images)
    if problems:
        raise ValidationError(problems)


def _looks_like_image_uri(value: str) -> bool:
    return value.startswith(("https://", "http://")) or value.startswith("data:image/")


def parse_image_size(value: str) -> tuple[int, int] | None:
    """``"1280*720 (16:9)"`` -> ``(1280, 720)`` as (width, height)."""
    m = re.match(r"\s*(\d+)\s*[*x×]\s*(\d+)", str(value))
    return (int(m.group(1)), int(m.group(2))) if m else None
