"""Node layout per model: which ComfyUI inputs and outputs each catalog dialect becomes, and how
node arguments turn back into payload fields (no network here; runs are in test_node_dialects.py)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from runcomfy.emulator.catalog import sample_entries

WAN = "RunComfy_wan_ai_wan_2_6_image_to_image"
PACK_INPUTS = ["upload_format", "fit_inputs_to_limits", "variations", "dry_run", "timeout_seconds",
               "resume_request_id"]


def doc(props, required=(), model_id="acme/model-1-0/edit", **extra):
    return {"model_id": model_id, **extra,
            "input_schema": {"type": "object", "required": list(required), "properties": props}}


@pytest.fixture(scope="module")
def samples(pack):
    classes, names = pack.nodes.build_mappings([SimpleNamespace(model_id=d["model_id"], doc=d)
                                                for d in sample_entries()])
    return classes, names


def node(pack, d):
    classes, _ = pack.nodes.build_mappings([pack.runcomfy.schema.parse_schema(d)])
    (cls,) = classes.values()
    return cls


def inputs(cls):
    spec = cls.INPUT_TYPES()
    return spec["required"], spec["optional"]


def collect(pack, cls, **kw):
    return pack.nodes.inputs.collect(cls.SCHEMA, kw)


def test_wan_keeps_its_class_name_input_names_and_order(pack):
    cls = pack.NODE_CLASS_MAPPINGS[WAN]
    req, opt = inputs(cls)
    assert list(req) == ["prompt", "image_1", "negative_prompt", "image_size", "seed", "prompt_extend"]
    assert list(opt)[:3] == ["image_2", "image_3", "image_urls"]
    assert [n for n in opt if n in PACK_INPUTS] == PACK_INPUTS          # pack inputs in their saved order
    assert list(opt).index("upload_format") == 3                        # right after the schema's inputs
    assert cls.CATEGORY == "RunComfy/Image" and cls.RETURN_TYPES == ("IMAGE", "STRING", "STRING")


def test_every_sample_model_becomes_a_node_except_what_it_cannot_represent(samples):
    classes, names = samples
    runnable_ok = {d["model_id"] for d in sample_entries() if d.get("kind") in (None, "model")} - \
        {"emulator-samples/image-gen/needs-unknown-input"}
    assert {c.MODEL_ID for c in classes.values()} == runnable_ok
    for key, cls in classes.items():
        d = next(e for e in sample_entries() if e["model_id"] == cls.MODEL_ID)
        assert names[key] == d["display_name"]
        assert cls.CATEGORY.split("/")[:2] == ["RunComfy", {"image": "Image", "video": "Video", "audio": "Audio"}[
            cls.SCHEMA.output_kind]]
        assert "Price: " in cls.DESCRIPTION and d.get("pricing_note", "Price: ") in cls.DESCRIPTION
        req, opt = inputs(cls)
        assert [n for n in opt if n in PACK_INPUTS] == PACK_INPUTS
        for name, spec in {**req, **opt}.items():
            assert spec[1].get("tooltip"), (key, name)


def test_class_names_derive_from_the_model_id_alone(pack):
    a = node(pack, doc({"p": {"type": "string"}}, display_name="One"))
    b = node(pack, doc({"q": {"type": "integer"}}, display_name="Two", categories=["text-to-video"]))
    assert a.__name__ == b.__name__ == "RunComfy_acme_model_1_0_edit"


def test_outputs_per_output_kind(samples):
    by_id = {c.MODEL_ID: c for c in samples[0].values()}
    assert by_id["emulator-samples/image-edit/edit"].RETURN_NAMES == ("images", "urls", "request_id")
    v = by_id["emulator-samples/video-gen/text-to-video"]
    assert (v.RETURN_TYPES, v.RETURN_NAMES) == (("VIDEO", "STRING", "STRING"), ("video", "urls", "request_id"))
    a = by_id["emulator-samples/audio-gen/text-to-audio"]
    assert (a.RETURN_TYPES, a.RETURN_NAMES) == (("AUDIO", "STRING", "STRING"), ("audio", "urls", "request_id"))


def test_media_sockets_by_kind_in_schema_order_with_url_inputs(samples):
    by_id = {c.MODEL_ID: c for c in samples[0].values()}
    req, opt = inputs(by_id["emulator-samples/video-gen/reference-to-video"])
    assert req["image_1"][0] == "IMAGE" and "video_1" not in req and "audio_1" not in req
    assert [n for n in opt if n.startswith(("image_", "video_", "audio_")) or n in ("images", "videos", "audios")] == \
        [f"image_{i}" for i in range(2, 10)] + ["images"] + ["video_1", "video_2", "video_3", "videos"] + \
        ["audio_1", "audio_2", "audio_3", "audios"]
    assert opt["video_1"][0] == "VIDEO" and opt["audio_3"][0] == "AUDIO" and opt["videos"][0] == "STRING"
    assert "data:video URIs" in opt["videos"][1]["tooltip"]
    req, opt = inputs(by_id["emulator-samples/video-gen/image-to-video"])
    assert req["image"][0] == "IMAGE" and opt["end_image"][0] == "IMAGE"        # required start, optional end
    assert opt["image_url"][0] == opt["end_image_url"][0] == "STRING"
    assert list(opt).index("image_url") < list(opt).index("end_image")


@pytest.mark.parametrize("kind", ["image", "video", "audio"])
@pytest.mark.parametrize("max_items,expected", [(None, 3), (2, 2), (5, 5), (12, 12), (16, 16), (20, 16)])
def test_socket_count_follows_max_items_up_to_16(pack, kind, max_items, expected):
    # issue 18.8: MiniMax H3 Max takes 12 videos and 12 audios, Wan 3.0 references 16
    spec = {"type": "array", "format": f"{kind}_uris", "minItems": 1}
    if max_items is not None:
        spec["maxItems"] = max_items
    req, opt = inputs(node(pack, doc({"refs": spec}, ["refs"])))
    assert [n for n in {**req, **opt} if n.startswith(f"{kind}_")] == [f"{kind}_{i}" for i in range(1, expected + 1)]
    assert opt["refs"][0] == "STRING"          # more than the sockets: URL lines


def test_two_lists_of_one_kind_are_named_after_their_fields(pack):
    req, opt = inputs(node(pack, doc({"reference_images": {"type": "array", "format": "image_uris", "maxItems": 2},
                                      "style_image_urls": {"type": "array", "format": "image_uris", "maxItems": 1}})))
    assert [n for n in opt if opt[n][0] == "IMAGE"] == ["reference_image_1", "reference_image_2", "style_image_1"]
    assert opt["reference_images"][0] == "STRING" and opt["style_image_urls"][0] == "STRING"


def test_seed_like_fields_get_control_after_generate(pack):
    req, opt = inputs(node(pack, doc({"seed": {"type": "integer", "default": 1},
                                      "noise_seed": {"type": "integer"},
                                      "seeds_count": {"type": "integer", "default": 1}})))
    # "fixed": a second Run reuses the paid request; a new generation is an explicit choice (issue 18.1)
    assert req["seed"][1]["control_after_generate"] == "fixed"
    assert opt["noise_seed"][0] == "INT" and opt["noise_seed"][1]["control_after_generate"] == "fixed"
    assert "control_after_generate" not in req["seeds_count"][1]


def test_float_and_numeric_string_enums(samples):
    by_id = {c.MODEL_ID: c for c in samples[0].values()}
    req, _ = inputs(by_id["emulator-samples/image-gen/text-to-image"])
    assert req["guidance_scale"][0] == "FLOAT" and req["guidance_scale"][1]["default"] == 3.5
    req, _ = inputs(by_id["emulator-samples/video-gen/text-to-video"])
    assert req["duration"][0][0] == "auto" and all(isinstance(c, str) for c in req["duration"][0])


def test_sample_prompt_is_a_placeholder_and_a_short_default_is_kept(samples, pack):
    by_id = {c.MODEL_ID: c for c in samples[0].values()}
    cls = by_id["emulator-samples/image-gen/text-to-image"]
    req, _ = inputs(cls)
    assert req["prompt"][1]["default"] == "" and req["prompt"][1]["placeholder"].startswith("A lighthouse")
    fields, *_ = collect(pack, cls, prompt="", negative_prompt="", aspect_ratio="1:1", num_images=1,
                         guidance_scale=3.5, enable_safety_checker=True)
    assert "prompt" in fields and fields["prompt"] == ""      # sent empty -> refused as "required but empty"


def test_optional_fields_without_default_can_stay_unsent(pack):
    cls = node(pack, doc({"mode": {"type": "string", "enum": ["fast", "best"]},
                          "strength": {"type": "float", "minimum": 0, "maximum": 1},
                          "steps": {"type": "integer", "minimum": 1, "maximum": 50},
                          "hdr": {"type": "boolean"},
                          "tags": {"type": "array", "items": {"type": "integer"}}}))
    _, opt = inputs(cls)
    assert opt["mode"][0] == ["(not set)", "fast", "best"] and opt["mode"][1]["default"] == "(not set)"
    assert opt["strength"][0] == "STRING" and "Empty = not sent" in opt["strength"][1]["tooltip"]
    assert opt["hdr"][0] == ["(not set)", "true", "false"]
    fields, *_ = collect(pack, cls, mode="(not set)", strength="", steps="", hdr="(not set)", tags="")
    assert fields == {}
    fields, *_ = collect(pack, cls, mode="best", strength="0.25", steps="20", hdr="false", tags="3\n4")
    assert fields == {"mode": "best", "strength": 0.25, "steps": 20, "hdr": False, "tags": [3, 4]}
    with pytest.raises(pack.runcomfy.errors.ValidationError) as info:
        collect(pack, cls, strength="lots", steps="2.5", tags="1\nx")
    assert info.value.fields == ["strength", "steps", "tags[2]"]


def test_numeric_combo_values_come_back_as_the_schemas_values(samples, pack):
    by_id = {c.MODEL_ID: c for c in samples[0].values()}
    cls = by_id["emulator-samples/upscale"]
    fields, *_ = collect(pack, cls, scale="4")      # a frontend may hand back the label
    assert fields["scale"] == 4


def test_structured_fields_are_json_inputs(samples, pack):
    by_id = {c.MODEL_ID: c for c in samples[0].values()}
    cls = by_id["emulator-samples/video-gen/multi-shot"]
    req, opt = inputs(cls)
    spec = req["multi_prompt"]
    assert spec[0] == "STRING" and spec[1]["multiline"] and spec[1]["default"] == ""
    assert "JSON: a list of 1 to 6 items, each {" in spec[1]["tooltip"] and "Example:" in spec[1]["tooltip"]
    json.loads(spec[1]["placeholder"])
    assert opt["elements"][0] == "STRING"
    shots = [{"index": 1, "prompt": "wide"}, {"index": 2, "prompt": "close", "duration": "5"}]
    fields, *_ = collect(pack, cls, multi_prompt=json.dumps(shots), elements="", shot_type="customize")
    assert fields == {"multi_prompt": shots, "shot_type": "customize"}          # empty JSON: not sent
    with pytest.raises(pack.runcomfy.errors.ValidationError, match=r"'multi_prompt': is not valid JSON: .* line 1, column 3"):
        collect(pack, cls, multi_prompt="[{index: 1}]", shot_type="customize")


def test_an_optional_input_it_cannot_represent_is_left_out_a_required_one_means_no_node(pack, caplog):
    entries = [SimpleNamespace(model_id="acme/a/x", doc=doc({"p": {"type": "string"},
                                                              "mask": {"type": "string", "format": "mask_uri"}},
                                                             model_id="acme/a/x")),
               SimpleNamespace(model_id="acme/b/x", doc=doc({"d": {"type": "thing"}}, ["d"], model_id="acme/b/x")),
               SimpleNamespace(model_id="acme/c/x", doc={"model_id": "acme/c/x", "input_schema": []}),
               SimpleNamespace(model_id="acme/d/x", doc=doc({"p": {"type": "string"}}, model_id="acme/d/x"))]
    with caplog.at_level(logging.INFO, logger="runcomfy"):
        classes, _ = pack.nodes.build_mappings(entries)
    assert sorted(c.MODEL_ID for c in classes.values()) == ["acme/a/x", "acme/d/x"]
    a = next(c for c in classes.values() if c.MODEL_ID == "acme/a/x")
    assert "mask" not in {**inputs(a)[0], **inputs(a)[1]}
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "acme/a/x" in text and "'mask'" in text and "acme/b/x" in text and "'d'" in text and "acme/c/x" in text


def test_catalog_entry_notes_reach_the_description(pack):
    d = doc({"p": {"type": "string"}}, base_price_usd=0.05, price_unit="output")
    classes, _ = pack.nodes.build_mappings([SimpleNamespace(
        model_id=d["model_id"], doc=d, overlay=None, origin="cache", listed=False,
        notes=["RunComfy no longer lists this model."])])
    (cls,) = classes.values()
    assert "$0.05 / output" in cls.DESCRIPTION and "RunComfy no longer lists this model." in cls.DESCRIPTION


@pytest.mark.parametrize("spec,step", [({"minimum": 0, "maximum": 20, "default": 3.5}, 0.01),
                                       ({"minimum": 0, "maximum": 0.5, "default": 0.1}, 0.001),
                                       ({"minimum": 0, "maximum": 1, "default": 0.0025}, 0.0001)])
def test_float_step_keeps_the_schemas_own_values(pack, spec, step):
    req, _ = inputs(node(pack, doc({"x": {"type": "float", **spec}})))
    assert req["x"][1]["step"] == pytest.approx(step) and req["x"][1]["default"] == spec["default"]


def test_every_field_of_every_generated_entry_is_an_input(pack):
    from runcomfy.emulator.catalog import generate_entries
    entries = generate_entries(120, seed=7) + sample_entries()
    classes, _ = pack.nodes.build_mappings([SimpleNamespace(model_id=d["model_id"], doc=d) for d in entries])
    assert len(classes) >= 120
    layout_for = pack.nodes.layout.layout_for
    for cls in classes.values():
        schema = cls.SCHEMA
        req, opt = inputs(cls)
        names = list(req) + list(opt)
        assert len(names) == len(set(names))
        lay = layout_for(schema, set(PACK_INPUTS) | {"submit_anyway"})
        for f in schema.fields:
            if f.kind is not None:
                socks = lay.sockets[f.name]
                assert socks and all(n in names and {**req, **opt}[n][0] == f.kind.upper() for n in socks)
                assert {**req, **opt}[lay.url_inputs[f.name]][0] == "STRING"
                assert (socks[0] in req) == f.required
            else:
                assert f.name in names, (cls.MODEL_ID, f.name)
        doc_props = next(d for d in entries if d["model_id"] == cls.MODEL_ID)["input_schema"]["properties"]
        assert {f.name for f in schema.fields} | {n for n, _ in schema.skipped} == set(doc_props)
