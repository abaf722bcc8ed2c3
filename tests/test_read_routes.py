"""Reads that reveal no secret (price, token set yes/no and its source) answer for any Host, so a
hosted or reverse-proxied ComfyUI shows the price badge and the settings status without any
setting; writes keep their rules, and a write refused for its address says so in a machine-readable
way (``reason``, ``fix: "public_origin"``) so the settings page can compose
``RUNCOMFY_PUBLIC_ORIGIN=<its location.origin>`` itself. The saved proxy setting (network.json).

The last part is opt-in: a real ComfyUI behind a real reverse proxy (a small Python one, here, on
loopback) that serves it under another host name; see tests/comfyui_harness.py for COMFYUI_DIR."""

from __future__ import annotations

import http.client
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from netfixtures import BadProxy, clean_network_env
from test_routes_security import LOCAL, Headers, refusal  # noqa: F401 - the module's fixture

PUBLIC_NAME = "abc-comfyui.example.test"


@pytest.fixture(scope="module")
def guard_module(refusal):  # noqa: F811 - the shell package the fixture built
    import sys
    return sys.modules["runcomfy_guard_shell.nodes.origin_guard"]


# --- the rules, as a pure function -----------------------------------------------------------------

@pytest.mark.parametrize("host", [f"{PUBLIC_NAME}", f"{PUBLIC_NAME}:443", "10.1.2.3:8188", "attacker.example"])
def test_public_reads_answer_for_any_host_and_origin(guard_module, host):
    reason = guard_module.refusal_reason
    assert reason("GET", Headers({"Host": host}), local_address=LOCAL, public=True) is None
    assert reason("GET", Headers({"Host": host, "Sec-Fetch-Site": "same-origin",
                                  "Origin": f"https://{PUBLIC_NAME}"}), local_address=LOCAL, public=True) is None
    # Without ``public`` the same read is refused for its Host (the token routes' rule).
    refused = reason("GET", Headers({"Host": host}), local_address=LOCAL)
    assert refused is not None and refused[0] == "host"


def test_public_reads_still_refuse_what_a_browser_marks_as_foreign(guard_module):
    reason = guard_module.refusal_reason
    for site in ("cross-site", "same-site"):
        refused = reason("GET", Headers({"Host": PUBLIC_NAME, "Sec-Fetch-Site": site}), local_address=LOCAL,
                         public=True)
        assert refused is not None and refused[0] == "fetch_site"
    refused = reason("GET", Headers({"Host": PUBLIC_NAME, "Origin": "null"}), local_address=LOCAL, public=True)
    assert refused is not None and refused[0] == "origin_null"
    dup = Headers([("Host", PUBLIC_NAME), ("Host", "127.0.0.1:8188")])
    assert reason("GET", dup, local_address=LOCAL, public=True)[0] == "malformed"
    with pytest.raises(ValueError):
        reason("POST", Headers({"Host": "127.0.0.1:8188"}), local_address=LOCAL, public=True)


