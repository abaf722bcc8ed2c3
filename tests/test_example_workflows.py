"""The shipped example workflows against the node definitions.

``example_workflows/<name>.json`` is the UI format (what the template browser opens);
``example_workflows/api/<name>.json`` is the same graph in API format (what ``/prompt`` runs).
Our nodes' definitions come from the pack itself (the ``emulator-*`` examples use the emulator's
sample models, built the way the pack builds catalog nodes); the ComfyUI core nodes used are
hard-coded below in their minimal form (ComfyUI 0.3.64 ``nodes.py`` / ``comfy_extras``).
"""

from __future__ import annotations

import json

import pytest

from conftest import ROOT, load_pack

EXAMPLES = ROOT / "example_workflows"
WAN = "wan-2-6-image-to-image"
OUR_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"
T2V_CLASS = "RunComfy_emulator_samples_video_gen_text_to_video"
I2V_CLASS = "RunComfy_emulator_samples_video_gen_image_to_video"
T2A_CLASS = "RunComfy_emulator_samples_audio_gen_text_to_audio"
# Each example and the node types it holds (frontend-only notes aside).
GRAPHS = {
    WAN: ["LoadImage", "LoadImage", OUR_CLASS, "SaveImage"],
    "emulator-text-to-video": [T2V_CLASS, "SaveVideo"],
    "emulator-image-to-video": ["LoadImage", I2V_CLASS, "SaveVideo"],
    "emulator-text-to-audio": [T2A_CLASS, "SaveAudio"],
}
OURS = {OUR_CLASS, T2V_CLASS, I2V_CLASS, T2A_CLASS}

CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}

# ComfyUI core nodes, minimal: LoadImage's "image" is a combo of the input folder's files plus an
# upload button widget (saved as "image" in widgets_values, absent from the API prompt).
LOAD_IMAGE_FILES = {"example.png"}   # ships in ComfyUI's input/ folder
CORE = {
    "LoadImage": {
        "INPUT_TYPES": {"required": {"image": [sorted(LOAD_IMAGE_FILES), {"image_upload": True}]}},
        "RETURN_TYPES": ("IMAGE", "MASK"),
        "RETURN_NAMES": ("IMAGE", "MASK"),
        "extra_ui_widgets": {"image": ["image"]},   # the upload widget after the combo
    },
    "SaveImage": {
        "INPUT_TYPES": {"required": {"images": ["IMAGE", {}],
                                     "filename_prefix": ["STRING", {"default": "ComfyUI"}]}},
        "RETURN_TYPES": (),
        "RETURN_NAMES": (),
        "extra_ui_widgets": {},
    },
    # 0.3.64's form; 0.33 nests codec under format (a DynamicCombo) with the same widget values.
    "SaveVideo": {
        "INPUT_TYPES": {"required": {"video": ["VIDEO", {}],
                                     "filename_prefix": ["STRING", {"default": "video/ComfyUI"}],
                                     "format": [["auto", "mp4"], {"default": "auto"}],
                                     "codec": [["auto", "h264"], {"default": "auto"}]}},
        "RETURN_TYPES": (),
        "RETURN_NAMES": (),
        "extra_ui_widgets": {},
    },
    "SaveAudio": {
        "INPUT_TYPES": {"required": {"audio": ["AUDIO", {}],
                                     "filename_prefix": ["STRING", {"default": "audio/ComfyUI"}]}},
        "RETURN_TYPES": (),
        "RETURN_NAMES": (),
        "extra_ui_widgets": {},
    },
}
# Frontend-only nodes: never in the API prompt, no sockets.
VIRTUAL = {"MarkdownNote", "Note"}


def _sample_classes(pack) -> dict:
    from runcomfy.emulator import catalog
    out = {}
    for doc in catalog.sample_entries():
        try:
            schema = pack.runcomfy.schema.parse_schema(doc)
        except ValueError:
            continue        # the deliberately unbuildable sample
        cls = pack.nodes.model_node.make_node_class(schema)
        out[cls.__name__] = cls
    return out


