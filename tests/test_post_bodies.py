"""Every POST route of the pack answers a body it cannot use with one 400: what is wrong and an
example of the right body (nodes/http_json.py), after the origin guard and before any work.

The routes run on a real aiohttp server on loopback (ComfyUI's PromptServer stood in for by its
route table and app), registered by nodes/routes.register as in ComfyUI."""

from __future__ import annotations

import asyncio
import json
import threading
from types import SimpleNamespace

import pytest

web = pytest.importorskip("aiohttp.web")
requests = pytest.importorskip("requests")

WRITE = {"X-RunComfy-Request": "1", "Content-Type": "application/json"}


@pytest.fixture
def routes(pack, isolated_env, monkeypatch):
    """(nodes package, call, server): ``call(path, raw_body, headers)`` -> (status, JSON body) over a socket."""
    r = pack.nodes.routes
    srv = SimpleNamespace(routes=web.RouteTableDef(), app=web.Application())
    monkeypatch.setattr(pack.nodes.comfy, "prompt_server", lambda: srv)
    monkeypatch.setattr(r, "_registered", False)
    assert r.register({}) is True
    srv.app.add_routes(srv.routes)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(srv.app)

    async def start():
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner.addresses[0][1]
    port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)

    def call(path: str, raw: bytes, headers=WRITE):
        resp = requests.post(f"http://127.0.0.1:{port}{path}", data=raw, headers=headers, timeout=30)
        return resp.status_code, resp.json()
    yield pack.nodes, call, srv
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=30)
    loop.close()


def _examples(nodes) -> dict:
    h, s = nodes.history_api, nodes.settings_api
    return {"/runcomfy-model-api/token": (s.TOKEN_EXAMPLE, "token"),
            "/runcomfy-model-api/network": (s.PROXY_EXAMPLE, "proxy"),
            "/runcomfy-model-api/resolve": (nodes.resolve.EXAMPLE, None),
            "/runcomfy-model-api/history/action": (h.ACTION_EXAMPLE, "action"),
            "/runcomfy-model-api/history/clear": (h.CLEAR_EXAMPLE, None),
            "/runcomfy-model-api/prompt/preview": (h.PREVIEW_EXAMPLE, "nodes"),
            "/runcomfy-model-api/limits": (h.LIMITS_EXAMPLE, None)}


def test_every_post_route_with_a_body_is_in_the_table(routes):
    nodes, _, srv = routes
    posts = {r.path for r in srv.routes if r.method == "POST"}
    # These two take no body: nothing to read (the guard still checks them).
    assert posts - set(_examples(nodes)) == {"/runcomfy-model-api/token/test", "/runcomfy-model-api/catalog/refresh"}


@pytest.mark.parametrize("raw, problem", [
    (b"token=abc", "The body is not JSON (Expecting value at line 1, column 1)"),
    (b"[1, 2]", "The body is a list, not a JSON object"),
    (b'"text"', "The body is a string, not a JSON object"),
    (b"\xff\xfe", "The body is not UTF-8 text"),
])
def test_a_body_that_is_not_a_json_object_gets_400_with_the_example_on_every_route(routes, raw, problem):
    nodes, call, _ = routes
    for path, (example, _) in _examples(nodes).items():
        status, body = call(path, raw)
        assert status == 400, (path, body)
        assert body["ok"] is False and body["example"] == example, (path, body)
        assert body["error"] == f"{problem}. Send JSON like {json.dumps(example, ensure_ascii=False)}", path


def test_a_missing_or_mistyped_field_is_named(routes):
    nodes, call, _ = routes
    for path, (example, key) in _examples(nodes).items():
        if key is None:
            continue
        status, body = call(path, b"{}")
        assert (status, body["example"]) == (400, example) and body["error"].startswith(f"'{key}' is missing. "), path
        wrong = {k: 7 for k in example}
        status, body = call(path, json.dumps(wrong).encode())
        assert status == 400 and body["error"].startswith(f"'{key}' must be "), (path, body)
        assert ", got a number. Send JSON like " in body["error"], path


@pytest.mark.parametrize("path, raw, words", [
    ("/runcomfy-model-api/resolve", b'{"model_ids": "wan"}', "'model_ids' must be a list of at most 64 strings"),
    ("/runcomfy-model-api/history/action", b'{"action": "cancel", "id": "../../etc"}', "'id' must be an item id"),
    ("/runcomfy-model-api/history/action", b'{"action": "nope", "id": "abc"}', "'action' must be fetch_into_node"),
    ("/runcomfy-model-api/history/clear", b'{"all": "yes"}', "'all' must be true or false"),
    ("/runcomfy-model-api/limits", b'{"weekly_usd": 5}', "Give daily_usd, monthly_usd or both"),
    ("/runcomfy-model-api/prompt/preview", json.dumps({"nodes": [{}] * 501}).encode(),
     "'nodes' must be a list of at most 500 nodes"),
])
def test_the_routes_own_checks_answer_the_same_way(routes, path, raw, words):
    nodes, call, _ = routes
    status, body = call(path, raw)
    example = _examples(nodes)[path][0]
    assert status == 400 and body["example"] == example and body["error"].startswith(words), body
    assert body["error"].endswith(f"Send JSON like {json.dumps(example, ensure_ascii=False)}")


def test_the_guard_still_answers_first_and_nothing_is_written(routes, isolated_env):
    nodes, call, _ = routes
    for path in _examples(nodes):
        status, body = call(path, b"not json", headers={"Content-Type": "application/json"})
        assert status == 403 and body["reason"] == "missing_header", (path, body)
        status, body = call(path, b"not json", headers={"X-RunComfy-Request": "1", "Content-Type": "text/plain"})
        assert status == 403 and body["reason"] == "content_type", (path, body)
    assert not any((isolated_env / "config").glob("*.json"))          # no token, proxy or limits saved


def test_good_bodies_still_work(routes, isolated_env):
    nodes, call, _ = routes
    status, body = call("/runcomfy-model-api/history/clear", b"")             # all fields optional: no body is {}
    assert status == 200 and body["ok"] is True
    status, body = call("/runcomfy-model-api/limits", b'{"daily_usd": 2.5}')
    assert status == 200 and body["daily_usd"] == 2.5
    status, body = call("/runcomfy-model-api/token", b'{"token": ""}')
    assert status == 400 and body["error"] == "Paste a token first."        # the route's own answer, as before


def test_a_bug_in_a_route_still_answers_json_500(routes, monkeypatch):
    nodes, call, _ = routes
    monkeypatch.setattr(nodes.settings_api, "save_proxy", lambda value: 1 / 0)
    status, body = call("/runcomfy-model-api/network", b'{"proxy": "http://h:1"}')
    assert status == 500 and body == {"ok": False, "error": "The RunComfy pack failed on this request "
                                                            "(ZeroDivisionError); see the ComfyUI log."}
