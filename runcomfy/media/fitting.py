"""Fitting input images to a model's limits, only when the user asks for it.

By default an image outside the limits is refused (nothing is changed behind the user's
back). With fitting on, an image is scaled proportionally into the allowed side lengths and,
if its PNG is still too large, sent as JPEG (quality 95, then lower); every change is
reported as a note the node shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..schema import BYTES_PER_MB, Field, parse_rule
from . import imageformats, images


@dataclass(frozen=True)
class Limits:
    min_side: int | None = None
    max_side: int | None = None
    max_bytes: int | None = None
    min_ratio: float | None = None      # width/height
    max_ratio: float | None = None


def limits_of(field: Field, default_max_bytes: int | None = None) -> Limits:
    """The field's rules as limits; ``default_max_bytes`` applies when no rule caps the size."""
    lo = hi = nbytes = rlo = rhi = None
    for rule in field.validations:
        parsed = parse_rule(rule)
        if parsed is None:
            continue
        what, op, value = parsed
        if what == "file_size_mb":
            if op == "<":
                nbytes = int(value * BYTES_PER_MB) - 1
        elif what == "width/height":
            if op == ">":
                rlo = value if rlo is None else max(rlo, value)
            else:
                rhi = value if rhi is None else min(rhi, value)
        elif op == ">":
            lo = max(lo or 0, int(value))
        elif op == "<":
            hi = min(hi or int(value), int(value))
    return Limits(lo, hi, nbytes if nbytes is not None else default_max_bytes, rlo, rhi)


def fit_geometry(arr: np.ndarray, limits: Limits, label: str) -> tuple[np.ndarray, str | None]:
    h, w = arr.shape[:2]
    ratio = w / h
    if (limits.min_ratio is not None and ratio < limits.min_ratio) or \
            (limits.max_ratio is not None and ratio > limits.max_ratio):
        raise ValueError(f"{label}: {w}x{h} px has aspect ratio {ratio:.4g}, outside the model's "
                         f"{limits.min_ratio if limits.min_ratio is not None else 0:g}.."
                         f"{limits.max_ratio if limits.max_ratio is not None else 'any'} (width/height); "
                         "scaling cannot change that: crop it first")
    scale = 1.0
    if limits.max_side and max(w, h) > limits.max_side:
        scale = limits.max_side / max(w, h)
    elif limits.min_side and min(w, h) < limits.min_side:
        scale = limits.min_side / min(w, h)
    if scale == 1.0:
        return arr, None
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    # Rounding must not push the bounding side back across its bound.
    if scale > 1:
        if w <= h:
            nw = max(nw, limits.min_side)
        else:
            nh = max(nh, limits.min_side)
    else:
        nw, nh = min(nw, limits.max_side), min(nh, limits.max_side)
    if (limits.min_side and min(nw, nh) < limits.min_side) or (limits.max_side and max(nw, nh) > limits.max_side):
        raise ValueError(f"{label}: {w}x{h} px cannot be scaled into {limits.min_side}..{limits.max_side} px per side "
                         "without distorting it; crop it first")
    resized = np.asarray(Image.fromarray(arr).resize((nw, nh), Image.Resampling.LANCZOS))
    why = "larger" if scale < 1 else "smaller"
    bound = limits.max_side if scale < 1 else limits.min_side
    return resized, f"{label} resized {w}x{h} -> {nw}x{nh} px (was {why} than the model's {bound} px limit)"


def fit_bytes(arr: np.ndarray, limits: Limits, label: str, fmt: str = "png") -> tuple[images.EncodedImage, str | None]:
    """Encode ``arr``; if it is over the byte limit, fall back to JPEG, then shrink."""
    first = imageformats.encode_many([arr], fmt)[0]
    if not limits.max_bytes or len(first.data) <= limits.max_bytes:
        return first, None
    current = arr
    for _ in range(6):  # bounded: each round shrinks by ~15%
        for quality in (95, 90, 80):
            enc = imageformats.encode_many([current], "jpeg", quality)[0]
            if len(enc.data) <= limits.max_bytes:
                h, w = current.shape[:2]
                size = "" if current is arr else f", resized to {w}x{h} px"
                return enc, (f"{label} sent as JPEG quality {quality}{size}: its {fmt.upper()} was "
                             f"{len(first.data) / BYTES_PER_MB:.1f} MB, over the model's limit")
        h, w = current.shape[:2]
        nw, nh = math.floor(w * 0.85), math.floor(h * 0.85)
        if limits.min_side and min(nw, nh) < limits.min_side:
            break
        current = np.asarray(Image.fromarray(current).resize((nw, nh), Image.Resampling.LANCZOS))
    raise ValueError(f"{label}: could not bring the image under {limits.max_bytes / BYTES_PER_MB:.0f} MB")
