"""A model's node layout: which ComfyUI input each schema field becomes, in which order.

- Scalar fields are widgets with the schema's default, range, choices and English tooltip; a
  field with a default (or a required one) is a required widget, as ComfyUI shows them first.
  An optional field with no default must be able to stay unsent: a choice gets a first entry
  ``(not set)``, a number a text widget (empty = not sent); ``seed``-like integers stay INT
  widgets with control-after-generate (see ``seed_spec``: bounds and "not sent" for seeds).
- A widget's label is the schema's own ``title`` where it has one (``display_name``: frontends
  1.49+ show it; the name stays the input's identity in saved workflows and API prompts).
- Sample content in defaults is not pre-filled: a long sample prompt becomes the widget's
  placeholder (see runcomfy.schema.dialects.SAMPLE_TEXT_CHARS), a media default is never used.
- A media field becomes sockets of its kind's ComfyUI type, in schema order: one for a single
  file, ``maxItems`` for a list up to 16 (real models take 12 or 16 reference videos and audios;
  3 when the schema states no maximum, more go in as URLs), the first one required when the
  field is; then a STRING input
  for URLs, one per line. Sockets are named ``<kind>_<n>`` when the model has one list of that
  kind (Wan 2.6: ``image_1..image_3``), else after the field (``reference_image_1``); a single
  file's socket drops the field's ``_url`` suffix (``end_image_url`` -> ``end_image``).
- Structured fields (objects, arrays of objects) are multiline JSON inputs.
- On a ComfyUI whose core has no VIDEO type (no ``comfy_api`` video classes), each video socket
  is an IMAGE socket of the same name (the frames, one image per frame) followed by a FLOAT
  widget ``<socket>_fps`` (default 24, 1..120); the node encodes them to MP4. Decided when the
  node class is built; on a ComfyUI with VIDEO the layout is unchanged (Create Video does
  frames + fps there).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field as dc_field

from ..runcomfy.media import spec as media_spec
from ..runcomfy.schema import Field, ModelSchema, structured
from ..runcomfy.schema.dialects import humanize, input_name_problem
from . import comfy

NOT_SET = "(not set)"
INT_LIMIT = 2**53  # ComfyUI's INT widget tops out around 2^64; JSON-safe bound
FLOAT_LIMIT = 1e9

# ComfyUI socket types and caps of the kinds, from the kinds' table (runcomfy/media/spec.py),
# also for a kind whose module is not installed (its node still loads; running it says what is missing).
SOCKET_TYPES = {k.name: k.socket_type for k in media_spec.KINDS.values()}
SOCKET_CAPS = {k.name: (k.max_sockets, k.default_sockets) for k in media_spec.KINDS.values()}  # (max, without maxItems)
MAX_LIST_SOCKETS = max(cap for cap, _ in SOCKET_CAPS.values())
_SEED = re.compile(r"(^|_)seed$")
# A seed whose schema states no range: what providers take (a signed 32-bit int; real schemas say
# "0 to 2147483647"); the frontend's "randomize" draws inside the widget's range.
SEED_MAX = 2**31 - 1
# "-1 for random", "-1 = random seed", "use -1 to randomize": the schema gives -1 a meaning.
_MINUS_ONE_RANDOM = re.compile(r"(?<![\w.])-1\b[^.;]{0,40}\brandom|\brandom\b[^.;]{0,40}(?<![\w.])-1\b", re.I)
# Frame rate widget of a video socket that takes frames (ComfyUI without VIDEO); Create Video's range.
DEFAULT_FPS = 24.0
FPS_RANGE = (1.0, 120.0)


def is_seed(f: Field) -> bool:
    return f.type == "integer" and bool(_SEED.search(f.name))


def seed_field(schema: ModelSchema) -> Field | None:
    """The field that makes a new generation of the same inputs: ``seed``, else a ``*_seed``."""
    seeds = [f for f in schema.fields if is_seed(f) and f.kind is None]
    return next((f for f in seeds if f.name == "seed"), seeds[0] if seeds else None)


def minus_one_is_random(f: Field) -> bool:
    """The schema itself uses -1 for "random": its default, its minimum or its description."""
    return f.default == -1 or f.minimum == -1 or bool(_MINUS_ONE_RANDOM.search(f"{f.description} {f.title}"))


def seed_unset_value(f: Field) -> int | None:
    """The seed widget value that means "not sent" (-1), for an optional seed with no default
    whose schema does not give -1 a meaning of its own; else None (every value is sent)."""
    if f.required or f.default is not None or minus_one_is_random(f):
        return None
    if f.minimum is not None and f.minimum <= -1:
        return None
    return -1


def seed_range(f: Field) -> tuple[int, int]:
    """A seed's widget range: the schema's, else 0..2147483647 (-1 included where the schema uses
    -1 for random, or as the "not sent" value of an optional seed without default)."""
    low = -1 if (minus_one_is_random(f) or seed_unset_value(f) is not None) else 0
    lo = int(f.minimum) if f.minimum is not None else low
    hi = int(f.maximum) if f.maximum is not None else max(lo, SEED_MAX)
    return lo, hi


def label_of(f: Field) -> str | None:
    """The schema's own title for the field (its overlay's or source's), None when it has none."""
    title = (f.title or "").strip()
    if not title or (not f.source_title and title == humanize(f.name)):
        return None
    return title


