"""The emulator's catalog over real sockets: the sample catalog, pagination, filters,
categories, unknown model ids both ways, a saved catalog served with --catalog FILE, and
submits validated against each model's own schema."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time

import pytest
import requests
from PIL import Image

from conftest import ROOT
from runcomfy.emulator.catalog import (SAMPLE_PREFIX, STAND_IN_IDS, catalog_document, generate_entries,
                                       load_catalog_file, sample_entries)

TOKEN = "tok-emulator-catalog-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def emu(start_emulator):
    e = start_emulator(TOKEN, processing_time=0.05)
    e.serve_catalog(sample_entries(), replace=False)
    return e


def get(emu, path, **params):
    return requests.get(emu.base_url + path, params=params, headers=AUTH, timeout=5)


def test_samples_cover_every_dialect_and_are_marked_as_samples():
    docs = sample_entries()
    assert all(d["model_id"].startswith(SAMPLE_PREFIX) and d["display_name"].startswith("Emulator sample") for d in docs
               if d["model_id"] not in STAND_IN_IDS)
    assert [d["model_id"] for d in docs if not d["model_id"].startswith(SAMPLE_PREFIX)] == list(STAND_IN_IDS)
    props = {d["model_id"]: d["input_schema"]["properties"] for d in docs}
    edit = props["emulator-samples/image-edit/edit"]["image_uris"]
    assert edit["format"] == "image_uris" and "items" not in edit
    assert {v["validation_rule"] for v in edit["validations"]} >= {"width/height>", "width/height<"}
    i2v = next(d for d in docs if d["model_id"].endswith("image-to-video"))
    assert "image_url" in i2v["input_schema"]["required"] and "end_image_url" not in i2v["input_schema"]["required"]
    r2v = props["emulator-samples/video-gen/reference-to-video"]
    assert r2v["images"]["items"]["format"] == "image_uri" and r2v["videos"]["format"] == "video_uris" \
        and r2v["audios"]["format"] == "audio_uris"
    t2v = next(d for d in docs if d["model_id"].endswith("text-to-video") and "duration" in d["input_schema"]["properties"])
    assert t2v["price_unit"] == "second" and "auto" in t2v["input_schema"]["properties"]["duration"]["enum"]
    assert any(c.endswith("-audio") for d in docs for c in d["categories"])
    assert props["emulator-samples/video-gen/multi-shot"]["multi_prompt"]["items"]["type"] == "object"
    assert props["emulator-samples/image-gen/text-to-image"]["guidance_scale"]["type"] == "float"
    assert props["emulator-samples/image-gen/text-to-image"]["seed"]["default"] is None
    assert {d.get("kind") for d in docs} >= {"model", None, "collection", "workflow"}
    assert {d.get("price_unit") for d in docs} >= {"output", "second"}


def test_pagination_limits_and_total(emu):
    total = get(emu, "/models").json()["total"]
    assert total == 1 + len(sample_entries())               # Wan 2.6 + the samples
    seen = []
    for offset in range(0, total, 4):
        page = get(emu, "/models", limit=4, offset=offset, include_schema="true").json()
        assert page["total"] == total and len(page["models"]) <= 4
        assert all("input_schema" in m for m in page["models"])
        seen += [m["model_id"] for m in page["models"]]
    assert len(seen) == len(set(seen)) == total
    assert "input_schema" not in get(emu, "/models").json()["models"][0]
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": -1}):
        r = get(emu, "/models", **bad)
        assert r.status_code == 422 and r.json()["error_code"] == 422001
        assert r.json()["detail"][0]["loc"][:2] == ["query", next(iter(bad))]
    assert get(emu, "/models", limit=100, offset=1000).json()["models"] == []


def test_search_category_and_kind_filters(emu):
    ids = lambda **q: [m["model_id"] for m in get(emu, "/models", limit=100, **q).json()["models"]]
    assert ids(search="MULTI-SHOT") == ["emulator-samples/video-gen/multi-shot"]
    assert ids(search="Reference to") == ["emulator-samples/video-gen/reference-to-video"]
    assert set(ids(category="image-to-image")) == {"wan-ai/wan-2-6/image-to-image", "emulator-samples/image-edit/edit",
                                                   "emulator-samples/upscale", "qwen/qwen-image-3.0/edit"}
    assert ids(kind="workflow") == ["emulator-samples/workflows/portrait-pipeline"]
    models = ids(kind="model")
    assert "emulator-samples/upscale" in models                      # no kind counts as a model
    assert "emulator-samples/guides/prompting-guide" not in models
    r = get(emu, "/models", category="text-to-video", limit=1)
    assert r.json()["total"] == 3 and len(r.json()["models"]) == 1


def test_categories_route(emu):
    cats = {c["name"]: c["count"] for c in get(emu, "/models/categories").json()["categories"]}
    assert cats["image-to-image"] == 4 and cats["text-to-audio"] == 2 and cats["text-to-video"] == 3
    assert sum(cats.values()) == get(emu, "/models").json()["total"]


@pytest.mark.parametrize("status, code", [(400, 400001), (404, 404001)])
def test_unknown_model_id_both_ways(emu, status, code):
    emu.unknown_model_status = status
    for r in (get(emu, "/models/acme/nothing-here"),
              requests.post(emu.base_url + "/models/acme/nothing-here", json={"prompt": "x"}, headers=AUTH, timeout=5)):
        assert r.status_code == status and r.json()["error_code"] == code
    # A listed entry that is not a model is not runnable either.
    r = requests.post(emu.base_url + "/models/emulator-samples/guides/prompting-guide", json={}, headers=AUTH, timeout=5)
    assert r.status_code == status


def test_one_model_as_listed_and_public_catalog_reads(emu):
    m = get(emu, "/models/emulator-samples/video-gen/text-to-video").json()
    assert m["price_unit"] == "second" and m["pricing_note"] and m["input_schema"]["properties"]["duration"]
    assert requests.get(emu.base_url + "/models", timeout=5).status_code == 401
    emu.catalog_public = True
    assert requests.get(emu.base_url + "/models", timeout=5).status_code == 200
    assert requests.get(emu.base_url + "/models/categories", timeout=5).status_code == 200
    assert requests.get(emu.base_url + "/models", headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    r = requests.post(emu.base_url + "/models/emulator-samples/upscale", json={}, timeout=5)
    assert r.status_code == 401                                       # submits always need the token


def _png_uri(w, h):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 120, 200)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _submit(emu, model, body):
    return requests.post(f"{emu.base_url}/models/{model}", json=body, headers=AUTH, timeout=10)


def test_submits_are_validated_against_each_models_own_schema(emu):
    t2i = "emulator-samples/image-gen/text-to-image"
    assert _submit(emu, t2i, {"prompt": "a fox", "num_images": 2, "guidance_scale": 4.5}).status_code == 200
    r = _submit(emu, t2i, {"prompt": "a fox", "num_images": 9})
    assert r.status_code == 422 and "num_images" in r.text
    r = _submit(emu, t2i, {"prompt": "a fox", "aspect_ratio": "2:1"})
    assert r.status_code == 422 and "aspect_ratio" in r.text
    r = _submit(emu, t2i, {"negative_prompt": "x"})
    assert r.status_code == 422 and "prompt" in r.text
    # The Wan 2.6 fields are not inputs of this model.
    assert _submit(emu, t2i, {"prompt": "a", "image_size": "1024*1024 (1:1)"}).status_code == 422
    edit = "emulator-samples/image-edit/edit"
    assert _submit(emu, edit, {"prompt": "sepia", "image_uris": [_png_uri(300, 300)]}).status_code == 200
    r = _submit(emu, edit, {"prompt": "sepia", "image_uris": [_png_uri(300, 300)] * 5})
    assert r.status_code == 422 and "image_uris" in r.text
    r = _submit(emu, edit, {"prompt": "sepia", "image_uris": [_png_uri(200, 300)]})
    assert r.status_code == 422 and "image_uris" in r.text and "256" in r.text


def test_generated_entries_are_synthetic_distinct_and_buildable():
    entries = generate_entries(400, seed=7)
    assert len({e["model_id"] for e in entries}) == 400
    assert all(e["model_id"].startswith("synthetic/") and "Synthetic" in e["display_name"] for e in entries)
    assert all(e["kind"] == "model" and e["input_schema"]["properties"] for e in entries)
    assert generate_entries(5, seed=7) == entries[:5]            # deterministic
    assert len(generate_entries(3, non_runnable=2)) == 5


def test_emulator_cli_serves_a_saved_catalog_file(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog_document(generate_entries(120, seed=2), "saved for a test")))
    assert len(load_catalog_file(path)) == 120
    proc = subprocess.Popen([sys.executable, "-m", "runcomfy", "emulator", "--port", "0", "--token", TOKEN,
                             "--catalog", str(path), "--unknown-model-status", "404", "--duration", "30"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert "emulator at" in first, proc.stderr.read()
        base = first.split(" at ", 1)[1].strip()
        deadline = time.monotonic() + 10
        while True:
            try:
                r = requests.get(base + "/models", params={"limit": 100, "offset": 100}, headers=AUTH, timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.json()["total"] == 120 and len(r.json()["models"]) == 20
        # Exactly the file's entries: the shipped Wan 2.6 schema is not added.
        assert requests.get(base + "/models/wan-ai/wan-2-6/image-to-image", headers=AUTH, timeout=2).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_emulator_cli_rejects_an_unreadable_catalog_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"nothing": 1}')
    proc = subprocess.run([sys.executable, "-m", "runcomfy", "emulator", "--port", "0", "--catalog", str(bad),
                           "--duration", "1"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--catalog" in proc.stderr and "expected a catalog answer" in proc.stderr
