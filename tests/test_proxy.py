"""The client through a real HTTP CONNECT proxy (proxy.py, a child process on loopback), to the
emulator serving HTTPS with a certificate from a throwaway test CA: a whole run (submit, status,
result, download) works, with and without Basic proxy auth, while the proxy only ever receives
CONNECT requests and encrypted bytes (a tap in front of it records all of them), never the token.
Proxy failures (407, a refused tunnel, an unreachable proxy) say so and never make a submit
"may have been billed"; deadlines and Stop end a call stuck in the CONNECT phase."""

from __future__ import annotations

import threading

import pytest

from netfixtures import BadProxy, ProxyPy, Tap, clean_network_env, free_port, make_test_ca
from runcomfy.media import images as media
from runcomfy.api import SUCCEEDED, RetryPolicy, RunComfyClient
from runcomfy.emulator import Emulator
from runcomfy.errors import (ConfigError, DownloadError, Interrupted, SubmitOutcomeUnknownError,
                             TransportError)
from runcomfy.samples import sample_image
from runcomfy.api import proxies
from runcomfy.api.proxies import ProxyFailure

TOKEN = "tok-proxy-test-SECRET-0123456789"
MODEL = "wan-ai/wan-2-6/image-to-image"
USER, PASSWORD = "corp-user", "corp-pass-77"


def fast_retry(**kw):
    return RetryPolicy(base_delay=0.01, max_delay=0.05, **kw)


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def proxy_open(tmp_path_factory):
    p = ProxyPy(tmp_path_factory.mktemp("proxy-open"))
    yield p
    p.stop()


@pytest.fixture(scope="module")
def proxy_auth(tmp_path_factory):
    p = ProxyPy(tmp_path_factory.mktemp("proxy-auth"), basic_auth=f"{USER}:{PASSWORD}")
    yield p
    p.stop()


@pytest.fixture
def env(monkeypatch, isolated_env, ca):
    clean_network_env(monkeypatch)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca))
    yield monkeypatch
    proxies.set_saved_proxy(None)


@pytest.fixture
def https_emu(ca):
    emu = Emulator(token=TOKEN, processing_time=0.1, tls=(str(ca.cert), str(ca.key))).start()
    yield emu
    emu.stop()
    assert not emu.internal_errors, emu.internal_errors[:1]


@pytest.fixture
def tap_open(proxy_open):
    t = Tap(proxy_open.port)
    yield t
    t.close()


@pytest.fixture
def tap_auth(proxy_auth):
    t = Tap(proxy_auth.port)
    yield t
    t.close()


@pytest.fixture(scope="module")
def image_uri():
    return media.to_data_uri(media.encode_png(sample_image(1, 400, 400)), "image/png")


def payload(uri):
    return {"prompt": "through the proxy", "image_urls": [uri], "seed": 1, "image_size": "1024*1024 (1:1)"}


def full_run(client: RunComfyClient, uri: str) -> bytes:
    sub = client.submit(MODEL, payload(uri))
    for _ in range(400):
        if client.status(sub.request_id).state == SUCCEEDED:
            break
        threading.Event().wait(0.05)
    res = client.result(sub.request_id)
    assert res.state == SUCCEEDED and res.output_urls
    assert all(u.startswith(f"https://127.0.0.1:{client_port(client)}/") for u in res.output_urls)
    return client.download(res.output_urls[0])


def client_port(client):
    return int(client.base_url.split(":")[2].split("/")[0])


def assert_only_tunnels(seen: bytes, emu: Emulator):
    """The proxy received CONNECT requests for the emulator and TLS records, nothing in clear."""
    assert seen.startswith(f"CONNECT 127.0.0.1:{emu.port} HTTP/1.".encode()), seen[:80]
    assert TOKEN.encode() not in seen
    assert b"Bearer" not in seen and b"Authorization: " not in seen.replace(b"Proxy-Authorization: ", b"")
    assert b"/v1/models" not in seen and b"/requests/" not in seen and b"prompt" not in seen
    for line in seen.split(b"\r\n"):
        if line.startswith(b"CONNECT "):
            assert line.startswith(f"CONNECT 127.0.0.1:{emu.port} HTTP/1.".encode()), line