@pytest.fixture(scope="module")
def pack():
    return load_pack()


@pytest.fixture(scope="module")
def defs(pack):
    out = dict(CORE)
    for key, cls in {**_sample_classes(pack), **pack.NODE_CLASS_MAPPINGS}.items():
        out[key] = {"INPUT_TYPES": cls.INPUT_TYPES(), "RETURN_TYPES": tuple(cls.RETURN_TYPES),
                    "RETURN_NAMES": tuple(cls.RETURN_NAMES), "extra_ui_widgets": {}, "SCHEMA": cls.SCHEMA}
    return out


@pytest.fixture(scope="module", params=sorted(GRAPHS))
def stem(request):
    return request.param


@pytest.fixture(scope="module")
def ui(stem):
    return json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def api(stem):
    return json.loads((EXAMPLES / "api" / f"{stem}.json").read_text(encoding="utf-8"))


# --- definitions -> widgets and sockets -----------------------------------------------------

def all_inputs(d: dict) -> list[tuple[str, object, dict, bool]]:
    """(name, type or choices, options, required) in INPUT_TYPES order: required, then optional."""
    out = []
    for section in ("required", "optional"):
        for name, spec in d["INPUT_TYPES"].get(section, {}).items():
            out.append((name, spec[0], spec[1] if len(spec) > 1 else {}, section == "required"))
    return out


def is_widget(kind, opts) -> bool:
    if opts.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES or kind == "COMBO"


def has_control(name, kind, opts) -> bool:
    # The frontend: inputSpec.control_after_generate ?? ["seed", "noise_seed"].includes(name)
    return kind == "INT" and bool(opts.get("control_after_generate", name in ("seed", "noise_seed")))


def widget_slots(d: dict) -> list[tuple[str, str, object, dict]]:
    """The widgets_values layout: (role, input name, type, options); role is "value",
    "control" (after a seed) or "ui" (an extra frontend widget such as LoadImage's upload)."""
    slots = []
    for name, kind, opts, _ in all_inputs(d):
        if not is_widget(kind, opts):
            continue
        slots.append(("value", name, kind, opts))
        if has_control(name, kind, opts):
            slots.append(("control", name, None, {}))
        for _extra in d["extra_ui_widgets"].get(name, []):
            slots.append(("ui", name, None, {}))
    return slots


def sockets(d: dict) -> list[tuple[str, str, bool]]:
    return [(name, kind, req) for name, kind, opts, req in all_inputs(d) if not is_widget(kind, opts)]


def check_value(where: str, kind, opts: dict, value) -> None:
    if isinstance(kind, list):
        assert value in kind, f"{where}: {value!r} is not one of {kind}"
    elif kind == "INT":
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r} is not an int"
        lo, hi = opts.get("min", -(2 ** 63)), opts.get("max", 2 ** 64)
        assert lo <= value <= hi, f"{where}: {value} outside [{lo}, {hi}]"
        step = opts.get("step", 1)
        assert (value - opts.get("min", 0)) % step == 0, f"{where}: {value} is off the step {step}"
    elif kind == "FLOAT":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {value!r}"
        assert opts.get("min", float("-inf")) <= value <= opts.get("max", float("inf")), where
    elif kind == "STRING":
        assert isinstance(value, str), f"{where}: {value!r} is not a string"
    elif kind == "BOOLEAN":
        assert isinstance(value, bool), f"{where}: {value!r} is not a bool"
    else:
        raise AssertionError(f"{where}: {kind!r} is not a widget type")


def check_schema_limits(d: dict, values: dict) -> None:
    """What the model itself accepts (e.g. the prompt's length), beyond the widget's range."""
    schema = d.get("SCHEMA")
    if schema is None:
        return
    for f in schema.fields:
        if f.name in values and isinstance(values[f.name], str) and f.max_length is not None:
            assert len(values[f.name]) <= f.max_length, f"{f.name} is longer than {f.max_length}"


