"""The emulator, driven over real sockets with plain ``requests`` (no client library)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import numpy as np
import pytest
import requests
from PIL import Image

from runcomfy.emulator import Emulator, render_output
from runcomfy.emulator.cli import build_parser, main as cli_main, make_emulator
from runcomfy.emulator.faults import parse_fault_spec

WAN = "wan-ai/wan-2-6/image-to-image"
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


# --- helpers ---------------------------------------------------------------------------------

@pytest.fixture
def make_emu():
    made: list[Emulator] = []

    def factory(**kw) -> Emulator:
        kw.setdefault("processing_time", 0.1)
        emu = Emulator(**kw).start()
        made.append(emu)
        return emu

    yield factory
    for emu in made:
        emu.stop()
        assert emu.internal_errors == [], emu.internal_errors[0]


@pytest.fixture
def emu(make_emu):
    return make_emu()


@pytest.fixture
def http():
    s = requests.Session()
    s.headers.update(AUTH)
    yield s
    s.close()


def png(w=400, h=400, color=(200, 30, 30), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, fmt)
    return buf.getvalue()


def data_uri(raw: bytes, mime="image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def payload(**over) -> dict:
    p = {"prompt": "a cat", "image_urls": [data_uri(png())]}
    p.update(over)
    return p


def submit(http, emu, body=None, model=WAN, **kw) -> requests.Response:
    return http.post(f"{emu.base_url}/models/{model}", json=payload() if body is None else body, **kw)


def wait_until(fn, timeout=5.0, step=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def status(http, emu, rid) -> dict:
    return http.get(f"{emu.base_url}/requests/{rid}/status").json()


def wait_done(http, emu, rid, timeout=5.0) -> dict:
    wait_until(lambda: emu.jobs[rid].finished_at is not None, timeout)
    return http.get(f"{emu.base_url}/requests/{rid}/result", params={"include_cost": "true"}).json()


def fetch_image(url) -> Image.Image:
    r = requests.get(url, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(r.content))


# --- the happy path -------------------------------------------------------------------------

def test_lifecycle_and_keep_alive(emu, http):
    r = submit(http, emu)
    assert r.status_code == 200
    body = r.json()
    rid = body["request_id"]
    assert set(body) == {"request_id", "status_url", "result_url", "cancel_url"}
    assert body["status_url"] == f"{emu.base_url}/requests/{rid}/status"
    seen = {status(http, emu, rid)["status"]}
    res = wait_done(http, emu, rid)
    seen.add(status(http, emu, rid)["status"])
    assert seen <= {"in_queue", "in_progress", "completed"} and "completed" in seen
    assert res["status"] == "succeeded" and res["cost"] == pytest.approx(0.03)
    assert res["created_at"].endswith("Z") and res["finished_at"].endswith("Z")
    assert "error" not in res
    img = fetch_image(res["output"]["image"])
    assert img.size == (1024, 1024)
    job = emu.jobs[rid]
    assert job.accepted_at <= job.started_at <= job.finished_at
    assert job.finished_at - job.started_at >= 0.1 - 1e-3
    assert job.owner == TOKEN and job.model_id == WAN and job.payload["prompt"] == "a cat"
    # API calls on one Session reuse one keep-alive connection; downloads never carry the token.
    api = [c for c in emu.calls if c.endpoint != "file"]
    assert len({c.client_port for c in api}) == 1
    assert [c.auth_header_present for c in emu.calls if c.endpoint == "file"] == [False]
    assert emu.count("submit") == 1 and emu.submits_accepted == 1


def test_status_transitions_recorded(make_emu, http):
    emu = make_emu(processing_time=0.3, workers=1)
    rid = submit(http, emu).json()["request_id"]
    states = []
    wait_until(lambda: states.append(status(http, emu, rid)["status"]) or states[-1] == "completed")
    # collapsed consecutive duplicates: the order of the life of a request
    order = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    assert order[-2:] == ["in_progress", "completed"]


def test_result_before_finish_has_no_output(make_emu, http):
    emu = make_emu(processing_time=0.3)
    rid = submit(http, emu).json()["request_id"]
    res = http.get(f"{emu.base_url}/requests/{rid}/result", params={"include_cost": "true"}).json()
    assert res["status"] in ("in_queue", "in_progress")
    assert "output" not in res and "cost" not in res and res["finished_at"] is None


def test_include_cost_only_on_request(emu, http):
    rid = submit(http, emu).json()["request_id"]
    wait_done(http, emu, rid)
    assert "cost" not in http.get(f"{emu.base_url}/requests/{rid}/result").json()


# --- auth -----------------------------------------------------------------------------------

@pytest.mark.parametrize("auth_status", [401, 403])
def test_auth_errors(make_emu, auth_status):
    emu = make_emu(auth_error_status=auth_status)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Token {TOKEN}"}):
        r = requests.post(f"{emu.base_url}/models/{WAN}", json=payload(), headers=headers)
        assert r.status_code == auth_status
        assert r.json()["error_code"] == 400004
        assert TOKEN not in r.text
    assert emu.submits_accepted == 0
    r = requests.get(f"{emu.base_url}/models", headers={"Authorization": "Bearer nope"})
    assert r.status_code == auth_status


def test_other_users_request_is_403001(emu, http):
    emu.add_token("other-token")
    rid = submit(http, emu).json()["request_id"]
    other = {"Authorization": "Bearer other-token"}
    for method, action in (("GET", "status"), ("GET", "result"), ("POST", "cancel")):
        r = requests.request(method, f"{emu.base_url}/requests/{rid}/{action}", headers=other)
        assert r.status_code == 403 and r.json()["error_code"] == 403001
    # the other user can still submit their own work
    r = requests.post(f"{emu.base_url}/models/{WAN}", json=payload(), headers=other)
    assert r.status_code == 200 and emu.jobs[r.json()["request_id"]].owner == "other-token"


def test_unknown_request_and_model(emu, http):
    r = http.get(f"{emu.base_url}/requests/doesnotexist/status")
    assert r.status_code == 404 and r.json()["error_code"] == 404001
    for model in ("blackforestlabs/flux-1-kontext/pro/edit", "acme/none"):
        r = submit(http, emu, model=model)
        assert r.status_code == 400 and r.json()["error_code"] == 400001
        assert http.get(f"{emu.base_url}/models/{model}").json()["error_code"] == 400001


# --- validation -----------------------------------------------------------------------------

BIG_BMP = None


def _big_bmp() -> bytes:
    # BMP is uncompressed: 1900x1800 RGB is ~10.26 MB, over the 10 MB rule, sides within limits.
    global BIG_BMP
    if BIG_BMP is None:
        BIG_BMP = png(1900, 1800, fmt="BMP")
    return BIG_BMP


@pytest.mark.parametrize("override, field", [
    ({"prompt": "x" * 2000}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"negative_prompt": "n" * 501}, "negative_prompt"),
    ({"image_size": "1000*1000 (1:1)"}, "image_size"),
    ({"seed": -1}, "seed"),
    ({"seed": 2147483648}, "seed"),
    ({"seed": "7"}, "seed"),
    ({"image_urls": []}, "image_urls"),
    ({"image_urls": [data_uri(png())] * 4}, "image_urls"),
    ({"image_urls": [data_uri(png(383, 400))]}, "image_urls"),
    ({"image_urls": [data_uri(png(400, 383))]}, "image_urls"),
    ({"image_urls": [data_uri(png(5001, 400))]}, "image_urls"),
    ({"image_urls": ["data:image/png;base64,!!!"]}, "image_urls"),
    ({"image_urls": [data_uri(png())[:-3]]}, "image_urls"),                  # cut: bad padding
    ({"image_urls": [data_uri(png()) + "=A"]}, "image_urls"),                 # data after padding
    ({"image_urls": [data_uri(png())[:60] + "\u00e9" + data_uri(png())[61:]]}, "image_urls"),
    ({"image_urls": [data_uri(b"not an image")]}, "image_urls"),
    ({"image_urls": ["https://playgrounds-storage-public.runcomfy.net/x.png"]}, "image_urls"),
    ({"image_urls": ["ftp://example/x.png"]}, "image_urls"),
    ({"unknown_field": 1}, "unknown_field"),
])
def test_validation_422_names_field(emu, http, override, field):
    r = submit(http, emu, payload(**override))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error_code"] == 422001 and field in body["message"]
    assert any(d["loc"][:2] == ["body", field] and d["type"] == "value_error" for d in body["detail"]), body
    assert emu.submits_accepted == 0


def test_line_wrapped_base64_is_accepted(emu, http):
    b64 = data_uri(png()).partition(",")[2]
    wrapped = "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    r = submit(http, emu, payload(image_urls=["data:image/png;base64," + wrapped]))
    assert r.status_code == 200, r.text
    assert emu.jobs[r.json()["request_id"]].inputs == [png()]


def test_validation_file_too_big(emu, http):
    r = submit(http, emu, payload(image_urls=[data_uri(png()), data_uri(_big_bmp(), "image/bmp")]))
    assert r.status_code == 422
    d = r.json()["detail"]
    assert d[0]["loc"] == ["body", "image_urls", 1] and "MB" in d[0]["msg"]


def test_validation_bounds_are_allowed(emu, http):
    r = submit(http, emu, payload(prompt="p" * 1999, image_urls=[data_uri(png(384, 5000))] * 3, seed=2147483647))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]"])
def test_malformed_body(emu, http, raw):
    r = http.post(f"{emu.base_url}/models/{WAN}", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    assert r.json()["error_code"] == 422001 and r.json()["message"]


def test_missing_required_fields(emu, http):
    r = submit(http, emu, {})
    assert r.status_code == 422
    assert {d["loc"][1] for d in r.json()["detail"]} == {"prompt", "image_urls"}


def test_strict_formats_rejects_alpha(make_emu, http):
    emu = make_emu(strict_formats=True)
    buf = io.BytesIO()
    Image.new("RGBA", (400, 400)).save(buf, "PNG")
    r = submit(http, emu, payload(image_urls=[data_uri(buf.getvalue())]))
    assert r.status_code == 422 and "alpha" in r.json()["message"]


# --- queue ----------------------------------------------------------------------------------

@pytest.mark.parametrize("base", [0, 1])
def test_queue_positions_workers_1(make_emu, http, base):
    # The first two jobs stay in progress until released, so each look at the queue happens in a
    # known state however slowly this machine runs.
    emu = make_emu(processing_time=0.05, workers=1, queue_position_base=base)
    emu.hold_next_jobs(2)
    rids = [submit(http, emu).json()["request_id"] for _ in range(3)]
    wait_until(lambda: emu.jobs[rids[0]].state == "in_progress")
    s = [status(http, emu, rid) for rid in rids]
    assert s[0]["status"] == "in_progress" and "queue_position" not in s[0]
    assert [x["status"] for x in s[1:]] == ["in_queue", "in_queue"]
    assert [x["queue_position"] for x in s[1:]] == [base, base + 1]
    emu.release(rids[0])
    wait_until(lambda: emu.jobs[rids[1]].state == "in_progress")
    assert status(http, emu, rids[2])["queue_position"] == base
    emu.release(rids[1])
    wait_until(lambda: emu.jobs[rids[2]].finished_at is not None)
    jobs = [emu.jobs[r] for r in rids]
    assert jobs[1].started_at >= jobs[0].finished_at and jobs[2].started_at >= jobs[1].finished_at


def test_workers_run_in_parallel(make_emu, http):
    emu = make_emu(processing_time=0.05, workers=3)
    emu.hold_next_jobs(3)          # none may finish before all three are in progress
    rids = [submit(http, emu).json()["request_id"] for _ in range(3)]
    wait_until(lambda: all(emu.jobs[r].state == "in_progress" for r in rids))
    emu.release()
    wait_until(lambda: all(emu.jobs[r].finished_at for r in rids))
    starts = [emu.jobs[r].started_at for r in rids]
    assert max(starts) < min(emu.jobs[r].finished_at for r in rids)


def test_per_job_processing_time(make_emu, http):
    emu = make_emu(processing_time=0.05)
    emu.queue_processing_times([0.25])
    a = submit(http, emu).json()["request_id"]
    b = submit(http, emu).json()["request_id"]
    assert emu.jobs[a].processing_time == 0.25 and emu.jobs[b].processing_time == 0.05
    emu.processing_time_hook = lambda job: 0.07
    assert emu.jobs[submit(http, emu).json()["request_id"]].processing_time == 0.07


def test_status_vocabulary_result(make_emu, http):
    emu = make_emu(status_vocabulary="result")
    rid = submit(http, emu).json()["request_id"]
    wait_done(http, emu, rid)
    assert status(http, emu, rid)["status"] == "succeeded"


def test_stuck_and_failed_jobs(make_emu, http):
    emu = make_emu(processing_time=0.05, workers=1)
    emu.stick_next_jobs(1)
    emu.fail_next_jobs(1, "Content moderation: nope")
    stuck = submit(http, emu).json()["request_id"]
    failed = submit(http, emu).json()["request_id"]
    res = wait_done(http, emu, failed)
    assert res["status"] == "failed" and res["error"] == "Content moderation: nope" and "output" not in res
    assert res["cost"] == 0
    assert status(http, emu, failed)["status"] == "failed"
    time.sleep(0.1)
    s = status(http, emu, stuck)
    assert s["status"] == "in_queue" and s["queue_position"] == 0


@pytest.mark.parametrize("vocabulary, expected", [("status", "completed"), ("result", "succeeded")])
def test_failed_reads_as_done_on_status_variant(make_emu, http, vocabulary, expected):
    emu = make_emu(failed_status="completed", status_vocabulary=vocabulary)
    emu.fail_next_jobs(1)
    rid = submit(http, emu).json()["request_id"]
    assert wait_done(http, emu, rid)["status"] == "failed"
    assert status(http, emu, rid)["status"] == expected


def test_error_style_object(make_emu, http):
    emu = make_emu(error_style="object")
    emu.fail_next_jobs(1)
    res = wait_done(http, emu, submit(http, emu).json()["request_id"])
    assert res["error"]["message"].startswith("Content moderation")


# --- outputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, keys, n", [
    ({"output_field": "image"}, {"image"}, 1),
    ({"output_field": "images"}, {"images"}, 1),
    ({"output_field": "both"}, {"image", "images"}, 1),
    ({"output_field": "image", "outputs_per_job": 3}, {"images"}, 3),
    ({"output_field": "both", "extra_output_sizes": [(300, 200)]}, {"image", "images"}, 2),
])
def test_output_fields(make_emu, http, kw, keys, n):
    emu = make_emu(**kw)
    out = wait_done(http, emu, submit(http, emu).json()["request_id"])["output"]
    assert set(out) == keys
    urls = out.get("images") or [out["image"]]
    assert len(urls) == n
    sizes = [fetch_image(u).size for u in urls]
    if "extra_output_sizes" in kw:
        assert sizes == [(1024, 1024), (300, 200)]
    if n == 3:
        assert len({requests.get(u).content for u in urls}) == 3


def test_deterministic_image(emu, http):
    refs = [png(400, 500, (10, 200, 30)), png(600, 400, (0, 0, 250))]
    body = payload(prompt="two monsters", seed=42, image_size="1280*720 (16:9)",
                   image_urls=[data_uri(r) for r in refs])
    a = wait_done(http, emu, submit(http, emu, body).json()["request_id"])["output"]["image"]
    b = wait_done(http, emu, submit(http, emu, body).json()["request_id"])["output"]["image"]
    c = wait_done(http, emu, submit(http, emu, dict(body, seed=43)).json()["request_id"])["output"]["image"]
    d = wait_done(http, emu, submit(http, emu, dict(body, image_urls=body["image_urls"][::-1])).json()
                  ["request_id"])["output"]["image"]
    img_a = fetch_image(a)
    assert img_a.size == (1280, 720) and img_a.mode == "RGB"
    expected = render_output([Image.open(io.BytesIO(r)) for r in refs], "two monsters", 42, (1280, 720))
    assert np.array_equal(np.asarray(img_a), np.asarray(expected))
    assert requests.get(a).content == requests.get(b).content
    for other in (c, d):
        assert not np.array_equal(np.asarray(img_a), np.asarray(fetch_image(other)))
    # the first reference fills the left strip: green there, blue on the right
    px = np.asarray(img_a)
    assert px[300, 100, 1] > px[300, 100, 2] and px[300, 1200, 2] > px[300, 1200, 1]


def test_render_output_changes_with_prompt():
    refs = [Image.new("RGB", (400, 400), (128, 128, 128))]
    a = np.asarray(render_output(refs, "a", 1, (256, 128)))
    assert a.shape == (128, 256, 3)
    assert not np.array_equal(a, np.asarray(render_output(refs, "b", 1, (256, 128))))
    assert np.array_equal(a, np.asarray(render_output(refs, "a", 1, (256, 128))))


def test_loopback_url_inputs(emu, http):
    first = wait_done(http, emu, submit(http, emu).json()["request_id"])["output"]["image"]
    body = payload(image_urls=[first, first.replace("127.0.0.1", "localhost")])
    r = submit(http, emu, body)
    assert r.status_code == 200, r.text
    res = wait_done(http, emu, r.json()["request_id"])
    assert res["status"] == "succeeded"
    assert emu.count("file") >= 2    # the emulator fetched its own output twice
    r = submit(http, emu, payload(image_urls=[emu.origin + "/files/nope/0.png"]))
    assert r.status_code == 422 and "404" in r.json()["message"]


def test_made_up_model_without_image_size(tmp_path, make_emu, http):
    doc = {"model_id": "acme/toy/text-to-image",
           "input_schema": {"type": "object", "required": ["prompt"],
                            "properties": {"prompt": {"type": "string"},
                                           "seed": {"type": "integer", "minimum": 0, "default": 5}}},
           "output_schema": {"output": {"type": "object", "properties": {"images": {"type": "array"}}}}}
    (tmp_path / "acme__toy__text-to-image.schema.json").write_text(json.dumps(doc))
    emu = make_emu(schema_dir=tmp_path)
    emu.add_model(dict(doc, model_id="acme/toy/v2/edit"), price_usd=0.5, price_unit="run")
    res = wait_done(http, emu, submit(http, emu, {"prompt": "hello"}, model="acme/toy/text-to-image")
                    .json()["request_id"])
    img = fetch_image(res["output"]["image"])
    assert img.size == (512, 512)
    assert np.array_equal(np.asarray(img), np.asarray(render_output([], "hello", 5, (512, 512))))
    m = http.get(f"{emu.base_url}/models/acme/toy/v2/edit").json()
    assert m["base_price_usd"] == 0.5 and m["price_unit"] == "run"
    assert m["input_schema"]["required"] == ["prompt"] and "output_schema" in m


# --- models ---------------------------------------------------------------------------------

def test_model_and_catalog(emu, http):
    m = http.get(f"{emu.base_url}/models/{WAN}").json()
    assert m["model_id"] == WAN and m["display_name"] and m["categories"]
    assert m["base_price_usd"] == 0.03 and m["price_unit"] == "image"
    assert m["input_schema"]["properties"]["image_urls"]["maxItems"] == 3
    emu.add_model({"model_id": "acme/other", "input_schema": {"properties": {}}})
    cat = http.get(f"{emu.base_url}/models", params={"include_schema": "true", "limit": 1, "offset": 1}).json()
    assert cat["total"] == 2 and len(cat["models"]) == 1 and "input_schema" in cat["models"][0]
    cat = http.get(f"{emu.base_url}/models").json()
    assert len(cat["models"]) == 2 and "input_schema" not in cat["models"][0]
    assert emu.count("models") == 2 and emu.count("model") == 1


# --- cancel, expiry, balance ----------------------------------------------------------------

def test_cancel_queued_and_running(make_emu, http):
    emu = make_emu(processing_time=0.3, workers=1)
    emu.set_balance(TOKEN, 1.0)
    running, queued = (submit(http, emu).json()["request_id"] for _ in range(2))
    wait_until(lambda: emu.jobs[running].state == "in_progress")
    r = http.post(f"{emu.base_url}/requests/{queued}/cancel")
    assert r.status_code == 202 and r.json() == {"request_id": queued, "status": "cancelled", "outcome": "cancelled"}
    r = http.post(f"{emu.base_url}/requests/{running}/cancel")
    assert r.status_code == 202 and r.json()["outcome"] == "not_cancellable"
    assert r.json()["status"] == "in_progress"
    res = wait_done(http, emu, running)
    assert res["status"] == "succeeded" and res["cost"] == pytest.approx(0.03)
    assert emu.balance(TOKEN) == pytest.approx(0.97)          # the running job was billed
    res = http.get(f"{emu.base_url}/requests/{queued}/result", params={"include_cost": "true"}).json()
    assert res["status"] == "cancelled" and res["cost"] == 0 and res["finished_at"]
    assert status(http, emu, queued)["status"] == "cancelled"
    assert http.post(f"{emu.base_url}/requests/{queued}/cancel").json()["outcome"] == "not_cancellable"
    assert emu.jobs[queued].started_at is None


def test_result_expires(make_emu, http):
    emu = make_emu(result_ttl=0.2, processing_time=0.05)
    rid = submit(http, emu).json()["request_id"]
    url = wait_done(http, emu, rid)["output"]["image"]
    time.sleep(0.3)
    for action in ("status", "result"):
        r = http.get(f"{emu.base_url}/requests/{rid}/{action}")
        assert r.status_code == 404 and r.json()["error_code"] == 404001
    assert requests.get(url).status_code == 404


@pytest.mark.parametrize("balance_status", [402, 400])
def test_insufficient_balance(make_emu, http, balance_status):
    emu = make_emu(balance_error_status=balance_status, price_usd=0.03)
    emu.set_balance(TOKEN, 0.05)
    wait_done(http, emu, submit(http, emu).json()["request_id"])
    assert emu.balance(TOKEN) == pytest.approx(0.02)
    r = submit(http, emu)
    assert r.status_code == balance_status and r.json()["error_code"] == 400002
    assert emu.submits_accepted == 1


@pytest.mark.parametrize("key", ["error_message", "message", "error", "detail"])
def test_message_key_configurable(make_emu, key):
    emu = make_emu(message_key=key)
    r = requests.get(f"{emu.base_url}/requests/x/status", headers=AUTH)
    assert isinstance(r.json()[key], str)


def test_message_key_varies_by_default(emu, http):
    keys = set()
    for r in (requests.get(f"{emu.base_url}/models"), http.get(f"{emu.base_url}/requests/x/status"),
              submit(http, emu, model="a/b")):
        keys |= set(r.json()) - {"error_code"}
    assert len(keys) == 3


# --- faults ---------------------------------------------------------------------------------

def test_fault_drop_before_submit(emu, http):
    emu.faults.add("submit", "drop_before")
    with pytest.raises(requests.ConnectionError):
        submit(http, emu)
    assert emu.submits_accepted == 0 and emu.faults.injected == [("submit", "drop_before")]
    assert submit(http, emu).status_code == 200       # the rule was used up


def test_fault_drop_after_submit_still_creates_job(emu, http):
    emu.faults.add("submit", "drop_after")
    with pytest.raises(requests.ConnectionError):
        submit(http, emu)
    assert emu.submits_accepted == 1
    (job,) = emu.jobs.values()
    wait_until(lambda: job.state == "completed")
    assert [c.status for c in emu.calls if c.endpoint == "submit"] == [None]


def test_fault_slow_read_timeout_and_prompt_stop(make_emu, http):
    emu = make_emu()
    before = set(threading.enumerate())
    emu.faults.add("models", "slow", times=2, delay=600)
    with pytest.raises(requests.ReadTimeout):
        http.get(f"{emu.base_url}/models", timeout=(2, 0.2))
    t = threading.Thread(target=lambda: requests.get(f"{emu.base_url}/models", headers=AUTH, timeout=10),
                         daemon=True)
    t.start()
    wait_until(lambda: len(emu.faults.injected) == 2)
    slow = [th for th in threading.enumerate() if "process_request" in th.name and th not in before]
    assert slow                    # the threads now waiting ten minutes to answer
    stopper = threading.Thread(target=emu.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=60)
    assert not stopper.is_alive(), "stop() hung"
    # Stop cut the ten-minute waits short: the threads serving the slow answers have ended.
    wait_until(lambda: not any(th.is_alive() for th in slow), timeout=60)


@pytest.mark.parametrize("status_code", [429, 500, 502, 503, 504])
def test_fault_http(emu, http, status_code):
    emu.faults.add("status", "http", status=status_code, retry_after=2 if status_code in (429, 503) else None)
    rid = submit(http, emu).json()["request_id"]
    r = http.get(f"{emu.base_url}/requests/{rid}/status")
    assert r.status_code == status_code
    if status_code in (429, 503):
        assert r.headers["Retry-After"] == "2"
    if status_code in (502, 504):
        assert r.headers["Content-Type"] == "text/html"
    else:
        r.json()
    assert http.get(f"{emu.base_url}/requests/{rid}/status").status_code == 200


def test_fault_http_on_submit_does_not_create_job(emu, http):
    emu.faults.add("submit", "http", status=503)
    assert submit(http, emu).status_code == 503
    assert emu.submits_accepted == 0


def test_fault_malformed_json_and_error_200(emu, http):
    emu.faults.add("result", "malformed_json").add("status", "error_200")
    rid = submit(http, emu).json()["request_id"]
    r = http.get(f"{emu.base_url}/requests/{rid}/result")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    r = http.get(f"{emu.base_url}/requests/{rid}/status")
    assert r.status_code == 200 and r.json()["error_code"] == 500001 and r.json()["error_message"]


def test_fault_truncated_and_not_found_file(emu, http):
    url = wait_done(http, emu, submit(http, emu).json()["request_id"])["output"]["image"]
    emu.faults.add("file", "truncated").add("file", "not_found", times=2)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url)
    assert [requests.get(url).status_code for _ in range(3)] == [404, 404, 200]
    assert emu.faults.injected == [("file", "truncated"), ("file", "not_found"), ("file", "not_found")]


def test_fault_wildcard_and_unlimited(emu, http):
    emu.faults.add("*", "http", times=None, status=500)
    assert http.get(f"{emu.base_url}/models").status_code == 500
    assert http.get(f"{emu.base_url}/models/{WAN}").status_code == 500
    emu.faults.clear()
    assert http.get(f"{emu.base_url}/models").status_code == 200


def _random_run(make_emu, seed):
    emu = make_emu()
    emu.faults.random(rate=0.5, seed=seed, slow_delay=0.01)
    outcomes = []
    for _ in range(30):
        try:
            r = requests.get(f"{emu.base_url}/models", headers=AUTH, timeout=5)
            outcomes.append(r.status_code)
        except requests.RequestException as exc:
            outcomes.append(type(exc).__name__)
    return list(emu.faults.injected), outcomes


def test_random_faults_reproducible(make_emu):
    a = _random_run(make_emu, 7)
    assert a == _random_run(make_emu, 7)
    assert a != _random_run(make_emu, 8)
    kinds = {k for _, k in a[0]}
    assert 5 <= len(a[0]) <= 25 and len(kinds) >= 3
    assert kinds <= {"http", "drop_before", "drop_after", "slow", "malformed_json", "error_200"}


def test_random_faults_file_kinds(emu, http):
    url = wait_done(http, emu, submit(http, emu).json()["request_id"])["output"]["image"]
    emu.faults.random(rate=1.0, seed=3, endpoints=["file"], slow_delay=0.01)
    for _ in range(20):
        try:
            requests.get(url, timeout=5)
        except requests.RequestException:
            pass
    assert {k for _, k in emu.faults.injected} <= {"http", "drop_before", "drop_after", "slow", "truncated"}
    assert all(e == "file" for e, _ in emu.faults.injected)
    assert http.get(f"{emu.base_url}/models").status_code == 200   # other endpoints untouched


# --- CLI ------------------------------------------------------------------------------------

def test_parse_fault_spec():
    assert parse_fault_spec("submit:drop_after") == ("submit", "drop_after", 1, {})
    assert parse_fault_spec("status:http:3:status=429,retry_after=1.5") == \
        ("status", "http", 3, {"status": 429, "retry_after": 1.5})
    assert parse_fault_spec("*:slow:*:delay=2")[2] is None
    for bad in ("submit", "nope:http", "status:explode", "status:http:1:novalue"):
        with pytest.raises(ValueError):
            parse_fault_spec(bad)


def test_cli_builds_emulator(monkeypatch):
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "env-token")
    args = build_parser().parse_args(["--port", "0", "--workers", "1", "--output-field", "both",
                                      "--fault", "submit:http:2:status=503", "--fault-rate", "0.1",
                                      "--balance", "1.5", "--extra-output-size", "64x32"])
    emu, source = make_emulator(args)
    assert source == "RUNCOMFY_API_TOKEN" and emu.token == "env-token"
    assert emu.output_field == "both" and emu.balance("env-token") == 1.5
    assert emu.extra_output_sizes == [(64, 32)] and emu.faults.active


def test_cli_main_serves_and_hides_token(capsys, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "secret-env-token")
    assert cli_main(["--port", "0", "--duration", "0.2", "--processing-time", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:" in out and "RUNCOMFY_API_TOKEN" in out and "secret-env-token" not in out


def test_cli_refuses_non_loopback():
    with pytest.raises(SystemExit):
        cli_main(["--host", "0.0.0.0", "--duration", "0.1"])
    with pytest.raises(ValueError):
        Emulator(host="192.168.1.1")


def test_stop_drops_pooled_connections_and_port_is_reusable(http):
    emu = Emulator(processing_time=0.05).start()
    assert http.get(f"{emu.base_url}/models").status_code == 200
    port = emu.port
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        http.get(f"{emu.base_url}/models", timeout=3)
    with pytest.raises(RuntimeError):
        emu.start()
    with Emulator(port=port) as again:       # a "restarted service": same address, no memory of old jobs
        assert http.get(f"{again.base_url}/models").status_code == 200
