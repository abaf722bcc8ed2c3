"""Errors in the words of the node: the socket or widget label the user sees first, the API
field after it, the limit and the value, and the control that fixes it.

The library's ValidationError carries each problem's field path structurally (``image_urls[2]``,
``prompt``, ``elements[1].image_url``); the batch CLI shows those API names as they are. Here
the node maps the path to what it shows: ``Reference image 1 (image_urls[1]): width must be
at least 384 px, got 200 px: turn on "Fit inputs to limits" (fit_inputs_to_limits) to scale it``.
"""

from __future__ import annotations

import re

from ..runcomfy import errors
from ..runcomfy.errors import Problem, RunComfyError
from .layout import Layout, label_of, shown_label

_PATH = re.compile(r"^(?P<name>[^\[\].]+)(?:\[(?P<index>\d+)\])?(?P<rest>.*)$")
_UNIT = re.compile(r"^(?P<rule>.*?)\s*\((?P<unit>[^()]*)\)\s*$")
# Limits that scaling an image (or re-encoding it as JPEG) can meet; an aspect ratio it cannot.
_FITTABLE = re.compile(r"\b(width|height|side|pixels?|MB|MiB)\b", re.I)
FIT_HINT = 'turn on "Fit inputs to limits" (fit_inputs_to_limits) to scale it'


class ValidationError(errors.ValidationError):
    """The library's ValidationError, its text in the node's labels; ``problems`` keep the API
    paths, ``shown`` has one dict per problem for the panel (label, field, text, fix). Same type
    name as the library's: ComfyUI's error dialog shows it."""

    def __init__(self, problems: list[Problem], shown: list[dict]):
        self.problems = list(problems)
        self.shown = shown
        lines = [s["text"] for s in shown]
        head = "Invalid input" if len(lines) == 1 else f"{len(lines)} invalid inputs"
        RunComfyError.__init__(self, f"{head}: " + "; ".join(lines) + ". Nothing was sent or charged.")


NodeValidationError = ValidationError


def media_origins(lay: Layout, schema, counts: dict[str, list[tuple[str, int]]],
                  url_counts: dict[str, int]) -> dict[str, list[str]]:
    """Per media field, the label of each item in payload order: connected sockets first (a
    batch counts each of its items), then the URL lines."""
    by_name = {s.name: s for s in lay.slots}
    out: dict[str, list[str]] = {}
    for f in schema.media_fields:
        items: list[str] = []
        for socket, n in counts.get(f.name, []):
            slot = by_name.get(socket)
            label = shown_label(slot) if slot is not None else socket
            items.extend([label] if n == 1 else [f"{label}, item {j + 1} of its batch" for j in range(n)])
        url_slot = by_name.get(lay.url_inputs.get(f.name, ""))
        url_label = shown_label(url_slot) if url_slot is not None else lay.url_inputs.get(f.name, f.name)
        items.extend(f"{url_label}, line {j + 1}" for j in range(url_counts.get(f.name, 0)))
        out[f.name] = items
    return out


def _label(field_path: str, lay: Layout, schema, origins: dict[str, list[str]]) -> tuple[str | None, bool]:
    """(what the user sees for ``field_path`` or None, whether it is an image the node can fit)."""
    m = _PATH.match(field_path or "")
    if not m:
        return None, False
    name, index, rest = m.group("name"), m.group("index"), m.group("rest")
    f = next((g for g in schema.fields if g.name == name), None)
    if f is None:
        return None, False
    if f.kind is not None:
        items = origins.get(name) or []
        if index is not None and not rest and 0 < int(index) <= len(items):
            return items[int(index) - 1], f.kind == "image"
        if index is None and not f.is_list and items:
            return items[0], f.kind == "image"
        return label_of(f) or lay.url_inputs.get(name) or f.input_name, False
    slot = next((s for s in lay.slots if s.field is f and s.role not in ("socket", "urls", "frame_rate")), None)
    return (shown_label(slot) if slot is not None else f.input_name), False


def _plain(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text).strip().casefold()


def _detail(p: Problem) -> str:
    if p.message:
        return p.message
    rule, unit = p.rule, ""
    m = _UNIT.match(rule or "")
    if m:
        rule, unit = m.group("rule"), m.group("unit")
    text = rule
    if p.limit is not None:
        text += f" {p.limit}" + (f" {unit}" if unit and not unit.startswith(("inline", "MB,")) else
                                 f" ({unit})" if unit else "")
    if p.actual is not None:
        actual = p.actual if not isinstance(p.actual, str) or len(p.actual) <= 60 else p.actual[:57] + "..."
        text += f", got {actual}"
    return text.strip()


def relabel(exc: errors.ValidationError, lay: Layout, schema, origins: dict[str, list[str]],
            fit_on: bool) -> NodeValidationError:
    shown = []
    for p in exc.problems:
        label, image = _label(p.field, lay, schema, origins)
        detail = _detail(p)
        said = f"{p.rule} {p.message or ''}"
        fix = FIT_HINT if image and not fit_on and _FITTABLE.search(said) and "aspect" not in said else None
        if label is None or _plain(label) == _plain(p.field):
            # What the user sees is the API name itself: the library's own words.
            text = p.text() + (f": {fix}" if fix else "")
        else:
            text = f"{label} ({p.field}): {detail}" + (f": {fix}" if fix else "")
        shown.append({"label": label or p.field, "field": p.field, "text": text, "fix": fix})
    err = ValidationError(exc.problems, shown)
    err.__cause__ = exc
    return err
