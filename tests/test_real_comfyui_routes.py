"""Opt-in: the pack's routes inside a real ComfyUI refuse every cross-site way to replace or clear
the saved token, and answer JSON (never HTTP 500) for a broken configuration.

Skipped unless ``COMFYUI_DIR`` names a ComfyUI checkout; see tests/comfyui_harness.py::

    COMFYUI_DIR=/opt/comfy/c033/ComfyUI COMFYUI_PYTHON=/opt/comfy/c033/venv/bin/python \\
        .venv/bin/python -m pytest -q tests/test_real_comfyui_routes.py

ComfyUI's own origin middleware is active (no --enable-cors-header), so each refusal here is one
that ComfyUI itself lets through and the pack's guard must stop. The attacker's token is one the
emulator accepts: were a request let through, it would be saved.
"""

from __future__ import annotations

import json
import secrets

import pytest

from comfyui_harness import NEEDS_COMFYUI, running

NODE_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"

pytestmark = NEEDS_COMFYUI

OWN_TOKEN = "rc-own-" + secrets.token_hex(12)
ATTACKER_TOKEN = "rc-attacker-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    pytest.importorskip("requests")
    from runcomfy.emulator import Emulator

    emu = Emulator(token=OWN_TOKEN, processing_time=0.5).start()
    emu.add_token(ATTACKER_TOKEN)
    base = tmp_path_factory.mktemp("comfy_routes")
    with running(base, emu, None, ready_path="/object_info/" + NODE_CLASS) as c:
        yield c


def _saved(comfy) -> str | None:
    path = comfy.base / "runcomfy_config" / "credentials.json"
    return json.loads(path.read_text())["api_token"] if path.exists() else None


def _legit(comfy) -> dict:
    return {"Origin": comfy.url, "X-RunComfy-Request": "1", "Sec-Fetch-Site": "same-origin"}


def _send(comfy, method: str, path: str, headers: dict, body: str | None = None):
    return comfy.http.request(method, comfy.url + path, headers=headers, data=body, timeout=15)


def _attacks(comfy, body: str | None):
    """(name, headers, body): each way a cross-site page could send this write, with the page's
    own headers otherwise intact."""
    legit = {**_legit(comfy), **({"Content-Type": "application/json"} if body else {})}
    rebind = f"attacker.example:{comfy.port}"
    no_origin = {k: v for k, v in legit.items() if k != "Origin"}
    return [
        ("Origin: null", {**legit, "Origin": "null"}, body),
        ("foreign Origin", {**legit, "Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site"}, body),
        ("foreign Origin, no Sec-Fetch-Site", {**legit, "Origin": "http://attacker.example"}, body),
        ("rebinding Host", {**legit, "Host": rebind, "Origin": f"http://{rebind}"}, body),
        ("rebinding Host, no Origin", {**no_origin, "Host": rebind}, body),
        ("text/plain simple POST", {**legit, "Content-Type": "text/plain"}, body or "{}"),
        ("form POST", {"Origin": "null", "Content-Type": "application/x-www-form-urlencoded"},
         f"token={ATTACKER_TOKEN}"),
        ("missing custom header", {k: v for k, v in legit.items() if k != "X-RunComfy-Request"}, body),
    ]


def test_legit_save_then_every_cross_site_write_is_refused(comfy):
    r = _send(comfy, "POST", "/api/runcomfy-model-api/token", {**_legit(comfy), "Content-Type": "application/json"},
              json.dumps({"token": OWN_TOKEN}))
    assert r.status_code == 200 and r.json()["source"] == "saved", r.text
    assert _saved(comfy) == OWN_TOKEN

    writes = [("POST", "/api/runcomfy-model-api/token", json.dumps({"token": ATTACKER_TOKEN})),
              ("POST", "/runcomfy-model-api/token", json.dumps({"token": ATTACKER_TOKEN})),
              ("DELETE", "/api/runcomfy-model-api/token", None),
              ("POST", "/api/runcomfy-model-api/token/test", None)]
    by_pack = set()
    for method, path, body in writes:
        for name, headers, data in _attacks(comfy, body):
            r = _send(comfy, method, path, headers, data)
            assert r.status_code == 403, (name, method, path, r.status_code, r.text)
            if r.text:  # ComfyUI's own middleware answers an empty 403; the pack's guard answers JSON
                assert r.json()["ok"] is False and "refused" in r.json()["error"], (name, r.text)
                by_pack.add(name)
            assert _saved(comfy) == OWN_TOKEN, (name, method, path)
    # The ones ComfyUI itself lets through are stopped by the pack.
    assert {"Origin: null", "rebinding Host", "rebinding Host, no Origin", "text/plain simple POST", "form POST",
            "missing custom header"} <= by_pack, by_pack
    assert ATTACKER_TOKEN not in comfy.log()


