"""The client against the emulator, over real sockets: every endpoint, every documented and
assumed variant, error mapping, retries, and the never-pay-twice rule for submits."""

from __future__ import annotations

import socket
import time

import pytest

from runcomfy.media import images as media
from runcomfy.api import (CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, RetryPolicy, RunComfyClient,
                             output_urls)
from runcomfy.emulator import Emulator
from runcomfy.errors import (AuthError, ConfigError, DownloadError, InsufficientBalanceError,
                             NotFoundError, PermissionDeniedError, RateLimitError, RemoteValidationError,
                             ServerError, SubmitOutcomeUnknownError, TransportError, UnsafeUrlError)
from runcomfy.samples import sample_image

TOKEN = "tok-client-test-0123456789"
MODEL = "wan-ai/wan-2-6/image-to-image"


def fast_retry(**kw):
    kw.setdefault("base_delay", 0.01)
    kw.setdefault("max_delay", 0.05)
    return RetryPolicy(**kw)


@pytest.fixture
def emu(start_emulator):
    return start_emulator(TOKEN, processing_time=0.2, workers=2)


@pytest.fixture
def client(emu):
    c = RunComfyClient(TOKEN, emu.base_url, retry=fast_retry(), read_timeout=5)
    yield c
    c.close()


@pytest.fixture(scope="module")
def image_uri():
    return media.to_data_uri(media.encode_png(sample_image(1, 400, 400)), "image/png")


def payload(uri, **over):
    p = {"prompt": "two monsters", "image_urls": [uri], "seed": 3, "image_size": "1024*1024 (1:1)"}
    p.update(over)
    return p


