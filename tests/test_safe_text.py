"""Catalog text is data, never markup: what the pack hands ComfyUI has no tag in it (display name,
description, category, tooltips, placeholders, combo entries), and a combo entry shown as an inert
label still sends the catalog's own value."""

from __future__ import annotations

import copy
import json
import re

import pytest

from runcomfy.emulator.catalog import sample_entries


@pytest.fixture
def safe_text(pack):
    return pack.nodes.safe_text


def class_name_for(model_id):
    return "RunComfy_" + re.sub(r"[^A-Za-z0-9]+", "_", model_id).strip("_")

XSS = '<img src=x onerror="window.__pwned=1">'
TAG = re.compile(r"<\s*/?\s*[A-Za-z!]")


def test_inert_replaces_markup_and_keeps_the_rest(safe_text):
    assert safe_text.inert("a <b>bold</b> & co") == "a \u2039b\u203abold\u2039/b\u203a & co"
    assert safe_text.inert(XSS) == '\u2039img src=x onerror="window.__pwned=1"\u203a'
    # Entities that decode to < or > become the same look-alikes; other entities stay.
    assert safe_text.inert("&lt;img&GT; &#60;a&#062; &#x3C;b&#x3e &lt &amp; &copy;") == \
        "\u2039img\u203a \u2039a\u203a \u2039b\u203a \u2039 &amp; &copy;"
    assert safe_text.inert("tab\tnew\nline\x00\x1b[31m") == "tab\tnew\nline[31m"
    assert safe_text.inert("Wan 2.6: image-to-image (16:9)") == "Wan 2.6: image-to-image (16:9)"
    assert safe_text.inert(5) == 5 and safe_text.inert(None) is None
    assert safe_text.is_inert("plain") and not safe_text.is_inert("<b>")


def test_choice_labels_map_back_to_the_real_value(safe_text):
    labels = safe_text.choice_labels(["1:1", "<b>wide</b>", 5])
    assert labels.labels == ["1:1", "\u2039b\u203awide\u2039/b\u203a", 5]
    assert labels.changed
    assert labels.value_of("\u2039b\u203awide\u2039/b\u203a") == "<b>wide</b>"
    assert labels.value_of("1:1") == "1:1"
    assert labels.value_of("5") == 5 and labels.value_of(5) == 5
    assert labels.value_of("nope") is None
    assert labels.label_of("<b>wide</b>") == "\u2039b\u203awide\u2039/b\u203a"
    assert not safe_text.choice_labels(["a", "b"]).changed


def test_choices_that_would_look_the_same_are_refused(safe_text):
    with pytest.raises(safe_text.ChoiceCollision, match=r"'<b>'.*'\u2039b\u203a'"):
        safe_text.choice_labels(["<b>", "\u2039b\u203a"], "m, input 'x'")
    with pytest.raises(safe_text.ChoiceCollision):
        safe_text.choice_labels(["&lt;b>", "<b>"])


def _hostile_entry() -> dict:
    doc = copy.deepcopy(next(d for d in sample_entries() if d["model_id"] == "emulator-samples/image-gen/text-to-image"))
    doc["model_id"] = "hostile/xss-test"
    doc["display_name"] = "Evil " + XSS
    doc["description"] = "Desc " + XSS
    props = doc["input_schema"]["properties"]
    props["aspect_ratio"]["enum"] = ["1:1", "16:9" + XSS]
    props["aspect_ratio"]["default"] = "16:9" + XSS
    props["aspect_ratio"]["title"] = "Ratio " + XSS
    props["aspect_ratio"]["description"] = "Tip " + XSS
    props["negative_prompt"]["default"] = XSS
    props["prompt"]["title"] = "Prompt " + XSS
    props["prompt"]["description"] = ""
    return doc


