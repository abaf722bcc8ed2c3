import pytest

from runcomfy.api.urls import (DEFAULT_BASE_URL, check_download_url, check_model_id, check_request_id,
                             download_hosts, is_loopback_host, resolve_base_url, token_problem)
from runcomfy.errors import ConfigError, UnsafeUrlError

EMULATOR_BASE = "http://127.0.0.1:8000/v1"


def test_default_and_env_base_url(monkeypatch):
    monkeypatch.delenv("RUNCOMFY_MODEL_API_BASE", raising=False)
    assert resolve_base_url() == DEFAULT_BASE_URL
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", "http://127.0.0.1:9999/v1/")
    assert resolve_base_url() == "http://127.0.0.1:9999/v1"


@pytest.mark.parametrize("url", ["http://model-api.runcomfy.net/v1", "ftp://x/v1", "https://u:p@h/v1",
                                 "http://10.0.0.5/v1", "notaurl"])
def test_unsafe_base_urls_refused(url):
    with pytest.raises(ConfigError):
        resolve_base_url(url)


@pytest.mark.parametrize("rid", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "A_b"])
def test_good_request_ids(rid):
    assert check_request_id(rid) == rid


@pytest.mark.parametrize("rid", ["", "../etc/passwd", "a/b", "a?b=c", "x" * 129, "a b", "%2e%2e"])
def test_bad_request_ids(rid):
    with pytest.raises(UnsafeUrlError):
        check_request_id(rid)


def test_download_allow_list(monkeypatch):
    monkeypatch.delenv("RUNCOMFY_DOWNLOAD_HOSTS", raising=False)
    hosts = download_hosts()
    assert check_download_url("https://files.runcomfy.net/a.png", hosts)
    assert check_download_url("https://runcomfy.net/a.png", hosts)
    assert check_download_url("http://127.0.0.1:8000/files/a.png", download_hosts(api_base=EMULATOR_BASE))
    for bad in ["http://files.runcomfy.net/a.png", "https://evil.com/a.png", "https://runcomfy.net.evil.com/a",
                "https://user:pw@files.runcomfy.net/a", "file:///etc/passwd", "https://evilruncomfy.net/x"]:
        with pytest.raises(UnsafeUrlError):
            check_download_url(bad, hosts)
    monkeypatch.setenv("RUNCOMFY_DOWNLOAD_HOSTS", "cdn.example.org")
    assert check_download_url("https://cdn.example.org/x.png", download_hosts())


@pytest.mark.parametrize("url", ["https://model-api.runcomfy.net:99999/v1", "https://model-api.runcomfy.net:abc/v1",
                                 "https://model-api.runcomfy.net:0/v1", "http://127.0.0.1:-5/v1",
                                 "http://127.0.0.1:70000/v1"])
def test_an_invalid_port_is_a_clear_config_error(monkeypatch, url):
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", url)
    with pytest.raises(ConfigError) as info:
        resolve_base_url()
    text = str(info.value)
    assert "RUNCOMFY_MODEL_API_BASE" in text and url in text and "1 to 65535" in text
    with pytest.raises(ConfigError, match="base_url has an invalid port"):
        resolve_base_url(url)


def test_loopback_means_localhost_or_a_loopback_ip_only():
    assert all(map(is_loopback_host, ["localhost", "127.0.0.1", "127.9.9.9", "::1", "[::1]", "LOCALHOST"]))
    assert not any(map(is_loopback_host, ["anything.localhost", "localhost.", "127.0.0.1.nip.io", "0.0.0.0",
                                          "10.0.0.1", "", None]))
    # Which is why a *.localhost API base must be https like any other name.
    with pytest.raises(ConfigError):
        resolve_base_url("http://emulator.localhost:8000/v1")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8188/view?filename=x.png", "https://127.0.0.1/a.png",
                                 "http://localhost:11434/api", "http://[::1]:8000/files/a.png"])