def wait_terminal(client, rid, limit=10.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        st = client.status(rid)
        if st.state in (SUCCEEDED, FAILED, CANCELLED):
            return st
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_full_lifecycle(client, emu, image_uri):
    sub = client.submit(MODEL, payload(image_uri))
    assert sub.request_id in emu.jobs
    first = client.status(sub.request_id)
    assert first.state in (QUEUED, RUNNING, SUCCEEDED)
    early = client.result(sub.request_id)
    if early.state != SUCCEEDED:
        assert early.output_urls == []
    assert wait_terminal(client, sub.request_id).state == SUCCEEDED
    res = client.result(sub.request_id)
    assert res.state == SUCCEEDED and len(res.output_urls) == 1
    assert res.cost == pytest.approx(0.03)
    assert res.created_at and res.finished_at
    png = client.download(res.output_urls[0])
    assert media.probe(png)[:2] == (1024, 1024)
    assert client.cancel(sub.request_id).outcome == "not_cancellable"
    info = client.model_info(MODEL)
    assert info["model_id"] == MODEL and info["base_price_usd"] == pytest.approx(0.03)
    assert info["input_schema"]["properties"]["seed"]["maximum"] == 2147483647
    cat = client.list_models(include_schema=True, limit=5)
    assert cat["total"] >= 1 and cat["models"][0]["model_id"]


@pytest.mark.parametrize("vocabulary", ["status", "result"])
def test_both_status_vocabularies(emu, client, image_uri, vocabulary):
    emu.status_vocabulary = vocabulary
    rid = client.submit(MODEL, payload(image_uri)).request_id
    st = wait_terminal(client, rid)
    assert st.state == SUCCEEDED
    assert st.raw_status == ("completed" if vocabulary == "status" else "succeeded")


@pytest.mark.parametrize("field,n", [("image", 1), ("images", 1), ("both", 1)])
def test_output_shapes(emu, client, image_uri, field, n):
    emu.output_field = field
    rid = client.submit(MODEL, payload(image_uri)).request_id
    wait_terminal(client, rid)
    res = client.result(rid)
    assert field in res.output or field == "both"
    assert len(res.output_urls) == n


def test_output_urls_accepts_every_shape():
    assert output_urls({"image": "a", "images": ["a", "b"], "videos": [{"url": "c"}]}) == ["a", "b", "c"]
    assert output_urls({}) == []


def test_queue_position_and_cancel_while_queued(image_uri):
    with Emulator(token=TOKEN, processing_time=2.0, workers=1) as emu:
        c = RunComfyClient(TOKEN, emu.base_url, retry=fast_retry())
        running = c.submit(MODEL, payload(image_uri)).request_id
        queued = c.submit(MODEL, payload(image_uri, seed=4)).request_id
        time.sleep(0.1)
        st = c.status(queued)
        assert st.state == QUEUED and st.queue_position is not None
        assert c.cancel(queued).outcome == "cancelled"
        assert c.status(queued).state == CANCELLED
        assert c.result(queued).state == CANCELLED
        assert c.cancel(running).outcome == "not_cancellable"
        assert c.status(running).state in (RUNNING, SUCCEEDED)


@pytest.mark.parametrize("style", ["string", "object"])
def test_failed_job_error_text(emu, client, image_uri, style):
    emu.error_style = style
    emu.fail_next_jobs(1, message="Content moderation: prompt rejected")
    rid = client.submit(MODEL, payload(image_uri)).request_id
    assert wait_terminal(client, rid).state == FAILED
    res = client.result(rid)
    assert res.state == FAILED and res.output_urls == []
    assert "Content moderation" in res.error_message


# --- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403])
def test_bad_token(emu, image_uri, status):
    emu.auth_error_status = status
    c = RunComfyClient("wrong-token", emu.base_url, retry=fast_retry())
    with pytest.raises(AuthError) as ei:
        c.submit(MODEL, payload(image_uri))
    assert ei.value.error_code == 400004 and ei.value.server_message
    assert "wrong-token" not in str(ei.value)
    assert emu.submits_accepted == 0


@pytest.mark.parametrize("status", [402, 400])
def test_insufficient_balance(emu, client, image_uri, status):
    emu.balance_error_status = status
    emu.set_balance(TOKEN, 0.0)
    with pytest.raises(InsufficientBalanceError) as ei:
        client.submit(MODEL, payload(image_uri))
    assert ei.value.error_code == 400002 and "balance" in str(ei.value).lower()
    assert emu.count("submit") == 1  # never retried


def test_validation_error_names_field(emu, client, image_uri):
    with pytest.raises(RemoteValidationError) as ei:
        client.submit(MODEL, payload(image_uri, seed=-4))
    assert "seed" in str(ei.value) and ei.value.error_code == 422001
    assert emu.count("submit") == 1


def test_unknown_model_and_request(client):
    with pytest.raises(NotFoundError):
        client.submit("nobody/nothing", {"prompt": "x"})
    with pytest.raises(NotFoundError) as ei:
        client.status("no-such-request")
    assert ei.value.request_id == "no-such-request"


def test_another_users_request(emu, client, image_uri):
    emu.add_token("other-user-token")
    rid = client.submit(MODEL, payload(image_uri)).request_id
    other = RunComfyClient("other-user-token", emu.base_url, retry=fast_retry())
    with pytest.raises(PermissionDeniedError):
        other.result(rid)


def test_http_200_with_error_code_is_an_error(emu, client):
    emu.faults.add("model", "error_200", times=None)
    with pytest.raises(ServerError) as ei:
        client.model_info(MODEL)
    assert ei.value.error_code == 500001
    assert emu.count("model") == client.retry.max_attempts  # retried, then gave up


def test_request_ids_are_checked_before_use(client, emu):
    with pytest.raises(UnsafeUrlError):
        client.status("../../models")
    assert emu.count("status") == 0


def test_missing_token_and_insecure_base():
    with pytest.raises(ConfigError):
        RunComfyClient("", "http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError):
        RunComfyClient("x", "http://model-api.runcomfy.net/v1")


# --- retries -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,params", [
    ("http", {"status": 500}), ("http", {"status": 502}), ("http", {"status": 503}), ("http", {"status": 504}),
    ("http", {"status": 429}), ("drop_before", {}), ("drop_after", {}), ("malformed_json", {}),
    ("error_200", {}),
])
def test_reads_survive_transient_faults(emu, client, image_uri, kind, params):
    rid = client.submit(MODEL, payload(image_uri)).request_id
    emu.faults.add("status", kind, times=2, **params)
    emu.faults.add("result", kind, times=2, **params)
    assert wait_terminal(client, rid).state == SUCCEEDED
    assert client.result(rid).state == SUCCEEDED
    assert len([f for f in emu.faults.injected if f[1] == kind]) == 4


def test_retry_after_is_honoured(emu, client, image_uri):
    rid = client.submit(MODEL, payload(image_uri)).request_id
    emu.faults.add("status", "http", times=1, status=429, retry_after=0.6)
    client.status(rid)
    # The server saw the retry no sooner than it asked (a lower bound: a slow machine only adds).
    refused, retried = [c for c in emu.calls if c.endpoint == "status"]
    assert refused.status == 429 and retried.status == 200
    assert retried.t_monotonic - refused.t_monotonic >= 0.6


def test_slow_response_past_read_timeout_is_retried(emu, image_uri):
    c = RunComfyClient(TOKEN, emu.base_url, retry=fast_retry(), read_timeout=0.3)
    rid = c.submit(MODEL, payload(image_uri)).request_id
    emu.faults.add("status", "slow", times=1, delay=1.5)
    assert c.status(rid).request_id == rid
    assert ("status", "slow") in [tuple(f[:2]) for f in emu.faults.injected]
    # It gave up on the slow answer and asked again: a second call, without the fault, answered.
    # (A call is recorded once answered; the slow one only after its delay.)
    end = time.monotonic() + 10
    while emu.count("status") < 2 and time.monotonic() < end:
        time.sleep(0.05)
    assert (None, 200) in [(c.fault, c.status) for c in emu.calls if c.endpoint == "status"]


