import pytest

from runcomfy.config import (DEFAULT_BASE_URL, check_download_url, check_request_id, download_hosts,
                             resolve_base_url)
from runcomfy.errors import ConfigError, UnsafeUrlError


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
    assert check_download_url("http://127.0.0.1:8000/files/a.png", hosts)
    for bad in ["http://files.runcomfy.net/a.png", "https://evil.com/a.png", "https://runcomfy.net.evil.com/a",
                "https://user:pw@files.runcomfy.net/a", "file:///etc/passwd", "https://evilruncomfy.net/x"]:
        with pytest.raises(UnsafeUrlError):
            check_download_url(bad, hosts)
    monkeypatch.setenv("RUNCOMFY_DOWNLOAD_HOSTS", "cdn.example.org")
    assert check_download_url("https://cdn.example.org/x.png", download_hosts())
