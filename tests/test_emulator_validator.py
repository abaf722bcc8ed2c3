"""The emulator's own validator (runcomfy/emulator/validator.py) over real sockets: every documented
dialect, the 422 shape, and nested media lists both the client (runcomfy/schema) and the emulator refuse."""

from __future__ import annotations

import asyncio
import base64
import io
import os

import numpy as np
import pytest
import requests
from PIL import Image

from runcomfy.media.codecs import audio as audio_codec
from runcomfy.media.codecs import video as video_codec

from runcomfy.emulator import validator
from runcomfy.errors import RemoteValidationError

TOKEN = "tok-emulator-validator"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODEL = "acme/dialects/edit"


def _png(w, h) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (20, 90, 160)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# One model with every dialect of the API notes' "The catalog".
DOC = {"model_id": MODEL, "categories": ["image-to-image"], "input_schema": {
    "type": "object", "required": ["prompt", "image_url"], "properties": {
        "prompt": {"type": "string", "minLength": 2, "maxLength": 20},
        "image_url": {"type": "string", "format": "image_uri", "validations": [
            {"validation_rule": "width_pixels>", "validation_value": 64, "validation_error": "at least 64 px"},
            {"validation_rule": "height_pixels<", "validation_value": 512},
            {"validation_rule": "width/height<", "validation_value": 2},
            {"validation_rule": "file_size_mb<", "validation_value": "0.01"}]},
        "refs": {"type": "array", "items": {"type": "string", "format": "image_uri"}, "minItems": 1, "maxItems": 2},
        "more": {"type": "array", "format": "image_uris", "maxItems": 3},
        "clips": {"type": "array", "format": "video_uris", "maxItems": 2},
        "sounds": {"type": "array", "format": "audio_uris"},
        "clip": {"type": "string", "format": "video_uri"},
        "voice": {"type": "string", "format": "audio_uri"},
        "strength": {"type": "float", "minimum": 0, "maximum": 1},
        "steps": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 50},
        "duration": {"type": "string", "enum": ["auto", "5", "10"]},
        "scale": {"enum": [2, 4]},
        "loop": {"type": "boolean"},
        "seed": {"type": ["integer", "null"], "minimum": 0},
        "multi_prompt": {"type": "array", "maxItems": 2, "items": {
            "type": "object", "required": ["index", "prompt"], "additionalProperties": False, "properties": {
                "index": {"type": "integer", "minimum": 1},
                "prompt": {"type": "string", "maxLength": 10},
                "duration": {"type": "string", "enum": ["3", "5"]}}}},
    }}}

