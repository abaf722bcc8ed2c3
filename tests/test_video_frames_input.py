"""Video inputs on a ComfyUI without a VIDEO type (IMAGE batch + ``<socket>_fps``), and the
per-request cap naming the parts' sizes.

ComfyUI is stood in for by a ``nodes`` module with ``load_custom_node`` (what the pack looks
for to know it runs inside ComfyUI) and, for a core with VIDEO, ``comfy_api`` modules with the
video class names; a core without VIDEO has ``comfy_api`` unimportable. Runs go over real
sockets to the emulator, which decodes the videos it receives (runcomfy/emulator/mediacheck.py).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import math
import sys
import types

import numpy as np
import pytest
import torch

from runcomfy.media.codecs import video as video_codec
from runcomfy.emulator import catalog

TOKEN = "tok-video-frames-51c2"
R2V = "emulator-samples/video-gen/reference-to-video"


def fake_comfyui(monkeypatch, *, with_video: bool):
    registry = types.ModuleType("nodes")
    registry.load_custom_node = lambda *a, **k: None
    monkeypatch.setitem(sys.modules, "nodes", registry)
    if not with_video:
        for name in ("comfy_api", "comfy_api.input", "comfy_api.input_impl", "comfy_api.util"):
            monkeypatch.setitem(sys.modules, name, None)       # import fails, as on an old core
        return
    mods = {n: types.ModuleType(n) for n in ("comfy_api", "comfy_api.input", "comfy_api.input_impl",
                                             "comfy_api.util")}
    for mod, names in (("comfy_api.input", ("VideoInput",)),
                       ("comfy_api.input_impl", ("VideoFromFile", "VideoFromComponents")),
                       ("comfy_api.util", ("VideoComponents",))):
        for n in names:
            setattr(mods[mod], n, type(n, (), {"__init__": lambda self, *a, **k: setattr(self, "args", a)}))
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)


@pytest.fixture
def old_comfy(monkeypatch):
    fake_comfyui(monkeypatch, with_video=False)


@pytest.fixture
def emu(start_emulator):
    e = start_emulator(TOKEN, as_env=True, processing_time=0.05, workers=2)
    e.serve_catalog(catalog.sample_entries(), replace=False)
    return e


def schema_of(pack, model_id):
    return pack.runcomfy.schema.parse_schema(next(d for d in catalog.sample_entries() if d["model_id"] == model_id))


def node(pack, model_id=R2V):
    return pack.nodes.model_node.make_node_class(schema_of(pack, model_id))


def call(cls, **kw):
    out = getattr(cls(), cls.FUNCTION)(**kw)
    return asyncio.run(out) if inspect.isawaitable(out) else out


def frames(n, h=96, w=128, seed=0):
    """n frames whose content changes per frame (a moving gradient plus a frame-index bar)."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        out[i, ..., 0] = (xx * 2 + i * 9 + seed) % 256
        out[i, ..., 1] = (yy * 2) % 256
        out[i, ..., 2] = (i * 255) // max(1, n - 1)
    return torch.from_numpy(out).float() / 255


def mono_image(rgb=(10, 20, 30), w=64, h=48):
    t = torch.zeros((1, h, w, 3))
    for c in range(3):
        t[..., c] = rgb[c] / 255
    return t


def inputs_of(cls) -> dict:
    spec = cls.INPUT_TYPES()
    return {**spec["required"], **spec["optional"]}


# --- layout on both kinds of core ---------------------------------------------------------------

def test_without_a_video_type_each_video_socket_is_frames_plus_an_fps_widget(pack, monkeypatch):
    outside = node(pack)                       # no ComfyUI at all: VIDEO sockets, as on current cores
    fake_comfyui(monkeypatch, with_video=False)
    old = node(pack)
    names_old, names_out = list(inputs_of(old)), list(inputs_of(outside))
    assert [n for n in names_old if not n.endswith("_fps")] == names_out
    assert inputs_of(outside)["video_1"][0] == "VIDEO"
    opt = old.INPUT_TYPES()["optional"]
    order = list(opt)
    for i in (1, 2, 3):
        sock, fps = f"video_{i}", f"video_{i}_fps"
        assert opt[sock][0] == "IMAGE" and f"'{fps}'" in opt[sock][1]["tooltip"]
        assert order.index(fps) == order.index(sock) + 1           # the rate right under its frames
        kind, o = opt[fps]
        assert kind == "FLOAT" and (o["default"], o["min"], o["max"]) == (24.0, 1.0, 120.0)
    assert order.index("video_3_fps") < order.index("videos") < order.index("audio_1")
    # Everything that is not a video socket is exactly as outside ComfyUI.
    for name, spec in inputs_of(outside).items():
        if not name.startswith("video_"):
            assert inputs_of(old)[name] == spec
    assert old.INPUT_TYPES()["required"] == outside.INPUT_TYPES()["required"]


