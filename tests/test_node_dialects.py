"""One model of each dialect runs end to end through the node code path, with tensors, against
the emulator's sample catalog over real sockets; what is wrong is refused before any submit."""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from runcomfy.emulator.catalog import sample_entries

TOKEN = "tok-node-dialects-77"
EDIT = "emulator-samples/image-edit/edit"


@pytest.fixture(scope="module")
def nodes(pack):
    classes, _ = pack.nodes.build_mappings([SimpleNamespace(model_id=d["model_id"], doc=d) for d in sample_entries()])
    return {c.MODEL_ID: c for c in classes.values()}


@pytest.fixture
def emu(start_emulator):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.1, workers=4)
    emu.serve_catalog(sample_entries(), replace=False)
    return emu


def call(cls, **kw):
    out = getattr(cls(), cls.FUNCTION)(unique_id="9", **kw)
    return asyncio.run(out) if inspect.isawaitable(out) else out


def tensor(w, h, seed=0, batch=1):
    return torch.rand((batch, h, w, 3), generator=torch.Generator().manual_seed(seed))


def png_uri(w, h) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 10, 10)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def last_payload(emu):
    return list(emu.jobs.values())[-1].payload


def test_text_to_image_float_field_and_unset_seed(nodes, emu):
    cls = nodes["emulator-samples/image-gen/text-to-image"]
    images, urls, rid = call(cls, prompt="a red kite", negative_prompt="", aspect_ratio="16:9", num_images=1,
                             guidance_scale=7.25, enable_safety_checker=False, seed=5)
    assert images.dtype == torch.float32 and images.ndim == 4 and images.shape[-1] == 3
    sent = emu.jobs[rid].payload
    assert sent["guidance_scale"] == 7.25 and sent["prompt"] == "a red kite" and sent["seed"] == 5
    assert "negative_prompt" not in sent and urls.startswith(emu.origin)


def test_sample_prompt_is_not_sent_silently(nodes, emu, pack):
    cls = nodes["emulator-samples/image-gen/text-to-image"]
    default = cls.INPUT_TYPES()["required"]["prompt"][1]["default"]
    with pytest.raises(pack.runcomfy.errors.ValidationError, match="'prompt': is required but empty"):
        call(cls, prompt=default, negative_prompt="", aspect_ratio="1:1", num_images=1, guidance_scale=3.5,
             enable_safety_checker=True, seed=0)
    assert emu.count("submit") == 0


def test_array_level_image_uris_with_sockets_batches_and_urls(nodes, emu):
    cls = nodes[EDIT]
    url = png_uri(300, 300)
    images, _, rid = call(cls, prompt="swap", image_1=tensor(300, 300, 1, batch=2), image_3=tensor(320, 280, 2),
                          image_uris=url, strength=0.5, output_format="png")
    sent = emu.jobs[rid].payload["image_uris"]
    assert len(sent) == 4 and sent[3] == url            # sockets in order (a batch gives each), then URLs
    assert all(u.startswith("data:image/png;base64,") for u in sent)
    assert images.shape[0] >= 1


def test_aspect_ratio_rule_is_checked_before_any_submit(nodes, emu, pack):
    cls = nodes[EDIT]
    with pytest.raises(pack.runcomfy.errors.ValidationError) as info:
        call(cls, prompt="x", image_1=tensor(256, 4300, 3), strength=0.5, output_format="png")
    text = str(info.value)
    # issue 18.5: the socket's label first, the API field after; scaling cannot fix a ratio: no hint
    assert "Image 1 (image_uris[1]): aspect ratio (width/height) must be at least 0.0625" in text and "256x4300" in text
    assert "fit_inputs_to_limits" not in text
    assert emu.count("submit") == 0


