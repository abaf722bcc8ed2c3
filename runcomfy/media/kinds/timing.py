"""Duration and frame-rate rules of video and audio inputs, which ``schema.rules`` leaves aside.

Spellings accepted in a field's ``validations``: ``duration_seconds<`` / ``duration_s<`` /
``duration<`` / ``video_duration<`` / ``audio_duration<`` (and ``>``, with or without ``=``),
``fps<`` / ``fps>``, ``frames<`` / ``frame_count<``. Bounds are inclusive ("at most 10 s"): the
catalog's messages read that way, and a strict reading would refuse a clip the service takes.
A schema ``validations`` entry's own ``validation_error`` text is kept in the problem.
"""

from __future__ import annotations

import re

from ...errors import Problem
from ...schema import Field, MediaInfo

_RULE = re.compile(r"(duration_seconds|duration_s|duration|video_duration|audio_duration|fps|frame_rate|"
                   r"frames|frame_count)\s*([<>])=?")
_ATTR = {"fps": "fps", "frame_rate": "fps", "frames": "frames", "frame_count": "frames"}
_UNIT = {"duration_s": "s", "fps": "fps", "frames": "frames"}


def parse(rule: dict) -> tuple[str, str, float] | None:
    m = _RULE.fullmatch(str(rule.get("validation_rule", "")).strip())
    value = rule.get("validation_value")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if not m or value != value:
        return None
    return _ATTR.get(m.group(1), "duration_s"), m.group(2), value


def check(f: Field, info: MediaInfo, label: str) -> list[Problem]:
    out = []
    for rule in f.validations:
        parsed = parse(rule)
        if parsed is None:
            continue
        attr, op, limit = parsed
        actual = getattr(info, attr, None)
        if actual is None:
            continue
        if (op == "<" and actual > limit) or (op == ">" and actual < limit):
            unit = _UNIT[attr]
            word = "at most" if op == "<" else "at least"
            name = {"duration_s": "duration", "fps": "frame rate", "frames": "frame count"}[attr]
            where = f" ({info.source})" if info.source else ""
            out.append(Problem(label, f"{name} must be {word} ({unit})", _num(limit),
                               f"{_num(actual)} {unit}{where}"))
    return out


def _num(x: float):
    x = float(x)
    return int(x) if x.is_integer() else round(x, 3)
