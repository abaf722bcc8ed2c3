"""Which requests the pack's routes accept (nodes/origin_guard.refusal, a pure function; the
same checks against a real ComfyUI are in tests/test_real_comfyui_routes.py)."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from conftest import ROOT

PORT = 8188
LOCAL = ("127.0.0.1", PORT)
GOOD_WRITE = {"Host": f"127.0.0.1:{PORT}", "Origin": f"http://127.0.0.1:{PORT}",
              "Content-Type": "application/json", "Content-Length": "20", "X-RunComfy-Request": "1",
              "Sec-Fetch-Site": "same-origin"}


class Headers:
    """A multi-valued header list, like aiohttp's CIMultiDict (duplicates kept)."""

    def __init__(self, pairs):
        self.pairs = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)

    def items(self):
        return list(self.pairs)

    def keys(self):
        return [k for k, _ in self.pairs]


@pytest.fixture(scope="module")
def refusal():
    """nodes/origin_guard.py alone, inside a package shell: the checker needs neither ComfyUI, nor
    aiohttp, nor the node classes (so it is tested even while another node module is broken)."""
    name = "runcomfy_guard_shell"
    for pkg, path in ((name, ROOT), (name + ".nodes", ROOT / "nodes")):
        shell = types.ModuleType(pkg)
        shell.__path__ = [str(path)]
        sys.modules[pkg] = shell
    return importlib.import_module(name + ".nodes.origin_guard").refusal


def write(refusal, changes=None, drop=(), *, method="POST", **kw):
    headers = {k: v for k, v in GOOD_WRITE.items() if k not in drop}
    headers.update(changes or {})
    kw.setdefault("local_address", LOCAL)
    return refusal(method, Headers(headers), **kw)


def test_the_settings_page_request_is_accepted(refusal):
    assert write(refusal) is None
    assert write(refusal, method="DELETE", drop=("Content-Type", "Content-Length")) is None
    # A POST without a body (token test) needs no content type; curl sends no Origin/Sec-Fetch-Site.
    assert write(refusal, drop=("Content-Type", "Content-Length", "Origin", "Sec-Fetch-Site")) is None
    assert write(refusal, {"Content-Type": "application/json; charset=utf-8"}) is None
    assert write(refusal, {"Host": "localhost:8188", "Origin": "http://localhost:8188"}) is None
    assert write(refusal, {"Host": "[::1]:8188", "Origin": "http://[::1]:8188"}) is None


@pytest.mark.parametrize("changes,drop,why", [
    ({"Origin": "null"}, (), "Origin 'null'"),
    ({"Origin": "http://attacker.example"}, (), "not this ComfyUI page's own origin"),
    ({"Origin": "http://localhost:8188"}, (), "not this ComfyUI page's own origin"),   # Host is 127.0.0.1
    ({"Origin": "http://127.0.0.1:3000"}, (), "not this ComfyUI page's own origin"),  # another local app
    ({"Origin": "https://127.0.0.1:8188"}, (), "not this ComfyUI page's own origin"),
    ({"Origin": "file://"}, (), "is not an origin"),
    ({"Host": "attacker.example:8188", "Origin": "http://attacker.example:8188"}, (), "DNS-rebinding"),
    ({"Host": "127.0.0.1.nip.io:8188", "Origin": "http://127.0.0.1.nip.io:8188"}, (), "DNS-rebinding"),
    ({"Host": "evil.localhost:8188", "Origin": "http://evil.localhost:8188"}, (), "DNS-rebinding"),
    ({"Host": "127.0.0.1:99999"}, (), "invalid port"),
    ({}, ("Host",), "no Host header"),
    ({"Content-Type": "text/plain"}, (), "application/json only"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, (), "application/json only"),
    ({"Content-Type": "multipart/form-data; boundary=x"}, (), "application/json only"),
    ({}, ("Content-Type",), "application/json only"),                                  # a body, no type
    ({}, ("X-RunComfy-Request",), "X-RunComfy-Request"),
    ({"X-RunComfy-Request": "yes"}, (), "X-RunComfy-Request"),
    ({"Sec-Fetch-Site": "cross-site"}, (), "Sec-Fetch-Site"),
    ({"Sec-Fetch-Site": "same-site"}, (), "Sec-Fetch-Site"),
    ({"Sec-Fetch-Site": "none"}, (), "Sec-Fetch-Site"),
])
def test_each_bypass_is_refused(refusal, changes, drop, why):
    reason = write(refusal, changes, drop)
    assert reason is not None and why in reason, reason