def test_a_write_refused_for_its_address_says_which_fix_without_echoing_it(guard_module):
    g = guard_module
    write = {"Host": PUBLIC_NAME, "Origin": f"https://{PUBLIC_NAME}", "X-RunComfy-Request": "1",
             "Content-Type": "application/json", "Content-Length": "2", "Sec-Fetch-Site": "same-origin"}
    code, text = g.refusal_reason("POST", Headers(write), local_address=LOCAL)
    assert code == "host"
    body = g.refusal_body(code, text, None)
    assert body["reason"] == "host" and body["fix"] == "public_origin"
    assert body["public_origin_env"] == "RUNCOMFY_PUBLIC_ORIGIN" and body["public_origin_set"] is False
    # Only the human text describes the request; no field is made from its Host or Origin.
    assert PUBLIC_NAME not in json.dumps({k: v for k, v in body.items() if k != "error"})
    # Host rewritten by the proxy, the browser's Origin kept: "origin", same fix.
    code, _ = g.refusal_reason("POST", Headers({**write, "Host": "127.0.0.1:8188"}), local_address=LOCAL)
    assert code == "origin" and g.refusal_body(code, "", None)["fix"] == "public_origin"
    # Set to a wrong value: still the same fix, and it says it is set.
    code, _ = g.refusal_reason("POST", Headers(write), local_address=LOCAL, public_origin="https://other.example")
    assert code == "host" and g.refusal_body(code, "", "https://other.example")["public_origin_set"] is True
    code, _ = g.refusal_reason("POST", Headers(write), local_address=LOCAL, public_origin="not an origin")
    assert code == "public_origin_invalid" and g.refusal_body(code, "", "x")["fix"] == "public_origin"
    # The value the page composes from location.origin makes the write pass.
    assert g.refusal_reason("POST", Headers(write), local_address=LOCAL,
                            public_origin=f"https://{PUBLIC_NAME}") is None
    # Reasons that no origin setting fixes carry no fix.
    code, _ = g.refusal_reason("POST", Headers({**write, "Host": "127.0.0.1:8188", "Origin": "http://127.0.0.1:8188",
                                                "X-RunComfy-Request": "0"}), local_address=LOCAL)
    assert code == "missing_header" and "fix" not in g.refusal_body(code, "", None)
    code, _ = g.refusal_reason("POST", Headers({**write, "Origin": "null", "Host": "127.0.0.1:8188"}),
                               local_address=LOCAL)
    assert code == "origin_null" and "fix" not in g.refusal_body(code, "", None)


# --- the saved proxy setting -----------------------------------------------------------------------

TOKEN = "tok-read-routes-SECRET-42"


@pytest.fixture
def sa(pack, isolated_env, monkeypatch):
    clean_network_env(monkeypatch)
    from runcomfy.emulator import Emulator
    emu = Emulator(token=TOKEN, processing_time=0.1).start()
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", "https://model-api.example.test/v1")
    api = pack.nodes.settings_api
    api.load_network_settings()
    yield api, emu, isolated_env / "config"
    emu.stop()
    api.save_proxy("")