@dataclass
class Slot:
    name: str
    required: bool
    spec: list
    role: str                      # "widget" | "text_number" | "list" | "json" | "socket" | "urls"
    field: Field | None = None


@dataclass
class FramesInput:
    """A video socket's value on a ComfyUI without VIDEO: the IMAGE batch and its frame rate."""
    images: object
    fps: object
    fps_input: str                 # the widget's name, for errors


@dataclass
class Layout:
    slots: list[Slot]
    sockets: dict[str, list[str]] = dc_field(default_factory=dict)     # media field -> socket names
    url_inputs: dict[str, str] = dc_field(default_factory=dict)        # media field -> its URL input
    frame_rates: dict[str, str] = dc_field(default_factory=dict)       # frames socket -> its fps widget

    def socket_value(self, name: str, kwargs: dict):
        """A socket's argument as the media adapter takes it (frames come with their fps)."""
        fps_input = self.frame_rates.get(name)
        if fps_input is None:
            return kwargs[name]
        return FramesInput(kwargs[name], kwargs.get(fps_input, DEFAULT_FPS), fps_input)


_frames_memo: list = [None, None]      # [ComfyUI's nodes module, answer]: the core does not change


def video_as_frames() -> bool:
    """True on a ComfyUI whose core has no VIDEO type. Outside ComfyUI (tests, scripts) False:
    the sockets stay VIDEO, as on every current ComfyUI."""
    registry = comfy.comfyui_nodes_module()
    if registry is None:
        return False
    if _frames_memo[0] is not registry:
        _frames_memo[:] = [registry, comfy.video_api() is None]
    return bool(_frames_memo[1])


def _tooltip(f: Field, extra: str = "") -> str:
    text = (f.description or f.title).strip()
    if not extra:
        return text
    if text and not text.endswith((".", "!", "?", ":", "。")):
        text += "."
    return (text + " " + extra).strip()


def _placeholder(f: Field) -> dict:
    if isinstance(f.sample, str):
        return {"placeholder": f.sample[:300]}
    return {}


def _caps(kind: str) -> tuple[int, int]:
    return SOCKET_CAPS.get(kind, (MAX_LIST_SOCKETS, 3))


def socket_count(f: Field) -> int:
    cap, without_max = _caps(f.kind)
    if not f.is_list:
        return 1
    if f.max_items is not None:
        return max(1, min(cap, f.max_items))
    return max(1, min(cap, max(without_max, f.min_items or 0)))


def _strip_media_suffix(name: str, kind: str) -> str:
    base = re.sub(r"_(urls?|uris?)$", "", name)
    if base.endswith("s") and base[:-1].endswith(kind):
        base = base[:-1]
    return base or name


def _media_names(schema: ModelSchema, taken: set[str]) -> tuple[dict, dict]:
    def unique(name: str) -> str:
        out, n = name, 2
        while out in taken or input_name_problem(out):      # "constructor_url" -> not "constructor"
            out, n = f"{name}_{n}", n + 1
        taken.add(out)
        return out
    sockets: dict[str, list[str]] = {}
    urls: dict[str, str] = {}
    for f in schema.media_fields:
        lists_of_kind = [g for g in schema.media_fields if g.kind == f.kind and g.is_list]
        own = f.input_name
        if f.is_list:
            prefix = f.kind if len(lists_of_kind) == 1 else _strip_media_suffix(own, f.kind)
            sockets[f.name] = [unique(f"{prefix}_{i}") for i in range(1, socket_count(f) + 1)]
        else:
            base = _strip_media_suffix(own, f.kind)
            sockets[f.name] = [own if base == own else unique(base)]   # its own name is its own
    for f in schema.media_fields:
        # The URL input keeps the field's own name when no socket took it.
        own = f.input_name
        urls[f.name] = own if own not in sockets[f.name] else unique(f"{own}_url")
    return sockets, urls


