"""Issue 18 through the node, against the emulator over real sockets: a second Run never pays
again unless the user asked (seed or generation changed), a model without a seed gets a new
generation when asked (and variations), seeds are bounded as providers take them, the status
events tell the panel what the web side shows (re-run control, the request to fetch after Stop,
the dry-run report), errors name the socket label, and a workflow saved before all this keeps
its widget values."""

from __future__ import annotations

import asyncio
import inspect
import json
from types import SimpleNamespace

import pytest
import torch

from conftest import ROOT
from runcomfy.emulator.catalog import sample_entries

TOKEN = "tok-reruns-18"
AUDIO = "emulator-samples/audio-gen/text-to-audio"
WAN = "RunComfy_wan_ai_wan_2_6_image_to_image"
FIXTURE = ROOT / "tests" / "fixtures" / "workflows" / "saved-before-issue-18.json"


class Server:
    """ComfyUI's PromptServer as the node sees it: records the status events; ``stop_on`` sets
    ComfyUI's Stop flag when an event of that state arrives."""

    def __init__(self, stop_on: str | None = None):
        self.events, self.texts, self.client_id = [], [], None
        self.stop_on, self.stopped = stop_on, False

    def send_progress_text(self, text, node_id):
        self.texts.append((node_id, text))

    def send_sync(self, event, data, sid=None):
        self.events.append(data)
        if self.stop_on and data.get("state") == self.stop_on:
            self.stopped = True

    def states(self):
        return [e.get("state") for e in self.events]


@pytest.fixture(scope="module")
def nodes(pack):
    classes, _ = pack.nodes.build_mappings([SimpleNamespace(model_id=d["model_id"], doc=d) for d in sample_entries()])
    return {c.MODEL_ID: c for c in classes.values()}


@pytest.fixture
def emu(start_emulator):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.2, workers=4)
    emu.serve_catalog(sample_entries(), replace=False)
    return emu


@pytest.fixture
def server(pack, monkeypatch):
    fake = Server()
    monkeypatch.setattr(pack.nodes.comfy, "prompt_server", lambda: fake)
    monkeypatch.setattr(pack.nodes.comfy, "processing_interrupted", lambda: fake.stopped)
    return fake


def call(cls, unique_id="5", **kw):
    out = getattr(cls(), cls.FUNCTION)(unique_id=unique_id, **kw)
    return asyncio.run(out) if inspect.isawaitable(out) else out


def audio_kwargs(**over):
    k = {"prompt": "a bell", "duration": 2.0, "output_format": "wav", "lyrics": ""}
    k.update(over)
    return k


def doc(props, required=(), model_id="acme/seeds/t2i"):
    return {"model_id": model_id, "input_schema": {"type": "object", "required": list(required),
                                                   "properties": {"prompt": {"type": "string"}, **props}}}


def node_of(pack, d):
    classes, _ = pack.nodes.build_mappings([pack.runcomfy.schema.parse_schema(d)])
    (cls,) = classes.values()
    return cls


# --- 18.1 re-runs ------------------------------------------------------------------------

def test_a_seedless_model_has_a_generation_counter_with_a_fixed_control_at_the_end(nodes):
    spec = nodes[AUDIO].INPUT_TYPES()
    optional = spec["optional"]
    assert list(optional)[-1] == "generation"                   # appended: saved positions keep
    kind, opts = optional["generation"]
    assert kind == "INT" and (opts["min"], opts["max"], opts["default"]) == (0, 2**31 - 1, 0)
    assert opts["control_after_generate"] == "fixed"
    with_seed = nodes["emulator-samples/video-gen/image-to-video"].INPUT_TYPES()
    assert "generation" not in with_seed["optional"]
    assert with_seed["optional"]["seed"][1]["control_after_generate"] == "fixed"


def test_same_generation_reuses_a_new_one_pays_and_it_is_never_sent(nodes, emu, server):
    cls = nodes[AUDIO]
    _, _, rid = call(cls, **audio_kwargs(generation=0))
    _, _, again = call(cls, **audio_kwargs(generation=0))
    assert again == rid and emu.submits_accepted == 1            # Run twice: one request
    _, _, new = call(cls, **audio_kwargs(generation=1))
    assert new != rid and emu.submits_accepted == 2              # asked for: a new paid generation
    _, _, back = call(cls, **audio_kwargs(generation=1))
    assert back == new and emu.submits_accepted == 2
    assert all("generation" not in job.payload for job in emu.jobs.values())


def test_generation_zero_keeps_the_identity_of_a_workflow_saved_without_it(nodes, emu, server):
    cls = nodes[AUDIO]
    _, _, rid = call(cls, **audio_kwargs())                      # no generation input at all
    _, _, again = call(cls, **audio_kwargs(generation=0))
    assert again == rid and emu.submits_accepted == 1


