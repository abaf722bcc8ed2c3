"""Output sizes written as text in enums, e.g. Wan's ``"1280*720 (16:9)"``."""

from __future__ import annotations

import re


def parse_image_size(value: str) -> tuple[int, int] | None:
    """``"1280*720 (16:9)"`` -> ``(1280, 720)`` as (width, height)."""
    m = re.match(r"\s*(\d+)\s*[*x×]\s*(\d+)", str(value))
    return (int(m.group(1)), int(m.group(2))) if m else None
