import json

import pytest

from runcomfy.errors import ValidationError
from runcomfy.schema import (BYTES_PER_MB, ImageInfo, check_payload, discover_schemas, find_schema,
                             parse_image_size, parse_schema, validate_payload)

WAN = "wan-ai/wan-2-6/image-to-image"
URL = "https://example.runcomfy.net/a.png"


@pytest.fixture(scope="module")
def wan():
    return find_schema(WAN)


def ok_payload(**over):
    p = {"prompt": "two monsters", "image_urls": [URL], "negative_prompt": "blur",
         "image_size": "1024*1024 (1:1)", "seed": 1, "prompt_extend": True}
    p.update(over)
    return p


def fields_of(problems):
    return [p.field for p in problems]


def test_shipped_schema_has_six_fields_with_english_ui_and_korean_kept(wan):
    names = [f.name for f in wan.fields]
    assert names == ["prompt", "image_urls", "negative_prompt", "image_size", "seed", "prompt_extend"]
    assert wan.field("prompt").title == "Prompt"
    assert wan.field("prompt").source_title == "프롬프트"
    for f in wan.fields:
        assert f.description and all(ord(c) < 0x3000 for c in f.description), f.name
    assert wan.field("seed").maximum == 2147483647
    assert wan.field("image_urls").max_items == 3
    assert wan.display_name == "RunComfy Wan 2.6 Image to Image"


def test_valid_payload_passes(wan):
    assert validate_payload(wan, ok_payload()) == []


@pytest.mark.parametrize("over,field,needle", [
    ({"prompt": "x" * 2000}, "prompt", "1999"),
    ({"prompt": "   "}, "prompt", "empty"),
    ({"negative_prompt": "n" * 501}, "negative_prompt", "500"),
    ({"image_size": "999*999"}, "image_size", "999*999"),
    ({"seed": -1}, "seed", "at least 0"),
    ({"seed": 2147483648}, "seed", "at most 2147483647"),
    ({"seed": "7"}, "seed", "integer"),
    ({"prompt_extend": "yes"}, "prompt_extend", "boolean"),
    ({"image_urls": []}, "image_urls", "at least this many items: 1"),
    ({"image_urls": [URL] * 4}, "image_urls", "at most this many items: 3"),
    ({"image_urls": ["ftp://x/y.png"]}, "image_urls[1]", "http(s)"),
    ({"unknown": 1}, "unknown", "not an input"),
])
def test_each_rule_names_field_limit_and_value(wan, over, field, needle):
    problems = validate_payload(wan, ok_payload(**over))
    assert field in fields_of(problems)
    text = "; ".join(p.text() for p in problems)
    assert needle in text


def test_missing_required_fields(wan):
    p = ok_payload()
    del p["prompt"], p["image_urls"]
    assert set(fields_of(validate_payload(wan, p))) == {"prompt", "image_urls"}


@pytest.mark.parametrize("info,needle", [
    (ImageInfo(383, 500, 1000), "width must be at least (px) 384 (got '383 px"),
    (ImageInfo(500, 383, 1000), "height must be at least (px) 384"),
    (ImageInfo(5001, 500, 1000), "width must be at most (px) 5000"),
    (ImageInfo(500, 5001, 1000), "height must be at most (px) 5000"),
    (ImageInfo(500, 500, 10 * BYTES_PER_MB), "must be under (MB, encoded) 10"),
])
def test_image_validations_from_schema(wan, info, needle):
    problems = validate_payload(wan, ok_payload(image_urls=[URL, URL]), {"image_urls": [ImageInfo(400, 400, 10), info]})
    assert [p.field for p in problems] == ["image_urls[2]"]
    assert needle in problems[0].text()


def test_image_bounds_are_inclusive(wan):
    infos = [ImageInfo(384, 5000, 10 * BYTES_PER_MB - 1)]
    assert validate_payload(wan, ok_payload(), {"image_urls": infos}) == []


def test_check_payload_raises_with_all_problems(wan):
    with pytest.raises(ValidationError) as ei:
        check_payload(wan, ok_payload(seed=-5, image_size="nope"))
    assert set(ei.value.fields) == {"seed", "image_size"}
    assert "Nothing was sent or charged" in str(ei.value)


def test_second_schema_file_is_discovered(tmp_path):
    doc = {"model_id": "acme/toy/edit", "input_schema": {"type": "object", "required": ["text"],
           "properties": {"text": {"type": "string", "maxLength": 5}}}}
    (tmp_path / "a.schema.json").write_text(json.dumps(doc))
    schemas = discover_schemas(tmp_path)
    assert [s.model_id for s in schemas] == ["acme/toy/edit"]
    assert schemas[0].display_name == "RunComfy Toy Edit"
    assert fields_of(validate_payload(schemas[0], {"text": "toolong"})) == ["text"]


@pytest.mark.parametrize("bad", ["single", "a/b/c/d/e", "", "../x"])
def test_model_id_shape_is_checked(bad):
    with pytest.raises(ValueError):
        parse_schema({"model_id": bad, "input_schema": {}})


def test_parse_image_size():
    assert parse_image_size("1280*720 (16:9)") == (1280, 720)
    assert parse_image_size("bogus") is None