def test_with_a_video_type_the_node_inputs_are_unchanged(pack, monkeypatch):
    outside = node(pack)
    fake_comfyui(monkeypatch, with_video=True)
    assert pack.nodes.comfy.video_api() is not None
    current = node(pack)
    assert current.INPUT_TYPES() == outside.INPUT_TYPES()
    assert [n for n in inputs_of(current) if n.endswith("_fps")] == []


def test_a_single_required_video_field_and_a_name_the_schema_already_uses(pack, old_comfy):
    doc = {"model_id": "emulator-tests/video/frames-edit", "categories": ["video-to-video"],
           "input_schema": {"type": "object", "required": ["prompt", "video_url"], "properties": {
               "prompt": {"type": "string"},
               "video_url": {"type": "string", "format": "video_uri"},
               "video_fps": {"type": "integer", "default": 16, "minimum": 8, "maximum": 30}}},
           "output_schema": {"output": {"properties": {"video": {"type": "string", "format": "video_uri"}}}}}
    cls = pack.nodes.model_node.make_node_class(pack.runcomfy.schema.parse_schema(doc))
    req, opt = cls.INPUT_TYPES()["required"], cls.INPUT_TYPES()["optional"]
    assert req["video"][0] == "IMAGE"                      # the model's own field keeps its name
    assert req["video_fps"][0] == "INT" and opt["video_fps_2"][0] == "FLOAT"
    lay = pack.nodes.layout.layout_for(cls.SCHEMA, set(pack.nodes.inputs.pack_inputs()))
    assert lay.frame_rates == {"video": "video_fps_2"}


# --- end to end over real sockets ---------------------------------------------------------------

def test_frames_and_fps_arrive_as_an_mp4_of_that_frame_count_and_rate(pack, emu, old_comfy):
    a, b = frames(12), frames(7, h=64, w=80, seed=100)
    video, urls, rid = call(node(pack), prompt="frames in", image_1=mono_image(), video_1=a, video_1_fps=12.0,
                            video_2=b, aspect_ratio="1:1", unique_id="81")
    job = emu.jobs[rid]
    sent = job.payload["videos"]
    assert len(sent) == 2 and all(u.startswith("data:video/mp4;base64,") for u in sent)
    raws = [raw for kind, raw in job.media if kind == "video"]
    assert len(raws) == 2
    p1, p2 = video_codec.probe(raws[0]), video_codec.probe(raws[1])
    assert (p1.video_codec, p1.frames, p1.width, p1.height) == ("h264", 12, 128, 96)
    assert p1.fps == pytest.approx(12.0) and p1.duration_s == pytest.approx(1.0, abs=0.01)
    assert (p2.frames, p2.width, p2.height) == (7, 80, 64)
    assert p2.fps == pytest.approx(24.0)                    # the widget left out: its default
    assert not p1.has_audio
    # The frames themselves travelled (CRF 18: close, not bit-exact), in order.
    got = video_codec.decode_frames(raws[0]).astype(np.float32)
    want = (a.numpy() * 255).round().astype(np.float32)
    assert got.shape == want.shape and np.abs(got - want).mean() < 4.0
    assert np.abs(got[0] - want[-1]).mean() > 20.0          # frame 1 is not frame 12
    assert sent[0] == "data:video/mp4;base64," + base64.b64encode(raws[0]).decode()
    # No VIDEO type on this core: the result is the pack's file-backed stand-in.
    assert type(video).__name__ == "RunComfyVideo" and video.get_duration() > 0


def test_a_fractional_frame_rate_is_kept(pack, emu, old_comfy):
    _, _, rid = call(node(pack), prompt="ntsc", image_1=mono_image(), video_1=frames(10), video_1_fps=29.97,
                     aspect_ratio="1:1", unique_id="82")
    raw = next(raw for kind, raw in emu.jobs[rid].media if kind == "video")
    p = video_codec.probe(raw)
    assert p.frames == 10 and p.fps == pytest.approx(30000 / 1001, rel=1e-3)