def test_node_definition_carries_no_markup_and_runs_the_real_enum_value(pack):
    doc = _hostile_entry()
    classes, names = pack.nodes.build_mappings([pack.runcomfy.schema.parse_schema(doc)])
    key = class_name_for(doc["model_id"])
    assert key in classes, "the model keeps its node"
    cls = classes[key]
    spec = cls.INPUT_TYPES()
    shown = {"display_name": names[key], "description": cls.DESCRIPTION, "category": cls.CATEGORY,
             "inputs": {s: {n: item for n, item in section.items() if n != "negative_prompt"}
                        for s, section in spec.items() if isinstance(section, dict)}}
    text = json.dumps(shown, ensure_ascii=False)
    assert not TAG.search(text), text
    safe_text = pack.nodes.safe_text
    assert "Evil \u2039img" in names[key] and "Desc \u2039img" in cls.DESCRIPTION
    combo, opts = spec["required"]["aspect_ratio"]
    label = "16:9\u2039img src=x onerror=\"window.__pwned=1\"\u203a"
    assert combo == ["1:1", label] and opts["default"] == label
    assert "Tip \u2039img" in opts["tooltip"]
    assert "Prompt \u2039img" in spec["required"]["prompt"][1]["tooltip"]
    # A STRING default is the value sent when left alone: kept as the catalog gives it.
    assert spec["required"]["negative_prompt"][1]["default"] == XSS

    # The label the combo sends back is the catalog's value in the payload.
    kwargs = {name: item[1].get("default") for name, item in spec["required"].items()}
    kwargs["aspect_ratio"] = label
    fields, _, _, _ = pack.nodes.inputs.collect(cls.SCHEMA, kwargs)
    assert fields["aspect_ratio"] == "16:9" + XSS
    kwargs["aspect_ratio"] = "1:1"
    assert pack.nodes.inputs.collect(cls.SCHEMA, kwargs)[0]["aspect_ratio"] == "1:1"


def test_a_model_whose_choices_collide_gets_no_node_and_a_logged_reason(pack, caplog):
    doc = _hostile_entry()
    doc["model_id"] = "hostile/collide"
    doc["input_schema"]["properties"]["aspect_ratio"]["enum"] = ["<b>", "\u2039b\u203a"]
    doc["input_schema"]["properties"]["aspect_ratio"]["default"] = "<b>"
    with caplog.at_level("WARNING", logger="runcomfy"):
        classes, _ = pack.nodes.build_mappings([pack.runcomfy.schema.parse_schema(doc)])
    assert class_name_for(doc["model_id"]) not in classes
    assert any("hostile/collide" in r.getMessage() and "aspect_ratio" in r.getMessage()
               and "would both show" in r.getMessage() for r in caplog.records), caplog.text


def test_shipped_and_sample_nodes_are_unchanged_by_sanitising(pack, safe_text):
    """No real text changes: the shipped schemas and the emulator samples have no markup."""
    classes, names = pack.nodes.build_mappings()
    assert classes
    for key, cls in classes.items():
        assert safe_text.is_inert(names[key]) and safe_text.is_inert(cls.DESCRIPTION)
        for section in cls.INPUT_TYPES().values():
            for item in section.values() if isinstance(section, dict) else ():
                if isinstance(item, list) and isinstance(item[0], list):
                    assert item[0] == list(safe_text.choice_labels(item[0]).values)


def test_shown_input_options_are_inert_and_values_are_not(safe_text):
    spec = {"required": {
        "ratio": [["1:1", "<b>"], {"default": "<b>", "tooltip": "t <i>", "display_name": "Ratio <i>"}],
        "text": ["STRING", {"default": "<keep>", "placeholder": "<p>", "display_name": "<t>"}],
        "flag": ["BOOLEAN", {"default": True, "label_on": "<on>", "label_off": "<off>"}]},
        "hidden": {"unique_id": "UNIQUE_ID", "runcomfy_model_id": "a/b"}}
    out = safe_text.inert_input_types(spec)
    assert out["required"]["ratio"] == [["1:1", "\u2039b\u203a"], {"default": "\u2039b\u203a", "tooltip": "t \u2039i\u203a",
                                                                  "display_name": "Ratio \u2039i\u203a"}]
    assert out["required"]["text"][1] == {"default": "<keep>", "placeholder": "\u2039p\u203a", "display_name": "\u2039t\u203a"}
    assert out["required"]["flag"][1] == {"default": True, "label_on": "\u2039on\u203a", "label_off": "\u2039off\u203a"}
    assert out["hidden"] == spec["hidden"]
    assert spec["required"]["ratio"][1]["tooltip"] == "t <i>", "the input is not changed in place"