def test_variations_on_a_seedless_model_are_consecutive_generations(nodes, emu, server):
    cls = nodes[AUDIO]
    _, _, rids = call(cls, **audio_kwargs(generation=5, variations=3))
    rids = rids.split("\n")
    assert len(set(rids)) == 3 and emu.submits_accepted == 3
    _, _, six = call(cls, **audio_kwargs(generation=6))           # the second of those
    assert six == rids[1] and emu.submits_accepted == 3
    _, _, again = call(cls, **audio_kwargs(generation=5, variations=3))
    assert again.split("\n") == rids and emu.submits_accepted == 3
    assert any(e.get("state") == "done" for e in server.events)


def test_the_status_says_whether_every_run_is_a_new_paid_generation(nodes, emu, server):
    cls = nodes[AUDIO]
    spec = cls.INPUT_TYPES()
    names = [n for n in spec["required"]] + [n for n in spec["optional"]]
    assert names[-1] == "generation"
    values = ["a bell", 2.0, "wav", "", "png (lossless)", False, 1, False, 1800, "", "", 0, "increment"]

    def workflow(control):
        return {"workflow": {"nodes": [{"id": 5, "type": cls.__name__, "widgets_values": values[:-1] + [control],
                                        "properties": {"runcomfy_model_id": AUDIO}}]}}
    call(cls, extra_pnginfo=workflow("increment"), **audio_kwargs(generation=0))
    first = server.events[0]
    assert first["state"] == "started"                            # a new prompt replaces the last outcome
    assert (first["rerun_widget"], first["rerun_control"], first["new_paid_generation_each_run"]) == \
        ("generation", "increment", True)
    server.events.clear()
    call(cls, extra_pnginfo=workflow("fixed"), **audio_kwargs(generation=0))
    done = [e for e in server.events if e.get("state") == "done"][-1]
    assert done["rerun_control"] == "fixed" and done["new_paid_generation_each_run"] is False
    server.events.clear()
    call(cls, **audio_kwargs(generation=0))                       # an API prompt: no workflow, unknown
    assert server.events[-1]["new_paid_generation_each_run"] is None


# --- 18.2 fetching a paid result -------------------------------------------------------------

def test_stop_while_running_names_the_request_to_fetch_and_fetching_it_pays_nothing(nodes, emu, server):
    emu.processing_time = 1.5
    cls = nodes[AUDIO]
    server.stop_on = "running"
    with pytest.raises(BaseException):
        call(cls, **audio_kwargs(generation=3))
    stopped = server.events[-1]
    rid = stopped["fetch_request_id"]
    assert stopped["state"] == "stopped" and rid == stopped["request_id"] and rid in emu.jobs
    assert stopped["billed"] is True and stopped["fetch_input"] == "resume_request_id"
    assert rid in stopped["text"] and "resume_request_id" in stopped["text"]
    server.stop_on, server.stopped = None, False
    # The control moved the counter on ("increment"): the id still fetches, with no new submit.
    _, _, got = call(cls, **audio_kwargs(generation=4, resume_request_id=rid))
    assert got == rid and emu.submits_accepted == 1


def test_a_timeout_names_the_request_to_fetch(nodes, emu, server):
    emu.processing_time = 30
    cls = nodes[AUDIO]
    with pytest.raises(Exception):
        call(cls, **audio_kwargs(timeout_seconds=10, generation=8), )
    err = server.events[-1]
    assert err["state"] == "error" and err["fetch_request_id"] in emu.jobs


def test_no_message_says_run_again_with_the_same_inputs():
    # With a seed control on "randomize" that pays again: messages say how to fetch by request id.
    paths = list((ROOT / "nodes").glob("*.py")) + [p for p in (ROOT / "runcomfy").rglob("*.py")
                                                    if "emulator" not in p.parts]
    assert len(paths) > 30
    for path in paths:
        text = path.read_text(encoding="utf-8").lower()
        for said in ("run again with the same inputs", "run the node again with the same inputs", "run again to fetch"):
            assert said not in text, f"{path.relative_to(ROOT)}: {said!r}"


# --- 18.3 seeds ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed,required,want", [
    ({"type": "integer"}, True, (0, 2**31 - 1, 0)),
    ({"type": "integer", "default": -1, "description": "Use -1 for a random seed each run."}, False, (-1, 2**31 - 1, -1)),
    ({"type": "integer", "description": "Random seed; -1 = random"}, True, (-1, 2**31 - 1, 0)),
    ({"type": "integer", "minimum": 0, "maximum": 99999, "default": 3}, False, (0, 99999, 3)),
    ({"type": "integer"}, False, (-1, 2**31 - 1, -1)),            # optional, no default: -1 = not sent
])
def test_seed_ranges(pack, seed, required, want):
    cls = node_of(pack, doc({"seed": seed}, ["seed"] if required else []))
    spec = {**cls.INPUT_TYPES()["required"], **cls.INPUT_TYPES()["optional"]}["seed"][1]
    assert (spec["min"], spec["max"], spec["default"]) == want
    assert spec["control_after_generate"] == "fixed"


