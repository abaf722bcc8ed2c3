"""The shipped templates (example workflows) against the node definitions.

``example_workflows/<title>.json`` is the UI format (what the template browser opens);
``example_workflows/api/<title>.json`` is the same graph in API format (what ``/prompt`` runs);
``example_workflows/<title>.jpg`` is the card's thumbnail. ComfyUI's frontends (1.27, 1.49, 1.58)
show a custom-node template by its file name only: the name is the card's title, the same name with
'-' and '_' as spaces its description (no index.json or subfolder is read for custom nodes), so the
names say what each template does and the emulator ones say they are not a real model.
Our nodes' definitions come from the pack itself (the emulator's catalog, built the way the pack
builds catalog nodes, and the shipped Wan 2.6); the ComfyUI core nodes used are hard-coded below in
their minimal form (ComfyUI 0.3.64 ``nodes.py`` / ``comfy_extras``). The files are written by
``tests/make_templates.py`` (a dev tool); nothing here imports it.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, load_pack

EXAMPLES = ROOT / "example_workflows"
WAN = "RunComfy Wan 2.6 - two pictures into one scene (image to image)"
QWEN = "RunComfy Qwen Image 3.0 Edit - change a picture with words (image edit)"
KLING = "RunComfy Kling 3.0 Pro - bring a picture to life (image to video)"
ACE = "RunComfy ACE-Step - music from style tags (text to audio)"
EMU_T2V = "Emulator test - text to video (offline, not a real model)"
EMU_I2V = "Emulator test - image to video (offline, not a real model)"
EMU_T2A = "Emulator test - text to audio (offline, not a real model)"
OUR_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"
QWEN_CLASS = "RunComfy_qwen_qwen_image_3_0_edit"
KLING_CLASS = "RunComfy_kling_kling_3_0_pro_image_to_video"
ACE_CLASS = "RunComfy_acestep_ai_ace_step_text_to_audio"
T2V_CLASS = "RunComfy_emulator_samples_video_gen_text_to_video"
I2V_CLASS = "RunComfy_emulator_samples_video_gen_image_to_video"
T2A_CLASS = "RunComfy_emulator_samples_audio_gen_text_to_audio"
# Each template and the node types it holds (frontend-only notes aside).
GRAPHS = {
    WAN: ["LoadImage", "LoadImage", OUR_CLASS, "SaveImage"],
    QWEN: ["LoadImage", QWEN_CLASS, "SaveImage"],
    KLING: ["LoadImage", KLING_CLASS, "SaveVideo"],
    ACE: [ACE_CLASS, "SaveAudio"],
    EMU_T2V: [T2V_CLASS, "SaveVideo"],
    EMU_I2V: ["LoadImage", I2V_CLASS, "SaveVideo"],
    EMU_T2A: [T2A_CLASS, "SaveAudio"],
}
# Our node's model id in each template (node.properties.runcomfy_model_id).
MODEL_IDS = {
    WAN: "wan-ai/wan-2-6/image-to-image",
    QWEN: "qwen/qwen-image-3.0/edit",
    KLING: "kling/kling-3.0/pro/image-to-video",
    ACE: "acestep-ai/ace-step/text-to-audio",
    EMU_T2V: "emulator-samples/video-gen/text-to-video",
    EMU_I2V: "emulator-samples/video-gen/image-to-video",
    EMU_T2A: "emulator-samples/audio-gen/text-to-audio",
}
EMULATOR_ONLY = {EMU_T2V, EMU_I2V, EMU_T2A}
OURS = {OUR_CLASS, QWEN_CLASS, KLING_CLASS, ACE_CLASS, T2V_CLASS, I2V_CLASS, T2A_CLASS}

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
    # The template browser lists example_workflows/*.json only (every one becomes a card, so no
    # index.json there): the API copies in api/ must not show up.
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(f"{s}.json" for s in GRAPHS)
    assert sorted(p.name for p in (EXAMPLES / "api").glob("*.json")) == sorted(f"{s}.json" for s in GRAPHS)
    assert sorted(p.name for p in EXAMPLES.glob("*.jpg")) == sorted(f"{s}.jpg" for s in GRAPHS)


def test_every_card_has_a_thumbnail_picture():
    from PIL import Image, ImageStat
    for stem in GRAPHS:
        with Image.open(EXAMPLES / f"{stem}.jpg") as im:      # the template browser's <name>.jpg
            assert im.format == "JPEG", stem
            assert 256 <= im.width <= 1024 and 256 <= im.height <= 1024, stem
            spread = ImageStat.Stat(im.convert("L")).stddev[0]
            assert spread > 20, f"{stem}.jpg is close to a flat colour (stddev {spread:.1f})"


def card(stem: str) -> tuple[str, str]:
    """(title, description) as frontends 1.27, 1.49 and 1.58 show a custom-node template's card."""
    return stem, " ".join(re.sub(r"[-_]", " ", stem).split())