def test_reads_refuse_foreign_origins_and_public_reads_answer_any_host(comfy):
    rebind = {"Host": f"attacker.example:{comfy.port}"}
    # Reads that reveal no secret answer for any Host (hosted / reverse-proxied ComfyUIs, issue 19).
    for path in ("/api/runcomfy-model-api/token", f"/api/runcomfy-model-api/price?node_class={NODE_CLASS}"):
        assert comfy.get(path).status_code == 200, path
        r = _send(comfy, "GET", path, rebind)
        assert r.status_code == 200 and OWN_TOKEN not in r.text, (path, r.text)
        for headers in ({"Origin": "null"}, {"Origin": "http://attacker.example"},
                        {"Sec-Fetch-Site": "cross-site"}):
            r = _send(comfy, "GET", path, headers)
            assert r.status_code == 403 and (not r.text or r.json()["ok"] is False), (path, headers, r.text)
    # The network settings (a proxy's host) are not a public read.
    assert comfy.get("/api/runcomfy-model-api/network").status_code == 200
    r = _send(comfy, "GET", "/api/runcomfy-model-api/network", rebind)
    assert r.status_code == 403 and r.json()["reason"] == "host" and r.json()["fix"] == "public_origin"


def test_the_legit_request_still_works_with_the_attackers_token(comfy):
    """The control: the same request from the ComfyUI page would have saved it."""
    r = _send(comfy, "POST", "/api/runcomfy-model-api/token", {**_legit(comfy), "Content-Type": "application/json"},
              json.dumps({"token": ATTACKER_TOKEN}))
    assert r.status_code == 200 and _saved(comfy) == ATTACKER_TOKEN, r.text
    r = _send(comfy, "POST", "/api/runcomfy-model-api/token/test", _legit(comfy))
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    r = _send(comfy, "DELETE", "/api/runcomfy-model-api/token", _legit(comfy))
    assert r.status_code == 200 and _saved(comfy) is None, r.text


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A ComfyUI whose RUNCOMFY_MODEL_API_BASE has an out-of-range port and whose
    RUNCOMFY_API_TOKEN holds a character an HTTP header cannot carry."""
    pytest.importorskip("requests")
    from runcomfy.emulator import Emulator

    emu = Emulator(token=OWN_TOKEN, processing_time=0.5).start()
    base = tmp_path_factory.mktemp("comfy_broken")
    with running(base, emu, "rc-env-\u00e9-" + secrets.token_hex(4), ready_path="/object_info/" + NODE_CLASS,
                 env_extra={"RUNCOMFY_MODEL_API_BASE": "http://127.0.0.1:99999/v1"}) as c:
        yield c


def test_a_broken_configuration_is_a_json_error_on_every_route(broken):
    legit = _legit(broken)
    r = broken.get("/api/runcomfy-model-api/token")
    assert r.status_code == 200 and r.json()["configured"] is False and "RUNCOMFY_API_TOKEN" in r.json()["error"]
    r = _send(broken, "POST", "/api/runcomfy-model-api/token/test", legit)
    assert r.status_code == 200 and r.json()["ok"] is False and "U+00E9" in r.json()["error"], r.text
    r = broken.get("/api/runcomfy-model-api/price?model_id=wan-ai/wan-2-6/image-to-image")
    assert r.status_code == 200 and r.json()["available"] is False and "error" in r.json(), r.text
    # Saving a good token: the base URL's port is named, nothing is saved.
    r = _send(broken, "POST", "/api/runcomfy-model-api/token", {**legit, "Content-Type": "application/json"},
              json.dumps({"token": OWN_TOKEN}))
    assert r.status_code == 400 and "RUNCOMFY_MODEL_API_BASE" in r.json()["error"] and "99999" in r.json()["error"]
    # A token a header cannot carry: refused at once with the reason.
    r = _send(broken, "POST", "/api/runcomfy-model-api/token", {**legit, "Content-Type": "application/json"},
              json.dumps({"token": "abc\ndef"}))
    assert r.status_code == 400 and "line break" in r.json()["error"], r.text
    r = broken.get("/api/runcomfy-model-api/price?model_id=wan-ai/../../requests/x")
    assert r.status_code == 400 and "Model id" in r.json()["error"], r.text
    assert _saved(broken) is None
    assert broken.emu.calls == []