def test_an_optional_seed_without_default_stays_unsent_at_minus_one(pack):
    cls = node_of(pack, doc({"seed": {"type": "integer"}}))
    tip = cls.INPUT_TYPES()["optional"]["seed"][1]["tooltip"]
    assert "-1: not sent" in tip
    fields, *_ = pack.nodes.inputs.collect(cls.SCHEMA, {"prompt": "x", "seed": -1})
    assert "seed" not in fields
    fields, *_ = pack.nodes.inputs.collect(cls.SCHEMA, {"prompt": "x", "seed": 12})
    assert fields["seed"] == 12
    # where the schema says -1 is random, -1 is sent as it says
    cls = node_of(pack, doc({"seed": {"type": "integer", "default": -1, "description": "-1 for random"}}))
    fields, *_ = pack.nodes.inputs.collect(cls.SCHEMA, {"prompt": "x", "seed": -1})
    assert fields["seed"] == -1


def test_real_schemas_seeds(pack):
    real = ROOT.parent / "shared" / "runcomfy-api" / "real-endpoints"
    path = real / "qwen__qwen-image-3.0__edit.json"
    if not path.exists():
        pytest.skip("real endpoint schemas not here")
    cls = node_of(pack, json.loads(path.read_text()))
    seed = {**cls.INPUT_TYPES()["required"], **cls.INPUT_TYPES()["optional"]}["seed"][1]
    assert (seed["min"], seed["max"], seed["default"]) == (-1, 2**31 - 1, -1)


# --- 18.5 errors name what the user sees ----------------------------------------------------

def test_an_image_too_small_names_the_socket_label_the_field_and_the_fix(pack, emu, server):
    cls = pack.NODE_CLASS_MAPPINGS[WAN]
    small = torch.rand((1, 150, 200, 3))
    with pytest.raises(pack.runcomfy.errors.ValidationError) as info:
        call(cls, prompt="x", image_1=torch.rand((1, 400, 400, 3)), image_2=small, negative_prompt="",
             image_size="1024*1024 (1:1)", seed=1, prompt_extend=False)
    text = str(info.value)
    assert "Reference image 2 (image_urls[2]): width must be at least 384 px, got 200 px" in text, text
    assert 'turn on "Fit inputs to limits" (fit_inputs_to_limits) to scale it' in text
    assert [p.field for p in info.value.problems][0] == "image_urls[2]"      # structured: the API path
    shown = server.events[-1]["problems"]
    assert shown[0]["label"] == "Reference image 2" and shown[0]["field"] == "image_urls[2]"
    assert emu.count("submit") == 0


def test_the_batch_cli_keeps_api_names(pack):
    from runcomfy.errors import Problem, ValidationError
    text = str(ValidationError([Problem("image_urls[2]", "width must be at least (px)", 384, "200 px")]))
    assert "'image_urls[2]'" in text and "Reference" not in text


# --- 18.6 pack controls where they apply; saved workflows keep their values -------------------

def test_image_controls_are_hidden_without_image_sockets_and_rare_ones_advanced(nodes, pack):
    audio = nodes[AUDIO].INPUT_TYPES()["optional"]
    assert audio["upload_format"][1]["hidden"] is True and audio["fit_inputs_to_limits"][1]["hidden"] is True
    wan = pack.NODE_CLASS_MAPPINGS[WAN].INPUT_TYPES()["optional"]
    assert "hidden" not in wan["upload_format"][1] and "hidden" not in wan["fit_inputs_to_limits"][1]
    for name in ("upload_format", "timeout_seconds", "submit_anyway"):
        assert wan[name][1]["advanced"] is True
    for name in ("variations", "dry_run", "resume_request_id"):
        assert "advanced" not in wan[name][1]


def test_a_workflow_saved_before_issue_18_loads_with_its_values(nodes, pack):
    order = pack.nodes.widget_order
    saved = json.loads(FIXTURE.read_text(encoding="utf-8"))
    names_then = saved["extra"]["runcomfy_fixture"]["widget_names"]
    classes = {c.__name__: c for c in nodes.values()}
    classes[WAN] = pack.NODE_CLASS_MAPPINGS[WAN]
    for node in saved["nodes"]:
        cls = classes[node["type"]]
        now = order.widget_names(cls.INPUT_TYPES())
        then = names_then[str(node["id"])]
        assert now[:len(then)] == then, node["type"]              # nothing moved; new ones at the end
        loaded = order.values_by_name(now, node["widgets_values"])    # the frontend: by position
        assert loaded == dict(zip(then, node["widgets_values"]))
        # and the node runs the values it loaded: every saved schema value is collected as saved
        kwargs = {n: v for n, v in loaded.items() if not n.endswith(order.CONTROL)}
        fields, _, _, extras = pack.nodes.inputs.collect(cls.SCHEMA, kwargs)
        assert extras["timeout"] == 900 and extras["dry_run"] is True
        assert extras["generation"] in (None, 0)


