"""The pack's ``locales/`` against the node definitions ComfyUI would load.

ComfyUI (app/custom_node_manager.py ``build_translations``) reads ``locales/<lang>/main.json``
plus ``nodeDefs.json`` and ``settings.json``; the frontend looks up
``nodeDefs.<class>.inputs.<input with "." -> "_">.name|tooltip``, ``outputs."<index>"``,
``nodeCategories.<category segment>``, ``settingsCategories.<label>`` and
``settings.<setting id with "." -> "_">.name|tooltip``.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, load_pack

LANGS = ("en", "ko", "zh", "ja")
FILES = ("main.json", "nodeDefs.json", "settings.json")
LOCALES = ROOT / "locales"
EXTENSION_JS = ROOT / "web" / "runcomfy.js"


def norm(key: str) -> str:
    """The frontend's normalizeI18nKey."""
    return key.replace(".", "_")


def load(lang: str, name: str) -> dict:
    return json.loads((LOCALES / lang / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def loaded():
    """The pack imported the way ComfyUI imports it."""
    return load_pack()


@pytest.fixture(scope="module")
def classes(loaded):
    return loaded.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def node_defs():
    return {lang: load(lang, "nodeDefs.json") for lang in LANGS}


def widget_inputs(cls) -> dict:
    spec = cls.INPUT_TYPES()
    return {**spec.get("required", {}), **spec.get("optional", {})}


def has_seed_control(cls) -> bool:
    # The frontend adds "control_after_generate" to INT inputs that ask for it, and to any
    # input named seed/noise_seed unless it is switched off explicitly.
    for name, (kind, *rest) in widget_inputs(cls).items():
        opts = rest[0] if rest else {}
        if kind == "INT" and opts.get("control_after_generate", name in ("seed", "noise_seed")):
            return True
    return False


def expected_input_keys(cls) -> set[str]:
    keys = {norm(n) for n in widget_inputs(cls)}
    if has_seed_control(cls):
        keys.add("control_after_generate")
    return keys


def split_aliases(inputs: dict) -> tuple[dict, dict]:
    """(inputs, tooltip aliases). Frontend 1.49's Vue sockets look the tooltip up by the
    *translated* socket name, so each language also carries ``inputs.<its name>.tooltip``."""
    real = {k: v for k, v in inputs.items() if "name" in v}
    return real, {k: v for k, v in inputs.items() if "name" not in v}


def without_aliases(doc: dict) -> dict:
    return {cls: {**entry, "inputs": split_aliases(entry["inputs"])[0]} if isinstance(entry, dict) and
            isinstance(entry.get("inputs"), dict) else entry for cls, entry in doc.items()}


def has_non_ascii(text: str) -> bool:
    return any(ord(c) > 127 for c in text)


def extension_settings() -> list[dict]:
    """Setting ids and categories declared in web/runcomfy.js."""
    js = EXTENSION_JS.read_text(encoding="utf-8")
    consts = dict(re.findall(r'const (SETTING_\w+) = "([^"]+)";', js))
    found = []
    for m in re.finditer(r"id: (SETTING_\w+),\s*category: \[([^\]]*)\]", js):
        found.append({"id": consts[m.group(1)], "category": re.findall(r'"([^"]*)"', m.group(2)),
                      "has_tooltip": "tooltip:" in js[m.end(): m.end() + 400].split("defaultValue")[0]})
    assert found, "no settings found in web/runcomfy.js"
    return found


# --- files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", FILES)
def test_every_file_parses_as_a_json_object(lang, name):
    path = LOCALES / lang / name
    assert path.is_file(), f"missing {path.relative_to(ROOT)}"
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM (ComfyUI reads plain utf-8)"
    doc = json.loads(raw.decode("utf-8"))
    assert isinstance(doc, dict) and doc


def test_languages_have_the_same_keys(node_defs):
    def shape(obj):
        if isinstance(obj, dict):
            return {k: shape(v) for k, v in obj.items()}
        return type(obj).__name__
    def loaded(lang, name):
        doc = load(lang, name)
        return without_aliases(doc) if name == "nodeDefs.json" else doc
    for name in FILES:
        en = shape(loaded("en", name))
        for lang in LANGS[1:]:
            assert shape(loaded(lang, name)) == en, f"{lang}/{name} differs in structure from en/{name}"


# --- nodeDefs ------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_node_defs_cover_every_node_input_and_output(lang, classes, node_defs):
    defs = node_defs[lang]
    assert set(defs) == set(classes), "one entry per node class, no stale classes"
    for key, cls in classes.items():
        entry = defs[key]
        for field in ("display_name", "description"):
            assert isinstance(entry.get(field), str) and entry[field].strip(), f"{lang}:{key}.{field}"
        inputs, aliases = split_aliases(entry["inputs"])
        assert set(inputs) == expected_input_keys(cls), f"{lang}:{key} inputs"
        want = {norm(v["name"]): {"tooltip": v["tooltip"]} for k, v in inputs.items()
                if v.get("tooltip") and norm(v["name"]) != k and norm(v["name"]) not in inputs}
        assert aliases == want, f"{lang}:{key}: one tooltip alias per translated input name"
        for name, (kind, *rest) in widget_inputs(cls).items():
            item = inputs[norm(name)]
            assert isinstance(item.get("name"), str) and item["name"].strip(), f"{lang}:{key}.{name}.name"
            if (rest[0] if rest else {}).get("tooltip"):
                assert isinstance(item.get("tooltip"), str) and item["tooltip"].strip(), \
                    f"{lang}:{key}.{name}.tooltip"
        if "control_after_generate" in inputs:
            assert inputs["control_after_generate"]["name"].strip()
        outputs = entry["outputs"]
        assert set(outputs) == {str(i) for i in range(len(cls.RETURN_TYPES))}, f"{lang}:{key} outputs"
        for i in range(len(cls.RETURN_TYPES)):
            out = outputs[str(i)]
            assert out["name"].strip()
            if getattr(cls, "OUTPUT_TOOLTIPS", None):
                assert out["tooltip"].strip()


def test_english_matches_the_python_definitions(loaded, classes, node_defs):
    for key, cls in classes.items():
        entry = node_defs["en"][key]
        assert entry["display_name"] == loaded.NODE_DISPLAY_NAME_MAPPINGS[key]
        assert entry["description"] == cls.DESCRIPTION
        for name, (kind, *rest) in widget_inputs(cls).items():
            tip = (rest[0] if rest else {}).get("tooltip")
            assert entry["inputs"][norm(name)].get("tooltip") == tip, f"en tooltip of {name} drifted"
        for f in cls.SCHEMA.fields:
            if not f.is_image and f.name in entry["inputs"]:
                assert entry["inputs"][f.name]["name"] == f.title, f"en name of {f.name} is the overlay title"
        for i, (rname, tip) in enumerate(zip(cls.RETURN_NAMES, cls.OUTPUT_TOOLTIPS)):
            assert entry["outputs"][str(i)] == {"name": rname, "tooltip": tip}


@pytest.mark.parametrize("lang", ("ko", "zh", "ja"))
def test_other_languages_are_translated(lang, classes, node_defs):
    en = node_defs["en"]
    for key in classes:
        entry = node_defs[lang][key]
        assert has_non_ascii(entry["description"]) and entry["description"] != en[key]["description"]
        for name, item in split_aliases(entry["inputs"])[0].items():
            assert has_non_ascii(item["name"]) or item["name"] != en[key]["inputs"][name]["name"], \
                f"{lang}:{name} name looks untranslated"
            if "tooltip" in item:
                assert has_non_ascii(item["tooltip"]), f"{lang}:{name} tooltip looks untranslated"
        for out in entry["outputs"].values():
            assert has_non_ascii(out["tooltip"])


def test_korean_uses_the_schemas_own_texts(loaded, classes, node_defs):
    socket_names = loaded.nodes.inputs.image_socket_names
    for key, cls in classes.items():
        schema = cls.SCHEMA
        ko = node_defs["ko"][key]["inputs"]
        inputs = widget_inputs(cls)
        for f in schema.fields:
            title = f.source_title
            assert title, f"schema field {f.name} has no title of its own"
            if f.is_image:
                sockets = socket_names(schema, f)
                for sock in sockets:
                    assert ko[norm(sock)]["name"].startswith(title), f"ko name of {sock} uses {title!r}"
                url_input = f.name if f.name not in sockets else f"{f.name}_url"
                assert ko[norm(url_input)]["name"].startswith(title)
                described = url_input
            else:
                assert f.name in inputs
                assert ko[norm(f.name)]["name"] == title, f"ko name of {f.name} is the schema title"
                described = f.name
            if f.source_description:
                assert ko[norm(described)]["tooltip"].startswith(f.source_description), \
                    f"ko tooltip of {described} starts with the schema's description"


# --- categories and settings ------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_node_categories_are_translated(lang, classes):
    cats = load(lang, "main.json").get("nodeCategories", {})
    for cls in classes.values():
        for segment in cls.CATEGORY.split("/"):
            assert isinstance(cats.get(segment), str) and cats[segment].strip(), f"{lang}: nodeCategories.{segment}"


@pytest.mark.parametrize("lang", LANGS)
def test_every_setting_of_the_extension_is_translated(lang):
    main = load(lang, "main.json").get("settingsCategories", {})
    settings = load(lang, "settings.json")
    declared = extension_settings()
    assert set(settings) == {norm(s["id"]) for s in declared}, "settings.json keys are the setting ids, dots as '_'"
    for s in declared:
        item = settings[norm(s["id"])]
        assert item["name"].strip()
        if s["has_tooltip"]:
            assert item.get("tooltip", "").strip(), f"{lang}: tooltip of {s['id']}"
        for label in s["category"][:2]:  # category and sub-category are shown (and translated)
            assert main.get(norm(label), "").strip(), f"{lang}: settingsCategories.{label}"


def test_comfyui_merge_layout():
    """What GET /i18n serves for the pack, built as build_translations() does."""
    merged = {}
    for lang in LANGS:
        doc = load(lang, "main.json")
        doc["nodeDefs"] = load(lang, "nodeDefs.json")
        doc["settings"] = load(lang, "settings.json")
        merged[lang] = doc
    assert set(merged["ko"]) == {"nodeCategories", "settingsCategories", "nodeDefs", "settings"}
    assert merged["ko"]["nodeDefs"]["RunComfy_wan_ai_wan_2_6_image_to_image"]["inputs"]["seed"]["name"] == "시드"