def test_a_header_sent_twice_is_refused(refusal):
    pairs = list(GOOD_WRITE.items()) + [("origin", "null")]
    assert "more than once" in refusal("POST", Headers(pairs), local_address=LOCAL)


def test_listen_address_and_machine_name_need_the_servers_port(refusal):
    lan = ("192.168.1.20", PORT)
    good = {"Host": "192.168.1.20:8188", "Origin": "http://192.168.1.20:8188"}
    assert write(refusal, good, local_address=lan) is None
    assert write(refusal, good, local_address=("::ffff:192.168.1.20", PORT, 0, 0)) is None
    assert "DNS-rebinding" in write(refusal, {"Host": "192.168.1.20:9000", "Origin": "http://192.168.1.20:9000"},
                                    local_address=lan)
    assert "DNS-rebinding" in write(refusal, good, local_address=("192.168.1.21", PORT))
    named = {"Host": "mybox.local:8188", "Origin": "http://mybox.local:8188"}
    assert write(refusal, named, hostnames=("mybox", "mybox.local")) is None
    assert "DNS-rebinding" in write(refusal, named, hostnames=("otherbox",))


def test_public_origin_for_a_reverse_proxy(refusal):
    proxied = {"Host": "comfy.example.com", "Origin": "https://comfy.example.com"}
    reason = write(refusal, proxied)
    assert "DNS-rebinding" in reason and "RUNCOMFY_PUBLIC_ORIGIN" in reason
    assert write(refusal, proxied, public_origin="https://comfy.example.com") is None
    assert write(refusal, proxied, public_origin="https://comfy.example.com/") is None
    # A proxy that rewrites Host to the backend still sends the browser's Origin.
    assert write(refusal, {"Origin": "https://comfy.example.com"}, public_origin="https://comfy.example.com") is None
    # The configured origin does not open the door to others.
    assert "own origin" in write(refusal, {"Origin": "https://evil.example.com"},
                                 public_origin="https://comfy.example.com")
    assert "DNS-rebinding" in write(refusal, {"Host": "comfy.example.com:8443"},
                                    public_origin="https://comfy.example.com")
    assert write(refusal, {"Host": "b.example", "Origin": "https://b.example"},
                 public_origin="https://a.example, https://b.example") is None


def test_a_malformed_public_origin_closes_the_routes(refusal):
    for bad in ("comfy.example.com", "https://comfy.example.com/path", "https://comfy.example.com:notaport"):
        reason = write(refusal, public_origin=bad)
        assert reason is not None and "RUNCOMFY_PUBLIC_ORIGIN" in reason, (bad, reason)


def test_reads_check_host_and_origin_but_need_no_custom_header(refusal):
    browser_get = {"Host": "127.0.0.1:8188", "Sec-Fetch-Site": "same-origin"}
    assert refusal("GET", Headers(browser_get), local_address=LOCAL) is None
    assert refusal("GET", Headers({"Host": "127.0.0.1:8188", "Sec-Fetch-Site": "none"}), local_address=LOCAL) is None
    for changes in ({"Host": "attacker.example:8188"}, {"Origin": "null"}, {"Origin": "http://attacker.example"},
                    {"Sec-Fetch-Site": "cross-site"}):
        assert refusal("GET", Headers({**browser_get, **changes}), local_address=LOCAL) is not None, changes
    # GET is a read by default; DELETE is a write by default.
    assert "X-RunComfy-Request" in refusal("DELETE", Headers(browser_get), local_address=LOCAL)
