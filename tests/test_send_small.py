"""session.send_small (the client's path for small API calls, issue 21) sends what
``requests.Session.request`` sends for the same call: method, path and query, headers (names and
values) and body, read off the wire by a loopback server; and fails with the same exception."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from runcomfy.api.session import pooled_session, send_small


class _Recorder(BaseHTTPRequestHandler):
    seen: list = []

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        # Headers as sent, minus the two that name a connection rather than the request.
        heads = sorted((k.lower(), v) for k, v in self.headers.items())
        self.seen.append((self.command, self.path, heads, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_DELETE = _any

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    _Recorder.seen = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("method,path,params,body", [
    ("GET", "/v1/requests/abc-123/result", {"include_cost": "true"}, None),
    ("GET", "/v1/requests/abc-123/status", None, None),
    ("POST", "/v1/models/acme/pic/edit", None, b'{"prompt":"a cat","seed":7}'),
    ("POST", "/v1/requests/abc-123/cancel", None, None),
    ("GET", "/v1/models?page=2", {"q": "a b&c"}, None),
    ("GET", "/out/a b%2Fc/image 0.png?X-Sig=ab%2B%3D&t=1", None, None),     # a result URL as services sign them
    ("GET", "/out/café/image 0.png", None, None),                           # not ASCII: requests' preparation
])
def test_it_sends_what_session_request_sends(server, method, path, params, body):
    s = pooled_session(2)
    headers = {"Authorization": "Bearer tok-0123456789", "X-Extra": "1"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    kw = dict(timeout=(5, 5), stream=True, proxies={}, verify=True)
    a = s.request(method, server + path, data=body, params=params, headers=dict(headers), allow_redirects=False, **kw)
    a.content
    b = send_small(s, method, server + path, body=body, params=params, headers=dict(headers), cert=None, **kw)
    b.content
    assert (a.status_code, b.status_code) == (200, 200)
    assert len(_Recorder.seen) == 2
    assert _Recorder.seen[0] == _Recorder.seen[1]
    assert b.json() == {} and b.url == a.url


def test_a_refused_connection_is_the_same_exception():
    s = pooled_session(1)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/x"     # bound, never listening: refused
    sock.close()
    with pytest.raises(requests.ConnectionError):
        s.request("GET", dead, timeout=(2, 2), proxies={}, verify=True)
    with pytest.raises(requests.ConnectionError):
        send_small(s, "GET", dead, body=None, params=None, headers={}, timeout=(2, 2), proxies={}, verify=True,
                   cert=None, stream=True)
