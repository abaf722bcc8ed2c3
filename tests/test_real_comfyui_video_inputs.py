"""Opt-in: on a real ComfyUI with a VIDEO type the video sockets stay VIDEO (no ``_fps`` widgets:
the frames + fps form is only for cores without VIDEO), and Comfy's own Create Video (IMAGE +
fps -> VIDEO) feeds a RunComfy video input, which reaches the emulator as an MP4 of that frame
count and rate.

    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/venv/bin/python \\
        python -m pytest -q tests/test_real_comfyui_video_inputs.py

Skipped unless ``COMFYUI_DIR`` names a ComfyUI checkout. Every wait is bounded.
"""

from __future__ import annotations

import secrets
import uuid

import pytest

from comfyui_harness import NEEDS_COMFYUI, running

R2V_ID = "emulator-samples/video-gen/reference-to-video"
R2V = "RunComfy_emulator_samples_video_gen_reference_to_video"
RUN_TIMEOUT = 120.0

pytestmark = NEEDS_COMFYUI


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from runcomfy.emulator import Emulator, catalog
    token = "rc-vin-" + secrets.token_hex(12)
    emu = Emulator(token=token, processing_time=0.3, workers=2).start()
    emu.serve_catalog(catalog.sample_entries(), replace=False)
    base = tmp_path_factory.mktemp("comfy_video_inputs")
    with running(base, emu, token, ready_path="/object_info/" + R2V) as c:
        yield c, emu


def test_video_sockets_stay_video_on_a_core_with_a_video_type(setup):
    comfy, _ = setup
    spec = comfy.get("/object_info/" + R2V).json()[R2V]["input"]
    inputs = {**spec.get("required", {}), **spec.get("optional", {})}
    assert [inputs[f"video_{i}"][0] for i in (1, 2, 3)] == ["VIDEO"] * 3
    assert [n for n in inputs if n.endswith("_fps")] == []


def test_create_video_frames_feed_a_video_input(setup):
    from PIL import Image

    from runcomfy.media.codecs import video as video_codec
    comfy, emu = setup
    Image.new("RGB", (96, 64), (30, 160, 60)).save(comfy.base / "input" / "rc_vin.png")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "rc_vin.png"}},
        "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 9}},
        "3": {"class_type": "CreateVideo", "inputs": {"images": ["2", 0], "fps": 12.0}},
        "4": {"class_type": R2V, "inputs": {"prompt": "frames", "image_1": ["1", 0], "video_1": ["3", 0],
                                             "aspect_ratio": "1:1"}},
        "5": {"class_type": "SaveVideo", "inputs": {"video": ["4", 0], "filename_prefix": "video/rc_vin",
                                                     "format": "auto", "codec": "auto"}},
    }
    if "codec" not in comfy.get("/object_info/SaveVideo").json()["SaveVideo"]["input"].get("required", {}):
        del prompt["5"]["inputs"]["codec"]          # 0.33 nests the codec in the format
    entry = comfy.wait_done(comfy.queue(prompt, uuid.uuid4().hex), RUN_TIMEOUT)
    assert entry["status"]["status_str"] == "success", (entry["status"], comfy.log_tail())
    jobs = [j for j in emu.jobs.values() if j.model_id == R2V_ID]
    assert len(jobs) == 1
    raws = [raw for kind, raw in jobs[0].media if kind == "video"]
    assert len(raws) == 1
    p = video_codec.probe(raws[0])
    assert (p.video_codec, p.frames, p.width, p.height) == ("h264", 9, 96, 64)
    assert p.fps == pytest.approx(12.0)
