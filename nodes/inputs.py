"""Schema fields -> ComfyUI node inputs, and node arguments -> payload fields.

Which input each field becomes is ``layout.py``'s; this module adds the pack's own inputs
(at the end of the optional ones: saved workflows store widget values by position) and turns
the node's arguments back into payload fields, media socket values and URL lines.
"""

from __future__ import annotations

import re

from ..runcomfy.media.imageformats import format_for_choice
from ..runcomfy.errors import Problem, ValidationError
from ..runcomfy.schema import Field, ModelSchema, structured
from .layout import CONTROL_DEFAULT, NOT_SET, RERUN_TIP, SEED_MAX, Layout, layout_for, seed_field
from .safe_text import ChoiceCollision, choice_labels

# Inputs the pack adds to every node (not part of any model schema).
TIMEOUT_INPUT = "timeout_seconds"
RESUME_INPUT = "resume_request_id"
SUBMIT_ANYWAY_INPUT = "submit_anyway"
VARIATIONS_INPUT = "variations"
UPLOAD_FORMAT_INPUT = "upload_format"
# New choices go at the end: saved workflows store the chosen label.
UPLOAD_FORMATS = ["png (lossless)", "jpeg (quality 95)", "webp (lossless, fast)", "auto (lossless)"]
FIT_INPUT = "fit_inputs_to_limits"
DRY_RUN_INPUT = "dry_run"
# Models without a seed: a re-run counter, part of the request's identity (journal), never sent.
GENERATION_INPUT = "generation"
GENERATION_FALLBACK = "runcomfy_generation"        # when the model has a field named "generation"
MAX_VARIATIONS = 8
# What the pack's inputs show (frontends 1.49+; the English locale says the same on the shipped
# nodes); errors and hints name them so.
PACK_LABELS = {"upload_format": "Upload format", "fit_inputs_to_limits": "Fit inputs to limits",
               "variations": "Variations", "dry_run": "Dry run", "timeout_seconds": "Timeout (seconds)",
               "resume_request_id": "Resume request id", "submit_anyway": "Submit anyway (one-time code)"}
DEFAULT_TIMEOUT_S = 1800

INT_LIMIT = 2**53  # ComfyUI's INT widget tops out around 2^64; JSON-safe bound


def pack_inputs(schema: ModelSchema | None = None) -> dict:
    """The pack's own inputs, in their saved order (widget values are saved by position: a new
    one only ever goes at the end, one that does not apply stays in place, hidden). With a
    ``schema``: image upload controls hidden on a node without image sockets, rarely used ones
    marked advanced, and a ``generation`` counter at the end on a model without a seed."""
    extras = {
        UPLOAD_FORMAT_INPUT: [UPLOAD_FORMATS, {
            "default": UPLOAD_FORMATS[0],
            "tooltip": "How connected images are sent: lossless PNG, JPEG at quality 95 (smaller for "
                       "large photos, slightly lossy), lossless WebP (same pixels, 15-25% fewer bytes on photos), "
                       "or auto: per image, the lossless format that reaches RunComfy soonest on your measured "
                       "uplink."}],
        FIT_INPUT: ["BOOLEAN", {
            "default": False, "label_on": "resize to fit", "label_off": "refuse",
            "tooltip": "When an image is outside the model's limits (side length, file size): refuse it "
                       "(default), or scale it proportionally / send it as JPEG so it fits. Every change "
                       "is shown on the node."}],
        VARIATIONS_INPUT: ["INT", {
            "default": 1, "min": 1, "max": MAX_VARIATIONS, "step": 1,
            "tooltip": "How many requests to run in parallel, each with its own seed (consecutive seeds, or "
                       "consecutive 'generation' values on a model without a seed); each one is billed. "
                       "All results come back as one batch."}],
        DRY_RUN_INPUT: ["BOOLEAN", {
            "default": False, "label_on": "dry run (nothing sent)", "label_off": "run (billed)",
            "tooltip": "Check everything and show the exact request and its price on the node, without "
                       "submitting or paying. The images output passes the reference images through."}],
        TIMEOUT_INPUT: ["INT", {
            "default": DEFAULT_TIMEOUT_S, "min": 10, "max": 24 * 3600, "step": 10,
            "tooltip": "Give up waiting after this many seconds. The remote job may still finish (and be "
                       "billed): the node then names its request id, to put into 'resume_request_id'."}],
        RESUME_INPUT: ["STRING", {
            "default": "", "multiline": False,
            "tooltip": "Fetch the result of an earlier request by its id instead of submitting a new one "
                       "(no new charge)."}],
        SUBMIT_ANYWAY_INPUT: ["STRING", {
            "default": "", "multiline": False,
            "tooltip": "Leave empty. Only when the node warned that an earlier submit of exactly these inputs "
                       "may have been billed: type the one-time code it showed (resubmit-...) to pay for a new "
                       "run anyway. A code works once, for that warning only, on this machine."}],
    }
    for name, label in PACK_LABELS.items():
        extras[name] = [extras[name][0], {**extras[name][1], "display_name": label}]
    if schema is None:
        return extras
    has_images = any(f.kind == "image" for f in schema.media_fields)
    for name in (UPLOAD_FORMAT_INPUT, FIT_INPUT):
        if not has_images:
            extras[name] = [extras[name][0], {**extras[name][1], "hidden": True}]
    for name in (UPLOAD_FORMAT_INPUT, TIMEOUT_INPUT, SUBMIT_ANYWAY_INPUT):
        extras[name] = [extras[name][0], {**extras[name][1], "advanced": True}]
    gen = generation_input(schema)
    if gen is not None:
        extras[gen] = ["INT", {
            "default": 0, "min": 0, "max": SEED_MAX, "step": 1, "control_after_generate": CONTROL_DEFAULT,
            "display_name": "Generation",
            "tooltip": "This model has no seed: change this number for a new generation of the same inputs "
                       "(each one billed). It is never sent to RunComfy; it only tells one run of the same "
                       "inputs from another. " + RERUN_TIP}]
    return extras


