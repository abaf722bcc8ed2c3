"""The server routes' logic: token save (checked with a read-only call), test, clear, price.
The browser-facing answers never contain the token."""

from __future__ import annotations

import json
import os
import stat

import pytest

from runcomfy.emulator import Emulator

TOKEN = "tok-settings-GOOD-123"
KEY = "RunComfy_wan_ai_wan_2_6_image_to_image"


@pytest.fixture
def api(pack, isolated_env, monkeypatch):
    emu = Emulator(token=TOKEN, processing_time=0.1, price_usd=0.05, price_unit="image").start()
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", emu.base_url)
    sa = pack.nodes.settings_api
    sa._price_cache.clear()
    yield sa, emu, isolated_env / "config"
    emu.stop()


def test_save_checks_token_and_stores_owner_only(api):
    sa, emu, cfg = api
    status, body = sa.save_token("wrong-token")
    assert status == 400 and body["ok"] is False and "not saved" in body["error"]
    assert not (cfg / "credentials.json").exists()
    status, body = sa.save_token(TOKEN)
    assert (status, body) == (200, {"ok": True, "configured": True, "source": "saved"})
    path = cfg / "credentials.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert emu.count("models") + emu.count("model") >= 2  # each save was checked by a read-only call
    assert emu.submits_accepted == 0


def test_status_test_and_clear_never_return_token(api, monkeypatch):
    sa, emu, cfg = api
    answers = [sa.token_status(), sa.check_token()[1]]
    assert answers[0] == {"configured": False, "source": "none"} and "RUNCOMFY_API_TOKEN" in answers[1]["error"]
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    answers += [sa.token_status(), sa.check_token()[1]]
    assert answers[-2]["source"] == "environment" and answers[-1]["ok"] is True
    answers += [sa.save_token(TOKEN)[1], sa.check_token()[1], sa.clear_token()[1], sa.token_status()]
    assert answers[-1]["source"] == "environment"
    assert TOKEN not in json.dumps(answers)


def test_price_from_model_endpoint_cached_and_never_made_up(api, monkeypatch):
    sa, emu, cfg = api
    assert sa.price("wan-ai/wan-2-6/image-to-image") == {
        "model_id": "wan-ai/wan-2-6/image-to-image", "available": False, "text": "price unavailable"}
    sa._price_cache.clear()
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    p = sa.price("wan-ai/wan-2-6/image-to-image")
    assert p["available"] and p["base_price_usd"] == pytest.approx(0.05) and p["text"] == "$0.05 / image"
    calls = emu.count("model")
    sa.price("wan-ai/wan-2-6/image-to-image")
    assert emu.count("model") == calls  # cached
    assert sa.price("nobody/none")["text"] == "price unavailable"


@pytest.mark.parametrize("bad,what", [("tok\nen", "line break"), ("tok\u00e9n", "U+00E9"), ("to\x01ken", "U+0001"),
                                      ("tok en", "a space")])
def test_a_token_a_header_cannot_carry_is_refused_before_any_call(api, bad, what):
    sa, emu, cfg = api
    status, body = sa.save_token(bad)
    assert status == 400 and body["ok"] is False and what in body["error"] and "not saved" in body["error"]
    assert emu.calls == [] and not (cfg / "credentials.json").exists()


def test_an_unusable_environment_token_is_reported_not_retried(api, monkeypatch):
    sa, emu, cfg = api
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "good-part\nbad-part")
    status, body = sa.check_token()
    assert status == 200 and body["ok"] is False and "RUNCOMFY_API_TOKEN" in body["error"]
    assert "line break" in body["error"] and "good-part" not in json.dumps(body)
    st = sa.token_status()
    assert st["configured"] is False and st["source"] == "environment" and "RUNCOMFY_API_TOKEN" in st["error"]
    assert sa.price("wan-ai/wan-2-6/image-to-image")["text"] == "price unavailable"
    assert emu.calls == []


@pytest.mark.parametrize("base", ["http://127.0.0.1:99999/v1", "https://model-api.runcomfy.net:notaport/v1"])
def test_a_bad_base_url_port_is_a_json_error_on_every_route(api, monkeypatch, base):
    sa, emu, cfg = api
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", base)
    status, body = sa.save_token(TOKEN)
    assert status == 400 and "RUNCOMFY_MODEL_API_BASE" in body["error"] and base in body["error"]
    assert not (cfg / "credentials.json").exists()
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    status, body = sa.check_token()
    assert status == 200 and body["ok"] is False and "RUNCOMFY_MODEL_API_BASE" in body["error"]
    answer = sa.price("wan-ai/wan-2-6/image-to-image")
    assert answer["available"] is False and "RUNCOMFY_MODEL_API_BASE" in answer["error"]
    assert TOKEN not in json.dumps(answer)


@pytest.mark.parametrize("mid", ["wan-ai/../../requests/x", "a", "a/b?c=d", "a/%2e%2e/b", "a/b/c/d/e"])
def test_price_model_id_is_validated_before_it_goes_into_a_url(api, monkeypatch, mid):
    sa, emu, cfg = api
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    status, body = sa.price_answer(mid)
    assert status == 400 and body["available"] is False and "Model id" in body["error"]
    assert emu.calls == []
    status, body = sa.price_answer("wan-ai/wan-2-6/image-to-image")
    assert status == 200 and body["available"] is True


def test_an_unwritable_config_folder_is_a_clear_error(api, monkeypatch, tmp_path):
    sa, emu, cfg = api
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("RUNCOMFY_CONFIG_DIR", str(blocker))
    status, body = sa.save_token(TOKEN)
    assert status == 400 and body["ok"] is False and str(blocker) in body["error"] and "writable" in body["error"]
    status, body = sa.clear_token()
    assert status == 400 and "writable" in body["error"]


def test_a_node_price_comes_from_its_catalog_document_without_a_call(api, pack, monkeypatch):
    sa, emu, cfg = api
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    doc = {**cls.SCHEMA.doc, "base_price_usd": 0.07, "price_unit": "image"}
    status, body = sa.price_answer(cls.MODEL_ID, doc)
    assert status == 200 and body["available"] and body["text"] == "$0.07 / image" and body["source"] == "catalog"
    assert emu.calls == []  # no token needed, nothing asked
    # A catalog entry that states no (usable) price is asked live, with the token.
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    for unusable in (None, float("nan"), -1):
        sa._price_cache.clear()
        status, body = sa.price_answer(cls.MODEL_ID, {**doc, "base_price_usd": unusable})
        assert body["source"] == "live" and body["base_price_usd"] == pytest.approx(0.05), unusable
    assert emu.count("model") == 3
