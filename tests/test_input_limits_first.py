"""Input limits first, work after (issue 16, point 9): the size, duration and count rules of VIDEO
and AUDIO inputs are checked from the file's size and header (or the waveform's shape) before
anything is read whole, decoded or re-encoded; a re-encode stops on Stop within a frame and once
its output passes the byte cap. The issue's large cases (a 3.0 GB video, a 1-hour AUDIO) run in a
child process whose peak memory is measured, through the pipeline against the emulator: nothing
reaches it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from runcomfy.media.codecs import audio as audio_codec
from runcomfy.media.codecs import video as video_codec
from runcomfy.errors import Interrupted, ValidationError
from runcomfy.media.kinds import PrepareOptions
from runcomfy.media.kinds.audio import KIND as AUDIO
from runcomfy.media.kinds.video import KIND as VIDEO, VideoSource
from runcomfy.schema import parse_schema

TOKEN = "tok-limits-first-91ab"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "emulator-tests/limits/edit"
DOC = {"model_id": MODEL, "categories": ["video-to-video"],
       "input_schema": {"type": "object", "required": ["prompt"], "properties": {
           "prompt": {"type": "string"},
           "video_url": {"type": "string", "format": "video_uri", "validations": [
               {"validation_rule": "duration_seconds<", "validation_value": 10}]},
           "audio_url": {"type": "string", "format": "audio_uri"},
           "any_video": {"type": "string", "format": "video_uri"},
           "small_video": {"type": "string", "format": "video_uri", "validations": [
               {"validation_rule": "file_size_mb<", "validation_value": 0.2}]}}},
       "output_schema": {"output": {"properties": {"video": {"type": "string", "format": "video_uri"}}}}}


def field(name):
    return next(f for f in parse_schema(DOC).media_fields if f.name == name)


def write_video(path, seconds, size=(320, 180), fps=24, codec="mpeg4", noise=False):
    """A synthetic clip: black (cheap to write at any length) or noise (hard to compress)."""
    w, h = size
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w") as out:
        st = out.add_stream(codec, rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        black = av.VideoFrame.from_ndarray(np.zeros((h, w, 3), np.uint8), format="rgb24")
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), format="rgb24") \
                if noise else black
            frame.pts = i
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return str(path)


# --- video: from the header, before any work ----------------------------------------------------

def test_a_60_s_mpeg4_is_refused_by_the_10_s_rule_before_any_re_encode(tmp_path, monkeypatch):
    src = write_video(tmp_path / "long.mp4", 60)
    assert video_codec.probe(src).verdict()[0] == "reencode"
    calls = []
    monkeypatch.setattr(video_codec, "transcode", lambda *a, **k: calls.append(a))
    with pytest.raises(ValidationError) as ei:
        VIDEO.prepare([VideoSource(path=src)], field("video_url"), PrepareOptions())
    assert "'video_url' duration must be at most (s) 10 (got '60 s')" in str(ei.value)
    assert calls == []                                         # nothing was re-encoded


def test_an_unchanged_mp4_over_the_cap_is_refused_from_its_size_without_reading_it(tmp_path, monkeypatch):
    src = tmp_path / "big.mp4"
    video_codec.encode_frames(np.zeros((24, 64, 64, 3), np.uint8), 24, dst=src)
    with open(src, "r+b") as fh:
        fh.truncate(40 << 20)                                  # a valid MP4, 40 MiB on disk (sparse)
    assert video_codec.probe(str(src)).verdict()[0] == "unchanged"
    real_open = open
    read = []

    def spy(path, mode="r", *a, **k):
        if os.fspath(path) == str(src) and "b" in mode:
            read.append(mode)
        return real_open(path, mode, *a, **k)
    monkeypatch.setattr("builtins.open", spy)
    with pytest.raises(ValidationError, match=r"'video_url' must be at most \(MiB, inline video\) 32 "
                                              r"\(got '40\.00 MiB'\)"):
        VIDEO.prepare([VideoSource(path=str(src))], field("video_url"), PrepareOptions())
    assert read == ["rb"]          # the 12-byte brand check only; the file itself was never read


def test_a_re_encode_stops_once_its_output_passes_the_byte_cap(tmp_path):
    src = write_video(tmp_path / "noise.mkv", 4, size=(320, 240), codec="mpeg4", noise=True)
    with pytest.raises(ValidationError, match=r"'small_video': the video to send would be over this input's "
                                              r"0\.19\d* MiB limit") as ei:
        VIDEO.prepare([VideoSource(path=src)], field("small_video"), PrepareOptions())
    m = [int(x) for x in __import__("re").search(r"after (\d+) of (\d+) frames", str(ei.value)).groups()]
    assert m[0] < m[1] == 96                                   # stopped before the end


def test_stop_ends_a_re_encode_at_the_next_frame(tmp_path):
    src = write_video(tmp_path / "long.mkv", 30, size=(640, 360))
    asked = []
    stop_at = 12

    def should_abort():
        asked.append(time.monotonic())
        return len(asked) >= stop_at
    t0 = time.monotonic()
    with pytest.raises(Interrupted, match="Stopped while preparing the video for 'any_video'"):
        VIDEO.prepare([VideoSource(path=src, should_abort=should_abort)], field("any_video"), PrepareOptions())
    ended = time.monotonic()
    assert len(asked) == stop_at                   # asked once per frame, never again after "stop"
    print(f"re-encode of 640x360: Stop seen at frame {stop_at}, ended {ended - asked[-1]:.3f} s later "
          f"({ended - t0:.2f} s in all)")


def test_frames_are_checked_by_count_and_rate_before_encoding(monkeypatch):
    calls = []
    monkeypatch.setattr(video_codec, "encode_frames", lambda *a, **k: calls.append(a))

    def frames():
        raise AssertionError("no frame may be converted before the limits are checked")
        yield
    src = VideoSource(frames=frames(), fps=24, frame_count=24 * 11)
    with pytest.raises(ValidationError, match=r"duration must be at most \(s\) 10 \(got '11 s"):
        VIDEO.prepare([src], field("video_url"), PrepareOptions())
    assert calls == []


# --- audio: from the waveform's shape -----------------------------------------------------------

def test_audio_over_the_cap_is_refused_from_its_shape_before_encoding(monkeypatch):
    calls = []
    monkeypatch.setattr(audio_codec, "encode_wav", lambda *a, **k: calls.append(a))
    clip = audio_codec.AudioClip(np.zeros((2, 48_000 * 100), np.float32), 48_000)     # 100 s: 18.3 MiB as WAV
    with pytest.raises(ValidationError, match=r"'audio_url' must be at most \(MiB, inline audio\) 16 "
                                              r"\(got '18\.31 MiB'\)"):
        AUDIO.prepare([clip], field("audio_url"), PrepareOptions())
    assert calls == []


def test_the_chunked_wav_is_the_same_file_as_before():
    rng = np.random.default_rng(3)
    for ch in (1, 2, 6):
        clip = audio_codec.AudioClip((rng.standard_normal((ch, 70_001)) * 0.7).astype(np.float32), 44_100)
        data = audio_codec.encode_wav(clip, chunk_frames=4096)
        assert len(data) == audio_codec.wav_size(ch, 70_001)
        back = audio_codec.decode(data)
        assert back.channels == ch and back.frames == 70_001
        assert np.array_equal(np.rint(back.samples * 32768).astype(np.int32),
                              audio_codec.to_int16(clip.samples).astype(np.int32))


# --- the large cases, peak memory measured in a child process ---------------------------

CHILD = r"""
import asyncio, importlib.util, json, os, resource, sys
a = json.loads(sys.argv[1])
spec = importlib.util.spec_from_file_location("runcomfy_pack", os.path.join(sys.argv[2], "__init__.py"),
                                              submodule_search_locations=[sys.argv[2]])
