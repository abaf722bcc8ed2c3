"""The catalog's ``validations`` rules on media inputs, as one parser and one checker.

Rules seen: ``file_size_mb<``, ``width_pixels>``, ``height_pixels>``, ``width_pixels<``,
``height_pixels<`` and the aspect-ratio bounds ``width/height>`` / ``width/height<``. Side and
ratio bounds allow the bound itself (the published messages read "at least 384" / "at most
5000"); the file size must be strictly under its bound ("under 10 MB").
"""

from __future__ import annotations

import re

from ..errors import Problem
from .model import BYTES_PER_MB, Field, MediaInfo

_RULE = re.compile(r"(file_size_mb|width_pixels|height_pixels|width/height)\s*([<>])")

MEASURES = ("file_size_mb", "width_pixels", "height_pixels", "width/height")


def parse_rule(rule: dict) -> tuple[str, str, float] | None:
    """``{"validation_rule": "width_pixels>", "validation_value": 384}`` -> ("width_pixels", ">", 384);
    None for a rule this pack does not know (it is then left to the service)."""
    m = _RULE.fullmatch(str(rule.get("validation_rule", "")).strip())
    value = rule.get("validation_value")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not m or not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        return None
    return m.group(1), m.group(2), value


# The name this function had when only images had rules.
parse_image_rule = parse_rule


def unknown_rules(f: Field) -> list[str]:
    return [str(r.get("validation_rule")) for r in f.validations if parse_rule(r) is None]


def byte_limit(f: Field) -> int | None:
    """The largest encoded size the field's rules allow, in bytes (None: no rule)."""
    limit = None
    for rule in f.validations:
        parsed = parse_rule(rule)
        if parsed and parsed[0] == "file_size_mb" and parsed[1] == "<":
            n = int(parsed[2] * BYTES_PER_MB) - 1
            limit = n if limit is None else min(limit, n)
    return limit


def check_rule(label: str, rule: dict, info: MediaInfo) -> Problem | None:
    parsed = parse_rule(rule)
    if parsed is None:
        return None
    what, op, limit = parsed
    where = f" ({info.source})" if info.source else ""
    if what == "file_size_mb":
        if info.nbytes is None:
            return None
        mb = info.nbytes / BYTES_PER_MB
        bad = mb >= limit if op == "<" else mb <= limit
        if bad:
            word = "must be under" if op == "<" else "must be over"
            return Problem(label, f"{word} (MB, encoded)", limit, f"{mb:.2f} MB{where}")
        return None
    if what == "width/height":
        if not info.width or not info.height:
            return None
        ratio = info.width / info.height
        bad = ratio < limit if op == ">" else ratio > limit
        if bad:
            word = "at least" if op == ">" else "at most"
            return Problem(label, f"aspect ratio (width/height) must be {word}", limit,
                           f"{ratio:.4g} ({info.width}x{info.height} px){where}")
        return None
    px = info.width if what == "width_pixels" else info.height
    if px is None:
        return None
    side = "width" if what == "width_pixels" else "height"
    bad = px < limit if op == ">" else px > limit
    if bad:
        word = "at least" if op == ">" else "at most"
        return Problem(label, f"{side} must be {word} (px)", limit, f"{px} px{where}")
    return None


def check_media(f: Field, info: MediaInfo, label: str) -> list[Problem]:
    """Every rule of ``f`` against one input."""
    return [p for p in (check_rule(label, r, info) for r in f.validations) if p is not None]