def test_a_run_through_an_authenticating_proxy_to_https_never_shows_the_token(env, https_emu, tap_auth,
                                                                                 image_uri):
    env.setenv("HTTPS_PROXY", f"http://{USER}:{PASSWORD}@127.0.0.1:{tap_auth.port}")
    client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
    try:
        data = full_run(client, image_uri)
    finally:
        client.close()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    seen = tap_auth.seen()
    assert_only_tunnels(seen, https_emu)
    assert b"Proxy-Authorization: Basic " in seen        # the proxy's own credentials, CONNECT only
    # The API saw the token (inside the tunnel); the file host never did.
    assert https_emu.submits_accepted == 1


def test_lower_case_and_all_proxy_and_the_pack_setting_are_honoured(env, https_emu, tap_open, image_uri):
    env.setenv("all_proxy", tap_open.url)
    client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
    try:
        client.model_info(MODEL)
        n = tap_open.connections
        assert n >= 1
        env.delenv("all_proxy")
        env.setenv("https_proxy", tap_open.url)
        env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")    # lower case wins, as in curl/urllib
        client.close()
        client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
        client.model_info(MODEL)
        assert tap_open.connections > n
        n = tap_open.connections
        # RUNCOMFY_PROXY beats the environment, the saved setting beats RUNCOMFY_PROXY.
        env.setenv("https_proxy", f"http://127.0.0.1:{free_port()}")
        env.setenv("RUNCOMFY_PROXY", tap_open.url)
        client.close()
        client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
        client.model_info(MODEL)
        assert tap_open.connections > n
        env.setenv("RUNCOMFY_PROXY", f"http://127.0.0.1:{free_port()}")
        proxies.set_saved_proxy(f"127.0.0.1:{tap_open.port}")      # host:port means http://host:port
        client.close()
        client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
        n = tap_open.connections
        data = full_run(client, image_uri)
        assert data[:4] == b"\x89PNG"
        assert tap_open.connections > n
    finally:
        client.close()
    assert_only_tunnels(tap_open.seen(), https_emu)


def test_no_proxy_and_direct_go_around_the_proxy(env, https_emu, image_uri):
    dead = f"http://127.0.0.1:{free_port()}"
    env.setenv("HTTPS_PROXY", dead)
    env.setenv("NO_PROXY", "example.com,127.0.0.0/8")
    client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
    try:
        assert full_run(client, image_uri)[:4] == b"\x89PNG"
        env.delenv("NO_PROXY")
        with pytest.raises(ProxyFailure):
            client.model_info(MODEL)
        env.setenv("RUNCOMFY_PROXY", "direct")
        assert client.model_info(MODEL)
    finally:
        client.close()


def test_plain_http_loopback_is_never_sent_to_a_proxy(env, tap_open, image_uri):
    """An http API base (only allowed on loopback: the emulator) would show the token to a proxy."""
    env.setenv("HTTPS_PROXY", tap_open.url)
    env.setenv("HTTP_PROXY", tap_open.url)
    env.setenv("ALL_PROXY", tap_open.url)
    with Emulator(token=TOKEN, processing_time=0.1) as emu:
        client = RunComfyClient(TOKEN, emu.base_url, retry=fast_retry())
        try:
            sub = client.submit(MODEL, payload(image_uri))
            assert sub.request_id
        finally:
            client.close()
    assert tap_open.connections == 0 and tap_open.seen() == b""