pack = importlib.util.module_from_spec(spec)
sys.modules["runcomfy_pack"] = pack
spec.loader.exec_module(pack)           # the pack as ComfyUI imports it
import torch
from runcomfy_pack.runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy_pack.runcomfy.run import Runner
from runcomfy_pack.runcomfy.run.polling import PollPolicy
from runcomfy_pack.runcomfy.schema import parse_schema
from runcomfy_pack.runcomfy.media.kinds.video import VideoSource
from runcomfy_pack.nodes import audio_io, video_io
import av

def rss_now():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
media = {}
if a["kind"] == "audio":
    # What ComfyUI hands the node: an AUDIO dict whose waveform is already in memory (touched).
    wave = torch.empty((1, 2, int(a["seconds"] * 48000)), dtype=torch.float32).fill_(0.25)
    value = {"waveform": wave, "sample_rate": 48000}
else:
    value = a["path"]
start = rss_now()
if a["kind"] == "audio":
    media["audio_url"] = audio_io.ADAPTER.to_values(value, "audio_url")
else:
    media["video_url"] = video_io.ADAPTER.to_values(value, "video_url")
r = Runner(RunComfyClient(a["token"], a["base"], retry=RetryPolicy(base_delay=0.01, max_delay=0.05)),
           poll=PollPolicy(first=0.05, cap=0.1), timeout=60)