@pytest.mark.parametrize("lines,needle", [
    ("data:video/mp4;base64,AAAAGGZ0eXBpc29t", "Images (URLs), line 1 (image_uris[2]): is a data:video/mp4 URI, not image"),
    ("data:image/png;base64,bm90IGFuIGltYWdl", "Images (URLs), line 1 (image_uris[2]): could not be read as an image"),
    ("data:image/png;base64,@@@", "Images (URLs), line 1 (image_uris[2]): is a data URI whose payload is not valid base64"),
    (png_uri(100, 300), "Images (URLs), line 1 (image_uris[2]): width must be at least 256 px, got 100 px (data URI"),
    (png_uri(300, 300) + "\n" + png_uri(4100, 256), "Images (URLs), line 2 (image_uris[3]): aspect ratio (width/height) must be at most 16"),
])
def test_data_uris_in_the_url_input_are_checked_like_sockets(nodes, emu, pack, lines, needle):
    cls = nodes[EDIT]
    with pytest.raises(pack.runcomfy.errors.ValidationError) as info:
        call(cls, prompt="x", image_1=tensor(300, 300), image_uris=lines, strength=0.5, output_format="png")
    assert needle in str(info.value), str(info.value)
    assert emu.count("submit") == 0


def test_too_many_inputs_across_sockets_and_urls(nodes, emu, pack):
    cls = nodes[EDIT]
    with pytest.raises(pack.runcomfy.errors.ValidationError, match=r"Images \(image_uris\): takes at most this many images: 4, got 5"):
        call(cls, prompt="x", image_1=tensor(300, 300, batch=3), image_uris="https://x.runcomfy.net/a.png\n"
             "https://x.runcomfy.net/b.png", strength=0.5, output_format="png")
    assert emu.count("submit") == 0


def test_single_image_field_with_an_unrepresentable_optional_input_left_out(nodes, emu):
    cls = nodes["emulator-samples/upscale"]
    images, _, rid = call(cls, image=tensor(300, 200, 4), scale="2")
    sent = emu.jobs[rid].payload
    assert sent["scale"] == 2 and sent["image_url"].startswith("data:image/png") and "mask_url" not in sent


def test_structured_multi_prompt_runs_and_is_validated_by_path(nodes, emu, pack):
    cls = nodes["emulator-samples/video-gen/multi-shot"]
    shots = [{"index": 1, "prompt": "wide", "duration": "5"}, {"index": 2, "prompt": "close"}]
    video, urls, rid = call(cls, multi_prompt=json.dumps(shots), elements='[{"name": "hero"}]',
                            shot_type="customize")
    assert emu.jobs[rid].payload["multi_prompt"] == shots and emu.jobs[rid].payload["elements"] == [{"name": "hero"}]
    assert video is not None and urls
    before = emu.count("submit")
    bad = [{"index": 1, "prompt": "a"}, {"index": 2, "prompt": "b", "duration": "7"}]
    with pytest.raises(pack.runcomfy.errors.ValidationError) as info:
        call(cls, multi_prompt=json.dumps(bad), shot_type="customize")
    assert "Shots (multi_prompt[2].duration): must be one of ['3', '5', '10'], got 7" in str(info.value)
    with pytest.raises(pack.runcomfy.errors.ValidationError, match=r"line 2, column 1"):
        call(cls, multi_prompt='[{"index": 1, "prompt": "a"}\n{"index": 2}]', shot_type="customize")
    assert emu.count("submit") == before


def test_image_to_video_with_start_and_end_images(nodes, emu):
    cls = nodes["emulator-samples/video-gen/image-to-video"]
    video, _, rid = call(cls, prompt="pan", image=tensor(320, 320, 5), end_image=tensor(320, 320, 6),
                         duration=5, resolution="480p", seed=3)
    sent = emu.jobs[rid].payload
    assert sent["image_url"].startswith("data:image/") and sent["end_image_url"].startswith("data:image/")
    assert sent["duration"] == 5 and video is not None


def test_reference_to_video_with_images_and_audio(nodes, emu):
    cls = nodes["emulator-samples/video-gen/reference-to-video"]
    clip = {"waveform": torch.zeros((1, 2, 8000)), "sample_rate": 16000}
    _, _, rid = call(cls, prompt="p", image_1=tensor(300, 300, 7, batch=2), audio_1=clip, aspect_ratio="16:9")
    sent = emu.jobs[rid].payload
    assert len(sent["images"]) == 2 and len(sent["audios"]) == 1 and sent["audios"][0].startswith("data:audio/")
    assert "videos" not in sent


def test_text_to_audio_returns_audio(nodes, emu):
    cls = nodes["emulator-samples/audio-gen/text-to-audio"]
    audio, urls, rid = call(cls, prompt="a song", duration=2.0, output_format="wav")
    assert isinstance(audio, dict) and audio["waveform"].ndim == 3 and audio["sample_rate"] > 0
    assert emu.jobs[rid].payload["duration"] == 2.0