def test_407_is_the_proxy_asking_for_credentials_and_never_an_unknown_submit(env, https_emu, tap_auth, image_uri):
    env.setenv("HTTPS_PROXY", tap_auth.url)           # no credentials
    client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
    try:
        with pytest.raises(ProxyFailure) as info:
            client.submit(MODEL, payload(image_uri))
        err = info.value
        assert not isinstance(err, SubmitOutcomeUnknownError) and err.maybe_received is False
        text = str(err)
        assert "407" in text and "proxy" in text and f"127.0.0.1:{tap_auth.port}" in text and "HTTPS_PROXY" in text
        assert "user:password@" in text and "Nothing reached RunComfy" in text
        # Wrong credentials: the message says they were refused, never shows them.
        env.setenv("HTTPS_PROXY", f"http://{USER}:wrong-{PASSWORD}@127.0.0.1:{tap_auth.port}")
        with pytest.raises(ProxyFailure) as info:
            client.submit(MODEL, payload(image_uri))
        assert "credentials in the proxy URL were refused" in str(info.value)
        assert PASSWORD not in str(info.value) and USER not in str(info.value)
        with pytest.raises(ProxyFailure):          # reads are not retried for a 407 either
            client.model_info(MODEL)
    finally:
        client.close()
    assert https_emu.submits_accepted == 0
    assert TOKEN.encode() not in tap_auth.seen()
    # Exactly one CONNECT per submit: a 407 is not retried.
    assert tap_auth.seen().count(b"CONNECT ") == 3


def test_a_refused_tunnel_says_so(env, https_emu, image_uri):
    bad = BadProxy(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    env.setenv("HTTPS_PROXY", bad.url)
    client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
    try:
        with pytest.raises(ProxyFailure) as info:
            client.submit(MODEL, payload(image_uri))
    finally:
        client.close()
        bad.close()
    text = str(info.value)
    assert "refused to open a tunnel" in text and "403" in text and f"127.0.0.1:{https_emu.port}" in text
    assert info.value.maybe_received is False and https_emu.submits_accepted == 0
    assert len(bad.requests) == 1 and bad.requests[0].startswith(b"CONNECT ") and TOKEN.encode() not in bad.requests[0]


def test_an_unreachable_proxy_says_so_and_the_submit_is_retried_as_never_sent(env, https_emu, image_uri):
    port = free_port()
    env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry(submit_max_attempts=2))
    try:
        with pytest.raises(ProxyFailure) as info:
            client.submit(MODEL, payload(image_uri))
        assert "could not connect to the proxy" in str(info.value) and str(port) in str(info.value)
        assert info.value.permanent is False
        with pytest.raises(DownloadError) as dl:
            client.download(f"{https_emu.origin}/files/x/0.png", window=0.2)
        assert "could not connect to the proxy" in str(dl.value)
    finally:
        client.close()
    assert https_emu.submits_accepted == 0


def test_a_socks_or_malformed_proxy_is_a_clear_config_error(env, https_emu):
    client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
    try:
        env.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
        with pytest.raises(ConfigError, match="SOCKS proxy.*ALL_PROXY|ALL_PROXY.*SOCKS"):
            client.model_info(MODEL)
        env.delenv("ALL_PROXY")
        env.setenv("RUNCOMFY_PROXY", "http://user:pw@proxy.corp:3128/some/path")
        with pytest.raises(ConfigError) as info:
            client.model_info(MODEL)
        assert "RUNCOMFY_PROXY" in str(info.value) and "pw" not in str(info.value).replace("path", "")
    finally:
        client.close()


def test_netrc_credentials_are_never_used(env, https_emu, tap_auth, tmp_path, image_uri):
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    env.setenv("NETRC", str(netrc))
    env.setenv("HOME", str(tmp_path))
    (tmp_path / ".netrc").write_text(netrc.read_text())
    (tmp_path / ".netrc").chmod(0o600)
    env.setenv("HTTPS_PROXY", tap_auth.url)
    client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
    try:
        with pytest.raises(ProxyFailure, match="407"):
            client.model_info(MODEL)
    finally:
        client.close()
    assert PASSWORD.encode() not in tap_auth.seen()


