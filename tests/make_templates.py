"""Writes example_workflows/ (the template browser's files) from the node definitions.

A dev tool, never imported by the pack: ``.venv/bin/python tests/make_templates.py`` rewrites every
``example_workflows/<title>.json`` (UI format) and ``example_workflows/api/<title>.json`` (API format)
from each model's node class as the pack builds it today, so a widget added or moved in the nodes
is one command away from the templates (``--check`` only says which differ). ``--thumbnails`` also
runs each template's graph against the local emulator (through the pack's node, as ComfyUI would
run it) and draws the card's ``<title>.jpg`` from the input and what came back.

Why the file name is the title: ComfyUI's frontends (1.27, 1.49, 1.58) show a custom-node template
as its file name (title) and the same name with '-' and '_' as spaces (description), and
thumbnail ``<name>.jpg``; they read no index.json and no subfolder for custom nodes
(``/workflow_templates`` lists ``<pack>/example_workflows/*.json`` names only). So each name says
what the template does, and the emulator ones start with "Emulator test" and say they are not a
real model (they sort apart from the "RunComfy ..." ones).

tests/test_example_workflows.py checks the written files on their own (it does not import this).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_workflows"
PACK_ID = "comfyui-runcomfy-model-api"          # pyproject's project name: the registry id (cnr_id)
EMULATOR_RUN = ("```\npython -m runcomfy emulator --port 8765 --token my-test-token --samples\n"
                "RUNCOMFY_MODEL_API_BASE=http://127.0.0.1:8765/v1 RUNCOMFY_API_TOKEN=my-test-token python main.py\n```")
TOKEN_STEP = ("Set your RunComfy API token once: **Settings \u203a RunComfy Model API \u203a Account** (or the "
              "`RUNCOMFY_API_TOKEN` environment variable). It stays on the ComfyUI server, never in this workflow.")
CATALOG_STEP = ("The model's node comes from RunComfy's model catalog. On a ComfyUI that has not fetched this "
                "model yet, the pack looks it up when the workflow opens (or use **Settings \u203a RunComfy Model API \u203a "
                "Refresh model catalog**).")
FIXED_SEED = ("The seed's *control after generate* is *fixed*: running again with the same inputs fetches the "
              "earlier request instead of paying again. For a new result, change the seed (or set the control to "
              "*increment* / *randomize*: then every run is a new paid generation).")
FIXED_GENERATION = ("This model has no seed: its *generation* number, *fixed* here, is what makes a run new. Running "
                    "again with the same inputs fetches the earlier request instead of paying again; change "
                    "*generation* for a new result (each one is billed).")
RESUME = ("A stopped or timed-out request can be fetched without a new charge: the node names its request id; "
          "put it into *resume_request_id*.")
OFFLINE_TRY = ("Try it first without an account or a charge: the pack's emulator serves this model too, with a "
               "made-up price and a generated stand-in result:\n\n" + EMULATOR_RUN)


@dataclass
class Template:
    title: str                      # the file name: the card's title (and its description)
    model_id: str
    emulator: bool
    summary: str                    # the Read me's first line: what it does
    values: dict                    # widget values by input name (the rest: the definition's default)
    loaders: dict = field(default_factory=dict)     # socket name -> Load Image node title
    save: str = "SaveImage"
    save_prefix: str = "RunComfy"
    notes: list = field(default_factory=list)       # extra Read me paragraphs


TEMPLATES = [
    Template(
        "RunComfy Wan 2.6 - two pictures into one scene (image to image)", "wan-ai/wan-2-6/image-to-image", False,
        "Wan 2.6 image to image on RunComfy: one to three pictures and a prompt that refers to them as "
        "*image 1*, *image 2*, *image 3* make a new picture.",
        {"prompt": "Image 1 and image 2 each show a cartoon girl. Put the girl from image 1 on the left and the girl "
                   "from image 2 on the right. The two of them are like radio hosts, wearing headphones and sitting "
                   "in a recording studio, discussing a topic. Keep the crayon drawing style.",
         "negative_prompt": "low resolution, error, worst quality, low quality, deformed, extra fingers",
         "image_size": "1280*720 (16:9)", "seed": 42, "prompt_extend": True},
        {"image_1": "Load Image (image 1)", "image_2": "Load Image (image 2)"},
        "SaveImage", "RunComfy/wan-2-6-image-to-image",
        ["Both Load Image nodes use ComfyUI's bundled `example.png`. Pick your own pictures (each side 384 to "
         "5000 px, under 10 MB); the prompt calls them *image 1*, *image 2*, *image 3* in socket order."]),
    Template(
        "RunComfy Qwen Image 3.0 Edit - change a picture with words (image edit)", "qwen/qwen-image-3.0/edit",
        False,
        "Qwen Image 3.0 Edit on RunComfy: describe a change in plain words; the rest of the picture is kept.",
        {"prompt": "Turn this drawing into a soft watercolor painting and add a rainbow in the sky. Keep the girl, "
                   "her pose and her colors.",
         "aspect_ratio": "1:1", "resolution": "2k", "enable_prompt_expansion": True, "seed": 42},
        {"image_1": "Load Image (picture to edit)"},
        "SaveImage", "RunComfy/qwen-image-3.0-edit",
        ["Load Image uses ComfyUI's bundled `example.png`: pick your own picture. Up to three pictures can be "
         "connected (*image_1* to *image_3*); the prompt can refer to them in that order."]),
    Template(
        "RunComfy Kling 3.0 Pro - bring a picture to life (image to video)", "kling/kling-3.0/pro/image-to-video",
        False,
        "Kling 3.0 Pro image to video on RunComfy: a start picture and a prompt make a 5 s video with sound.",
        {"prompt": "The girl waves at the camera and smiles, the clouds drift slowly, gentle push-in",
         "negative_prompt": "blurry, distorted, extra limbs", "cfg_scale": 0.5, "duration": 5,
         "generate_audio": True, "shot_type": "customize"},
        {"start_image": "Load Image (start frame)"},
        "SaveVideo", "video/RunComfy/kling-3.0-pro",
        ["Load Image uses ComfyUI's bundled `example.png` as the first frame: pick your own picture. Connect a "
         "second picture to *end_image* to choose the last frame too. The price is per second of video: "
         "*duration* sets it (3 to 15 s)."]),
    Template(
        "RunComfy ACE-Step - music from style tags (text to audio)", "acestep-ai/ace-step/text-to-audio", False,
        "ACE-Step text to audio on RunComfy: style tags (genre, mood, instruments) and optional lyrics make a "
        "music track.",
        {"tags": "lo-fi hip hop, mellow piano, soft drums, vinyl crackle, relaxed, 80 bpm",
         "lyrics": "[instrumental]", "duration": 30, "seed": 42},
        {}, "SaveAudio", "audio/RunComfy/ace-step",
        ["Write your own lyrics in *lyrics*, leave it empty for lyrics written by the model, or keep "
         "`[instrumental]` for no vocals. *duration* is in seconds (5 to 240)."]),
    Template(
        "Emulator test - text to video (offline, not a real model)", "emulator-samples/video-gen/text-to-video",
        True,
        "Text to video against the pack's built-in emulator (free, offline): not a real model.",
        {"prompt": "A paper boat drifting down a rain-soaked street at night, neon reflections, slow tracking shot",
         "duration": "5", "aspect_ratio": "16:9", "generate_audio": True, "seed": 42},
        {}, "SaveVideo", "video/RunComfy",
        ["It returns a 5 s 16:9 MP4 with a soundtrack; Save Video keeps its H.264 and AAC as they are."]),
    Template(
        "Emulator test - image to video (offline, not a real model)", "emulator-samples/video-gen/image-to-video",
        True,
        "Image to video against the pack's built-in emulator (free, offline): not a real model.",
        {"prompt": "The girl waves at the camera, gentle push-in", "duration": 5, "resolution": "720p",
         "seed": 42},
        {"image": "Load Image (first frame)"}, "SaveVideo", "video/RunComfy",
        ["Load Image uses ComfyUI's bundled `example.png`; the result's frames show it, with a 5 s tone as "
         "soundtrack."]),
    Template(
        "Emulator test - text to audio (offline, not a real model)", "emulator-samples/audio-gen/text-to-audio",
        True,
        "Text to audio against the pack's built-in emulator (free, offline): not a real model.",
        {"prompt": "A temple bell over a quiet lake at dawn", "duration": 10.0, "output_format": "wav"},
        {}, "SaveAudio", "audio/RunComfy",
        ["It returns a 10 s stereo WAV (a tone whose pitch comes from the prompt); Save Audio writes it as FLAC."]),
]

# ComfyUI core nodes as the UI format saves them (0.3.64 / 0.33): widgets and outputs.
LOAD_IMAGE_FILE = "example.png"          # ships in ComfyUI's input/ folder
SAVE_WIDGETS = {"SaveImage": lambda p: [p], "SaveVideo": lambda p: [p, "auto", "auto"], "SaveAudio": lambda p: [p]}
SAVE_INPUT = {"SaveImage": ("images", "IMAGE"), "SaveVideo": ("video", "VIDEO"), "SaveAudio": ("audio", "AUDIO")}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def file_title(t: Template) -> str:
    return t.title


def card_description(t: Template) -> str:
    """What the frontends show as the card's description: the name with '-' and '_' as spaces."""
    return " ".join(t.title.replace("-", " ").replace("_", " ").split())