def _scalar(f: Field) -> tuple[list, str]:
    tip = _tooltip(f)
    optional_unset = not f.required and f.default is None
    if f.enum:
        choices = list(f.enum)
        if optional_unset:
            return [[NOT_SET] + choices, {"default": NOT_SET, "tooltip": _tooltip(f, f"'{NOT_SET}': not sent.")}], \
                "widget"
        default = f.default if f.default in choices else choices[0]
        return [choices, {"default": default, "tooltip": tip}], "widget"
    if f.type == "boolean":
        if optional_unset:
            return [[NOT_SET, "true", "false"], {"default": NOT_SET,
                                                  "tooltip": _tooltip(f, f"'{NOT_SET}': not sent.")}], "widget"
        return ["BOOLEAN", {"default": bool(f.default) if f.default is not None else False, "tooltip": tip}], \
            "widget"
    if is_seed(f):
        return seed_spec(f)
    if f.type in ("integer", "number") and optional_unset:
        what = "A whole number" if f.type == "integer" else "A number"
        lo, hi = f.minimum, f.maximum
        rng = (f" {what} from {lo:g} to {hi:g}." if lo is not None and hi is not None else
               f" {what}, at least {lo:g}." if lo is not None else
               f" {what}, at most {hi:g}." if hi is not None else f" {what}.")
        return ["STRING", {"default": "", "multiline": False,
                           "tooltip": _tooltip(f, f"Empty = not sent (the service's default).{rng}")}], "text_number"
    if f.type == "integer":
        lo = int(f.minimum) if f.minimum is not None else -INT_LIMIT
        hi = int(f.maximum) if f.maximum is not None else INT_LIMIT
        default = f.default if isinstance(f.default, int) else 0
        return ["INT", {"default": max(lo, min(hi, default)), "min": lo, "max": hi, "step": 1, "tooltip": tip}], \
            "widget"
    if f.type == "number":
        lo = float(f.minimum) if f.minimum is not None else -FLOAT_LIMIT
        hi = float(f.maximum) if f.maximum is not None else FLOAT_LIMIT
        default = float(f.default) if isinstance(f.default, (int, float)) else 0.0
        return ["FLOAT", {"default": max(lo, min(hi, default)), "min": lo, "max": hi, "step": float_step(f),
                          "tooltip": tip}], "widget"
    if f.type == "array":
        default = "\n".join(str(x) for x in f.default) if isinstance(f.default, list) else ""
        return ["STRING", {"default": default, "multiline": True,
                           "tooltip": _tooltip(f, "One item per line."), **_placeholder(f)}], "list"
    default = f.default if isinstance(f.default, str) else ""
    multiline = f.multiline or isinstance(f.sample, str) or (f.max_length or 0) > 500
    return ["STRING", {"default": default, "multiline": multiline, "tooltip": tip, **_placeholder(f)}], "widget"


# The control's default on paid nodes: a second Run reuses (the journal resumes the same request);
# a new paid generation is an explicit choice (increment / randomize). Frontend 1.58 takes a mode
# name here as the control's default; 1.49 too (and also names the control widget after it); 1.27
# only knows true/false, so the pack's web extension sets a new node's control to "fixed" there.
CONTROL_DEFAULT = "fixed"
RERUN_TIP = ("Re-runs: with 'control after generate' on 'fixed', running again with the same inputs "
             "fetches the earlier request (no new charge); 'increment' or 'randomize' makes every run a "
             "new paid generation.")


def seed_spec(f: Field) -> tuple[list, str]:
    """A seed: an INT widget with ComfyUI's control-after-generate ('fixed' by default), its range
    from the schema or 0..2147483647; an optional seed without default starts at -1 = not sent
    (the provider picks) unless the schema gives -1 a meaning (then -1 is sent as it says)."""
    lo, hi = seed_range(f)
    unset = seed_unset_value(f)
    if unset is not None:
        default, extra = unset, "-1: not sent (the provider picks a seed)."
    else:
        default = f.default if isinstance(f.default, int) and not isinstance(f.default, bool) else max(lo, 0)
        extra = "" if (f.minimum is not None and f.maximum is not None) else \
            f"Range {lo} to {hi}" + (" (-1: random, as the model describes)." if lo == -1 else ".")
    return ["INT", {"default": max(lo, min(hi, default)), "min": lo, "max": hi, "step": 1,
                    "control_after_generate": CONTROL_DEFAULT,
                    "tooltip": _tooltip(f, (extra + " " + RERUN_TIP).strip())}], \
        ("seed_optional" if unset is not None else "widget")


def float_step(f: Field) -> float:
    """0.01, finer when the range is narrow or the default has more decimals: ComfyUI rounds
    FLOAT widgets to their step, which must not change the schema's own values."""
    step = 0.01
    if f.minimum is not None and f.maximum is not None and 0 < f.maximum - f.minimum < 1:
        step = 0.001
    for v in (f.default, f.minimum, f.maximum):
        if isinstance(v, float) and not v.is_integer():
            decimals = len(repr(v).split(".")[1]) if "e" not in repr(v) else 6
            step = min(step, 10.0 ** -min(decimals, 6))
    return step