@pytest.mark.parametrize("fps", [0.0, 500, math.nan, "fast"])
def test_a_bad_frame_rate_is_refused_naming_the_widget_and_socket(pack, emu, old_comfy, fps):
    with pytest.raises(Exception) as info:
        call(node(pack), prompt="x", image_1=mono_image(), video_1=frames(4), video_1_fps=fps,
             aspect_ratio="1:1", unique_id="83")
    text = str(info.value)
    assert type(info.value).__name__ == "ValidationError"
    assert "'video_1_fps'" in text and "'video_1'" in text and "from 1 to 120 fps" in text
    assert f"got {fps!r}" in text
    assert emu.count("submit") == 0


@pytest.mark.parametrize("bad, why", [
    (torch.zeros((4, 32, 32, 2)), "shaped [frames, height, width, 3], got shape [4, 32, 32, 2]"),
    (torch.zeros((0, 32, 32, 3)), "empty"),
    (torch.zeros((4, 32, 32, 3), dtype=torch.uint8), "floating-point"),
    ("frames.png", "got str"),
])
def test_bad_frames_are_refused_naming_the_socket(pack, emu, old_comfy, bad, why):
    with pytest.raises(Exception) as info:
        call(node(pack), prompt="x", image_1=mono_image(), video_1=frames(3), video_2=bad, video_2_fps=0,
             aspect_ratio="1:1", unique_id="84")
    text = str(info.value)
    assert type(info.value).__name__ == "ValidationError"
    assert "'video_2': is not usable as video frames" in text and why in text
    assert "'video_2_fps'" in text                         # both problems of the socket at once
    assert emu.count("submit") == 0


# --- the per-request cap, before anything is sent ---------------------------------------------------

def test_the_request_cap_error_names_the_parts_and_nothing_reaches_the_emulator(pack, emu, old_comfy,
                                                                                monkeypatch):
    pack_kinds = pack.runcomfy.media.kinds
    assert pack_kinds.REQUEST_CAP_BYTES == 64 * 1024 * 1024
    monkeypatch.setattr(pack_kinds, "REQUEST_CAP_BYTES", 20_000)       # a few kB of frames exceed it
    noise = torch.from_numpy(np.random.default_rng(1).random((8, 96, 128, 3), dtype=np.float32))
    with pytest.raises(Exception) as info:
        call(node(pack), prompt="x", image_1=mono_image(), video_1=noise, video_2=frames(6), video_2_fps=6,
             aspect_ratio="1:1", unique_id="85")
    text = str(info.value)
    assert type(info.value).__name__ == "ValidationError"
    assert "'request': inline media must total at most 0.0190735 MiB per request" in text
    assert "MiB in total: videos[1] " in text                 # the largest part first
    for part in ("videos[2] ", "images[1] ", "other fields "):
        assert part in text
    assert len(emu.calls) == 0                                 # not even a model lookup


def test_the_request_cap_error_states_each_parts_size(emu, monkeypatch):
    from runcomfy.media import kinds
    from runcomfy.api import RunComfyClient
    from runcomfy.errors import ValidationError
    from runcomfy.media.kinds.video import VideoSource
    from runcomfy.run import Runner
    from runcomfy.schema import parse_schema

    rng = np.random.default_rng(2)
    clips = [video_codec.encode_frames(rng.integers(0, 256, (n, 192, 256, 3), dtype=np.uint8), 24)
             for n in (12, 5)]
    uri = [len("data:video/mp4;base64,") + 4 * math.ceil(len(c) / 3) for c in clips]
    monkeypatch.setattr(kinds, "REQUEST_CAP_BYTES", sum(uri) - 1)
    schema = parse_schema(next(d for d in catalog.sample_entries() if d["model_id"] == R2V))
    runner = Runner(RunComfyClient(TOKEN, emu.base_url))
    media = {"images": [np.full((48, 64, 3), 7, np.uint8)], "videos": [VideoSource(data=c) for c in clips]}
    with pytest.raises(ValidationError) as info:
        asyncio.run(runner.generate(schema, {"prompt": "x", "aspect_ratio": "1:1"}, media=media))
    text = str(info.value)
    mib = 1024 * 1024
    assert f"at most {(sum(uri) - 1) / mib:g} MiB per request" in text
    assert f"videos[1] {uri[0] / mib:.1f} MiB, videos[2] {uri[1] / mib:.1f} MiB, images[1] " in text
    assert len(emu.calls) == 0