def test_a_saved_proxy_is_owner_only_never_shown_with_its_password_and_used(sa):
    api, _emu, cfg = sa
    status, body = api.save_proxy("socks5://127.0.0.1:1080")
    assert status == 400 and "SOCKS" in body["error"] and "not saved" in body["error"]
    status, body = api.save_proxy("http://user:hunter2@127.0.0.1:3128/path")
    assert status == 400 and "hunter2" not in json.dumps(body)

    bad = BadProxy(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    try:
        status, body = api.save_proxy(f"http://user:hunter2@127.0.0.1:{bad.port}")
        assert status == 200 and body["ok"], body
        assert "hunter2" not in json.dumps(body)
        assert body["saved_proxy"] == f"http://<user>:<password>@127.0.0.1:{bad.port}"
        assert body["proxy"] == {"used": True, "shown": body["saved_proxy"], "source": "saved setting"}
        path = cfg / "network.json"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert "hunter2" not in json.dumps(api.network_status())
        # The API calls go through it: the proxy is asked for a tunnel to the API host.
        import sys
        lib = sys.modules[api.__name__.rsplit(".nodes.", 1)[0] + ".runcomfy.api"]  # the pack's own copy
        RunComfyClient, ProxyFailure = lib.RunComfyClient, lib.proxies.ProxyFailure
        client = RunComfyClient(TOKEN, "https://model-api.example.test/v1")
        try:
            with pytest.raises(ProxyFailure, match="refused to open a tunnel to model-api.example.test:443"):
                client.model_info("a/b")
        finally:
            client.close()
        assert bad.requests and bad.requests[0].startswith(b"CONNECT model-api.example.test:443 ")
        assert b"Proxy-Authorization: Basic " in bad.requests[0] and TOKEN.encode() not in bad.requests[0]
        # "direct" turns the environment's proxy off; clearing falls back to it.
        status, body = api.save_proxy("direct")
        assert status == 200 and body["saved_proxy"] == "direct" and body["proxy"]["used"] is False
        os.environ["HTTPS_PROXY"] = "http://127.0.0.1:9"
        try:
            assert api.network_status()["proxy"]["used"] is False
            status, body = api.save_proxy("")
            assert status == 200 and not path.exists()
            assert body["proxy"] == {"used": True, "shown": "http://127.0.0.1:9", "source": "HTTPS_PROXY"}
        finally:
            del os.environ["HTTPS_PROXY"]
    finally:
        bad.close()


def test_network_status_names_the_ca_bundle_and_a_missing_one(sa, monkeypatch, tmp_path):
    api, _emu, _cfg = sa
    assert api.network_status()["ca_bundle"] == {"source": "default", "path": None}
    pem = tmp_path / "corp.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    assert api.network_status()["ca_bundle"] == {"source": "SSL_CERT_FILE", "path": str(pem)}
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    status = api.network_status()
    assert "REQUESTS_CA_BUNDLE" in status["error"] and "does not exist" in status["error"]


# --- opt-in: a real ComfyUI behind a reverse proxy under another host name --------------------------

class _ReverseProxy(ThreadingHTTPServer):
    """Forwards every request to ComfyUI keeping the browser's Host (nginx's
    ``proxy_set_header Host $host``, which ComfyUI needs for its websocket) and adding
    X-Forwarded-*; serves on loopback."""
    daemon_threads = True

    def __init__(self, backend_port: int):
        self.backend_port = backend_port
        super().__init__(("127.0.0.1", 0), _Forward)


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection("127.0.0.1", self.server.backend_port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        headers["X-Forwarded-Host"] = self.headers.get("Host", "")
        headers["X-Forwarded-Proto"] = "https"
        headers["X-Forwarded-For"] = self.client_address[0]
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _forward

    def log_message(self, *args):
        pass


@pytest.mark.comfyui
def test_a_reverse_proxied_comfyui_reads_for_any_host_and_a_refused_save_says_what_to_set(tmp_path):
    from comfyui_harness import COMFYUI_DIR, running
    if COMFYUI_DIR is None:
        pytest.skip("set COMFYUI_DIR to a ComfyUI checkout (a directory with main.py) to run")
    import requests
    from runcomfy.emulator import Emulator

    node_class = "RunComfy_wan_ai_wan_2_6_image_to_image"
    public_origin = f"https://{PUBLIC_NAME}"
    for public_env in (None, public_origin):
        emu = Emulator(token=TOKEN, processing_time=0.2, price_usd=0.07, price_unit="image").start()
        extra = {"RUNCOMFY_PUBLIC_ORIGIN": public_env} if public_env else {}
        base = tmp_path / ("b" if public_env else "a")
        base.mkdir()
        with running(base, emu, TOKEN, env_extra=extra,
                     ready_path="/object_info/" + node_class) as comfy:
            proxy = _ReverseProxy(comfy.port)
            threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            s = requests.Session()
            s.trust_env = False
            front = f"http://127.0.0.1:{proxy.server_address[1]}"
            browser = {"Host": PUBLIC_NAME, "Sec-Fetch-Site": "same-origin"}
            try:
                r = s.get(f"{front}/runcomfy-model-api/price", params={"node_class": node_class}, headers=browser, timeout=30)
                assert r.status_code == 200 and r.json()["available"] is True, r.text
                assert "0.07" in r.json()["text"]
                r = s.get(f"{front}/runcomfy-model-api/token", headers=browser, timeout=30)
                assert r.status_code == 200 and r.json() == {"configured": True, "source": "environment"}
                # The network settings show a proxy's host: not a public read.
                r = s.get(f"{front}/runcomfy-model-api/network", headers=browser, timeout=30)
                assert r.status_code == (200 if public_env else 403)
                save = {**browser, "Origin": public_origin, "X-RunComfy-Request": "1",
                        "Content-Type": "application/json"}
                r = s.post(f"{front}/runcomfy-model-api/token", data=json.dumps({"token": TOKEN}), headers=save, timeout=30)
                if public_env is None:
                    assert r.status_code == 403
                    body = r.json()
                    assert body["reason"] == "host" and body["fix"] == "public_origin"
                    assert body["public_origin_env"] == "RUNCOMFY_PUBLIC_ORIGIN" and body["public_origin_set"] is False
                else:
                    # The value the page composes from its location.origin lets the save through.
                    assert r.status_code == 200 and r.json()["ok"] is True, r.text
            finally:
                proxy.shutdown()
                proxy.server_close()