def _json_input(f: Field) -> list:
    ex = structured.example(f.spec) if f.sample is None else f.sample
    return ["STRING", {"default": "", "multiline": True, "tooltip": structured.tooltip(f),
                       "placeholder": json.dumps(ex, ensure_ascii=False, indent=1)[:600]}]


def _socket_tip(f: Field, i: int, n: int) -> str:
    nth = f" {f.kind.capitalize()} {i + 1} of {n}." if n > 1 else ""
    tail = " A batch contributes each of its images." if f.kind == "image" else ""
    return f"{f.title}.{nth}{tail}"


def _frames_tip(f: Field, i: int, n: int, fps_input: str) -> str:
    nth = f" (video {i + 1} of {n})" if n > 1 else ""
    return (f"{f.title}{nth} as frames: an IMAGE batch, one image per frame, encoded to MP4 (H.264) at "
            f"'{fps_input}' frames per second. This ComfyUI has no VIDEO type.")


def _fps_spec(socket: str) -> list:
    lo, hi = FPS_RANGE
    return ["FLOAT", {"default": DEFAULT_FPS, "min": lo, "max": hi, "step": 1.0, "round": 0.001,
                      "tooltip": f"Frame rate of the frames on '{socket}' (frames per second, {lo:g} to {hi:g})."}]


def _urls_tip(f: Field) -> str:
    k = f.kind
    return (f"{k.capitalize()} URLs for '{f.title}', one per line (https or data:{k} URIs); "
            f"they come after the connected {k}s, in order. Lets the URLs output of "
            "another RunComfy node feed this one without re-uploading.")


def layout_for(schema: ModelSchema, reserved: set[str] = frozenset()) -> Layout:
    """Slots in ComfyUI order: the required section first, then the optional one, each in
    schema order. ``reserved`` names (the pack's own inputs) are never used for sockets."""
    taken = {f.name for f in schema.fields} | {f.input_name for f in schema.fields} | set(reserved)
    sockets, url_inputs = _media_names(schema, taken)
    frames = any(f.kind == "video" for f in schema.media_fields) and video_as_frames()
    frame_rates: dict[str, str] = {}
    if frames:
        for f in schema.media_fields:
            if f.kind == "video":
                for name in sockets[f.name]:
                    fps_input, n = f"{name}_fps", 2
                    while fps_input in taken:
                        fps_input, n = f"{name}_fps_{n}", n + 1
                    taken.add(fps_input)
                    frame_rates[name] = fps_input
    slots: list[Slot] = []
    for f in schema.fields:
        if f.kind is not None:
            names = sockets[f.name]
            stype = SOCKET_TYPES.get(f.kind, f.kind.upper())
            for i, name in enumerate(names):
                if name in frame_rates:
                    slots.append(Slot(name, i == 0 and f.required,
                                      ["IMAGE", {"tooltip": _frames_tip(f, i, len(names), frame_rates[name])}],
                                      "socket", f))
                    slots.append(Slot(frame_rates[name], False, _fps_spec(name), "frame_rate", f))
                    continue
                slots.append(Slot(name, i == 0 and f.required, [stype, {"tooltip": _socket_tip(f, i, len(names))}],
                                  "socket", f))
            slots.append(Slot(url_inputs[f.name], False, ["STRING", {
                "default": "", "multiline": True, "tooltip": _urls_tip(f)}], "urls", f))
            continue
        if f.structured:
            slots.append(Slot(f.input_name, f.required, _json_input(f), "json", f))
            continue
        spec, role = _scalar(f)
        slots.append(Slot(f.input_name, f.required or f.default is not None, spec, role, f))
    for slot in slots:
        shown = shown_label(slot)
        if shown != slot.name:
            slot.spec = [slot.spec[0], {**slot.spec[1], "display_name": shown}]
    slots = [s for s in slots if s.required] + [s for s in slots if not s.required]
    return Layout(slots, sockets, url_inputs, frame_rates)


def shown_label(slot: Slot) -> str:
    """What the node shows for a slot: the schema's title (numbered for a list's sockets, "(URLs)"
    for its URL lines) where the schema has one, else the input's name."""
    f = slot.field
    title = label_of(f) if f is not None else None
    if title is None:
        return slot.name
    if slot.role == "socket" and f.is_list:
        m = re.search(r"_(\d+)$", slot.name)
        one = re.sub(r"(?<=[a-z])s$", "", title) if not title.endswith("ss") else title   # "Reference images" -> "image"
        return f"{one} {m.group(1)}" if m else title
    if slot.role == "urls":
        return f"{title} (URLs)"
    if slot.role == "frame_rate":
        return slot.name
    return title
