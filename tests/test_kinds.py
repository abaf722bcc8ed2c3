"""Media kinds as one mechanism: the registry, data: URIs measured locally, limits checked like
socket values, results recognised by their bytes."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from runcomfy.media import images as media, kinds
from runcomfy.media.kinds import PrepareOptions
from runcomfy.media.kinds.base import MiB
from runcomfy.schema import parse_schema


def png(w, h, seed=0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def uri(data: bytes, mime="image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def field(spec):
    return parse_schema({"model_id": "acme/k/x", "input_schema": {"properties": {"x": spec}}}).field("x")


@pytest.mark.parametrize("fmt,kind,is_list", [
    ("image_uri", "image", False), ("image_uris", "image", True), ("video_uri", "video", False),
    ("video_uris", "video", True), ("audio_uri", "audio", False), ("audio_uris", "audio", True)])
def test_every_media_format_maps_to_its_kind(fmt, kind, is_list):
    k, listed = kinds.kind_for_format(fmt)
    assert (k.name, listed) == (kind, is_list) and k.mime_prefix == kind + "/"
    assert k.socket_type == kind.upper()
    assert kinds.kind_for_format("uri") is None


def test_output_keys_map_to_kinds():
    assert [kinds.kind_for_output_key(k).name for k in ("image", "images", "video", "videos", "audio", "audios")] == \
        ["image", "image", "video", "video", "audio", "audio"]
    assert kinds.kind_for_output_key("mask") is None


def test_image_data_uri_is_measured_locally():
    info = kinds.get("image").inspect_uri(uri(png(300, 200)))
    assert (info.width, info.height, info.mime) == (300, 200, "image/png") and info.nbytes > 0
    assert kinds.get("image").inspect_uri("https://example.runcomfy.net/a.png") is None   # not downloaded


@pytest.mark.parametrize("value,needle", [
    ("data:video/mp4;base64,AAAA", "is a data:video/mp4 URI, not image"),
    ("data:image/png;base64,!!!!", "not valid base64"),
    ("data:image/png;base64,", "empty payload"),
    ("data:image/png," + "abc", "not a base64 data URI"),
    (uri(b"this is not a picture at all"), "could not be read as an image"),
])
def test_unusable_data_uris_say_why(value, needle):
    with pytest.raises(ValueError, match=None) as info:
        kinds.get("image").inspect_uri(value)
    assert needle in str(info.value)


def test_a_data_uri_over_the_request_cap_is_refused_without_decoding(monkeypatch):
    from runcomfy.media.kinds import base
    monkeypatch.setattr(base, "REQUEST_CAP_BYTES", 2 * MiB)
    monkeypatch.setattr(base, "decode_data_uri", lambda u: pytest.fail("decoded"))
    with pytest.raises(ValueError, match=r"is a data URI of 2.1 MiB, over the 2 MiB a request may carry inline"):
        kinds.get("image").inspect_uri("data:image/png;base64," + "A" * (2 * MiB + 100_000))


def test_base64_folded_over_lines_is_accepted():
    data = png(64, 64)
    b64 = base64.b64encode(data).decode()
    folded = "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    assert kinds.get("image").inspect_uri("data:image/png;base64," + folded).width == 64


def test_check_uses_the_fields_rules_then_the_kinds_inline_cap():
    image = kinds.get("image")
    ruled = field({"type": "array", "format": "image_uris", "validations": [
        {"validation_rule": "file_size_mb<", "validation_value": 10},
        {"validation_rule": "width_pixels>", "validation_value": 384}]})
    plain = field({"type": "string", "format": "image_uri"})
    big = kinds.MediaInfo(width=1000, height=1000, nbytes=8 * MiB)
    # The schema's own rule (10 MB) wins over the 6 MiB default: 8 MiB passes.
    assert image.check(big, ruled, 1) == []
    # Without a rule the 6 MiB inline cap applies, naming the field, the limit and the value.
    (p,) = image.check(big, plain)
    assert p.text() == "'x' must be at most (MiB, inline image) 6 (got '8.00 MiB')"
    (p,) = image.check(kinds.MediaInfo(width=300, height=400, nbytes=10), ruled, 2)
    assert p.field == "x[3]" and "at least (px) 384" in p.text() and "300 px" in p.text()


def test_results_are_recognised_by_their_bytes():
    assert kinds.sniff(png(8, 8)).name == "image"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    assert kinds.sniff(buf.getvalue()[:16]).name == "image"
    assert kinds.sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ").name == "audio"
    assert kinds.sniff(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00").name == "video"
    assert kinds.sniff(b"hello world, text").__class__ is type(None)


def test_images_of_several_fields_are_encoded_together_identical_ones_once(monkeypatch):
    calls = []
    real = media.encode_png
    monkeypatch.setattr(media, "encode_png", lambda arr, threads=1: calls.append(arr.shape) or real(arr, threads))
    a = np.full((32, 48, 3), 7, np.uint8)
    b = np.full((32, 48, 3), 9, np.uint8)
    f1 = field({"type": "array", "format": "image_uris"})
    f2 = field({"type": "string", "format": "image_uri"})
    out = kinds.get("image").prepare_fields([(f1, [a, b]), (f2, [a.copy()])], PrepareOptions())
    assert [len(x) for x in out] == [2, 1] and len(calls) == 2
    assert out[1][0].data == out[0][0].data and (out[0][0].info.width, out[0][0].info.height) == (48, 32)
    assert media.decode_image(out[0][1].data)[0, 0, 0] == 9


def test_fitting_refuses_an_aspect_ratio_it_cannot_fix():
    f = field({"type": "string", "format": "image_uri", "validations": [
        {"validation_rule": "width/height<", "validation_value": 4}]})
    wide = np.zeros((100, 500, 3), np.uint8)
    with pytest.raises(ValueError, match=r"x: 500x100 px has aspect ratio 5.*crop it first"):
        kinds.get("image").prepare([wide], f, PrepareOptions(fit=True))


def test_fitting_brings_an_image_under_the_inline_cap_when_no_rule_says_otherwise():
    f = field({"type": "string", "format": "image_uri"})
    noisy = np.random.default_rng(3).integers(0, 256, (1700, 1700, 3), dtype=np.uint8)    # ~8.7 MB of PNG
    (p,) = kinds.get("image").prepare([noisy], f, PrepareOptions(fit=True))
    assert len(p.data) <= 6 * MiB and p.mime == "image/jpeg" and "sent as JPEG" in p.notes[0]


def test_schema_and_kinds_import_without_torch_or_comfyui():
    import subprocess
    import sys
    from conftest import ROOT
    code = ("import sys; sys.modules['torch'] = None; sys.modules['comfy'] = None; sys.modules['comfy_api'] = None\n"
            "from runcomfy.media import kinds\nfrom runcomfy import schema\nfrom runcomfy.run import pipeline\n"
            "assert set(kinds.KINDS) >= {'image'}\n"
            "assert not any(m.startswith(('nodes', 'torch')) and sys.modules[m] is not None for m in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- the pipeline over real sockets, generic over kinds --------------------------------------

def _runner(emu):
    from runcomfy.api import RetryPolicy, RunComfyClient
    from runcomfy.run import Runner
    return Runner(RunComfyClient("tok-kinds-pipeline", emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05)))


@pytest.fixture
def sample_emu(start_emulator):
    from runcomfy.emulator.catalog import sample_entries
    emu = start_emulator("tok-kinds-pipeline", processing_time=0.05)
    emu.serve_catalog(sample_entries(), replace=False)
    return emu


def _sample_schema(model_id):
    from runcomfy.emulator.catalog import sample_entries
    return parse_schema(next(d for d in sample_entries() if d["model_id"] == model_id))


def test_generate_takes_media_and_urls_per_field_and_returns_outputs_by_kind(sample_emu):
    import asyncio
    schema = _sample_schema("emulator-samples/image-edit/edit")
    arr = np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    sent_uri = uri(png(280, 300, 2))
    gen = asyncio.run(_runner(sample_emu).generate(
        schema, {"prompt": "p", "strength": 0.5}, media={"image_uris": [arr, arr]}, urls={"image_uris": [sent_uri]}))
    assert list(gen.outputs) == ["image"] and gen.images is gen.outputs["image"] and gen.images[0].ndim == 3
    payload = sample_emu.jobs[gen.request_ids[0]].payload
    assert len(payload["image_uris"]) == 3 and payload["image_uris"][2] == sent_uri
    assert payload["image_uris"][0] == payload["image_uris"][1]         # identical inputs encoded once


def test_generate_refuses_inputs_for_a_field_that_is_not_media(sample_emu):
    import asyncio
    from runcomfy.errors import ValidationError
    schema = _sample_schema("emulator-samples/image-edit/edit")
    with pytest.raises(ValidationError, match="'prompt' is not a media input of"):
        asyncio.run(_runner(sample_emu).generate(schema, {"prompt": "p"}, urls={"prompt": ["https://x.com/a.png"]}))
    assert sample_emu.count("submit") == 0


def test_request_total_of_inline_media_is_capped(sample_emu, monkeypatch):
    import asyncio
    from runcomfy.errors import ValidationError
    monkeypatch.setattr(kinds, "REQUEST_CAP_BYTES", 1 << 20)       # 1 MiB, so the test stays small
    schema = _sample_schema("emulator-samples/image-edit/edit")
    noisy = [np.random.default_rng(i).integers(0, 256, (500, 500, 3), dtype=np.uint8) for i in range(2)]
    with pytest.raises(ValidationError) as info:
        asyncio.run(_runner(sample_emu).generate(schema, {"prompt": "p"}, media={"image_uris": noisy}))
    assert "'request': inline media must total at most 1 MiB per request" in str(info.value)
    assert "image_uris[1] " in str(info.value) and "image_uris[2] " in str(info.value)
    assert "send large files as https URLs instead" in str(info.value)
    assert sample_emu.count("submit") == 0
