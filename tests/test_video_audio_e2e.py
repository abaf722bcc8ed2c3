"""Video and audio through the node's own code path, over real sockets against the emulator:
VIDEO / AUDIO / IMAGE socket values in, native VIDEO (file-backed) and AUDIO out.

ComfyUI's ``comfy_api`` video classes are stood in for by ``FakeComfyApi`` (same method names as
comfy_api.input_impl.VideoFromFile / VideoFromComponents); the real ones are exercised by the
opt-in tests/test_real_comfyui_media.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import io
import json
import sys
import types
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from runcomfy.media.codecs import audio as audio_codec
from runcomfy.media.codecs import video as video_codec
from runcomfy.emulator import catalog, mediagen

TOKEN = "tok-media-e2e-7f3a9c"
T2V = "emulator-samples/video-gen/text-to-video"
I2V = "emulator-samples/video-gen/image-to-video"
R2V = "emulator-samples/video-gen/reference-to-video"
T2A = "emulator-samples/audio-gen/text-to-audio"


# --- stand-ins for ComfyUI's modules ------------------------------------------------------------

class VideoFromFile:
    def __init__(self, file, *, start_time: float = 0, duration: float = 0):
        self._file, self._start, self._duration = file, start_time, duration

    def get_stream_source(self):
        return self._file

    def get_active_trim_window(self):
        return self._start, self._duration

    def get_components(self):
        frames = video_codec.decode_frames(self._file)
        p = video_codec.probe(self._file)
        return VideoComponents(torch.from_numpy(frames).float() / 255, Fraction(p.fps).limit_denominator(1001))


@dataclass
class VideoComponents:
    images: torch.Tensor
    frame_rate: Fraction
    audio: dict | None = None
    metadata: dict | None = None


class VideoFromComponents:
    def __init__(self, components):
        self._c = components

    def get_components(self):
        return self._c


class VideoInput:
    pass


@pytest.fixture
def comfy_env(tmp_path, monkeypatch):
    """comfy_api VIDEO classes and folder_paths (output/temp/user directories under tmp_path)."""
    mods = {"comfy_api": types.ModuleType("comfy_api"), "comfy_api.input": types.ModuleType("comfy_api.input"),
            "comfy_api.input_impl": types.ModuleType("comfy_api.input_impl"),
            "comfy_api.util": types.ModuleType("comfy_api.util"), "folder_paths": types.ModuleType("folder_paths")}
    mods["comfy_api.input"].VideoInput = VideoInput
    mods["comfy_api.input_impl"].VideoFromFile = VideoFromFile
    mods["comfy_api.input_impl"].VideoFromComponents = VideoFromComponents
    mods["comfy_api.util"].VideoComponents = VideoComponents
    for kind in ("output", "temp", "user"):
        (tmp_path / kind).mkdir()
        setattr(mods["folder_paths"], f"get_{kind}_directory", (lambda k=kind: str(tmp_path / k)))
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return tmp_path


@pytest.fixture
def emu(start_emulator):
    e = start_emulator(TOKEN, as_env=True, processing_time=0.05, workers=2)
    e.serve_catalog(catalog.sample_entries(), replace=False)
    return e


def node(pack, model_id, emu):
    schema = pack.runcomfy.schema.parse_schema(next(d for d in catalog.sample_entries() if d["model_id"] == model_id))
    return pack.nodes.model_node.make_node_class(schema)


def call(cls, **kw):
    out = getattr(cls(), cls.FUNCTION)(**kw)
    return asyncio.run(out) if inspect.isawaitable(out) else out


def job_of(emu, urls: str):
    rid = urls.split("/files/")[1].split("/")[0]
    return emu.jobs[rid]


def comment(path_or_bytes) -> dict:
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with av.open(src) as c:
        return json.loads(c.metadata["comment"])


def gradient(n=12, h=96, w=128):
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        out[i, ..., 0] = (xx + i * 5) % 256
        out[i, ..., 1] = yy % 256
        out[i, ..., 2] = 90
    return out


def write_file(path, fmt, codec, frames, fps=24):
    out = av.open(str(path), "w", format=fmt)
    s = out.add_stream(codec, rate=fps)
    s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    for i, fr in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(fr, format="rgb24")
        vf.pts = i
        for p in s.encode(vf):
            out.mux(p)
    for p in s.encode(None):
        out.mux(p)
    out.close()
    return path


def mono_image(rgb, w=400, h=320):
    t = torch.zeros((1, h, w, 3))
    t[..., 0], t[..., 1], t[..., 2] = (c / 255 for c in rgb)
    return t


# --- video out ----------------------------------------------------------------------------------

@pytest.mark.parametrize("audio_on", [True, False])
def test_text_to_video_returns_a_file_backed_video_of_the_requested_duration_and_aspect(pack, emu, comfy_env,
                                                                                       audio_on):
    cls = node(pack, T2V, emu)
    assert cls.RETURN_TYPES == ("VIDEO", "STRING", "STRING")
    video, urls, rid = call(cls, prompt="a paper boat", duration="5", aspect_ratio="9:16",
                            generate_audio=audio_on, seed=11, unique_id="1")
    assert isinstance(video, VideoFromFile)
    path = video.get_stream_source()
    # Streamed into ComfyUI's output area, named by request id; byte-exact with what was served.
    assert path.startswith(str(comfy_env / "output" / "runcomfy")) and rid in path
    assert open(path, "rb").read() == emu.file_bytes(rid, 0)
    p = video_codec.probe(path)
    assert p.video_codec == "h264" and (p.width, p.height) == (256, 456)         # 9:16
    assert p.duration_s == pytest.approx(5.0, abs=0.05) and p.frames == 120
    assert p.has_audio is audio_on
    assert comment(path) == mediagen.tag("a paper boat", 11, [])
    assert urls.endswith(".mp4") and urls.startswith(emu.origin)


def test_image_to_video_frames_show_the_input_image(pack, emu, comfy_env):
    cls = node(pack, I2V, emu)
    out = {}
    for name, rgb in (("red", (230, 20, 20)), ("blue", (20, 20, 230))):
        video, urls, rid = call(cls, prompt="zoom", image=mono_image(rgb), duration=5, resolution="720p",
                                seed=3, unique_id="2")
        frames = video_codec.decode_frames(video.get_stream_source())
        mid = frames[len(frames) // 2, 40:-40, 20:-20].reshape(-1, 3).mean(axis=0)
        out[name] = mid
        job = emu.jobs[rid]
        assert comment(video.get_stream_source())["inputs"] == [hashlib.sha256(job.inputs[0]).hexdigest()[:16]]
        p = video_codec.probe(video.get_stream_source())
        assert (p.width, p.height) == (320, 256) and p.has_audio            # the input's 5:4
    assert out["red"][0] > 150 > out["red"][2] and out["blue"][2] > 150 > out["blue"][0]


def test_several_video_results_first_on_the_socket_all_on_urls(pack, emu, comfy_env, monkeypatch):
    emu.outputs_per_job = 2
    emu.output_field = "images"
    texts = []
    monkeypatch.setattr(pack.nodes.comfy.Progress, "text", lambda self, m, d=None: texts.append(m))
    video, urls, rid = call(node(pack, T2V, emu), prompt="two", duration="5", aspect_ratio="1:1",
                            generate_audio=False, seed=5, unique_id="3")
    lines = urls.splitlines()
    assert len(lines) == 2 and all(u.endswith(".mp4") for u in lines)
    assert video.get_stream_source().endswith("_1.mp4")
    assert comment(video.get_stream_source())["seed"] == 5
    second = comfy_env / "output" / "runcomfy" / f"{rid}_2.mp4"
    assert comment(str(second))["seed"] == 6                  # kept too, not dropped
    assert any("2 videos" in t for t in texts), texts[-1]


# --- video in -----------------------------------------------------------------------------------

def test_an_mp4_h264_video_input_is_sent_byte_for_byte(pack, emu, comfy_env, tmp_path):
    src = write_file(tmp_path / "clip.mp4", "mp4", "libx264", gradient())
    cls = node(pack, R2V, emu)
    video, urls, rid = call(cls, prompt="move like @video1", image_1=mono_image((10, 200, 10)),
                            video_1=VideoFromFile(str(src)), aspect_ratio="16:9", unique_id="4")
    kinds_seen = [k for k, _ in emu.jobs[rid].media]
    assert kinds_seen == ["video"]
    assert emu.jobs[rid].media[0][1] == src.read_bytes()        # unchanged
    assert hashlib.sha256(src.read_bytes()).hexdigest()[:16] in comment(video.get_stream_source())["inputs"]


def test_a_vp9_webm_input_is_re_encoded_and_an_mkv_h264_remuxed(pack, emu, comfy_env, tmp_path):
    cls = node(pack, R2V, emu)
    webm = write_file(tmp_path / "clip.webm", "webm", "libvpx-vp9", gradient(8))
    mkv = write_file(tmp_path / "clip.mkv", "matroska", "libx264", gradient(8))
    video, urls, rid = call(cls, prompt="x", image_1=mono_image((1, 2, 3)), video_1=VideoFromFile(str(webm)),
                            video_2=VideoFromFile(str(mkv)), aspect_ratio="1:1", unique_id="5")
    sent = [raw for k, raw in emu.jobs[rid].media]
    probes = [video_codec.probe(raw) for raw in sent]
    assert [p.verdict()[0] for p in probes] == ["unchanged", "unchanged"]    # what arrived is MP4/H.264
    assert all(p.frames == 8 for p in probes)
    # The remuxed one carries the very same pictures (packets copied).
    assert np.array_equal(video_codec.decode_frames(sent[1]), video_codec.decode_frames(str(mkv)))


def test_a_video_made_of_frames_in_memory_is_encoded_with_its_audio(pack, emu, comfy_env):
    frames = torch.from_numpy(gradient(10)).float() / 255
    tone = audio_codec.tone(523, 10 / 24, 48000, 2)
    comps = VideoComponents(frames, Fraction(24), {"waveform": torch.from_numpy(tone.samples)[None],
                                                    "sample_rate": 48000})
    video, urls, rid = call(node(pack, R2V, emu), prompt="x", image_1=mono_image((1, 2, 3)),
                            video_1=VideoFromComponents(comps), aspect_ratio="1:1", unique_id="6")
    raw = emu.jobs[rid].media[0][1]
    p = video_codec.probe(raw)
    assert (p.video_codec, p.frames, p.width, p.height) == ("h264", 10, 128, 96)
    assert (p.audio_codec, p.sample_rate, p.channels) == ("aac", 48000, 2)


def test_a_trimmed_file_video_is_not_sent_whole(pack, emu, comfy_env, tmp_path):
    src = write_file(tmp_path / "clip.mp4", "mp4", "libx264", gradient(12))

    class Trimmed(VideoFromFile):
        def get_components(self):
            c = super().get_components()
            return VideoComponents(c.images[:6], c.frame_rate)
    _, _, rid = call(node(pack, R2V, emu), prompt="x", image_1=mono_image((1, 2, 3)),
                     video_1=Trimmed(str(src), start_time=0, duration=0.25), aspect_ratio="1:1", unique_id="7")
    raw = emu.jobs[rid].media[0][1]
    assert raw != src.read_bytes() and video_codec.probe(raw).frames == 6


def test_video_urls_work_like_image_urls(pack, emu, comfy_env):
    first, urls, _ = call(node(pack, T2V, emu), prompt="source", duration="5", aspect_ratio="16:9",
                          generate_audio=True, seed=1, unique_id="8")
    video, _, rid = call(node(pack, R2V, emu), prompt="x", image_1=mono_image((1, 2, 3)), videos=urls,
                         aspect_ratio="16:9", unique_id="9")
    assert emu.jobs[rid].payload["videos"] == [urls]           # the URL itself travelled, not re-uploaded
    assert emu.jobs[rid].media[0][1] == open(first.get_stream_source(), "rb").read()


# --- audio in and out ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_text_to_audio_returns_native_audio(pack, emu, comfy_env, fmt):
    cls = node(pack, T2A, emu)
    assert cls.RETURN_TYPES[0] == "AUDIO"
    audio, urls, rid = call(cls, prompt="a bell", duration=3.0, output_format=fmt, unique_id="10")
    assert urls.endswith("." + fmt)
    wave = audio["waveform"]
    assert isinstance(wave, torch.Tensor) and wave.dtype == torch.float32
    assert tuple(wave.shape[:2]) == (1, 2) and audio["sample_rate"] == 44100
    assert wave.shape[2] == pytest.approx(3 * 44100, abs=1200 if fmt == "mp3" else 0)
    spec = np.abs(np.fft.rfft(wave[0, 0].numpy()))
    assert np.argmax(spec) * 44100 / wave.shape[2] == pytest.approx(mediagen.tone_hz("a bell", 0, []), abs=2)


def test_audio_socket_is_sent_as_16_bit_wav_at_its_own_rate_and_channels(pack, emu, comfy_env):
    rng = np.random.default_rng(1)
    wave = (rng.standard_normal((1, 3, 22050)) * 0.4).astype(np.float32)
    wave[0, 0, :10] = 1.7                                      # over full scale: clamped, not wrapped
    _, _, rid = call(node(pack, R2V, emu), prompt="x", image_1=mono_image((1, 2, 3)),
                     audio_1={"waveform": torch.from_numpy(wave), "sample_rate": 22050}, aspect_ratio="1:1",
                     unique_id="11")
    kind, raw = emu.jobs[rid].media[0]
    assert kind == "audio" and raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    clip = audio_codec.decode(raw)
    assert clip.sample_rate == 22050 and clip.channels == 3 and clip.frames == 22050
    assert np.max(np.abs(clip.samples - np.clip(wave[0], -1, 1))) < 2 / 32767
    assert emu.jobs[rid].payload["audios"][0].startswith("data:audio/wav;base64,")


# --- limits before spending ---------------------------------------------------------------------

def test_an_input_over_the_per_video_cap_is_refused_before_submitting(pack, emu, comfy_env, tmp_path,
                                                                      monkeypatch):
    from runcomfy_pack.runcomfy.media.kinds import video as pack_video_kind   # the pack's own copy
    assert pack_video_kind.KIND.inline_cap_bytes == 32 * 1024 * 1024
    src = write_file(tmp_path / "clip.mp4", "mp4", "libx264", gradient(24))
    size = src.stat().st_size
    monkeypatch.setattr(pack_video_kind.KIND, "inline_cap_bytes", size - 1)
    with pytest.raises(Exception, match=r"video_1|videos\[1\]") as info:
        call(node(pack, R2V, emu), prompt="x", image_1=mono_image((1, 2, 3)), video_1=VideoFromFile(str(src)),
             aspect_ratio="1:1", unique_id="12")
    assert "MiB" in str(info.value) and type(info.value).__name__ == "ValidationError"
    assert emu.count("submit") == 0


def test_a_duration_rule_of_the_schema_is_checked_before_submitting(pack, emu, comfy_env, tmp_path):
    doc = {"model_id": "emulator-tests/video/edit", "categories": ["video-to-video"],
           "input_schema": {"type": "object", "required": ["prompt", "video_url"], "properties": {
               "prompt": {"type": "string"},
               "video_url": {"type": "string", "format": "video_uri", "validations": [
                   {"validation_rule": "duration_seconds<", "validation_value": 0.25,
                    "validation_error": "At most 0.25 s."}]}}},
           "output_schema": {"output": {"properties": {"video": {"type": "string", "format": "video_uri"}}}}}
    emu.serve_catalog([doc], replace=False)
    cls = pack.nodes.model_node.make_node_class(pack.runcomfy.schema.parse_schema(doc))
    src = write_file(tmp_path / "clip.mp4", "mp4", "libx264", gradient(12))      # 0.5 s
    sockets = [k for k, v in {**cls.INPUT_TYPES()["required"], **cls.INPUT_TYPES()["optional"]}.items()
               if v[0] == "VIDEO"]
    with pytest.raises(Exception, match=r"video \(video_url\): duration must be at most 0\.25 s, got 0\.5 s"):
        call(cls, prompt="x", **{sockets[0]: VideoFromFile(str(src))}, unique_id="13")
    assert emu.count("submit") == 0


def test_a_413_is_reported_as_too_large_with_the_sizes_of_the_parts(pack, emu, comfy_env, tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (24, 96, 128, 3), dtype=np.uint8)   # ~140 kB as H.264
    src = write_file(tmp_path / "clip.mp4", "mp4", "libx264", noise)
    emu.max_body_bytes = 100_000
    with pytest.raises(Exception) as info:
        call(node(pack, R2V, emu), prompt="x", image_1=mono_image((1, 2, 3)), video_1=VideoFromFile(str(src)),
             aspect_ratio="1:1", unique_id="14")
    text = str(info.value)
    assert type(info.value).__name__ == "RequestTooLargeError"
    assert "the request is too large" in text and "videos[1]" in text and "images[1]" in text
    assert "HTTP 413" in text and emu.submits_accepted == 0


def test_the_emulator_refuses_what_the_service_would(emu):
    import requests
    h = {"Authorization": f"Bearer {TOKEN}"}
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG not really").decode()
    body = {"prompt": "x", "images": [png], "videos": ["data:video/mp4;base64," + base64.b64encode(b"junk" * 40).decode()],
            "audios": ["data:audio/wav;base64," + base64.b64encode(video_codec.encode_frames(gradient(2), 24)).decode()]}
    r = requests.post(f"{emu.base_url}/models/{R2V}", json=body, headers=h, timeout=30)
    assert r.status_code == 422
    msg = r.json()["message"]
    assert "'videos[1]': not a decodable video" in msg and "'audios[1]': not decodable audio" in msg
    emu.max_video_bytes = 1000
    big = video_codec.encode_frames(gradient(24), 24)
    body["videos"] = ["data:video/mp4;base64," + base64.b64encode(big).decode()]
    r = requests.post(f"{emu.base_url}/models/{R2V}", json=body, headers=h, timeout=30)
    assert r.status_code == 422
    assert f"'videos[1]': the video is {len(big):,} bytes, over the 1,000-byte" in r.json()["message"]
    emu.max_video_bytes, emu.max_video_seconds = 32 << 20, 0.5     # 1 s of video
    r = requests.post(f"{emu.base_url}/models/{R2V}", json=body, headers=h, timeout=30)
    assert "'videos[1]': the video is 1.0 s long, over the 0.5 s limit" in r.json()["message"]
    assert emu.submits_accepted == 0


# --- no VIDEO type, dry run -----------------------------------------------------------------------

def test_without_comfy_api_the_video_node_returns_a_file_backed_stand_in(pack, emu, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "comfy_api", None)
    monkeypatch.setitem(sys.modules, "comfy_api.input", None)
    video, urls, rid = call(node(pack, T2V, emu), prompt="old comfy", duration="5", aspect_ratio="16:9",
                            generate_audio=True, seed=2, unique_id="15")
    assert type(video).__name__ == "RunComfyVideo"
    assert video.get_dimensions() == (456, 256) and video.get_duration() == pytest.approx(5.0, abs=0.05)
    copy = tmp_path / "saved.mp4"
    video.save_to(str(copy))
    assert copy.read_bytes() == emu.file_bytes(rid, 0)


def test_dry_run_of_a_video_model_returns_a_playable_video_and_sends_nothing(pack, emu, comfy_env, tmp_path):
    src = write_file(tmp_path / "clip.mp4", "mp4", "libx264", gradient(6))
    video, urls, rid = call(node(pack, R2V, emu), prompt="x", image_1=mono_image((1, 2, 3)),
                            video_1=VideoFromFile(str(src)), aspect_ratio="1:1", dry_run=True, unique_id="16")
    assert emu.count("submit") == 0 and urls == "" and rid == ""
    assert video is not None and video_codec.probe(video.get_stream_source()).video_codec == "h264"


def test_videos_over_the_per_request_total_are_refused_before_submitting(pack, emu, comfy_env, tmp_path,
                                                                         monkeypatch):
    from runcomfy_pack.runcomfy.media import kinds as pack_kinds
    assert pack_kinds.REQUEST_CAP_BYTES == 64 * 1024 * 1024
    a = write_file(tmp_path / "a.mp4", "mp4", "libx264", gradient(24))
    b = write_file(tmp_path / "b.mp4", "mp4", "libx264", gradient(24, h=128, w=160))
    # Each under the per-video cap, together over a request cap of one video's size.
    monkeypatch.setattr(pack_kinds, "REQUEST_CAP_BYTES", a.stat().st_size * 4 // 3 + 200)
    with pytest.raises(Exception, match=r"'request': inline media must total at most") as info:
        call(node(pack, R2V, emu), prompt="x", image_1=mono_image((1, 2, 3)), video_1=VideoFromFile(str(a)),
             video_2=VideoFromFile(str(b)), aspect_ratio="1:1", unique_id="17")
    assert type(info.value).__name__ == "ValidationError" and "MiB" in str(info.value)
    assert emu.count("submit") == 0