def test_the_deadline_and_stop_end_a_call_stuck_in_connect(env, https_emu, image_uri):
    """A proxy that takes the CONNECT and never answers: the per-read timeout is long, so only the
    watchdog can end the call, and since nothing was sent the submit is not 'maybe billed'."""
    stuck = BadProxy(None)
    env.setenv("HTTPS_PROXY", stuck.url)
    stop = threading.Event()
    outcome: dict = {}
    client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry(max_attempts=1, submit_max_attempts=1),
                            connect_timeout=120, read_timeout=120, call_deadline=1.0, submit_deadline=120,
                            should_abort=stop.is_set)
    try:
        with pytest.raises(TransportError) as info:
            client.model_info(MODEL)
        # The socket timeout (capped at the call's remaining time) or the watchdog, whichever is first.
        text = str(info.value)
        assert ("before anything was sent" in text or "did not open the tunnel" in text), text
        assert info.value.maybe_received is False

        def submit():
            try:
                client.submit(MODEL, payload(image_uri))
            except Exception as exc:  # noqa: BLE001 - inspected below
                outcome["exc"] = exc
        t = threading.Thread(target=submit, daemon=True)
        t.start()
        for _ in range(200):
            if len(stuck.requests) >= 2:
                break
            threading.Event().wait(0.05)
        assert len(stuck.requests) == 2      # the submit's CONNECT is waiting for the proxy
        stop.set()
        t.join(30)
        assert not t.is_alive()
    finally:
        client.close()
        stuck.close()
    exc = outcome["exc"]
    assert isinstance(exc, Interrupted) and not isinstance(exc, SubmitOutcomeUnknownError), exc
    assert "nothing reached RunComfy" in str(exc)
    assert https_emu.submits_accepted == 0
    assert all(r.startswith(b"CONNECT ") and TOKEN.encode() not in r for r in stuck.requests)


def test_a_407_or_a_certificate_failure_on_submit_does_not_block_the_same_inputs(env, https_emu, tap_auth, tmp_path,
                                                                                ca):
    """Through the pipeline and its journal: nothing reached RunComfy, so the same inputs run as
    soon as the proxy credentials or the CA bundle are fixed (no 'earlier submit uncertain')."""
    import asyncio

    import money_worker
    from runcomfy.journal import SUBMIT_UNKNOWN, Journal
    from runcomfy.run import Runner
    from runcomfy.run.polling import PollPolicy
    from runcomfy.api.proxies import CertificateFailure

    journal = Journal(tmp_path / "journal.json")
    job = money_worker.payload("blocked by the proxy, then fixed")

    def run():
        client = RunComfyClient(TOKEN, https_emu.base_url, retry=fast_retry())
        try:
            return asyncio.run(Runner(client, journal=journal, poll=PollPolicy(first=0.05, cap=0.1),
                                      timeout=30).run_job(money_worker.MODEL, job))
        finally:
            client.close()

    env.setenv("HTTPS_PROXY", tap_auth.url)                 # no proxy credentials: 407
    with pytest.raises(ProxyFailure, match="407"):
        run()
    env.setenv("HTTPS_PROXY", f"http://{USER}:{PASSWORD}@127.0.0.1:{tap_auth.port}")
    env.delenv("REQUESTS_CA_BUNDLE")                        # the CA is not trusted
    with pytest.raises(CertificateFailure):
        run()
    assert SUBMIT_UNKNOWN not in [e.get("state") for e in journal.entries()]
    assert https_emu.submits_accepted == 0
    env.setenv("REQUESTS_CA_BUNDLE", str(ca.ca))
    outcome = run()                                         # the same inputs, now through
    assert outcome.request_id and https_emu.submits_accepted == 1
    assert TOKEN.encode() not in tap_auth.seen()