# --- files ------------------------------------------------------------------------------------

def test_files_exist_where_comfyui_looks():
    # The template browser lists example_workflows/*.json only: the API copies must not show up.
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(f"{s}.json" for s in GRAPHS)
    assert sorted(p.name for p in (EXAMPLES / "api").glob("*.json")) == sorted(f"{s}.json" for s in GRAPHS)
    from PIL import Image
    for stem in GRAPHS:
        with Image.open(EXAMPLES / f"{stem}.jpg") as im:      # the template browser's thumbnail
            assert im.format == "JPEG", stem
            assert 256 <= im.width <= 1024 and 256 <= im.height <= 1024, stem


# --- UI format ------------------------------------------------------------------------------

def test_ui_format_header(ui, stem):
    assert ui["version"] == 0.4
    ids = [n["id"] for n in ui["nodes"]]
    assert len(ids) == len(set(ids)), "node ids are unique"
    assert ui["last_node_id"] >= max(ids)
    link_ids = [link[0] for link in ui["links"]]
    assert len(link_ids) == len(set(link_ids))
    assert ui["last_link_id"] >= max(link_ids)
    types = sorted(n["type"] for n in ui["nodes"] if n["type"] not in VIRTUAL)
    assert types == sorted(GRAPHS[stem])


def test_ui_nodes_are_known_and_their_widgets_valid(ui, defs):
    for node in ui["nodes"]:
        if node["type"] in VIRTUAL:
            assert node["inputs"] == [] and node["outputs"] == []
            assert all(isinstance(v, str) for v in node["widgets_values"])
            continue
        assert node["type"] in defs, f"unknown node type {node['type']}"
        d = defs[node["type"]]
        assert node["properties"].get("Node name for S&R") == node["type"]
        slots = widget_slots(d)
        values = node["widgets_values"]
        assert len(values) == len(slots), (
            f"{node['type']}: {len(values)} widgets_values for {len(slots)} widgets "
            f"{[(r, n) for r, n, *_ in slots]}")
        named = {}
        for (role, name, kind, opts), value in zip(slots, values):
            where = f"{node['type']}#{node['id']}.{name}"
            if role == "value":
                check_value(where, kind, opts, value)
                named[name] = value
            elif role == "control":
                assert value in CONTROL_VALUES, f"{where}: control value {value!r}"
            else:
                assert value == "image", f"{where}: LoadImage's upload widget value"
        check_schema_limits(d, named)


def test_our_node_widgets_follow_input_types_order(ui, defs, stem):
    if stem != WAN:
        pytest.skip("the Wan example's own prompt and widget order")
    node = next(n for n in ui["nodes"] if n["type"] == OUR_CLASS)
    d = defs[OUR_CLASS]
    names = [name for role, name, *_ in widget_slots(d) if role == "value"]
    assert names == ["prompt", "negative_prompt", "image_size", "seed", "prompt_extend",
                     "image_urls", "upload_format", "fit_inputs_to_limits", "variations", "dry_run", "timeout_seconds", "resume_request_id", "submit_anyway"]
    values = node["widgets_values"]
    seed_at = [i for i, (role, name, *_) in enumerate(widget_slots(d)) if name == "seed"]
    # issue 18.1: "fixed", so a second Run fetches the same request instead of paying again
    assert [values[i] for i in seed_at][1] == "fixed", "the seed is followed by its control value"
    assert "image 1" in values[0].lower() and "image 2" in values[0].lower(), \
        "the prompt refers to the two connected images"