# --- node definitions -------------------------------------------------------------------------

def load_classes():
    """model id -> node class, as the pack builds them: the shipped Wan 2.6 and the emulator's
    catalog (its samples and the three real endpoints it stands in for)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import load_pack
    from runcomfy.emulator import catalog
    pack = load_pack()
    classes, names = pack.nodes.build_mappings([SimpleNamespace(model_id=d["model_id"], doc=d)
                                                for d in catalog.sample_entries()])
    classes.update(pack.NODE_CLASS_MAPPINGS)
    names.update(pack.NODE_DISPLAY_NAME_MAPPINGS)
    for key, cls in classes.items():
        cls.TEMPLATE_TITLE = names.get(key, key)
    return pack, {cls.SCHEMA.model_id: cls for cls in classes.values()}


def _inputs(cls) -> list[tuple[str, object, dict, bool]]:
    it = cls.INPUT_TYPES()
    return [(name, spec[0], spec[1] if len(spec) > 1 else {}, section == "required")
            for section in ("required", "optional") for name, spec in it.get(section, {}).items()]


def _is_widget(kind, opts) -> bool:
    return not opts.get("forceInput") and (isinstance(kind, list) or kind in WIDGET_TYPES)


def _has_control(name, kind, opts) -> bool:
    return kind == "INT" and bool(opts.get("control_after_generate", name in ("seed", "noise_seed")))


def _default(kind, opts):
    if "default" in opts:
        return opts["default"]
    return kind[0] if isinstance(kind, list) else {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}[kind]


def node_values(cls, values: dict) -> tuple[list, dict]:
    """(widgets_values, API literals) for the node: INPUT_TYPES order, 'fixed' after each seed-like INT."""
    widgets, literals = [], {}
    unknown = set(values) - {name for name, *_ in _inputs(cls)}
    if unknown:
        raise SystemExit(f"{cls.__name__}: the template sets inputs the node does not have: {sorted(unknown)}")
    for name, kind, opts, _ in _inputs(cls):
        if not _is_widget(kind, opts):
            continue
        value = values.get(name, _default(kind, opts))
        widgets.append(value)
        literals[name] = value
        if _has_control(name, kind, opts):
            widgets.append("fixed")
    return widgets, literals


# --- the two formats --------------------------------------------------------------------------

# Where the nodes go: one column each, side by side, every node at the top of its column, so a node
# that a renderer draws taller than its saved size (Vue nodes grow to fit their widgets; a Markdown note
# grows to fit its text) grows into empty space and never over another node. Only Load Image nodes
# share a column, LOADER_STEP apart: a Vue Load Image with its preview is about 450 px tall.
TOP = 80
NOTE_X, NOTE_W = -520, 440
LOADER_X, LOADER_W, LOADER_STEP = 0, 320, 600
MODEL_X, MODEL_W = 400, 460
SAVE_X, SAVE_W = 940, 520
# The view a template opens with: the note at the left edge (right of the sidebar, below the top bars),
# the four columns' tops on a 1400 px wide window; at 0.62 the classic canvas still draws every widget
# (below 0.6 LiteGraph draws nodes as plain boxes).
VIEW = {"scale": 0.62, "offset": [641, 111]}


def build(t: Template, cls) -> tuple[dict, dict]:
    nodes, links, api = [], [], {}
    next_id = 1
    loader_ids = {}
    for i, (socket, title) in enumerate(t.loaders.items()):
        loader_ids[socket] = next_id
        nodes.append({"id": next_id, "type": "LoadImage", "pos": [LOADER_X, TOP + LOADER_STEP * i], "size": [LOADER_W, 330],
                      "flags": {}, "order": i, "mode": 0, "inputs": [],
                      "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []},
                                  {"name": "MASK", "type": "MASK", "links": None}],
                      "title": title, "properties": {"Node name for S&R": "LoadImage", "cnr_id": "comfy-core"},
                      "widgets_values": [LOAD_IMAGE_FILE, "image"]})
        api[str(next_id)] = {"class_type": "LoadImage", "inputs": {"image": LOAD_IMAGE_FILE},
                             "_meta": {"title": title}}
        next_id += 1
    ours_id, save_id, note_id = next_id, next_id + 1, next_id + 2
    order = len(t.loaders)
    widgets, literals = node_values(cls, t.values)
    sockets = [(name, kind, req) for name, kind, opts, req in _inputs(cls) if not _is_widget(kind, opts)]
    unknown = set(t.loaders) - {name for name, *_ in sockets}
    if unknown:
        raise SystemExit(f"{cls.__name__}: no sockets {sorted(unknown)}")
    ui_inputs, api_inputs = [], dict(literals)
    for slot, (name, kind, required) in enumerate(sockets):
        entry = {"name": name, "type": kind, "link": None}
        if not required:
            entry["shape"] = 7
        if name in t.loaders:
            link_id = len(links) + 1
            links.append([link_id, loader_ids[name], 0, ours_id, slot, kind])
            entry["link"] = link_id
            nodes[loader_ids[name] - 1]["outputs"][0]["links"].append(link_id)
            api_inputs[name] = [str(loader_ids[name]), 0]
        ui_inputs.append(entry)
    out_types, out_names = list(cls.RETURN_TYPES), list(cls.RETURN_NAMES)
    save_link = len(links) + 1
    links.append([save_link, ours_id, 0, save_id, 0, out_types[0]])
    nodes.append({"id": ours_id, "type": cls.__name__, "pos": [MODEL_X, TOP], "size": [MODEL_W, 720], "flags": {},
                  "order": order, "mode": 0, "inputs": ui_inputs,
                  "outputs": [{"name": n, "type": k, "links": [save_link] if i == 0 else None}
                              for i, (n, k) in enumerate(zip(out_names, out_types))],
                  "properties": {"Node name for S&R": cls.__name__, "cnr_id": PACK_ID,
                                 "runcomfy_model_id": t.model_id},
                  "widgets_values": widgets})
    api[str(ours_id)] = {"class_type": cls.__name__, "inputs": api_inputs, "_meta": {"title": cls.TEMPLATE_TITLE}}
    save_name, save_type = SAVE_INPUT[t.save]
    assert save_type == out_types[0], (t.title, out_types)
    save_widgets = SAVE_WIDGETS[t.save](t.save_prefix)
    nodes.append({"id": save_id, "type": t.save, "pos": [SAVE_X, TOP], "size": [SAVE_W, 480], "flags": {},
                  "order": order + 1, "mode": 0,
                  "inputs": [{"name": save_name, "type": save_type, "link": save_link}], "outputs": [],
                  "properties": {"Node name for S&R": t.save, "cnr_id": "comfy-core"},
                  "widgets_values": save_widgets})
    api_save = {"filename_prefix": t.save_prefix}
    if t.save == "SaveVideo":
        api_save.update(format="auto", codec="auto")
    api_save[save_name] = [str(ours_id), 0]
    api[str(save_id)] = {"class_type": t.save, "inputs": api_save, "_meta": {"title": t.save}}
    nodes.append({"id": note_id, "type": "MarkdownNote", "pos": [NOTE_X, TOP], "size": [NOTE_W, 420], "flags": {},
                  "order": order + 2, "mode": 0, "inputs": [], "outputs": [], "title": "Read me",
                  "properties": {}, "widgets_values": [read_me(t, cls)],
                  **({"color": "#432", "bgcolor": "#653"} if t.emulator else {})})
    ui = {"id": _uuid(t.title), "revision": 0, "last_node_id": note_id, "last_link_id": len(links),
          "nodes": nodes, "links": links, "groups": [], "config": {},
          "extra": {"ds": dict(VIEW, offset=list(VIEW["offset"]))}, "version": 0.4}
    return ui, api


def read_me(t: Template, cls) -> str:
    has_seed = any(_has_control(n, k, o) and n != "generation" for n, k, o, _ in _inputs(cls))
    has_generation = any(n == "generation" for n, *_ in _inputs(cls))
    if t.emulator:
        parts = [f"## {t.title}", t.summary,
                 "This template runs against the pack's **built-in emulator** (free, offline), not RunComfy:",
                 EMULATOR_RUN,
                 "The *Emulator sample* node comes from the emulator's catalog; on a ComfyUI that talks to the real "
                 "service this node does not exist. With your real token, open one of the *RunComfy ...* templates "
                 "or put the RunComfy node of a real model in its place: the sockets are the same.",
                 *t.notes]
    else:
        parts = [f"## {t.title}", t.summary, "1. " + TOKEN_STEP + "\n2. " + CATALOG_STEP +
                 "\n3. Each run is billed by RunComfy; the node shows the price before you run and the cost after.",
                 *t.notes]
        if has_seed:
            parts.append(FIXED_SEED)
        elif has_generation:
            parts.append(FIXED_GENERATION)
        parts += [RESUME, OFFLINE_TRY]
    return "\n\n".join(parts)


def _uuid(title: str) -> str:
    import uuid
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "runcomfy-template:" + title))


def write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- thumbnails -------------------------------------------------------------------------------

def input_picture(size=(512, 512)):
    """The picture the thumbnails feed to Load Image: drawn here (ComfyUI's example.png stays ComfyUI's)."""
    from PIL import Image, ImageDraw
    w, h = size
    img = Image.new("RGB", size, (110, 170, 235))
    d = ImageDraw.Draw(img)
    for y in range(h // 2):                       # sky, lighter towards the horizon
        c = int(110 + 90 * y / (h / 2))
        d.line([(0, y), (w, y)], fill=(c, min(255, c + 60), 240))
    d.ellipse((w * 0.68, h * 0.10, w * 0.86, h * 0.28), fill=(255, 214, 90))
    d.ellipse((-w * 0.2, h * 0.52, w * 0.7, h * 1.2), fill=(96, 190, 96))
    d.ellipse((w * 0.35, h * 0.58, w * 1.3, h * 1.3), fill=(70, 160, 80))
    d.rectangle((w * 0.18, h * 0.50, w * 0.42, h * 0.72), fill=(235, 225, 205))      # a house
    d.polygon([(w * 0.14, h * 0.51), (w * 0.30, h * 0.36), (w * 0.46, h * 0.51)], fill=(200, 70, 60))
    d.rectangle((w * 0.27, h * 0.60, w * 0.33, h * 0.72), fill=(120, 80, 50))
    for cx, cy in ((0.2, 0.18), (0.45, 0.12)):
        for dx in (-0.05, 0, 0.05):
            d.ellipse((w * (cx + dx - 0.05), h * (cy - 0.035), w * (cx + dx + 0.05), h * (cy + 0.035)),
                      fill=(250, 250, 252))
    return img


def run_template(pack, classes, t: Template, picture):
    """The API template's node run against an emulator (as ComfyUI would run it); returns
    (what kind, output) with output a PIL image, a list of frames or (samples, rate)."""
    import numpy as np
    import torch

    from runcomfy.media.codecs import video as video_codec
    from runcomfy.emulator import Emulator, catalog
    api = json.loads((EXAMPLES / "api" / f"{t.title}.json").read_text(encoding="utf-8"))
    node_id, ours = next((k, n) for k, n in api.items() if n["class_type"] not in ("LoadImage", "SaveImage",
                                                                                  "SaveVideo", "SaveAudio"))
    tensor = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)[None]
    kwargs = {k: (tensor if isinstance(v, list) else v) for k, v in ours["inputs"].items()}
    cls = classes[t.model_id]
    with tempfile.TemporaryDirectory() as tmp, Emulator(token="tok-make-templates", processing_time=0.05) as emu:
        emu.serve_catalog(catalog.sample_entries(), replace=False)
        os.environ.update(RUNCOMFY_API_TOKEN="tok-make-templates", RUNCOMFY_MODEL_API_BASE=emu.base_url,
                          RUNCOMFY_CONFIG_DIR=str(Path(tmp) / "config"), RUNCOMFY_STATE_DIR=str(Path(tmp) / "state"))
        out = getattr(cls(), cls.FUNCTION)(unique_id=node_id, **kwargs)
        media, _urls, rid = asyncio.run(out) if inspect.isawaitable(out) else out
        raw = emu.file_bytes(rid, 0)
    kind = cls.RETURN_TYPES[0]
    if kind == "IMAGE":
        from PIL import Image
        return kind, Image.fromarray((media[0].numpy() * 255).clip(0, 255).astype("uint8"))
    if kind == "VIDEO":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "result.mp4"
            path.write_bytes(raw)
            return kind, video_codec.decode_frames(str(path), max_frames=1000)
    return kind, (media["waveform"][0].numpy(), media["sample_rate"])


def _font(size: int, bold: bool = False):
    from PIL import ImageFont
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu"):
        if Path(folder, name).exists():
            return ImageFont.truetype(str(Path(folder, name)), size)
    return ImageFont.load_default(size)


def _wrap(draw, text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])


def _framed(card, img, box, label, font):
    from PIL import ImageDraw
    x0, y0, x1, y1 = box
    fit = img.copy()
    fit.thumbnail((x1 - x0, y1 - y0))
    px, py = x0 + (x1 - x0 - fit.width) // 2, y0 + (y1 - y0 - fit.height) // 2
    card.paste(fit, (px, py))
    d = ImageDraw.Draw(card)
    d.rectangle((px - 1, py - 1, px + fit.width, py + fit.height), outline=(90, 96, 110))
    d.text(((x0 + x1) // 2, py + fit.height + 6), label, font=font, fill=(200, 204, 214), anchor="mt")


def _waveform(samples, rate, size):
    from PIL import Image, ImageDraw
    import numpy as np
    w, h = size
    img = Image.new("RGB", size, (24, 28, 38))
    d = ImageDraw.Draw(img)
    mono = samples.mean(axis=0) if samples.ndim == 2 else samples
    shown = mono[: int(rate * 0.02)]                       # 20 ms: the tone's waves are visible
    peak = float(np.abs(mono).max()) or 1.0
    pts = [(i * (w - 1) / max(1, len(shown) - 1), h / 2 - (h * 0.4) * float(v) / peak) for i, v in enumerate(shown)]
    d.line(pts, fill=(110, 200, 255), width=3)
    return img


def draw_card(t: Template, picture, kind: str, output):
    """512x512: title, a badge (real model / emulator), input -> output, and what the output is."""
    from PIL import Image, ImageDraw
    W = H = 512
    emulator = t.emulator
    card = Image.new("RGB", (W, H), (30, 32, 40))
    d = ImageDraw.Draw(card)
    name, task = t.title.split(" - ", 1)
    # The top-left corner is under the frontend's own chip (1.58: "Node graph"): the badge is
    # right-aligned in a band across the top, the title below it.
    badge, note, color = (("EMULATOR TEST", "offline \u00b7 not a real model", (250, 190, 40)) if emulator else
                          ("REAL MODEL", "RunComfy Model API \u00b7 needs a token", (80, 150, 255)))
    d.rectangle((0, 0, W, 62), fill=color)
    d.text((W - 16, 8), badge, font=_font(24, True), fill=(20, 22, 28), anchor="ra")
    d.text((W - 16, 38), note, font=_font(15, True), fill=(20, 22, 28), anchor="ra")
    size = 30
    while size > 16 and d.textlength(name, font=_font(size, True)) > W - 40:
        size -= 1
    d.text((20, 76 + (30 - size) // 2), name, font=_font(size, True), fill=(245, 246, 250))
    d.text((20, 114), task, font=_font(17), fill=(190, 196, 210))
    small = _font(14)
    top, bottom = 152, 458
    if t.loaders:
        n = len(t.loaders)
        for i in range(n):
            y0 = top + i * (bottom - top) // n
            _framed(card, picture, (20, y0, 170, y0 + (bottom - top) // n - 26),
                    f"image {i + 1}" if n > 1 else "input", small)
        left_end = 180
    else:
        prompt = t.values.get("tags") or t.values.get("prompt") or ""
        d.rounded_rectangle((20, top, 180, bottom - 26), radius=8, fill=(44, 48, 60))
        y = top + 10
        for line in _wrap(d, f"\u201c{prompt}\u201d", small, 140)[:12]:
            d.text((28, y), line, font=small, fill=(225, 228, 236))
            y += 19
        d.text((100, bottom - 20), "prompt", font=small, fill=(200, 204, 214), anchor="mt")
        left_end = 190
    mid_y = (top + bottom - 26) // 2
    d.polygon([(left_end + 4, mid_y - 15), (left_end + 24, mid_y), (left_end + 4, mid_y + 15)],
              fill=(250, 190, 40))
    box = (left_end + 34, top, W - 20, bottom - 26)
    if kind == "IMAGE":
        _framed(card, output, box, "result", small)
    elif kind == "VIDEO":
        frames = output
        picks = [frames[round(i * (len(frames) - 1) / 3)] for i in range(4)]
        x0, y0, x1, y1 = box
        cw, ch = (x1 - x0 - 8) // 2, (y1 - y0 - 8) // 2
        for i, f in enumerate(picks):
            cx, cy = x0 + (i % 2) * (cw + 8), y0 + (i // 2) * (ch + 8)
            _framed(card, Image.fromarray(f), (cx, cy, cx + cw, cy + ch), "", small)
        seconds = float(t.values.get("duration") or 0)
        d.text(((x0 + x1) // 2, y1 + 6), f"video{f' ({seconds:g} s)' if seconds else ''}: four frames, "
               "start to end", font=small, fill=(200, 204, 214), anchor="mt")
    else:
        samples, rate = output
        seconds = samples.shape[-1] / rate
        x0, y0, x1, y1 = box
        mid = (y0 + y1) // 2
        _framed(card, _waveform(samples, rate, (x1 - x0, 170)), (x0, mid - 85, x1, mid + 85),
                f"audio: {seconds:.0f} s", small)
    foot = ("made-up model, free: the emulator's own output" if emulator else
            "preview made offline by the pack's emulator, not by the model")
    d.text((W // 2, H - 22), foot, font=_font(13), fill=(150, 156, 170), anchor="mm")
    return card


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--thumbnails", action="store_true", help="also run each template against the emulator "
                                                             "and draw its .jpg")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a template differs from what "
                                                        "the node definitions give today")
    args = p.parse_args(argv)
    pack, classes = load_classes()
    if args.check:
        stale = []
        for t in TEMPLATES:
            ui, api = build(t, classes[t.model_id])
            for path, doc in ((EXAMPLES / f"{t.title}.json", ui), (EXAMPLES / "api" / f"{t.title}.json", api)):
                if not path.exists() or json.loads(path.read_text(encoding="utf-8")) != doc:
                    stale.append(str(path.relative_to(ROOT)))
        for name in stale:
            print(f"differs from the node definitions: {name}")
        return 1 if stale else 0
    keep = {f"{t.title}.json" for t in TEMPLATES}
    for t in TEMPLATES:
        ui, api = build(t, classes[t.model_id])
        write_json(EXAMPLES / f"{t.title}.json", ui)
        write_json(EXAMPLES / "api" / f"{t.title}.json", api)
    for folder in (EXAMPLES, EXAMPLES / "api"):          # names from before are not templates any more
        for path in folder.glob("*.json"):
            if path.name not in keep:
                print(f"not a template any more: {path.relative_to(ROOT)} (remove it with git rm)")
    if args.thumbnails:
        picture = input_picture()
        for t in TEMPLATES:
            kind, output = run_template(pack, classes, t, picture)
            draw_card(t, picture, kind, output).save(EXAMPLES / f"{t.title}.jpg", quality=88)
            print(f"drew {t.title}.jpg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