def test_every_card_has_a_title_and_a_description_that_say_what_it_is():
    for stem in GRAPHS:
        title, description = card(stem)
        # Fetched as /api/workflow_templates/<pack>/<name>.json and .jpg without URL-encoding by the
        # frontends, saved as a workflow name, packed into the registry's archive: plain characters.
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 .,()-]{10,78}[A-Za-z0-9)]", title), title
        assert "  " not in title and " - " in title, title      # "<model> - <what it does>"
        model, task = title.split(" - ", 1)
        assert len(task.split()) >= 3 and len(description) > len(model) + 10, title
        if stem in EMULATOR_ONLY:
            assert model == "Emulator test" and "not a real model" in task and "offline" in task, title
        else:
            assert model.startswith("RunComfy ") and "emulator" not in title.lower(), title
    # Sorted by title (the frontends' A-Z order), the emulator cards form one group apart.
    ordered = sorted(GRAPHS, key=str.lower)
    where = [i for i, s in enumerate(ordered) if s in EMULATOR_ONLY]
    assert where == list(range(where[0], where[0] + len(EMULATOR_ONLY)))


def test_every_template_has_a_read_me_that_matches_its_card(ui, stem):
    [note] = [n for n in ui["nodes"] if n["type"] == "MarkdownNote"]
    text = note["widgets_values"][0]
    assert text.startswith(f"## {stem}\n"), text[:120]
    if stem in EMULATOR_ONLY:
        assert "built-in emulator" in text and "not RunComfy" in text and "python -m runcomfy emulator" in text
    else:
        assert "RUNCOMFY_API_TOKEN" in text and "billed" in text
        assert "Refresh model catalog" in text          # how a model this ComfyUI never synced is found
        assert "python -m runcomfy emulator" in text    # and how to try it offline first


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


def test_our_node_carries_its_model_id(ui, defs, stem):
    """node.properties.runcomfy_model_id: how a ComfyUI that has not synced the model finds it."""
    ours = [n for n in ui["nodes"] if n["type"] in OURS]
    assert len(ours) == 1
    [node] = ours
    assert node["properties"]["runcomfy_model_id"] == MODEL_IDS[stem]
    assert defs[node["type"]]["INPUT_TYPES"]["hidden"]["runcomfy_model_id"] == MODEL_IDS[stem]
    assert defs[node["type"]]["SCHEMA"].model_id == MODEL_IDS[stem]


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


# --- every template runs, the real-model ones with the emulator standing in for RunComfy ----------

