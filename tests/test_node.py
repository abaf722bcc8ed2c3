"""The node as ComfyUI sees it: loaded as a package, INPUT_TYPES from the schema, called with
IMAGE tensors against the emulator over real sockets, tensors out."""

from __future__ import annotations

import asyncio
import inspect
import re
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, load_pack
from runcomfy.emulator import Emulator
from runcomfy.emulator.imagegen import render_output

TOKEN = "tok-node-test-SECRET-42"
KEY = "RunComfy_wan_ai_wan_2_6_image_to_image"


@pytest.fixture
def emu(start_emulator):
    return start_emulator(TOKEN, as_env=True, processing_time=0.3, workers=2)


class FakeServer:
    """Stands in for ComfyUI's PromptServer to record what the node shows."""

    def __init__(self):
        self.texts, self.events = [], []
        self.client_id = None

    def send_progress_text(self, text, node_id):
        self.texts.append((node_id, text))

    def send_sync(self, event, data, sid=None):
        self.events.append((event, data))


@pytest.fixture
def server(pack, monkeypatch):
    fake = FakeServer()
    monkeypatch.setattr(pack.nodes.comfy, "prompt_server", lambda: fake)
    return fake


def tensor(w, h, seed=0, batch=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((batch, h, w, 3), generator=g)


def kwargs(**over):
    k = {"prompt": "two monsters", "image_1": tensor(400, 400, 1), "negative_prompt": "",
         "image_size": "1280*720 (16:9)", "seed": 7, "prompt_extend": True, "unique_id": "12"}
    k.update(over)
    return k


def call(node_cls, **kw):
    fn = getattr(node_cls(), node_cls.FUNCTION)
    out = fn(**kw)
    return asyncio.run(out) if inspect.isawaitable(out) else out


def to_u8(t):
    return (t.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def test_registered_with_display_name(pack):
    assert KEY in pack.NODE_CLASS_MAPPINGS
    assert pack.NODE_DISPLAY_NAME_MAPPINGS[KEY] == "RunComfy Wan 2.6 Image to Image"
    assert pack.WEB_DIRECTORY == "./web"


def test_status_events_say_how_much_a_large_submit_sends(pack, emu, server):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    call(cls, **kwargs(image_1=tensor(900, 900, 5)))      # noise: ~2.4 MB of PNG
    sub = [d for e, d in server.events if e == "runcomfy_model_api.status" and d.get("state") == "submitting"]
    assert sub and re.fullmatch(r"sending \d+\.\d MB", sub[0]["note"]), sub
    assert any(sub[0]["note"] in t for _, t in server.texts)
    assert all(not d.get("note") for e, d in server.events
               if e == "runcomfy_model_api.status" and d.get("state") not in (None, "submitting"))


def test_every_schema_field_is_an_input(pack):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    spec = cls.INPUT_TYPES()
    req, opt = spec["required"], spec["optional"]
    assert list(req) == ["prompt", "image_1", "negative_prompt", "image_size", "seed", "prompt_extend"]
    assert req["image_1"][0] == "IMAGE" and opt["image_2"][0] == "IMAGE" and opt["image_3"][0] == "IMAGE"
    assert opt["image_urls"][0] == "STRING"
    assert req["image_size"][0][6] == "1280*720 (16:9)" and req["image_size"][1]["default"] == "1024*1024 (1:1)"
    seed = req["seed"][1]
    assert (seed["min"], seed["max"], seed["default"], seed["control_after_generate"]) == (0, 2147483647, 0, "fixed")
    assert req["prompt_extend"] == ["BOOLEAN", req["prompt_extend"][1]] and req["prompt_extend"][1]["default"] is True
    # The schema's sample prompt is a placeholder, never a value that would be sent unnoticed.
    assert req["prompt"][1]["multiline"] and req["prompt"][1]["default"] == ""
    assert req["prompt"][1]["placeholder"].startswith("On the left sits a monster")
    for name, (_, opts) in list(req.items()) + list(opt.items()):
        tip = opts.get("tooltip", "")
        assert tip and all(ord(c) < 0x1100 for c in tip), name  # English, not the schema's Korean
    assert spec["hidden"] == {"unique_id": "UNIQUE_ID", "extra_pnginfo": "EXTRA_PNGINFO",
                              "runcomfy_model_id": "wan-ai/wan-2-6/image-to-image"}
    names = " ".join(list(req) + list(opt)).lower()
    assert "token" not in names and "key" not in names
    assert cls.RETURN_TYPES == ("IMAGE", "STRING", "STRING")
    assert inspect.iscoroutinefunction(getattr(cls, cls.FUNCTION))


def test_node_runs_tensors_in_tensors_out(pack, emu, server):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    a, b = tensor(400, 400, 1), tensor(512, 448, 2)
    images, urls, rid = call(cls, **kwargs(image_1=a, image_2=b))
    assert images.dtype == torch.float32 and tuple(images.shape) == (1, 720, 1280, 3)
    expected = render_output([Image.fromarray(to_u8(a)[0]), Image.fromarray(to_u8(b)[0])],
                             "two monsters", 7, (1280, 720))
    assert np.array_equal(to_u8(images)[0], np.asarray(expected.convert("RGB")))
    assert rid in emu.jobs and urls.startswith(emu.origin)
    assert "negative_prompt" not in emu.jobs[rid].payload  # empty optional text is not sent
    assert server.texts and server.texts[-1][0] == "12" and "done" in server.texts[-1][1]
    assert any("running" in t or "queued" in t for _, t in server.texts)


def test_batch_in_one_socket_contributes_each_image(pack, emu, server):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    _, _, rid = call(cls, **kwargs(image_1=tensor(400, 400, 1, batch=2), image_3=tensor(400, 400, 3)))
    assert len(emu.jobs[rid].payload["image_urls"]) == 3


def test_more_than_three_images_fails_before_any_call(pack, emu, server):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    with pytest.raises(Exception) as ei:
        call(cls, **kwargs(image_1=tensor(400, 400, 1, batch=3), image_urls="https://x.runcomfy.net/a.png"))
    assert "image_urls" in str(ei.value) and "at most" in str(ei.value) and "4 images" in str(ei.value)
    assert emu.calls == []


def test_small_image_fails_naming_field_limit_and_value(pack, emu, server):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    with pytest.raises(Exception) as ei:
        call(cls, **kwargs(image_1=tensor(300, 400, 1)))
    assert "image_urls[1]" in str(ei.value) and "384" in str(ei.value) and "300" in str(ei.value)
    assert emu.calls == []


def test_mixed_output_sizes_are_padded_not_crashing(pack, emu, server):
    emu.extra_output_sizes = [(640, 900)]
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    images, urls, _ = call(cls, **kwargs())
    assert tuple(images.shape) == (2, 900, 1280, 3) and len(urls.splitlines()) == 2


def test_missing_token_says_where_to_set_it(pack, isolated_env, server):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    with pytest.raises(Exception) as ei:
        call(cls, **kwargs())
    assert "Settings" in str(ei.value) and "RUNCOMFY_API_TOKEN" in str(ei.value)


def test_token_appears_in_no_output(pack, emu, server, isolated_env, caplog):
    import logging
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's request lines included
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    out = call(cls, **kwargs())
    emu.fail_next_jobs(1, message="rejected")
    with pytest.raises(Exception) as ei:
        call(cls, **kwargs(seed=8))
    blobs = [out[1], out[2], str(ei.value), repr(ei.value), json.dumps(server.texts),
             json.dumps(server.events, default=str), caplog.text]
    blobs += [p.read_text(errors="replace") for p in isolated_env.rglob("*") if p.is_file()]
    assert not [b for b in blobs if TOKEN in b]


def test_second_schema_file_gives_second_working_node(tmp_path, isolated_env, monkeypatch):
    copy = tmp_path / "ComfyUI-RunComfy"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "tests", "__pycache__", "demo-output"))
    schema = {"model_id": "acme/toy-model/edit", "input_schema": {
        "type": "object", "required": ["prompt", "image_url"],
        "properties": {
            "prompt": {"type": "string", "title": "Prompt", "description": "What to do", "maxLength": 100},
            "image_url": {"type": "string", "format": "image_uri", "title": "Image", "description": "Input"},
            "strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
            "style": {"type": "string", "enum": ["a", "b"], "default": "b"}}}}
    (copy / "runcomfy" / "schemas" / "acme-toy.schema.json").write_text(json.dumps(schema))
    mod = load_pack(copy)
    assert len(mod.NODE_CLASS_MAPPINGS) == 2
    cls = mod.NODE_CLASS_MAPPINGS["RunComfy_acme_toy_model_edit"]
    spec = cls.INPUT_TYPES()
    # A single-file field: the socket drops the "_url" suffix, the URL input keeps the field's name.
    assert spec["required"]["image"][0] == "IMAGE" and spec["optional"]["image_url"][0] == "STRING"
    assert spec["required"]["strength"][0] == "FLOAT"
    assert spec["required"]["style"][0] == ["a", "b"]
    with Emulator(token=TOKEN, processing_time=0.1, schema_dir=copy / "runcomfy" / "schemas") as emu:
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
        monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", emu.base_url)
        images, _, rid = call(cls, prompt="toy", image=tensor(400, 400), strength=0.25, style="a")
        assert emu.jobs[rid].model_id == "acme/toy-model/edit"
        assert emu.jobs[rid].payload["strength"] == 0.25 and emu.jobs[rid].payload["image_url"].startswith("data:")
        assert images.shape[-1] == 3 and images.shape[0] == 1


def test_dry_run_shows_request_and_price_without_paying(pack, emu, server):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    a = tensor(400, 400, 1)
    images, urls, rid = call(cls, **kwargs(image_1=a, dry_run=True, variations=2))
    assert (urls, rid) == ("", "") and emu.submits_accepted == 0 and emu.count("submit") == 0
    assert np.array_equal(to_u8(images), to_u8(a))  # references passed through
    text = server.texts[-1][1]
    assert "nothing charged" in text and "$0.03 / image x 2 request(s)" in text
    assert '"seed": 7' in text and "data:image/png;base64,<" in text and "iVBOR" not in text
