"""Schema fields -> ComfyUI node inputs, and node arguments -> payload fields.

Every schema field becomes an input with its default, range, choices and English tooltip.
An image list field becomes IMAGE sockets ``image_1..image_N`` (the first required when the
field is) plus a STRING input of the same name for URLs, one per line.
"""

from __future__ import annotations

import re

from ..runcomfy.imageformats import format_for_choice
from ..runcomfy.schema import Field, ModelSchema

# Inputs the pack adds to every node (not part of any model schema).
TIMEOUT_INPUT = "timeout_seconds"
RESUME_INPUT = "resume_request_id"
VARIATIONS_INPUT = "variations"
UPLOAD_FORMAT_INPUT = "upload_format"
# New choices go at the end: saved workflows store the chosen label.
UPLOAD_FORMATS = ["png (lossless)", "jpeg (quality 95)", "webp (lossless, fast)", "webp (lossless, small)",
                  "auto (lossless)"]
FIT_INPUT = "fit_inputs_to_limits"
DRY_RUN_INPUT = "dry_run"
MAX_VARIATIONS = 8
DEFAULT_TIMEOUT_S = 1800

INT_LIMIT = 2**53  # ComfyUI's INT widget tops out around 2^64; JSON-safe bound


def image_socket_names(schema: ModelSchema, f: Field) -> list[str]:
    prefix = "image" if len(schema.image_fields) == 1 else f.name
    if not f.is_image_list:
        return [f.name]
    return [f"{prefix}_{i}" for i in range(1, (f.max_items or 3) + 1)]


def _tooltip(f: Field, extra: str = "") -> str:
    text = f.description or f.title
    return (text + (" " + extra if extra else "")).strip()


def _scalar_spec(f: Field):
    tip = _tooltip(f)
    if f.enum:
        default = f.default if f.default in f.enum else f.enum[0]
        return [list(f.enum), {"default": default, "tooltip": tip}]
    if f.type == "boolean":
        return ["BOOLEAN", {"default": bool(f.default) if f.default is not None else False, "tooltip": tip}]
    if f.type == "integer":
        lo = int(f.minimum) if f.minimum is not None else -INT_LIMIT
        hi = int(f.maximum) if f.maximum is not None else INT_LIMIT
        default = int(f.default) if isinstance(f.default, (int, float)) else max(lo, min(hi, 0))
        opts = {"default": default, "min": lo, "max": hi, "step": 1, "tooltip": tip}
        if f.name == "seed" or f.name.endswith("_seed"):
            opts["control_after_generate"] = True
        return ["INT", opts]
    if f.type == "number":
        lo = float(f.minimum) if f.minimum is not None else -1e9
        hi = float(f.maximum) if f.maximum is not None else 1e9
        default = float(f.default) if isinstance(f.default, (int, float)) else max(lo, min(hi, 0.0))
        return ["FLOAT", {"default": default, "min": lo, "max": hi, "step": 0.01, "tooltip": tip}]
    if f.type == "array":
        default = "\n".join(str(x) for x in f.default) if isinstance(f.default, list) else ""
        return ["STRING", {"default": default, "multiline": True, "tooltip": _tooltip(f, "One item per line.")}]
    default = f.default if isinstance(f.default, str) else ""
    return ["STRING", {"default": default, "multiline": f.multiline, "tooltip": tip}]