def test_ui_sockets_match_the_definitions(ui, defs):
    for node in ui["nodes"]:
        if node["type"] in VIRTUAL:
            continue
        d = defs[node["type"]]
        expected = sockets(d)
        # Unlinked widget inputs are not listed; every socket input is, in definition order.
        listed = [i for i in node["inputs"] if "widget" not in i]
        assert [(i["name"], i["type"]) for i in listed] == [(n, k) for n, k, _ in expected], node["type"]
        for slot, (name, kind, required) in zip(listed, expected):
            assert slot.get("shape") == (None if required else 7), f"{node['type']}.{name}: optional sockets are hollow"
            if required:
                assert slot["link"] is not None, f"{node['type']}.{name} is required and must be linked"
        outs = node["outputs"]
        assert [o["type"] for o in outs] == list(d["RETURN_TYPES"]), node["type"]
        assert [o["name"] for o in outs] == list(d["RETURN_NAMES"]), node["type"]


def test_ui_links_connect_matching_types(ui, defs):
    nodes = {n["id"]: n for n in ui["nodes"]}
    for link_id, origin, o_slot, target, t_slot, ltype in ui["links"]:
        src, dst = nodes[origin], nodes[target]
        assert o_slot < len(defs[src["type"]]["RETURN_TYPES"])
        out_type = defs[src["type"]]["RETURN_TYPES"][o_slot]
        assert src["outputs"][o_slot]["type"] == out_type == ltype, f"link {link_id}: origin type"
        assert link_id in (src["outputs"][o_slot]["links"] or []), f"link {link_id} missing on its origin"
        slot = dst["inputs"][t_slot]
        assert slot["link"] == link_id, f"link {link_id} missing on its target"
        in_type = dict((n, k) for n, k, _ in sockets(defs[dst["type"]]))[slot["name"]]
        assert slot["type"] == in_type == ltype and ltype in ("IMAGE", "VIDEO", "AUDIO"), \
            f"link {link_id}: target type"
        assert src["order"] < dst["order"], f"link {link_id}: execution order"
    # No dangling link ids on either side.
    known = {link[0] for link in ui["links"]}
    for node in ui["nodes"]:
        for slot in node.get("inputs", []):
            assert slot["link"] is None or slot["link"] in known
        for slot in node.get("outputs", []):
            assert all(link in known for link in (slot["links"] or []))


def test_ui_uses_images_that_exist_in_a_default_comfyui(ui):
    for node in ui["nodes"]:
        if node["type"] == "LoadImage":
            assert node["widgets_values"][0] in LOAD_IMAGE_FILES


def test_ui_carries_the_registry_id(ui):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    ours = [n for n in ui["nodes"] if n["type"] in OURS]
    assert ours and all(n["properties"].get("cnr_id") == project["name"] for n in ours)


def test_no_token_in_the_examples():
    for path in [p for s in GRAPHS for p in (EXAMPLES / f"{s}.json", EXAMPLES / "api" / f"{s}.json")]:
        text = path.read_text(encoding="utf-8").lower()
        assert "token\":" not in text and "api_key" not in text and "authorization" not in text


# --- API format ---------------------------------------------------------------------------

def test_api_format_references_and_values(api, defs):
    for node_id, node in api.items():
        assert node_id.isdigit(), "API node ids are strings of the UI ids"
        cls = node["class_type"]
        assert cls in defs and cls not in VIRTUAL, f"unknown or virtual class {cls}"
        d = defs[cls]
        spec = {name: (kind, opts, req) for name, kind, opts, req in all_inputs(d)}
        inputs = node["inputs"]
        assert set(inputs) <= set(spec), f"{cls}: unknown inputs {set(inputs) - set(spec)}"
        missing = [n for n, (_, _, req) in spec.items() if req and n not in inputs]
        assert not missing, f"{cls}#{node_id}: required inputs missing: {missing}"
        assert "control_after_generate" not in inputs
        literal = {}
        for name, value in inputs.items():
            kind, opts, _ = spec[name]
            where = f"{cls}#{node_id}.{name}"
            if is_widget(kind, opts):
                check_value(where, kind, opts, value)
                literal[name] = value
                continue
            assert isinstance(value, list) and len(value) == 2, f"{where}: a socket takes a link"
            src_id, index = value
            assert isinstance(src_id, str) and src_id in api, f"{where}: no node {src_id!r}"
            assert isinstance(index, int) and not isinstance(index, bool)
            src_types = defs[api[src_id]["class_type"]]["RETURN_TYPES"]
            assert 0 <= index < len(src_types), f"{where}: output {index} does not exist"
            assert src_types[index] == kind, f"{where}: {src_types[index]} into {kind}"
        check_schema_limits(d, literal)