def _data(mime: str, raw: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


MP4 = _data("video/mp4", video_codec.encode_frames(np.zeros((4, 32, 32, 3), np.uint8), 8))
WAV = _data("audio/wav", audio_codec.encode_wav(audio_codec.tone(440, 0.2, 8000, 1)))
# (URL inputs are fetched by the emulator from loopback only, so the accepted payload inlines its files.)
GOOD = {"prompt": "a fox", "image_url": _png(100, 80), "refs": [_png(90, 90)],
        "more": [_png(80, 80), _png(70, 70)], "clips": [MP4], "clip": MP4, "voice": WAV,
        "sounds": [WAV, WAV], "strength": 0.5, "steps": 49, "duration": "5", "scale": 4,
        "loop": False, "seed": None, "multi_prompt": [{"index": 1, "prompt": "wide", "duration": "3"}]}


@pytest.fixture
def emu(start_emulator):
    e = start_emulator(TOKEN, processing_time=0.05)
    e.add_model(DOC)
    return e


def _submit(emu, body, model=MODEL):
    return requests.post(f"{emu.base_url}/models/{model}", json=body, headers=AUTH, timeout=30)


def test_a_payload_in_every_dialect_is_accepted(emu):
    r = _submit(emu, GOOD)
    assert r.status_code == 200, r.text
    job = emu.jobs[r.json()["request_id"]]
    assert len(job.inputs) == 4 and sorted(k for k, _ in job.media) == ["audio", "audio", "audio", "video", "video"]


@pytest.mark.parametrize("change, loc, words", [
    ({"prompt": "x"}, ["prompt"], "must have at least 2 characters (got '1 characters')"),
    ({"prompt": "x" * 21}, ["prompt"], "must have at most 20 characters"),
    ({"prompt": "   "}, ["prompt"], "is required but empty"),
    ({"prompt": None}, ["prompt"], "is required but missing"),
    ({"prompt": 5}, ["prompt"], "must be of type 'string' (got 5)"),
    ({"strength": "0.5"}, ["strength"], "must be of type 'number'"),         # "float" is a number
    ({"strength": 1.5}, ["strength"], "must be at most 1"),
    ({"strength": True}, ["strength"], "must be of type 'number' (got True)"),
    ({"steps": 0}, ["steps"], "must be greater than 0"),
    ({"steps": 50}, ["steps"], "must be less than 50"),
    ({"steps": 2.5}, ["steps"], "must be of type 'integer'"),
    ({"duration": 5}, ["duration"], "must be of type 'string' (got 5)"),       # numbers-as-strings enum
    ({"duration": "7"}, ["duration"], "must be one of ['auto', '5', '10'] (got '7')"),
    ({"scale": "4"}, ["scale"], "must be one of [2, 4] (got '4')"),            # untyped enum: JSON equality
    ({"scale": True}, ["scale"], "must be one of [2, 4] (got True)"),
    ({"loop": 0}, ["loop"], "must be of type 'boolean'"),
    ({"seed": -1}, ["seed"], "must be at least 0"),
    ({"refs": []}, ["refs"], "needs at least 1 items"),
    ({"refs": ["https://e.com/1.png"] * 3}, ["refs"], "takes at most 2 items (got '3 items')"),
    ({"refs": "https://e.com/1.png"}, ["refs"], "must be of type 'array'"),
    ({"refs": ["ftp://e.com/1.png"]}, ["refs", 0], "'refs[1]' must be an http(s) URL or a data:image/... URI"),
    ({"more": ["https://e.com/1.png", 7]}, ["more", 1], "'more[2]' must be of type 'string' (got 7)"),
    ({"more": ["data:video/mp4;base64,AAAA"]}, ["more", 0], "must be an http(s) URL or a data:image/... URI"),
    ({"clips": ["data:image/png;base64,AAAA"]}, ["clips", 0], "must be an http(s) URL or a data:video/... URI"),
    ({"clips": ["https://e.com/c.mp4"] * 3}, ["clips"], "takes at most 2 items"),
    ({"sounds": ["/tmp/a.wav"]}, ["sounds", 0], "must be an http(s) URL or a data:audio/... URI"),
    ({"clip": "data:audio/wav;base64,AAAA"}, ["clip"], "must be an http(s) URL or a data:video/... URI"),
    ({"voice": ["https://e.com/v.wav"]}, ["voice"], "must be of type 'string'"),
    ({"image_url": _png(60, 60)}, ["image_url"], "width must be at least 64 px (got '60 px (data URI)')"),
    ({"image_url": _png(100, 600)}, ["image_url"], "height must be at most 512 px (got '600 px (data URI)')"),
    ({"image_url": _png(300, 100)}, ["image_url"], "aspect ratio (width/height) must be at most 2 (got '3 (300x100"),
    ({"image_url": "data:image/png;base64," + base64.b64encode(b"\x89PNG" + bytes(64)).decode()}, ["image_url"],
     "'image_url': not a decodable image (data URI)"),
    ({"multi_prompt": [{"index": 0, "prompt": "a"}]}, ["multi_prompt", 0, "index"],
     "'multi_prompt[1].index' must be at least 1 (got 0)"),
    ({"multi_prompt": [{"prompt": "a"}]}, ["multi_prompt", 0, "index"], "'multi_prompt[1].index' is required"),
    ({"multi_prompt": [{"index": 1, "prompt": "a", "camera": "pan"}]}, ["multi_prompt", 0, "camera"],
     "is not allowed here (allowed: index, prompt, duration)"),
    ({"multi_prompt": [{"index": 1, "prompt": "a", "duration": 3}]}, ["multi_prompt", 0, "duration"],
     "must be of type 'string' (got 3)"),
    ({"multi_prompt": [{"index": 1, "prompt": None}]}, ["multi_prompt", 0, "prompt"], "must not be null"),
    ({"multi_prompt": {"index": 1}}, ["multi_prompt"], "must be of type 'array'"),
    ({"negative": "x"}, ["negative"], f"is not an input of {MODEL}"),
])
def test_each_rule_answers_422_naming_the_field_rule_and_value(emu, change, loc, words):
    r = _submit(emu, dict(GOOD, **change))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error_code"] == 422001 and str(loc[0]) in body["message"]
    hits = [d for d in body["detail"] if d["loc"] == ["body", *loc]]
    assert hits and any(words in d["msg"] for d in hits), body["detail"]
    assert all(d["type"] == "value_error" and isinstance(d["msg"], str) for d in body["detail"])
    assert emu.submits_accepted == 0


def test_file_size_rule_is_strictly_under_its_bound_in_decimal_mb(emu):
    big = Image.frombytes("RGB", (120, 100), os.urandom(120 * 100 * 3))
    buf = io.BytesIO()
    big.save(buf, "PNG")                                   # ~36 kB of noise: over 0.01 MB
    r = _submit(emu, dict(GOOD, image_url="data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()))
    assert r.status_code == 422
    [d] = [d for d in r.json()["detail"] if d["loc"] == ["body", "image_url"]]
    assert f"must be under 0.01 MB (encoded) (got '{len(buf.getvalue()) / 1e6:.2f} MB (data URI)')" in d["msg"]


def test_a_missing_required_media_field_and_a_missing_prompt_are_both_named(emu):
    r = _submit(emu, {"refs": [_png(90, 90)]})
    assert r.status_code == 422
    assert {tuple(d["loc"]) for d in r.json()["detail"]} == {("body", "prompt"), ("body", "image_url")}
    assert r.json()["message"].startswith("Validation error in: image_url, prompt. ")


# --- nested media lists: the client refuses them before anything is sent -----------------------

# Structured "elements" whose references use the documented array spelling "format": "image_uris"
# (no items format), a real catalog dialect nested inside a structured value. The client's check
# (runcomfy/schema/structured.py) once looked at media formats on strings only and at an array's
# items only through "items", so these files went unchecked and were sent (and paid for) until the
# service refused them. Both sides now refuse them, each with its own code.
ELEMENTS_DOC = {"model_id": "acme/elements/reference-to-video", "categories": ["reference-to-video"],
                "input_schema": {"type": "object", "required": ["prompt"], "properties": {
                    "prompt": {"type": "string"},
                    "elements": {"type": "array", "maxItems": 2, "items": {
                        "type": "object", "required": ["name", "reference_image_urls"], "properties": {
                            "name": {"type": "string"},
                            "reference_image_urls": {"type": "array", "format": "image_uris",
                                                     "minItems": 1, "maxItems": 2}}}}}}}
WRONG = {"prompt": "two friends", "elements": [{"name": "ann", "reference_image_urls": [
    "ann.png", "data:video/mp4;base64,AAAA"]}]}


def test_the_client_and_the_emulator_each_refuse_a_nested_image_uris_list(start_emulator):
    from runcomfy.schema import parse_schema, validate_payload
    texts = [p.text() for p in validate_payload(parse_schema(ELEMENTS_DOC), WRONG)]
    assert texts == [
        "'elements[1].reference_image_urls[1]' must be an http(s) URL or a data:image URI (got 'ann.png')",
        "'elements[1].reference_image_urls[2]' must be an http(s) URL or a data:image URI "
        "(got 'data:video/mp4;base64,AAAA')"]
    emu = start_emulator(TOKEN, processing_time=0.05)
    emu.add_model(ELEMENTS_DOC)
    r = _submit(emu, WRONG, model=ELEMENTS_DOC["model_id"])
    assert r.status_code == 422
    detail = {tuple(d["loc"]): d["msg"] for d in r.json()["detail"]}
    assert detail == {
        ("body", "elements", 0, "reference_image_urls", 0):
            "'elements[1].reference_image_urls[1]' must be an http(s) URL or a data:image/... URI (got 'ann.png')",
        ("body", "elements", 0, "reference_image_urls", 1):
            "'elements[1].reference_image_urls[2]' must be an http(s) URL or a data:image/... URI "
            "(got 'data:video/mp4;base64,AAAA')"}
    assert emu.submits_accepted == 0


def _run(emu, payload, doc=ELEMENTS_DOC):
    from runcomfy.api import RetryPolicy, RunComfyClient
    from runcomfy.run import Runner
    from runcomfy.schema import parse_schema
    client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(max_attempts=1))
    try:
        return asyncio.run(Runner(client).generate(parse_schema(doc), dict(payload)))
    finally:
        client.close()


def test_the_clients_pipeline_refuses_a_nested_media_list_before_submitting(start_emulator):
    """End to end: the library's Runner names the nested item, the limit and the value, and nothing
    reaches the submit endpoint (before the fix the emulator's 422 was the first to say so)."""
    from runcomfy.errors import ValidationError
    emu = start_emulator(TOKEN, processing_time=0.05)
    emu.add_model(ELEMENTS_DOC)
    with pytest.raises(ValidationError) as info:
        _run(emu, WRONG)
    text = str(info.value)
    assert "'elements[1].reference_image_urls[1]' must be an http(s) URL or a data:image URI (got 'ann.png')" in text
    assert "'elements[1].reference_image_urls[2]'" in text and "data:video/mp4" in text
    assert emu.count("submit") == 0 and emu.submits_accepted == 0


# The other nested spellings and kinds, each refused by the client before submit (limit and value named).
NESTED_DOC = {"model_id": "acme/nested/reference-to-video", "categories": ["reference-to-video"],
              "input_schema": {"type": "object", "required": ["prompt"], "properties": {
                  "prompt": {"type": "string"},
                  "scenes": {"type": "array", "items": {"type": "object", "properties": {
                      "clips": {"type": "array", "format": "video_uris", "maxItems": 1},
                      "voices": {"format": "audio_uris"},                     # no type: a list by its format
                      "frames": {"type": "array", "items": {"type": "string", "format": "image_uri"}},
                      "still": {"type": "array", "format": "image_uris", "validations": [
                          {"validation_rule": "width_pixels>", "validation_value": 64}]}}}}}}}


@pytest.mark.parametrize("scene, needle", [
    ({"clips": ["https://e.com/a.mp4", "https://e.com/b.mp4"]},
     "'scenes[1].clips' takes at most this many items: 1 (got '2 items')"),
    ({"clips": ["data:image/png;base64,AAAA"]},                       # a data: URI is decoded: says more
     "'scenes[1].clips[1]': is a data:image/png URI, not video"),
    ({"clips": [7]}, "'scenes[1].clips[1]' must be of type 'string' (got 7)"),
    ({"voices": ["/tmp/a.wav"]}, "'scenes[1].voices[1]' must be an http(s) URL or a data:audio URI (got '/tmp/a.wav')"),
    ({"voices": "https://e.com/a.wav"}, "'scenes[1].voices' must be of type 'array'"),
    ({"frames": ["ftp://e.com/a.png"]}, "'scenes[1].frames[1]' must be an http(s) URL or a data:image URI"),
    ({"frames": ["data:audio/wav;base64,AAAA"]}, "'scenes[1].frames[1]': is a data:audio/wav URI, not image"),
    ({"still": [_png(40, 40)]}, "'scenes[1].still[1]' width must be at least (px) 64 (got '40 px (data URI"),
    ({"still": ["data:image/png;base64," + base64.b64encode(b"not an image").decode()]},
     "'scenes[1].still[1]': could not be read as an image"),
])
def test_every_nested_media_spelling_is_refused_before_submit(start_emulator, scene, needle):
    from runcomfy.errors import ValidationError
    emu = start_emulator(TOKEN, processing_time=0.05)
    emu.add_model(NESTED_DOC)
    with pytest.raises(ValidationError) as info:
        _run(emu, {"prompt": "p", "scenes": [scene]}, NESTED_DOC)
    assert needle in str(info.value), str(info.value)
    assert emu.count("submit") == 0
    r = _submit(emu, {"prompt": "p", "scenes": [scene]}, model=NESTED_DOC["model_id"])
    assert r.status_code == 422, r.text                                 # the emulator agrees on its own
    assert all(d["loc"][:4] == ["body", "scenes", 0, next(iter(scene))] for d in r.json()["detail"]), r.json()


def test_good_nested_media_lists_are_sent_unchanged(start_emulator):
    emu = start_emulator(TOKEN, processing_time=0.05)
    emu.add_model(NESTED_DOC)
    scene = {"clips": [MP4], "voices": [WAV], "frames": [_png(70, 70)], "still": [_png(80, 80)]}
    gen = _run(emu, {"prompt": "p", "scenes": [scene]}, NESTED_DOC)
    [rid] = gen.request_ids
    assert emu.jobs[rid].payload["scenes"] == [scene] and emu.submits_accepted == 1


def test_with_the_clients_check_switched_off_the_emulator_still_names_each_problem(start_emulator, monkeypatch):
    """A dialect bug of any size in the client (here: the pipeline's payload check switched off) reaches the
    emulator, which refuses the submit on its own reading of the Wan 2.6 schema."""
    import runcomfy.run.pipeline as pipeline
    from runcomfy.api import RetryPolicy, RunComfyClient
    from runcomfy.schema import find_schema
    monkeypatch.setattr(pipeline, "validate_payload", lambda *a, **k: [])
    emu = start_emulator(TOKEN, processing_time=0.05)
    client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(max_attempts=1))
    try:
        with pytest.raises(RemoteValidationError) as info:
            asyncio.run(pipeline.Runner(client).generate(
                find_schema("wan-ai/wan-2-6/image-to-image"),
                {"prompt": "p", "image_size": "999*999", "seed": -5}, urls={"image_urls": ["https://example.com/a.png"]}))
    finally:
        client.close()
    text = str(info.value)
    assert "'image_size' must be one of" in text and "'seed' must be at least 0 (got -5)" in text
    assert emu.submits_accepted == 0



# --- size rules of data: URIs nested in structured values, judged by the emulator alone -----------
# The emulator measures each inline file of a structured value itself (pixels, encoded bytes,
# duration) and applies the field's `validations` (its own and its items'), as it does for top-level
# inputs. These submits go straight to the emulator's socket: the client is not asked.
SHOTS_DOC = {"model_id": "acme/shots/multi-shot-video", "categories": ["image-to-video"],
             "input_schema": {"type": "object", "required": ["prompt"], "properties": {
                 "prompt": {"type": "string"},
                 "shots": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": {
                     "frames": {"type": "array", "format": "image_uris", "validations": [
                         {"validation_rule": "width_pixels>", "validation_value": 64},
                         {"validation_rule": "height_pixels<", "validation_value": 200},
                         {"validation_rule": "width/height<", "validation_value": 2},
                         {"validation_rule": "file_size_mb<", "validation_value": 0.01}]},
                     "refs": {"type": "array", "items": {"type": "string", "format": "image_uri", "validations": [
                         {"validation_rule": "height_pixels>", "validation_value": 64}]}},
                     "clip": {"type": "string", "format": "video_uri", "validations": [
                         {"validation_rule": "duration<", "validation_value": 1},
                         {"validation_rule": "width_pixels>", "validation_value": 16}]},
                     "voice": {"format": "audio_uri", "validations": [
                         {"validation_rule": "duration>", "validation_value": 0.1},
                         {"validation_rule": "duration<", "validation_value": 0.5}]}}}}}}}