def test_loopback_results_are_refused_with_the_real_api(monkeypatch, url):
    monkeypatch.setenv("RUNCOMFY_DOWNLOAD_HOSTS", "127.0.0.1,localhost,::1")  # even when listed
    for hosts in (download_hosts(), download_hosts(api_base=DEFAULT_BASE_URL)):
        with pytest.raises(UnsafeUrlError, match="only when RUNCOMFY_MODEL_API_BASE is itself a loopback"):
            check_download_url(url, hosts)
    assert check_download_url(url, download_hosts(api_base=EMULATOR_BASE)) == url


def test_localhost_subdomains_are_never_loopback_results(monkeypatch):
    monkeypatch.delenv("RUNCOMFY_DOWNLOAD_HOSTS", raising=False)
    for base in (None, DEFAULT_BASE_URL, EMULATOR_BASE):
        with pytest.raises(UnsafeUrlError):
            check_download_url("http://anything.localhost:8000/files/a.png", download_hosts(api_base=base))
        with pytest.raises(UnsafeUrlError):
            check_download_url("https://anything.localhost/files/a.png", download_hosts(api_base=base))


@pytest.mark.parametrize("mid", ["wan-ai/wan-2-6/image-to-image", "a/b", "Org.x/m_1/v2.5/edit"])
def test_good_model_ids(mid):
    assert check_model_id(mid) == mid


@pytest.mark.parametrize("mid", ["", "single", "a/../../requests/x", "../a", "a/./b", "a//b", "/a/b", "a/b/",
                                 "a/b?x=1", "a/b#f", "a/%2e%2e", "a/b c", "a/b/c/d/e", "a\\b/c", "a/" + "x" * 200,
                                 "a/b\n", None, 5])
def test_bad_model_ids(mid):
    with pytest.raises(UnsafeUrlError, match="Model id"):
        check_model_id(mid)


@pytest.mark.parametrize("token,what", [
    ("abc def", "a space at position 4"), ("abc\ndef", "a line break at position 4"),
    ("abc\r", "a line break at position 4"), ("ab\tc", "whitespace character (U+0009) at position 3"),
    ("a\x00b", "control character (U+0000) at position 2"), ("a\x7fb", "control character (U+007F)"),
    ("caf\u00e9", "non-ASCII character U+00E9 at position 4"), ("tok\u2028x", "U+2028"),
    ("\u4ee4\u724c", "non-ASCII character U+4EE4 at position 1"), ("x" * 513, "at most 512"), ("", "empty"),
])
def test_tokens_a_header_cannot_carry(token, what):
    problem = token_problem(token)
    assert problem is not None and what in problem, problem


def test_header_safe_tokens_pass():
    assert token_problem("rc_AbC-123.def_~+/=") is None
    assert token_problem("0f8fad5b-d9cb-469f-a165-70867728950e") is None


def test_a_client_of_the_real_api_never_fetches_a_result_from_this_machine(start_emulator):
    """Over real sockets: the emulator's own client downloads its result; a client configured for
    the real HTTPS API refuses the very same loopback URL without opening a connection."""
    import time

    from runcomfy.media import images as media
    from runcomfy.api import SUCCEEDED, RunComfyClient
    from runcomfy.samples import sample_image

    token = "tok-loopback-rule-1"
    emu = start_emulator(token, processing_time=0.1)
    local = RunComfyClient(token, emu.base_url)
    uri = media.to_data_uri(media.encode_png(sample_image(1, 400, 400)), "image/png")
    rid = local.submit("wan-ai/wan-2-6/image-to-image",
                       {"prompt": "x", "image_urls": [uri], "image_size": "1024*1024 (1:1)"}).request_id
    end = time.monotonic() + 10
    while local.status(rid).state != SUCCEEDED:
        assert time.monotonic() < end, "job did not finish"
        time.sleep(0.05)
    url = local.result(rid).output_urls[0]
    assert local.download(url) == emu.file_bytes(rid, 0)
    files = emu.count("file")
    real = RunComfyClient(token, DEFAULT_BASE_URL)
    for candidate in (url, url.replace("127.0.0.1", "localhost")):
        with pytest.raises(UnsafeUrlError, match="only when RUNCOMFY_MODEL_API_BASE is itself a loopback"):
            real.download(candidate)
    assert emu.count("file") == files
    local.close()
    real.close()