def test_api_and_ui_are_the_same_graph(ui, api, defs):
    ui_nodes = {str(n["id"]): n for n in ui["nodes"] if n["type"] not in VIRTUAL}
    assert set(ui_nodes) == set(api)
    for node_id, node in ui_nodes.items():
        assert api[node_id]["class_type"] == node["type"]
        d = defs[node["type"]]
        values = {name: v for (role, name, *_), v in zip(widget_slots(d), node["widgets_values"])
                  if role == "value"}
        api_literals = {k: v for k, v in api[node_id]["inputs"].items() if not isinstance(v, list)}
        assert api_literals == values, f"node {node_id}: widget values differ between UI and API"
    ui_links = {(str(target), ui_nodes[str(target)]["inputs"][t_slot]["name"], str(origin), o_slot)
                for _, origin, o_slot, target, t_slot, _ in ui["links"]}
    api_links = {(node_id, name, v[0], v[1]) for node_id, n in api.items()
                 for name, v in n["inputs"].items() if isinstance(v, list)}
    assert ui_links == api_links


# --- the emulator examples run ------------------------------------------------------------------

@pytest.mark.parametrize("name", [s for s in GRAPHS if s.startswith("emulator-")])
def test_emulator_examples_run_against_the_emulator(name, pack, defs, start_emulator):
    """Each emulator example's node, with its API inputs (LoadImage standing in as a 512x512 image),
    against the emulator serving its samples: the output is what the Save node downstream takes."""
    import asyncio
    import inspect

    import torch

    from runcomfy.emulator import catalog
    emu = start_emulator("tok-examples-run-31", as_env=True, processing_time=0.05)
    emu.serve_catalog(catalog.sample_entries(), replace=False)
    graph = json.loads((EXAMPLES / "api" / f"{name}.json").read_text(encoding="utf-8"))
    node_id, ours = next((k, n) for k, n in graph.items() if n["class_type"] in OURS)
    classes = _sample_classes(pack)
    kwargs = {}
    for key, value in ours["inputs"].items():
        if isinstance(value, list):
            assert graph[value[0]]["class_type"] == "LoadImage"
            value = torch.rand((1, 512, 512, 3), generator=torch.Generator().manual_seed(3))
        kwargs[key] = value
    cls = classes[ours["class_type"]]
    out = getattr(cls(), cls.FUNCTION)(unique_id=node_id, **kwargs)
    media, urls, rid = asyncio.run(out) if inspect.isawaitable(out) else out
    save = next(n for n in graph.values() if n["class_type"].startswith("Save"))
    assert [node_id, 0] in save["inputs"].values()
    if save["class_type"] == "SaveVideo":
        assert media.get_duration() == pytest.approx(5.0, abs=0.05)
        # 16:9 as the example asks; the image-to-video one takes its (square) first frame's shape.
        assert media.get_dimensions() == {"emulator-text-to-video": (456, 256),
                                          "emulator-image-to-video": (256, 256)}[name]
    else:
        assert media["waveform"].shape[-1] == 10 * media["sample_rate"]
    assert rid in emu.jobs


def test_every_rerun_control_in_the_templates_is_fixed(ui, defs):
    """issue 18.1: a template never makes a second Run pay for a new generation."""
    for node in ui["nodes"]:
        d = defs.get(node["type"])
        if d is None or node["type"] in VIRTUAL:
            continue
        slots = widget_slots(d)
        for i, (role, name, *_) in enumerate(slots):
            if role == "control" and i < len(node["widgets_values"]):
                assert node["widgets_values"][i] == "fixed", f"{node['type']}: control of {name!r}"
