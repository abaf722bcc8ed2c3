"""A private CA: the emulator serves HTTPS with a certificate from a throwaway test CA that only
the CA bundle named by REQUESTS_CA_BUNDLE / SSL_CERT_FILE / SSL_CERT_DIR trusts. Without it the
certificate check fails, and that is reported as a certificate failure (naming the host, and the
proxy when there is one) that sent nothing: never a submit that "may have been billed"."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from netfixtures import ProxyPy, Tap, clean_network_env, make_test_ca
from runcomfy.media import images as media
from runcomfy.api import SUCCEEDED, RetryPolicy, RunComfyClient
from runcomfy.emulator import Emulator
from runcomfy.errors import ConfigError, DownloadError, SubmitOutcomeUnknownError
from runcomfy.samples import sample_image
from runcomfy.api.proxies import CertificateFailure

TOKEN = "tok-ca-test-SECRET-0123456789"
MODEL = "wan-ai/wan-2-6/image-to-image"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def env(monkeypatch, isolated_env):
    clean_network_env(monkeypatch)
    return monkeypatch


@pytest.fixture
def https_emu(ca):
    emu = Emulator(token=TOKEN, processing_time=0.1, tls=(str(ca.cert), str(ca.key))).start()
    yield emu
    emu.stop()
    assert not emu.internal_errors, emu.internal_errors[:1]


@pytest.fixture(scope="module")
def image_uri():
    return media.to_data_uri(media.encode_png(sample_image(1, 400, 400)), "image/png")


def payload(uri):
    return {"prompt": "private CA", "image_urls": [uri], "seed": 2, "image_size": "1024*1024 (1:1)"}


def client_for(emu):
    return RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))


def test_an_untrusted_certificate_is_reported_as_such_and_nothing_is_billed(env, https_emu, image_uri):
    client = client_for(https_emu)
    try:
        with pytest.raises(CertificateFailure) as info:
            client.submit(MODEL, payload(image_uri))
        err = info.value
        assert not isinstance(err, SubmitOutcomeUnknownError) and err.maybe_received is False
        text = str(err)
        assert "certificate of 127.0.0.1" in text and "failed verification" in text
        assert "REQUESTS_CA_BUNDLE" in text and "default CA bundle" in text and TOKEN not in text
        with pytest.raises(CertificateFailure):          # reads fail the same way, not retried
            client.model_info(MODEL)
        with pytest.raises(DownloadError, match="certificate of 127.0.0.1"):
            client.download(f"{https_emu.origin}/files/nothing/0.png", window=5)
    finally:
        client.close()
    assert https_emu.submits_accepted == 0


@pytest.mark.parametrize("var", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_the_ca_bundle_from_the_environment_is_trusted(env, https_emu, ca, var, image_uri, tmp_path):
    if var == "SSL_CERT_DIR":
        folder = tmp_path / "certs"
        folder.mkdir()
        shutil.copy(ca.ca, folder / "test-ca.pem")
        subprocess.run([shutil.which("openssl"), "rehash", str(folder)], check=True, capture_output=True, timeout=60)
        env.setenv(var, str(folder))
    else:
        env.setenv(var, str(ca.ca))
    client = client_for(https_emu)
    try:
        sub = client.submit(MODEL, payload(image_uri))
        for _ in range(400):
            if client.status(sub.request_id).state == SUCCEEDED:
                break
            threading_wait(0.05)
        res = client.result(sub.request_id)
        assert res.output_urls[0].startswith("https://127.0.0.1:")
        assert client.download(res.output_urls[0])[:4] == b"\x89PNG"
    finally:
        client.close()


def test_a_missing_ca_bundle_is_a_config_error_naming_the_variable(env, https_emu, tmp_path):
    env.setenv("SSL_CERT_FILE", str(tmp_path / "nope.pem"))
    client = client_for(https_emu)
    try:
        with pytest.raises(ConfigError, match=r"SSL_CERT_FILE is set to .*nope\.pem.*does not exist"):
            client.model_info(MODEL)
    finally:
        client.close()


def test_a_certificate_failure_through_a_proxy_names_the_host_and_the_proxy(env, https_emu, tmp_path):
    """A TLS-inspecting gateway looks like this: the tunnel opens, the certificate is not trusted."""
    proxy = ProxyPy(tmp_path / "proxy")
    tap = Tap(proxy.port)
    env.setenv("HTTPS_PROXY", tap.url)
    client = client_for(https_emu)
    try:
        with pytest.raises(CertificateFailure) as info:
            client.model_info(MODEL)
    finally:
        client.close()
        tap.close()
        proxy.stop()
    text = str(info.value)
    assert "certificate of 127.0.0.1 through the proxy http://127.0.0.1:" in text and "HTTPS_PROXY" in text
    assert TOKEN.encode() not in tap.seen() and tap.seen().startswith(b"CONNECT ")


def threading_wait(seconds):
    import threading
    threading.Event().wait(seconds)
