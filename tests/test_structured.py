"""Structured fields (arrays of objects, objects) as JSON text: shape and example in the tooltip,
every problem named by its path, rule and value, invalid JSON by line and column."""

from __future__ import annotations

import json

import pytest

from runcomfy.errors import ValidationError
from runcomfy.schema import parse_schema, structured, validate_payload

MULTI_PROMPT = {
    "type": "array", "title": "Shots", "description": "One entry per shot, in order.",
    "minItems": 1, "maxItems": 3,
    "items": {"type": "object", "required": ["index", "prompt"], "additionalProperties": False,
              "properties": {
                  "index": {"type": "integer", "minimum": 1, "maximum": 6},
                  "prompt": {"type": "string", "maxLength": 20},
                  "duration": {"type": "string", "enum": ["3", "5", "10"]},
                  "weight": {"type": "float", "minimum": 0, "maximum": 1}}}}
ELEMENTS = {"type": "array", "maxItems": 2,
            "items": {"type": "object", "required": ["name"],
                      "properties": {"name": {"type": "string"},
                                     "image_url": {"type": "string", "format": "image_uri"}}}}
KEYFRAMES = {"type": "object", "required": ["frames"],
             "properties": {"frames": {"type": "array", "items": {
                 "type": "object", "required": ["t"], "properties": {"t": {"type": "number", "minimum": 0}}}}}}


@pytest.fixture(scope="module")
def schema():
    return parse_schema({"model_id": "acme/shots/video", "categories": ["text-to-video"], "input_schema": {
        "type": "object", "required": ["multi_prompt"],
        "properties": {"multi_prompt": MULTI_PROMPT, "elements": ELEMENTS, "keyframes": KEYFRAMES}}})


def problems(schema, **payload):
    return [p.text() for p in validate_payload(schema, payload)]


def test_structured_fields_are_recognised(schema):
    assert all(schema.field(n).structured for n in ("multi_prompt", "elements", "keyframes"))
    assert schema.field("multi_prompt").kind is None


def test_a_valid_value_passes(schema):
    shots = [{"index": 1, "prompt": "wide shot", "duration": "5"}, {"index": 2, "prompt": "close-up", "weight": 0.5}]
    assert problems(schema, multi_prompt=shots, elements=[{"name": "hero", "image_url": "https://x.com/a.png"}],
                    keyframes={"frames": [{"t": 0}, {"t": 1.5}]}) == []


@pytest.mark.parametrize("value,needle", [
    ([{"index": 1, "prompt": "a"}, {"index": 2, "prompt": "b", "duration": "7"}],
     "'multi_prompt[2].duration' must be one of ['3', '5', '10'] (got '7')"),
    ([{"index": 0, "prompt": "a"}], "'multi_prompt[1].index' must be at least 1 (got 0)"),
    ([{"index": 7, "prompt": "a"}], "'multi_prompt[1].index' must be at most 6 (got 7)"),
    ([{"index": 1.5, "prompt": "a"}], "'multi_prompt[1].index' must be of type 'integer' (got 1.5)"),
    ([{"index": "1", "prompt": "a"}], "'multi_prompt[1].index' must be of type 'integer' (got '1')"),
    ([{"index": 1}], "'multi_prompt[1].prompt': is required but missing"),
    ([{"index": 1, "prompt": "x" * 21}], "'multi_prompt[1].prompt' must have at most this many characters: 20"),
    ([{"index": 1, "prompt": "a", "weight": 2}], "'multi_prompt[1].weight' must be at most 1 (got 2)"),
    ([{"index": 1, "prompt": "a", "camera": "pan"}], "'multi_prompt[1].camera': is not allowed here"),
    ([], "'multi_prompt' needs at least this many items: 1 (got '0 items')"),
    ([{"index": 1, "prompt": "a"}] * 4, "'multi_prompt' takes at most this many items: 3 (got '4 items')"),
    ({"index": 1}, "'multi_prompt' must be of type 'array'"),
    (["a shot"], "'multi_prompt[1]' must be of type 'object' (got 'a shot')"),
])
def test_each_problem_names_path_rule_and_value(schema, value, needle):
    texts = problems(schema, multi_prompt=value)
    assert any(needle in t for t in texts), texts


