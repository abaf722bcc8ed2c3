"""Every schema dialect of the catalog parses into one Field shape, and each validations rule
names the field, the limit and the value."""

from __future__ import annotations

import logging

import pytest

from runcomfy.schema import (MediaInfo, SchemaError, check_media, parse_catalog, parse_schema,
                             validate_payload)
from runcomfy.schema.dialects import SAMPLE_TEXT_CHARS, family_of


def doc(props: dict, required=(), **extra) -> dict:
    return {"model_id": "acme/model-1-0/edit", **extra,
            "input_schema": {"type": "object", "required": list(required), "properties": props}}


def one(spec: dict, required=False, **extra):
    return parse_schema(doc({"x": spec}, ["x"] if required else [], **extra)).field("x")


@pytest.mark.parametrize("name", ["image", "image_url", "end_image_url", "start_frame"])
def test_single_media_field_whatever_its_name(name):
    s = parse_schema(doc({name: {"type": "string", "format": "image_uri"}}))
    f = s.field(name)
    assert (f.kind, f.is_list, f.format, f.is_media) == ("image", False, "image_uri", True)
    assert s.media_fields == [f] and s.image_fields == [f]


@pytest.mark.parametrize("kind", ["image", "video", "audio"])
def test_both_list_spellings_are_the_same_field(kind):
    items = one({"type": "array", "items": {"type": "string", "format": f"{kind}_uri"}, "maxItems": 3})
    array_level = one({"type": "array", "format": f"{kind}_uris", "maxItems": 3})
    for f in (items, array_level):
        assert (f.kind, f.is_list, f.format, f.item_type, f.max_items) == (kind, True, f"{kind}_uri", "string", 3)


def test_min_and_max_items_with_and_without_a_maximum():
    bounded = one({"type": "array", "format": "image_uris", "minItems": 2, "maxItems": 5})
    open_ended = one({"type": "array", "format": "image_uris", "minItems": 1})
    assert (bounded.min_items, bounded.max_items) == (2, 5)
    assert (open_ended.min_items, open_ended.max_items) == (1, None)
    s = parse_schema(doc({"x": {"type": "array", "format": "image_uris", "minItems": 2, "maxItems": 3}}, ["x"]))
    url = "https://example.runcomfy.net/a.png"
    assert [p.field for p in validate_payload(s, {"x": [url]})] == ["x"]
    assert "at most this many items: 3" in validate_payload(s, {"x": [url] * 4})[0].text()
    assert validate_payload(s, {"x": [url] * 3}) == []


def test_several_media_fields_of_several_kinds_in_one_model():
    s = parse_schema(doc({
        "prompt": {"type": "string"},
        "images": {"type": "array", "items": {"type": "string", "format": "image_uri"}, "maxItems": 9},
        "videos": {"type": "array", "format": "video_uris", "maxItems": 3},
        "audios": {"type": "array", "format": "audio_uris", "maxItems": 3},
        "end_image_url": {"type": "string", "format": "image_uri"},
    }, ["prompt", "images"], categories=["reference-to-video"]))
    assert [(f.name, f.kind, f.is_list) for f in s.media_fields] == [
        ("images", "image", True), ("videos", "video", True), ("audios", "audio", True),
        ("end_image_url", "image", False)]
    assert s.output_kind == "video" and s.category == "RunComfy/Video/Model"


def test_float_type_is_a_number():
    f = one({"type": "float", "minimum": 0.5, "maximum": 2, "default": 1})
    assert (f.type, f.default, f.minimum) == ("number", 1.0, 0.5)
    s = parse_schema(doc({"x": {"type": "float", "maximum": 2}}))
    assert validate_payload(s, {"x": 1.5}) == []
    assert "must be of type 'number'" in validate_payload(s, {"x": "1.5"})[0].text()
    assert "at most 2" in validate_payload(s, {"x": 2.5})[0].text()


def test_enum_of_numeric_strings_keeps_strings_and_matches_a_numeric_default():
    f = one({"type": "string", "enum": ["auto", "5", "10", "20"], "default": 5})
    assert f.enum == ["auto", "5", "10", "20"] and f.default == "5"
    s = parse_schema(doc({"duration": {"type": "string", "enum": ["auto", "5", "10"]}}))
    assert validate_payload(s, {"duration": "10"}) == []
    assert "'duration' must be of type 'string' (got 10)" in validate_payload(s, {"duration": 10})[0].text()
    assert "'duration' must be one of ['auto', '5', '10'] (got '7')" in validate_payload(s, {"duration": "7"})[0].text()
    ints = one({"type": "integer", "enum": [5, 10], "default": "10"})
    assert ints.default == 10