def test_dry_run_of_a_video_model_shows_the_request_without_paying(nodes, emu, pack, monkeypatch):
    texts = []
    monkeypatch.setattr(pack.nodes.comfy, "prompt_server",
                        lambda: SimpleNamespace(client_id=None, send_sync=lambda *a, **k: None,
                                                send_progress_text=lambda text, node_id: texts.append(text)))
    cls = nodes["emulator-samples/video-gen/text-to-video"]
    out = call(cls, prompt="waves", duration="10", aspect_ratio="16:9", generate_audio=True, seed=1, dry_run=True)
    assert out[1:] == ("", "") and emu.count("submit") == 0
    assert '"duration": "10"' in texts[-1] and "nothing charged" in texts[-1]
    # The catalog entry's own price (no GET /models call), with the estimate for the chosen duration.
    assert "$0.08 / s · ≈ $0.80 for 10 s (estimate) x 1 request(s)" in texts[-1]
    assert emu.count("model") == 0
    call(cls, prompt="waves", duration="auto", aspect_ratio="16:9", generate_audio=True, seed=1, dry_run=True)
    assert "$0.08 / s x 1 request(s)" in texts[-1] and "≈" not in texts[-1]     # "auto": unit price only


def test_data_uris_of_other_kinds_are_measured_by_their_kind(nodes, emu, pack):
    from runcomfy.media.codecs.audio import encode_wav, tone
    cls = nodes["emulator-samples/video-gen/reference-to-video"]
    wav = "data:audio/wav;base64," + base64.b64encode(encode_wav(tone(440, 0.5, 16000, 1))).decode()
    _, _, rid = call(cls, prompt="p", image_1=tensor(300, 300, 8), audios=wav, aspect_ratio="1:1")
    assert emu.jobs[rid].payload["audios"] == [wav]                 # a typed URI is sent unchanged
    before = emu.count("submit")
    with pytest.raises(pack.runcomfy.errors.ValidationError) as info:
        call(cls, prompt="p", image_1=tensor(300, 300, 8), videos=png_uri(300, 300), audios=png_uri(8, 8),
             aspect_ratio="1:1")
    text = str(info.value)
    assert "Reference videos (URLs), line 1 (videos[1]): is a data:image/png URI, not video" in text
    assert "(audios[1]): is a data:image/png URI, not audio" in text
    assert emu.count("submit") == before


@pytest.mark.parametrize("bad,needle", [
    (torch.zeros((1, 300, 300, 3), dtype=torch.int64), "floating-point"),
    (torch.zeros((0, 300, 300, 3)), "empty"),
    (torch.zeros((300, 300)), "shape"),
])
def test_unusable_tensors_name_their_socket(nodes, emu, pack, bad, needle):
    cls = nodes[EDIT]
    with pytest.raises(pack.runcomfy.errors.ValidationError) as info:
        call(cls, prompt="x", image_1=tensor(300, 300), image_3=bad, strength=0.5, output_format="png")
    text = str(info.value)
    assert "'image_3': is not a usable IMAGE" in text and needle in text, text
    assert emu.count("submit") == 0


def test_data_uris_inside_structured_json_are_measured_too(nodes, emu, pack):
    cls = nodes["emulator-samples/video-gen/multi-shot"]
    shots = json.dumps([{"index": 1, "prompt": "wide"}])
    good = json.dumps([{"name": "hero", "image_url": png_uri(64, 64)}])
    _, _, rid = call(cls, multi_prompt=shots, elements=good, shot_type="customize")
    assert emu.jobs[rid].payload["elements"][0]["image_url"].startswith("data:image/png;base64,")
    before = emu.count("submit")
    bad = json.dumps([{"name": "a", "image_url": "data:image/png;base64,bm90IGFuIGltYWdl"},
                      {"name": "b", "image_url": "data:audio/wav;base64,UklGRg=="}])
    with pytest.raises(pack.runcomfy.errors.ValidationError) as info:
        call(cls, multi_prompt=shots, elements=bad, shot_type="customize")
    text = str(info.value)
    assert "Elements (elements[1].image_url): could not be read as an image" in text
    assert "Elements (elements[2].image_url): is a data:audio/wav URI, not image" in text
    assert text.count("(elements[2].image_url)") == 1
    assert emu.count("submit") == before