def _noise_png(w, h) -> str:
    img = Image.frombytes("RGB", (w, h), os.urandom(w * h * 3))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return _data("image/png", buf.getvalue())


NOISE = _noise_png(80, 70)                                        # ~17 kB: over 0.01 MB
LONG_MP4 = _data("video/mp4", video_codec.encode_frames(np.zeros((16, 32, 32, 3), np.uint8), 8))   # 2 s
NARROW_MP4 = _data("video/mp4", video_codec.encode_frames(np.zeros((4, 32, 8, 3), np.uint8), 8))
SHORT_WAV = _data("audio/wav", audio_codec.encode_wav(audio_codec.tone(440, 0.05, 8000, 1)))
LONG_WAV = _data("audio/wav", audio_codec.encode_wav(audio_codec.tone(440, 1.0, 8000, 1)))
GOOD_SHOT = {"frames": [_png(80, 80), _png(100, 60)], "refs": [_png(70, 70)], "clip": MP4, "voice": WAV}


@pytest.mark.parametrize("change, loc, words", [
    ({"frames": [_png(80, 80), _png(40, 40)]}, ["frames", 1],
     "'shots[1].frames[2]' width must be at least 64 px (got '40 px (data URI)')"),
    ({"frames": [_png(80, 300)]}, ["frames", 0], "'shots[1].frames[1]' height must be at most 200 px (got '300 px"),
    ({"frames": [_png(180, 80)]}, ["frames", 0],
     "'shots[1].frames[1]' aspect ratio (width/height) must be at most 2 (got '2.25 (180x80 px) (data URI)')"),
    ({"frames": [NOISE]}, ["frames", 0],
     f"'shots[1].frames[1]' must be under 0.01 MB (encoded) (got '{(len(NOISE) - 22) * 3 // 4 / 1e6:.2f} MB"),
    ({"refs": [_png(70, 40)]}, ["refs", 0], "'shots[1].refs[1]' height must be at least 64 px (got '40 px (data URI)')"),
    ({"clip": LONG_MP4}, ["clip"], "'shots[1].clip' duration must be at most 1 s (got '2 s (data URI)')"),
    ({"clip": NARROW_MP4}, ["clip"], "'shots[1].clip' width must be at least 16 px (got '8 px (data URI)')"),
    ({"voice": SHORT_WAV}, ["voice"], "'shots[1].voice' duration must be at least 0.1 s (got '0.05 s (data URI)')"),
    ({"voice": LONG_WAV}, ["voice"], "'shots[1].voice' duration must be at most 0.5 s (got '1 s (data URI)')"),
    ({"frames": [_data("image/png", b"not an image")]}, ["frames", 0],
     "'shots[1].frames[1]': not a decodable image (data URI)"),
    ({"clip": _data("video/mp4", b"not a video")}, ["clip"], "'shots[1].clip': not a decodable video (data URI)"),
    ({"voice": _data("audio/wav", b"RIFF")}, ["voice"], "'shots[1].voice': not decodable audio (data URI)"),
    ({"frames": ["data:image/png;base64,@@@@"]}, ["frames", 0], "'shots[1].frames[1]': data URI has invalid base64"),
])
def test_the_emulator_measures_nested_data_uris_against_their_size_rules(start_emulator, change, loc, words):
    emu = start_emulator(TOKEN, processing_time=0.05)
    emu.add_model(SHOTS_DOC)
    body = {"prompt": "p", "shots": [GOOD_SHOT, dict(GOOD_SHOT, **change)]}
    r = _submit(emu, body, model=SHOTS_DOC["model_id"])
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    where = ["body", "shots", 1, *loc]
    assert [d["loc"] for d in detail] == [where], detail          # only that file; the good shot passes
    assert words.replace("shots[1]", "shots[2]") in detail[0]["msg"], detail
    assert emu.submits_accepted == 0


