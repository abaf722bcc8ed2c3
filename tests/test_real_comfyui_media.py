"""Opt-in: video and audio nodes inside a real ComfyUI, against the emulator serving its sample
catalog. An image-to-video node feeds ComfyUI's own Save Video, a text-to-audio node its Save
Audio, and the saved files are checked (duration, frame size, audio track, pitch).

    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/venv/bin/python \\
        python -m pytest -q tests/test_real_comfyui_media.py

Skipped unless ``COMFYUI_DIR`` names a ComfyUI checkout. Every wait is bounded.
"""

from __future__ import annotations

import secrets
import uuid

import numpy as np
import pytest

from comfyui_harness import NEEDS_COMFYUI, running

I2V = "RunComfy_emulator_samples_video_gen_image_to_video"
T2A = "RunComfy_emulator_samples_audio_gen_text_to_audio"
RUN_TIMEOUT = 120.0

pytestmark = NEEDS_COMFYUI


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    from runcomfy.emulator import Emulator, catalog
    token = "rc-media-" + secrets.token_hex(12)
    emu = Emulator(token=token, processing_time=0.5, workers=2).start()
    emu.serve_catalog(catalog.sample_entries(), replace=False)
    base = tmp_path_factory.mktemp("comfy_media")
    # The sample models' nodes come from the pack's start-up catalog refresh against the emulator.
    with running(base, emu, token, ready_path="/object_info/" + I2V) as c:
        yield c


def _save_video_inputs(comfy) -> dict:
    """Save Video's widgets differ: 0.3.64 has format + codec, 0.33 nests codec in format."""
    spec = comfy.get("/object_info/SaveVideo").json()["SaveVideo"]["input"]
    inputs = {"filename_prefix": "video/rc_media", "format": "auto"}
    if "codec" in spec.get("required", {}):
        inputs["codec"] = "auto"
    return inputs


def _run(comfy, prompt: dict) -> dict:
    pid = comfy.queue(prompt, uuid.uuid4().hex)
    entry = comfy.wait_done(pid, RUN_TIMEOUT)
    assert entry["status"]["status_str"] == "success", (entry["status"], comfy.log_tail())
    return entry


def test_image_to_video_into_save_video(comfy):
    from PIL import Image

    from runcomfy.media.codecs import video as video_codec
    Image.new("RGB", (640, 512), (220, 40, 40)).save(comfy.base / "input" / "rc_media_first.png")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "rc_media_first.png"}},
        "2": {"class_type": I2V, "inputs": {"prompt": "slow zoom", "image": ["1", 0], "duration": 5,
                                             "resolution": "720p", "seed": 9}},
        "3": {"class_type": "SaveVideo", "inputs": {"video": ["2", 0], **_save_video_inputs(comfy)}},
    }
    _run(comfy, prompt)
    saved = sorted((comfy.base / "output" / "video").glob("rc_media*.mp4"))
    assert len(saved) == 1, list((comfy.base / "output").rglob("*"))
    p = video_codec.probe(str(saved[0]))
    assert (p.video_codec, p.width, p.height) == ("h264", 320, 256)       # the first frame's 5:4
    assert p.duration_s == pytest.approx(5.0, abs=0.1) and p.frames == 120
    assert p.has_audio and p.audio_codec == "aac"
    frames = video_codec.decode_frames(str(saved[0]))
    mid = frames[60, 40:-40, 20:-20].reshape(-1, 3).mean(axis=0)
    assert mid[0] > 150 > mid[2]                                           # the red input shows
    # The pack's own copy of the paid result is kept, and Save Video did not re-encode it.
    kept = sorted((comfy.base / "output" / "runcomfy").glob("*.mp4"))
    assert len(kept) == 1
    assert np.array_equal(video_codec.decode_frames(str(kept[0])), frames)
    # No traceback through the pack (0.3.64 logs unrelated sqlite thread warnings with --database-url).
    assert not [line for line in comfy.log().splitlines()
                if line.lstrip().startswith("File ") and "comfyui-runcomfy-model-api" in line]


def test_text_to_audio_into_save_audio(comfy):
    from runcomfy.media.codecs import audio as audio_codec
    from runcomfy.emulator import mediagen
    prompt = {
        "1": {"class_type": T2A, "inputs": {"prompt": "a bell", "duration": 3.0, "output_format": "mp3"}},
        "2": {"class_type": "SaveAudio", "inputs": {"audio": ["1", 0], "filename_prefix": "audio/rc_media"}},
    }
    _run(comfy, prompt)
    saved = sorted((comfy.base / "output" / "audio").glob("rc_media*"))
    assert len(saved) == 1, list((comfy.base / "output").rglob("*"))
    clip = audio_codec.decode(str(saved[0]))
    assert clip.sample_rate == 44100 and clip.channels == 2
    assert clip.duration_s == pytest.approx(3.0, abs=0.05)
    spec = np.abs(np.fft.rfft(clip.samples[0]))
    assert np.argmax(spec) * clip.sample_rate / clip.frames == pytest.approx(mediagen.tone_hz("a bell", 0, []), abs=2)