@pytest.mark.parametrize("spec", [{"type": "integer"}, {"type": "integer", "default": None},
                                  {"type": "string", "default": None}, {"type": "boolean"}])
def test_null_or_missing_defaults_are_none(spec):
    assert one(spec).default is None


def test_nullable_type_lists_and_inferred_types():
    assert one({"type": ["string", "null"]}).type == "string"
    assert one({"enum": [1, 2, 3]}).type == "integer"
    assert one({"properties": {"a": {"type": "string"}}}).structured


def test_sample_content_is_never_a_default():
    sample_prompt = "A lighthouse on a cliff at dawn, soft fog rolling over the sea, cinematic " * 2
    assert len(sample_prompt) > SAMPLE_TEXT_CHARS
    f = one({"type": "string", "default": sample_prompt})
    assert f.default is None and f.sample == sample_prompt
    short = one({"type": "string", "default": "blurry, low quality"})
    assert short.default == "blurry, low quality" and short.sample is None
    # A positive prompt is never pre-filled, however short; a negative one keeps its default.
    s = parse_schema(doc({"prompt": {"type": "string", "default": "a cat"},
                          "scene_prompt": {"type": "string", "default": "a dog"},
                          "negative_prompt": {"type": "string", "default": "blur"}}))
    assert [(f.default, f.sample) for f in s.fields] == [(None, "a cat"), (None, "a dog"), ("blur", None)]
    url = one({"type": "string", "format": "uri", "default": "https://example.com/sample.png"})
    assert url.default is None and url.sample == "https://example.com/sample.png"
    media = one({"type": "array", "format": "image_uris", "default": ["https://x.runcomfy.net/in.png"]})
    single = one({"type": "string", "format": "video_uri", "default": "https://x.runcomfy.net/in.mp4"})
    assert media.default is None and single.default is None       # media defaults are never sent


def test_wan_overlay_keeps_english_texts_and_category():
    from runcomfy.schema import find_schema
    wan = find_schema("wan-ai/wan-2-6/image-to-image")
    assert wan.category == "RunComfy/Image" and wan.output_kind == "image"
    assert wan.field("prompt").default is None and wan.field("prompt").sample.startswith("On the left")
    assert wan.field("negative_prompt").default.startswith("low resolution")       # short: a real default
    assert wan.field("image_urls").default is None and wan.field("image_urls").sample    # sample URLs


def test_catalog_keys_give_display_name_category_family_and_price():
    s = parse_schema(doc({"p": {"type": "string"}}, display_name="Kling 3.0 Text to Video",
                         categories=["text-to-video"], kind="model", base_price_usd=0.07, price_unit="second",
                         pricing_note="Audio doubles the price."))
    assert s.display_name == "Kling 3.0 Text to Video" and s.output_kind == "video"
    assert s.price == {"base_price_usd": 0.07, "price_unit": "second", "pricing_note": "Audio doubles the price."}
    assert s.catalog_kind == "model"
    assert family_of("kling/kling-3-0/text-to-video") == "Kling"
    assert family_of("wan-ai/wan-2-6/image-to-image") == "Wan"
    assert family_of("bytedance/seedance-2-5-pro/reference-to-video") == "Seedance"
    assert family_of("alibaba/qwen-image/edit") == "Qwen Image"
    assert parse_schema(doc({}, categories=["text-to-audio"])).category == "RunComfy/Audio/Model"


@pytest.mark.parametrize("spec,why", [
    ({"type": "string", "format": "mask_uri"}, "unknown format 'mask_uri'"),
    ({"type": "array", "format": "mesh_uris"}, "unknown format 'mesh_uris'"),
    ({"type": "array", "items": {"type": "string", "format": "depth_uri"}}, "unknown items format"),
    ({"type": "file"}, "unknown type 'file'"),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "combined type"),
])
def test_what_the_pack_cannot_represent(spec, why):
    optional = parse_schema(doc({"p": {"type": "string"}, "x": spec}))
    assert [f.name for f in optional.fields] == ["p"]
    assert optional.skipped and optional.skipped[0][0] == "x" and why in optional.skipped[0][1]
    # A payload naming the skipped field is not refused by the local check (the service decides).
    assert validate_payload(optional, {"p": "a", "x": "y"}) == []
    with pytest.raises(SchemaError, match=r"acme/model-1-0/edit.*required input 'x'.*" + why.split("'")[0]):
        parse_schema(doc({"p": {"type": "string"}, "x": spec}, ["x"]))