def test_nested_data_uris_within_their_rules_are_accepted(start_emulator):
    emu = start_emulator(TOKEN, processing_time=0.05)
    emu.add_model(SHOTS_DOC)
    body = {"prompt": "p", "shots": [GOOD_SHOT, {"frames": [_png(65, 199)], "clip": "https://e.com/a.mp4"}]}
    r = _submit(emu, body, model=SHOTS_DOC["model_id"])
    assert r.status_code == 200, r.text                            # URLs nested are not fetched
    assert emu.jobs[r.json()["request_id"]].payload == body


# --- the validator's own pieces ------------------------------------------------------------------

def test_json_equality_of_enum_values():
    assert validator.same_json(5, 5.0) and not validator.same_json(5, "5") and not validator.same_json(True, 1)
    assert validator.same_json([1, {"a": "x"}], [1.0, {"a": "x"}]) and not validator.same_json([1], [True])


def test_media_fields_in_every_spelling():
    m = validator.read_model(DOC)
    assert {i.name: (i.kind, i.many) for i in m.media()} == {
        "image_url": ("image", False), "refs": ("image", True), "more": ("image", True),
        "clips": ("video", True), "sounds": ("audio", True), "clip": ("video", False), "voice": ("audio", False)}
    assert m.output_kind == "image"


@pytest.mark.parametrize("doc", [{"model_id": "one-segment", "input_schema": {"properties": {}}},
                                 {"model_id": "acme/x"}, {"model_id": "acme/x", "input_schema": {"properties": ["a"]}}])
def test_entries_that_are_not_schemas_are_unreadable(doc):
    with pytest.raises(validator.Unreadable):
        validator.read_model(doc)
