"""A payload against its model's schema: every problem, each naming the field, the rule with its
limit, and the value. Runs before anything is sent or paid for (and in the emulator, which
validates submits the way the service does)."""

from __future__ import annotations

import math

from ..errors import Problem, ValidationError
from . import structured
from .model import Field, MediaInfo, ModelSchema
from .rules import check_media
from .structured import looks_like_media_uri  # noqa: F401  (re-exported by runcomfy.schema)

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
        if f.exclusive_minimum is not None and value <= f.exclusive_minimum:
            problems.append(Problem(name, "must be greater than", f.exclusive_minimum, value))
        if f.exclusive_maximum is not None and value >= f.exclusive_maximum:
            problems.append(Problem(name, "must be less than", f.exclusive_maximum, value))
    if ftype == "string":
        if f.max_length is not None and len(value) > f.max_length:
            problems.append(Problem(name, "must have at most this many characters:", f.max_length,
                                    f"{len(value)} characters"))
        if f.min_length is not None and len(value) < f.min_length:
            problems.append(Problem(name, "must have at least this many characters:", f.min_length,
                                    f"{len(value)} characters"))


def media_label(f: Field, index: int) -> str:
    """``image_urls[2]`` for the second item of a list field (counted from 1), ``image`` for a single one."""
    return f"{f.name}[{index + 1}]" if f.is_list else f.name


def _check_media_value(f: Field, value, problems: list[Problem], infos: list[MediaInfo]) -> None:
    items = value if f.is_list else [value]
    if f.is_list:
        n = len(value)
        if f.min_items is not None and n < f.min_items:
            problems.append(Problem(f.name, "needs at least this many items:", f.min_items, f"{n} items"))
        if f.max_items is not None and n > f.max_items:
            problems.append(Problem(f.name, "takes at most this many items:", f.max_items, f"{n} items"))
    for i, item in enumerate(items):
        problem = structured.media_uri_problem(media_label(f, i), f.kind, item)
        if problem is not None:
            problems.append(problem)
    for i, info in enumerate(infos[:len(items)]):
        problems.extend(check_media(f, info, media_label(f, i)))


def validate_payload(schema: ModelSchema, payload: dict,
                     media: dict[str, list[MediaInfo]] | None = None) -> list[Problem]:
    """Every problem of ``payload`` against ``schema``; an empty list means valid.

    ``media`` maps a media field to what is known of each of its inputs, in order.
    """
    problems: list[Problem] = []
    media = media or {}
    known = {f.name for f in schema.fields}
    skipped = {name for name, _ in schema.skipped}
    for key in payload:
        if key not in known and key not in skipped:
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
        if f.kind is not None:
            if f.is_list and not _type_ok(value, "array"):
                problems.append(Problem(f.name, "must be a list", None, value))
                continue
            _check_media_value(f, value, problems, media.get(f.name, []))
        elif f.structured:
            structured.check_value(value, f.spec, f.name, problems)
        elif f.type == "array":
            if not _type_ok(value, "array"):
                problems.append(Problem(f.name, "must be a list", None, value))
                continue
            n = len(value)
            if f.min_items is not None and n < f.min_items:
                problems.append(Problem(f.name, "needs at least this many items:", f.min_items, f"{n} items"))
            if f.max_items is not None and n > f.max_items:
                problems.append(Problem(f.name, "takes at most this many items:", f.max_items, f"{n} items"))
            items = f.spec.get("items") if isinstance(f.spec.get("items"), dict) else None
            for i, item in enumerate(value):
                if f.item_type and not _type_ok(item, f.item_type):
                    problems.append(Problem(f"{f.name}[{i + 1}]", "must be of type", f.item_type, item))
                elif items:
                    structured.check_value(item, items, f"{f.name}[{i + 1}]", problems)
        else:
            _check_scalar(f.name, f, value, problems, f.type)
    return problems


def check_payload(schema: ModelSchema, payload: dict, media: dict[str, list[MediaInfo]] | None = None) -> None:
    problems = validate_payload(schema, payload, media)
    if problems:
        raise ValidationError(problems)