def test_non_retryable_fail_at_once(emu, client):
    with pytest.raises(NotFoundError):
        client.result("abc")
    assert emu.count("result") == 1


def test_submit_429_is_retried_and_charged_once(emu, client, image_uri):
    emu.faults.add("submit", "http", times=2, status=429)
    sub = client.submit(MODEL, payload(image_uri))
    assert emu.submits_accepted == 1 and emu.count("submit") == 3
    assert sub.request_id in emu.jobs


def test_submit_429_gives_up_with_rate_limit(emu, client, image_uri):
    emu.faults.add("submit", "http", times=None, status=429, retry_after=0)
    with pytest.raises(RateLimitError):
        client.submit(MODEL, payload(image_uri))
    assert emu.submits_accepted == 0 and emu.count("submit") == client.retry.submit_max_attempts


@pytest.mark.parametrize("kind,params", [
    ("drop_after", {}), ("drop_before", {}), ("http", {"status": 500}), ("http", {"status": 502}),
    ("http", {"status": 503}), ("http", {"status": 504}), ("malformed_json", {}), ("error_200", {}),
    ("slow", {"delay": 1.0}),
])
def test_ambiguous_submit_is_never_resent(emu, image_uri, kind, params):
    c = RunComfyClient(TOKEN, emu.base_url, retry=fast_retry(), read_timeout=0.3)
    emu.faults.add("submit", kind, times=1, **params)
    with pytest.raises(SubmitOutcomeUnknownError) as ei:
        c.submit(MODEL, payload(image_uri))
    assert "NOT re-sent" in str(ei.value)
    if kind == "slow":
        time.sleep(params["delay"] + 0.3)  # the server is still working on the one and only submit
    assert emu.count("submit") == 1
    if kind == "drop_after":
        assert emu.submits_accepted == 1  # accepted and billed: that is why it must not be re-sent


def test_connection_refused_is_certain_and_retried():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    c = RunComfyClient(TOKEN, f"http://127.0.0.1:{port}/v1", retry=fast_retry())
    with pytest.raises(TransportError) as ei:
        c.submit(MODEL, {"prompt": "x"})
    assert ei.value.maybe_received is False


# --- downloads -----------------------------------------------------------------------------

def test_downloads_carry_no_token_and_survive_404_and_truncation(emu, client, image_uri):
    rid = client.submit(MODEL, payload(image_uri)).request_id
    wait_terminal(client, rid)
    url = client.result(rid).output_urls[0]
    emu.faults.add("file", "not_found", times=2)
    emu.faults.add("file", "truncated", times=2)
    data = client.download(url)
    assert data == emu.file_bytes(rid, 0)
    files = [c for c in emu.calls if c.endpoint == "file"]
    assert len(files) == 5 and not any(c.auth_header_present for c in files)


def test_download_limits(emu, client, image_uri):
    rid = client.submit(MODEL, payload(image_uri)).request_id
    wait_terminal(client, rid)
    url = client.result(rid).output_urls[0]
    with pytest.raises(DownloadError, match="limit"):
        client.download(url, max_bytes=1000)
    with pytest.raises(UnsafeUrlError):
        client.download("https://evil.example.com/x.png")
    with pytest.raises(UnsafeUrlError):
        client.download("http://files.runcomfy.net/x.png")


def test_token_never_sent_elsewhere(client):
    with pytest.raises(UnsafeUrlError):
        client._auth_headers("https://evil.example.com/v1/models")
    assert TOKEN not in repr(client)


def test_download_redirects_are_checked_hop_by_hop(emu, client, image_uri):
    rid = client.submit(MODEL, payload(image_uri)).request_id
    wait_terminal(client, rid)
    url = client.result(rid).output_urls[0]
    emu.faults.add("file", "redirect", times=1, location="https://evil.example.com/steal.png")
    with pytest.raises(UnsafeUrlError, match="evil.example.com"):
        client.download(url)
    emu.faults.add("file", "redirect", times=1, location=url)  # same allowed host: followed
    assert client.download(url) == emu.file_bytes(rid, 0)
    assert not any(c.auth_header_present for c in emu.calls if c.endpoint == "file")


def test_https_to_http_redirect_refused():
    from runcomfy.api.urls import check_download_url
    # the hop check itself: an https result may never continue over plain http to a remote host
    with pytest.raises(UnsafeUrlError):
        check_download_url("http://files.runcomfy.net/a.png", (".runcomfy.net",))