def test_nested_media_urls_and_objects_are_checked(schema):
    ok = [{"index": 1, "prompt": "a"}]
    assert problems(schema, multi_prompt=ok, elements=[{"name": "x", "image_url": "ftp://x/a.png"}]) == [
        "'elements[1].image_url' must be an http(s) URL or a data:image URI (got 'ftp://x/a.png')"]
    assert problems(schema, multi_prompt=ok, keyframes={"frames": [{"t": -1}]}) == [
        "'keyframes.frames[1].t' must be at least 0 (got -1)"]
    assert problems(schema, multi_prompt=ok, keyframes={}) == ["'keyframes.frames': is required but missing"]


def test_every_problem_is_reported_at_once(schema):
    texts = problems(schema, multi_prompt=[{"index": 0}, {"index": 1, "prompt": 3}])
    assert len(texts) == 3, texts


def test_invalid_json_names_line_and_column(schema):
    f = schema.field("multi_prompt")
    with pytest.raises(ValidationError) as info:
        structured.parse_json(f, '[\n  {"index": 1, "prompt": "a"}\n  {"index": 2}\n]')
    text = str(info.value)
    assert "'multi_prompt': is not valid JSON" in text and "line 3, column 3" in text
    assert "Nothing was sent" in text


def test_empty_means_not_sent(schema):
    f = schema.field("elements")
    assert structured.parse_json(f, "") is None and structured.parse_json(f, "  \n ") is None
    assert structured.parse_json(f, '[{"name": "a"}]') == [{"name": "a"}]


@pytest.mark.parametrize("name", ["multi_prompt", "elements", "keyframes"])
def test_tooltip_shows_shape_and_an_example_that_is_itself_valid(schema, name):
    f = schema.field(name)
    tip = structured.tooltip(f)
    assert "JSON:" in tip and "Example:" in tip and "Empty = not sent." in tip
    example = json.loads(tip.split("Example: ", 1)[1].rsplit(" Empty = not sent.", 1)[0])
    found = []
    structured.check_value(example, f.spec, name, found)
    assert found == [], [p.text() for p in found]


def test_multi_prompt_shape_text():
    shape = structured.describe(MULTI_PROMPT)
    assert shape.startswith("a list of 1 to 3 items, each {")
    assert '"index": integer 1..6 (required)' in shape and '"duration": one of "3", "5", "10"' in shape
    assert '"prompt": string (at most 20 characters) (required)' in shape


# Media lists nested in structured values, in the array-level spelling ("format": "image_uris").
REFS = {"type": "array", "items": {"type": "object", "properties": {
    "name": {"type": "string"},
    "image_urls": {"type": "array", "format": "image_uris", "maxItems": 2},
    "voices": {"format": "audio_uris"}}}}


def test_nested_media_lists_are_checked_item_by_item():
    found = []
    structured.check_value([{"name": "a", "image_urls": ["https://x.com/a.png", "a.png", 3, "data:video/mp4;base64,AA"],
                             "voices": ["https://x.com/v.wav", "data:image/png;base64,AA"]}], REFS, "elements", found)
    assert [p.text() for p in found] == [
        "'elements[1].image_urls' takes at most this many items: 2 (got '4 items')",
        "'elements[1].image_urls[2]' must be an http(s) URL or a data:image URI (got 'a.png')",
        "'elements[1].image_urls[3]' must be of type 'string' (got 3)",
        "'elements[1].image_urls[4]' must be an http(s) URL or a data:image URI (got 'data:video/mp4;base64,AA')",
        "'elements[1].voices[2]' must be an http(s) URL or a data:audio URI (got 'data:image/png;base64,AA')"]
    found = []
    structured.check_value([{"voices": "https://x.com/v.wav"}], REFS, "elements", found)
    assert [p.text() for p in found] == ["'elements[1].voices' must be of type 'array' (got 'https://x.com/v.wav')"]


def test_data_uris_in_nested_media_lists_are_found_for_measuring():
    value = [{"image_urls": ["https://x.com/a.png", "data:image/png;base64,AA"], "voices": ["data:audio/wav;base64,BB"]}]
    found = [(path, kind, uri) for path, kind, _, uri in structured.data_uris(value, REFS, "elements", [])]
    assert found == [("elements[1].image_urls[2]", "image", "data:image/png;base64,AA"),
                     ("elements[1].voices[1]", "audio", "data:audio/wav;base64,BB")]


def test_a_nested_media_list_has_a_valid_example_and_says_what_it_holds():
    assert '"image_urls": a list of up to 2 items, each string (image URL)' in structured.describe(REFS)
    example = structured.example(REFS)
    assert example[0]["image_urls"][0] == "https://example.com/image.png"
    found = []
    structured.check_value(example, REFS, "elements", found)
    assert found == [], [p.text() for p in found]