def input_types(schema: ModelSchema) -> dict:
    required: dict = {}
    optional: dict = {}
    for f in schema.fields:
        if f.is_image:
            names = image_socket_names(schema, f)
            for i, name in enumerate(names):
                nth = f" Image {i + 1} of {len(names)}." if len(names) > 1 else ""
                tip = f"{f.title}.{nth} A batch contributes each of its images."
                spec = ["IMAGE", {"tooltip": tip}]
                (required if i == 0 and f.required else optional)[name] = spec
            url_name = f.name if f.name not in names else f"{f.name}_url"
            optional[url_name] = ["STRING", {
                "default": "", "multiline": True,
                "tooltip": (f"Image URLs for '{f.title}', one per line (https or data:image URIs); "
                            "they come after the connected images, in order. Lets the URLs output of "
                            "another RunComfy node feed this one without re-uploading."),
            }]
            continue
        (required if f.required or f.default is not None else optional)[f.name] = _scalar_spec(f)
    extras = {
        UPLOAD_FORMAT_INPUT: [UPLOAD_FORMATS, {
            "default": UPLOAD_FORMATS[0],
            "tooltip": "How connected images are sent: lossless PNG, JPEG at quality 95 (smaller for "
                       "large photos, slightly lossy), lossless WebP (same pixels, ~15% fewer bytes on photos; "
                       "'small' spends more time to save a few % more), or auto: the lossless format that "
                       "reaches RunComfy soonest on your measured uplink."}],
        FIT_INPUT: ["BOOLEAN", {
            "default": False, "label_on": "resize to fit", "label_off": "refuse",
            "tooltip": "When an image is outside the model's limits (side length, file size): refuse it "
                       "(default), or scale it proportionally / send it as JPEG so it fits. Every change "
                       "is shown on the node."}],
        VARIATIONS_INPUT: ["INT", {
            "default": 1, "min": 1, "max": MAX_VARIATIONS, "step": 1,
            "tooltip": "How many requests to run in parallel with consecutive seeds; each one is billed. "
                       "All results come back as one batch."}],
        DRY_RUN_INPUT: ["BOOLEAN", {
            "default": False, "label_on": "dry run (nothing sent)", "label_off": "run (billed)",
            "tooltip": "Check everything and show the exact request and its price on the node, without "
                       "submitting or paying. The images output passes the reference images through."}],
        TIMEOUT_INPUT: ["INT", {
            "default": DEFAULT_TIMEOUT_S, "min": 10, "max": 24 * 3600, "step": 10,
            "tooltip": "Give up waiting after this many seconds (the remote job may still finish; "
                       "run again to fetch it)."}],
        RESUME_INPUT: ["STRING", {
            "default": "", "multiline": False,
            "tooltip": "Fetch the result of an earlier request by its id instead of submitting a new one "
                       "(no new charge)."}],
    }
    taken = {f.name for f in schema.fields} | set(required) | set(optional)
    for name, spec in extras.items():
        if name not in taken:
            optional[name] = spec
    return {"required": required, "optional": optional, "hidden": {"unique_id": "UNIQUE_ID"}}


def split_urls(text) -> list[str]:
    if not text:
        return []
    if isinstance(text, (list, tuple)):
        return [str(u).strip() for u in text if str(u).strip()]
    return [u.strip() for u in re.split(r"[\r\n]+", str(text)) if u.strip() and not u.strip().startswith("#")]


def collect(schema: ModelSchema, kwargs: dict):
    """Node arguments -> (payload fields, image tensors per field, URLs per field, extras)."""
    fields: dict = {}
    tensors: dict[str, list] = {}
    urls: dict[str, list[str]] = {}
    for f in schema.fields:
        if f.is_image:
            names = image_socket_names(schema, f)
            tensors[f.name] = [kwargs[n] for n in names if kwargs.get(n) is not None]
            url_name = f.name if f.name not in names else f"{f.name}_url"
            urls[f.name] = split_urls(kwargs.get(url_name))
            continue
        if f.name not in kwargs:
            continue
        value = kwargs[f.name]
        if f.type == "array" and isinstance(value, str):
            value = split_urls(value)
        if f.type == "string" and not f.required and value == "" and not f.enum:
            continue  # an empty optional text means "not given"
        fields[f.name] = value
    extras = {
        "timeout": float(kwargs.get(TIMEOUT_INPUT) or DEFAULT_TIMEOUT_S),
        "resume_request_id": (kwargs.get(RESUME_INPUT) or "").strip() or None,
        "variations": int(kwargs.get(VARIATIONS_INPUT) or 1),
        "image_format": format_for_choice(kwargs.get(UPLOAD_FORMAT_INPUT, "")),
        "fit_inputs": bool(kwargs.get(FIT_INPUT, False)),
        "dry_run": bool(kwargs.get(DRY_RUN_INPUT, False)),
    }
    return fields, tensors, urls, extras