# What each template's Save node gets back from the emulator: (kind, image WxH | video (seconds, WxH) |
# audio seconds). Image sizes: the model's own image_size (Wan) or the emulator's 512x512; video
# frames follow the aspect ratio asked for, else the (square) first frame.
EXPECTED = {
    WAN: ("IMAGE", (1280, 720)),
    QWEN: ("IMAGE", (512, 512)),
    KLING: ("VIDEO", (5.0, (256, 256))),
    ACE: ("AUDIO", 30),
    EMU_T2V: ("VIDEO", (5.0, (456, 256))),
    EMU_I2V: ("VIDEO", (5.0, (256, 256))),
    EMU_T2A: ("AUDIO", 10),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_every_template_runs_through_the_pack_against_the_emulator(name, pack, start_emulator, isolated_env):
    """The emulator serves its catalog (its samples and the real endpoints it stands in for); the
    pack syncs it as on a machine that never saw these models and builds the nodes from it; each
    template's node then runs with its API inputs (LoadImage standing in as a 512x512 image): the
    emulator gets the template's own values for the template's model, and the output is what the
    Save node downstream takes."""
    import asyncio
    import inspect

    import torch

    from runcomfy import catalog as pack_catalog
    from runcomfy.emulator import catalog

    token = "tok-templates-run-31"
    emu = start_emulator(token, as_env=True, processing_time=0.05)
    emu.serve_catalog(catalog.sample_entries(), replace=False)
    cfg = isolated_env / "config"
    report = pack_catalog.sync(cfg, token=token, base_url=emu.base_url)
    assert report.ok, report
    classes, _ = pack.nodes.build_mappings(pack_catalog.load_entries(cfg, emu.base_url))

    graph = json.loads((EXAMPLES / "api" / f"{name}.json").read_text(encoding="utf-8"))
    node_id, ours = next((k, n) for k, n in graph.items() if n["class_type"] in OURS)
    cls = classes[ours["class_type"]]
    assert cls.SCHEMA.model_id == MODEL_IDS[name]
    kwargs = {}
    for key, value in ours["inputs"].items():
        if isinstance(value, list):
            assert graph[value[0]]["class_type"] == "LoadImage"
            value = torch.rand((1, 512, 512, 3), generator=torch.Generator().manual_seed(3))
        kwargs[key] = value
    out = getattr(cls(), cls.FUNCTION)(unique_id=node_id, **kwargs)
    media, urls, rid = asyncio.run(out) if inspect.isawaitable(out) else out

    job = emu.jobs[rid]
    assert job.model_id == MODEL_IDS[name] and job.state == "completed"
    fields = {f.input_name: f.name for f in cls.SCHEMA.fields}
    # Every value the template sets for the model reaches it as is (an empty URL field is not sent).
    sent = {fields[k]: v for k, v in ours["inputs"].items() if k in fields and not isinstance(v, list) and v != ""}
    assert "prompt" in sent or "tags" in sent
    assert {k: job.payload.get(k) for k in sent} == sent
    assert len(job.inputs) == sum(isinstance(v, list) for v in ours["inputs"].values())

    save = next(n for n in graph.values() if n["class_type"].startswith("Save"))
    assert [node_id, 0] in save["inputs"].values()
    kind, expected = EXPECTED[name]
    assert cls.RETURN_TYPES[0] == kind and save["class_type"] == {"IMAGE": "SaveImage", "VIDEO": "SaveVideo",
                                                                  "AUDIO": "SaveAudio"}[kind]
    if kind == "IMAGE":
        assert tuple(media.shape) == (1, expected[1], expected[0], 3)
    elif kind == "VIDEO":
        seconds, size = expected
        assert media.get_duration() == pytest.approx(seconds, abs=0.05)
        assert media.get_dimensions() == size
    else:
        assert media["waveform"].shape[-1] == expected * media["sample_rate"]


def test_the_real_model_templates_are_served_by_the_emulator_catalog():
    """The stand-ins are the real endpoints' schemas (as RunComfy's public clients saved them), with
    the emulator's own made-up price said to be one."""
    from runcomfy.emulator import catalog
    entries = {d["model_id"]: d for d in catalog.sample_entries()}
    for stem, model_id in MODEL_IDS.items():
        if stem == WAN:
            continue            # shipped in the pack (runcomfy/schemas), served by the emulator by default
        doc = entries[model_id]
        assert (stem in EMULATOR_ONLY) == model_id.startswith(catalog.SAMPLE_PREFIX)
        if stem not in EMULATOR_ONLY:
            assert model_id in catalog.STAND_IN_IDS
            assert doc["base_price_usd"] > 0 and "made up" in doc["pricing_note"]
            assert not doc["display_name"].startswith("Emulator")


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