def generation_input(schema: ModelSchema) -> str | None:
    """The name of the re-run counter of a model without a seed; None when the model has one."""
    if seed_field(schema) is not None:
        return None
    taken = {f.name for f in schema.fields} | {f.input_name for f in schema.fields}
    return GENERATION_INPUT if GENERATION_INPUT not in taken else GENERATION_FALLBACK


def image_socket_names(schema: ModelSchema, f: Field) -> list[str]:
    """The sockets of a media field (the name predates video and audio)."""
    return layout_for(schema, set(pack_inputs())).sockets.get(f.name, [f.name])


media_socket_names = image_socket_names


def input_types(schema: ModelSchema) -> dict:
    extras = pack_inputs(schema)
    lay = layout_for(schema, set(extras))
    required = {s.name: s.spec for s in lay.slots if s.required}
    optional = {s.name: s.spec for s in lay.slots if not s.required}
    taken = {f.name for f in schema.fields} | {f.input_name for f in schema.fields} | set(required) | set(optional)
    for name, spec in extras.items():
        if name not in taken:
            optional[name] = spec
    # extra_pnginfo: the UI workflow, whose node.properties say which model the node was made for;
    # runcomfy_model_id: the class's model, for the web extension (ComfyUI passes no value for it).
    return {"required": required, "optional": optional,
            "hidden": {"unique_id": "UNIQUE_ID", "extra_pnginfo": "EXTRA_PNGINFO", "runcomfy_model_id": schema.model_id}}


def _fits(slot, value) -> bool:
    """Whether a widget value of some layout can stand in ``slot``'s widget of another."""
    kind = slot.spec[0]
    if isinstance(kind, list):
        if any(value == c or (not isinstance(c, str) and str(value) == str(c)) for c in kind):
            return True
        try:      # a combo label shown for a value with markup characters (safe_text)
            return choice_labels([c for c in kind if c != NOT_SET]).value_of(value, None) is not None
        except ChoiceCollision:
            return False
    if kind == "INT":
        return (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, float) and value.is_integer())
    if kind == "FLOAT":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind == "STRING":
        return isinstance(value, str)
    return True                       # a socket: ComfyUI checked the link's type


def _label(slot) -> str:
    if slot.field is None or slot.field.name == slot.name:
        return slot.name
    return f"{slot.name} (field '{slot.field.name}')"


def stale_inputs(old: ModelSchema, new: ModelSchema, kwargs: dict) -> list[str]:
    """Why node arguments made for ``old``'s layout cannot run ``new``'s (a catalog refresh
    changed the model): a new required input without a value, a value whose type the new input
    does not take, a value the user set for an input the model no longer has. Empty: the
    arguments map by name onto the new layout."""
    reserved = set(pack_inputs())
    old_lay, new_lay = layout_for(old, reserved), layout_for(new, reserved)
    now = {s.name for s in new_lay.slots}
    reasons = []
    for f in new.fields:
        if not f.required:
            continue
        if f.kind is not None:
            given = [kwargs.get(n) for n in new_lay.sockets[f.name]] + [kwargs.get(new_lay.url_inputs[f.name])]
            missing = not any(v is not None and v != "" for v in given)
        else:
            missing = kwargs.get(f.input_name) is None
        if missing:
            reasons.append(f"it has a new required input '{f.input_name}'")
    for slot in new_lay.slots:
        value = kwargs.get(slot.name)
        if value is not None and slot.role != "socket" and not _fits(slot, value):
            reasons.append(f"input '{_label(slot)}' now takes {_kind_text(slot)}, not {value!r}"[:300])
    for slot in old_lay.slots:
        if slot.name in now or kwargs.get(slot.name) is None or slot.field is None:
            continue
        value = kwargs[slot.name]
        if slot.role == "socket":
            sent = True
        elif slot.role == "frame_rate":
            sent = False
        elif slot.role == "urls":
            sent = bool(split_urls(value))
        else:
            sent = _field_value(slot.field, slot.role, value, []) is not None
        if sent:
            reasons.append(f"input '{slot.name}' is no longer one of the model's, so its value would not be sent")
    return reasons