def test_remap_by_name_for_a_layout_that_moved_widgets(pack):
    order = pack.nodes.widget_order
    then = ["prompt", "seed", "seed" + order.CONTROL, "upload_format", "variations"]
    values = ["cat", 7, "fixed", "jpeg (quality 95)", 2]
    now = ["prompt", "variations", "seed", "seed" + order.CONTROL, "generation"]
    assert order.remap(then, values, now, {"generation": 0}) == ["cat", 2, 7, "fixed", 0]


# --- 18.7 labels, 18.8 sockets ---------------------------------------------------------------

def test_schema_titles_become_labels_and_plain_names_stay(pack):
    cls = node_of(pack, doc({"guidance": {"type": "number", "title": "Guidance scale", "default": 3},
                             "steps": {"type": "integer", "default": 4},
                             "refs": {"type": "array", "format": "image_uris", "title": "Reference images",
                                      "maxItems": 2}}))
    spec = {**cls.INPUT_TYPES()["required"], **cls.INPUT_TYPES()["optional"]}
    assert spec["guidance"][1]["display_name"] == "Guidance scale"
    assert "display_name" not in spec["steps"][1]
    assert spec["image_1"][1]["display_name"] == "Reference image 1"
    assert spec["refs"][1]["display_name"] == "Reference images (URLs)"


def test_markup_in_a_title_stays_inert(pack):
    cls = node_of(pack, doc({"guidance": {"type": "number", "title": "<img src=x onerror=alert(1)>", "default": 3}}))
    label = cls.INPUT_TYPES()["required"]["guidance"][1]["display_name"]
    assert "<" not in label


def test_video_and_audio_lists_get_as_many_sockets_as_the_model_takes(pack):
    cls = node_of(pack, doc({"videos": {"type": "array", "format": "video_uris", "maxItems": 12},
                             "audios": {"type": "array", "format": "audio_uris", "maxItems": 12},
                             "refs": {"type": "array", "format": "image_uris", "maxItems": 16}}))
    spec = {**cls.INPUT_TYPES()["required"], **cls.INPUT_TYPES()["optional"]}
    assert sum(1 for v in spec.values() if v[0] == "VIDEO") == 12
    assert sum(1 for v in spec.values() if v[0] == "AUDIO") == 12
    assert sum(1 for v in spec.values() if v[0] == "IMAGE") == 16


def test_search_finds_family_task_and_kind(pack):
    wan = pack.NODE_CLASS_MAPPINGS[WAN].SEARCH_ALIASES
    assert {"runcomfy", "wan", "image to image", "i2i", "image"} <= set(wan)
    real = ROOT.parent / "shared" / "runcomfy-api" / "real-endpoints" / "kling__kling-3.0__pro__image-to-video.json"
    if real.exists():
        cls = node_of(pack, json.loads(real.read_text()))
        assert {"kling", "image to video", "i2v", "video"} <= set(cls.SEARCH_ALIASES)
    audio = node_of(pack, {**doc({}, model_id="acme/sfx/text-to-audio"), "categories": ["text-to-audio"]})
    assert {"text to audio", "audio"} <= set(audio.SEARCH_ALIASES)


def test_the_emulator_bills_a_per_second_model_per_second_like_the_estimate(nodes, emu, server):
    # The sample text-to-audio model costs $0.002 per second (RunComfy's price_unit "second" is per
    # second of output): 7 s cost $0.014, not the unit price once.
    call(nodes[AUDIO], **audio_kwargs(duration=7.0, generation=11))
    done = [e for e in server.events if e.get("state") == "done"][-1]
    assert done["cost"] == pytest.approx(0.014)


def test_an_uncertain_submit_gives_the_panel_its_code_and_no_id_to_fetch(nodes, emu, server):
    cls = nodes[AUDIO]
    emu.faults.add("submit", "drop_after", times=1)             # accepted, answer lost
    with pytest.raises(Exception):
        call(cls, **audio_kwargs(generation=21))
    first = server.events[-1]
    assert first["state"] == "error" and first["fetch_request_id"] is None    # no id was ever seen
    with pytest.raises(Exception):
        call(cls, **audio_kwargs(generation=21))
    blocked = server.events[-1]
    assert blocked["resubmit_code"].startswith("resubmit-") and blocked["fetch_request_id"] is None
    assert emu.count("submit") == 1
    _, _, rid = call(cls, **audio_kwargs(generation=22))        # a new generation is a new request
    assert rid in emu.jobs and emu.count("submit") == 2