def test_one_bad_entry_never_takes_the_others_down_and_is_logged_once(caplog):
    good = doc({"p": {"type": "string"}})
    bad_required = {**doc({"d": {"type": "string", "format": "depth_uri"}}, ["d"]), "model_id": "acme/needs-depth/x"}
    optional_skip = {**doc({"p": {"type": "string"}, "m": {"type": "string", "format": "mask_uri"}}),
                     "model_id": "acme/masked/x"}
    junk = [None, {"model_id": "not an id"}, {"model_id": "acme/broken/x", "input_schema": {"properties": 7}},
            {"model_id": "acme/broken/y", "input_schema": {"properties": {"a": "not a spec"}, "required": ["a"]}}]
    not_runnable = {**doc({"p": {"type": "string"}}), "model_id": "acme/guide/x", "kind": "collection"}
    with caplog.at_level(logging.INFO, logger="runcomfy"):
        for _ in range(2):
            out = parse_catalog([good, bad_required, optional_skip, not_runnable, *junk])
    assert [s.model_id for s in out] == ["acme/model-1-0/edit", "acme/masked/x"]
    texts = [r.getMessage() for r in caplog.records]
    assert sum("acme/needs-depth/x" in t and "'d'" in t for t in texts) == 1
    assert sum("acme/masked/x" in t and "'m'" in t and "mask_uri" in t for t in texts) == 1
    assert not any("acme/guide/x" in t for t in texts)


def test_later_entries_of_a_model_win():
    a = doc({"p": {"type": "string"}}, display_name="Old")
    b = doc({"p": {"type": "string"}, "q": {"type": "integer"}}, display_name="New")
    (s,) = parse_catalog([a, b])
    assert s.display_name == "New" and [f.name for f in s.fields] == ["p", "q"]


# --- validations rules -------------------------------------------------------------------

RULES = [
    {"validation_rule": "file_size_mb<", "validation_value": 1},
    {"validation_rule": "width_pixels>", "validation_value": 256},
    {"validation_rule": "height_pixels>", "validation_value": 256},
    {"validation_rule": "width_pixels<", "validation_value": 4096},
    {"validation_rule": "height_pixels<", "validation_value": 4096},
    {"validation_rule": "width/height>", "validation_value": 0.0625},
    {"validation_rule": "width/height<", "validation_value": 16},
]


@pytest.fixture
def ruled():
    return one({"type": "array", "format": "image_uris", "validations": RULES})


@pytest.mark.parametrize("info,needle", [
    (MediaInfo(width=300, height=300, nbytes=1_000_000), "must be under (MB, encoded) 1 (got '1.00 MB"),
    (MediaInfo(width=255, height=300), "width must be at least (px) 256 (got '255 px"),
    (MediaInfo(width=300, height=255), "height must be at least (px) 256"),
    (MediaInfo(width=4097, height=300), "width must be at most (px) 4096 (got '4097 px"),
    (MediaInfo(width=300, height=4097), "height must be at most (px) 4096"),
    (MediaInfo(width=256, height=4097 + 100), "height must be at most"),
    (MediaInfo(width=300, height=4800 + 1), "aspect ratio (width/height) must be at least 0.0625"),
    (MediaInfo(width=4096, height=256 - 1), "aspect ratio (width/height) must be at most 16"),
])
def test_each_rule_names_field_limit_and_value(ruled, info, needle):
    texts = [p.text() for p in check_media(ruled, info, "x[2]")]
    assert any(needle in t for t in texts), texts
    assert all(t.startswith("'x[2]'") for t in texts)


def test_bounds_themselves_are_allowed(ruled):
    assert check_media(ruled, MediaInfo(width=256, height=4096, nbytes=999_999), "x[1]") == []
    assert check_media(ruled, MediaInfo(width=4096, height=256), "x[1]") == []     # ratio exactly 16
    assert check_media(ruled, MediaInfo(width=256, height=4096), "x[1]") == []     # ratio exactly 0.0625
    assert check_media(ruled, MediaInfo(), "x[1]") == []                          # unknown: not guessed


def test_unknown_rules_are_left_to_the_service(caplog):
    s = parse_schema(doc({"x": {"type": "string", "format": "image_uri",
                                "validations": [{"validation_rule": "dpi>", "validation_value": 72}]}}))
    assert check_media(s.field("x"), MediaInfo(width=1, height=1), "x") == []