try:
    asyncio.run(r.generate(parse_schema(a["doc"]), {"prompt": "x"}, media=media))
    out = {"ok": True}
except Exception as e:
    out = {"ok": False, "type": type(e).__name__, "message": str(e)}
out["extra_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - start) / 2**20
print(json.dumps(out))
"""


def run_child(emu, **a):
    args = json.dumps({"token": TOKEN, "base": emu.base_url, "doc": DOC, **a})
    proc = subprocess.run([sys.executable, "-c", CHILD, args, ROOT], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def emu(start_emulator):
    e = start_emulator(TOKEN, processing_time=0.05)
    e.serve_catalog([DOC], replace=False)
    return e


def test_a_3_gb_video_is_refused_from_its_size_with_little_memory(emu, tmp_path):
    src = tmp_path / "big.mp4"
    video_codec.encode_frames(np.zeros((48, 360, 640, 3), np.uint8), 24, dst=src)
    with open(src, "r+b") as fh:
        fh.truncate(3_000_000_000)                         # a valid H.264 MP4 of 3.0 GB (sparse)
    out = run_child(emu, kind="video", path=str(src))
    print("3.0 GB VIDEO input:", out)
    assert not out["ok"] and out["type"] == "ValidationError"
    assert "must be at most (MiB, inline video) 32 (got '2861.02 MiB')" in out["message"]
    assert out["extra_mb"] < 1.5 * 1024 and emu.count("submit") == 0


def test_a_1_hour_audio_is_refused_from_its_shape_with_little_memory(emu):
    out = run_child(emu, kind="audio", seconds=3600)
    print("1-hour AUDIO input:", out)
    assert not out["ok"] and out["type"] == "ValidationError"
    assert "'audio_url' must be at most (MiB, inline audio) 16 (got '659.18 MiB')" in out["message"]
    assert out["extra_mb"] < 1.5 * 1024 and emu.count("submit") == 0


# --- images: side rules from the array's shape ---------------------------------------------------

def test_an_image_over_a_side_rule_is_refused_before_it_is_encoded(monkeypatch):
    from runcomfy.media import imageformats
    from runcomfy.media.kinds.image import KIND as IMAGE
    doc = {"model_id": "emulator-tests/limits/image", "input_schema": {"type": "object", "properties": {
        "image_url": {"type": "string", "format": "image_uri", "validations": [
            {"validation_rule": "width_pixels<", "validation_value": 2048}]}}}}
    f = parse_schema(doc).media_fields[0]
    calls = []
    monkeypatch.setattr(imageformats, "encode_many", lambda *a, **k: calls.append(a))
    with pytest.raises(ValidationError, match=r"'image_url' width must be at most \(px\) 2048 \(got '4096 px'\)"):
        IMAGE.prepare([np.zeros((16, 4096, 3), np.uint8)], f, PrepareOptions())
    assert calls == []