def _kind_text(slot) -> str:
    kind = slot.spec[0]
    if isinstance(kind, list):
        return "one of " + ", ".join(repr(c) for c in kind[:8]) + (" ..." if len(kind) > 8 else "")
    return {"INT": "a whole number", "FLOAT": "a number", "BOOLEAN": "true or false", "STRING": "text"}.get(
        kind, str(kind))


def split_urls(text) -> list[str]:
    if not text:
        return []
    if isinstance(text, (list, tuple)):
        return [str(u).strip() for u in text if str(u).strip()]
    return [u.strip() for u in re.split(r"[\r\n]+", str(text)) if u.strip() and not u.strip().startswith("#")]


def _number(f: Field, text: str, problems: list[Problem], label: str | None = None):
    label = label or f.name
    want = "integer" if (f.type == "integer" or f.item_type == "integer") else "number"
    try:
        v = float(text)
    except ValueError:
        problems.append(Problem(label, f"must be a {'whole ' if want == 'integer' else ''}number", None, text))
        return None
    if v != v or v in (float("inf"), float("-inf")):
        problems.append(Problem(label, "must be a finite number", None, text))
        return None
    if want == "integer":
        if not v.is_integer():
            problems.append(Problem(label, "must be a whole number", None, text))
            return None
        return int(v)
    return v


def _field_value(f: Field, role: str, value, problems: list[Problem]):
    """One widget's value as the payload takes it; ``None`` = not sent."""
    if role == "json":
        try:
            return structured.parse_json(f, value)
        except ValidationError as exc:
            problems.extend(exc.problems)
            return None
    if role == "seed_optional":
        return None if value is None or int(value) == -1 else value     # -1: not sent, the provider picks
    if role == "text_number":
        text = str(value).strip() if value is not None else ""
        return _number(f, text, problems) if text else None
    if role == "list":
        items = split_urls(value) if isinstance(value, str) else list(value or [])
        if f.item_type in ("integer", "number"):
            items = [_number(f, str(x), problems, f"{f.name}[{i + 1}]") for i, x in enumerate(items)]
        elif f.item_type == "boolean":
            items = [str(x).strip().lower() in ("true", "1", "yes") for x in items]
        if not items and not f.required:
            return None
        return items
    if f.enum:
        if value == NOT_SET:
            return None
        for e in f.enum:          # a combo may hand back "5" for the choice 5
            if e == value or (not isinstance(e, str) and str(e) == str(value)):
                return e
        try:   # the combo shows a value with markup characters as an inert label (safe_text)
            return choice_labels(f.enum).value_of(value, value)
        except ChoiceCollision:
            return value
    if f.type == "boolean" and isinstance(value, str):
        if value == NOT_SET:
            return None
        return value.strip().lower() == "true"
    if f.type == "string" and not f.required and value == "":
        return None  # an empty optional text means "not given"
    return value


def _generation(schema: ModelSchema, kwargs: dict) -> int | None:
    """The re-run counter's value on a model without a seed (0 when absent: a workflow saved
    before it existed keeps its requests' identity); None on a model with a seed."""
    name = generation_input(schema)
    if name is None:
        return None
    try:
        return int(kwargs.get(name) or 0)
    except (TypeError, ValueError):
        raise ValidationError([Problem(name, "must be a whole number", None, kwargs.get(name))]) from None


def collect(schema: ModelSchema, kwargs: dict, layout: Layout | None = None):
    """Node arguments -> (payload fields, (socket name, value) pairs per media field, URLs per
    media field, extras). Malformed JSON or numbers raise one ValidationError naming every field."""
    lay = layout or layout_for(schema, set(pack_inputs()))
    fields: dict = {}
    sockets: dict[str, list] = {}
    urls: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for f in schema.media_fields:
        sockets[f.name] = [(n, lay.socket_value(n, kwargs)) for n in lay.sockets[f.name]
                           if kwargs.get(n) is not None]
        urls[f.name] = split_urls(kwargs.get(lay.url_inputs[f.name]))
    for slot in lay.slots:
        if slot.role in ("socket", "urls", "frame_rate") or slot.name not in kwargs:
            continue
        value = _field_value(slot.field, slot.role, kwargs[slot.name], problems)
        if value is not None:
            fields[slot.field.name] = value
    if problems:
        raise ValidationError(problems)
    extras = {
        "timeout": float(kwargs.get(TIMEOUT_INPUT) or DEFAULT_TIMEOUT_S),
        "resume_request_id": (kwargs.get(RESUME_INPUT) or "").strip() or None,
        "variations": int(kwargs.get(VARIATIONS_INPUT) or 1),
        "image_format": format_for_choice(kwargs.get(UPLOAD_FORMAT_INPUT, "")),
        "fit_inputs": bool(kwargs.get(FIT_INPUT, False)),
        "dry_run": bool(kwargs.get(DRY_RUN_INPUT, False)),
        "submit_anyway": str(kwargs.get(SUBMIT_ANYWAY_INPUT) or "").strip(),
        "generation": _generation(schema, kwargs),
    }
    return fields, sockets, urls, extras
