import json
import os
import re
import stat

import pytest

from runcomfy import credentials
from runcomfy.errors import ConfigError


def test_saved_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "env-token-123")
    assert credentials.resolve_token(tmp_path).source == "environment"
    credentials.save_token(tmp_path, "saved-token-456")
    info = credentials.resolve_token(tmp_path)
    assert (info.token, info.source) == ("saved-token-456", "saved")
    assert stat.S_IMODE(os.stat(credentials.credentials_path(tmp_path)).st_mode) == 0o600
    assert credentials.clear_token(tmp_path)
    assert credentials.resolve_token(tmp_path).source == "environment"


def test_none_and_public_view_never_shows_token(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNCOMFY_API_TOKEN", raising=False)
    assert credentials.resolve_token(tmp_path).public() == {"configured": False, "source": "none"}
    credentials.save_token(tmp_path, "sekret-token-789")
    info = credentials.resolve_token(tmp_path)
    assert "sekret-token-789" not in repr(info) + str(info.public())


@pytest.mark.parametrize("bad", ["", "   ", "has space", "x" * 513])
def test_bad_tokens_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        credentials.save_token(tmp_path, bad)


def test_missing_token_message_says_where():
    msg = credentials.missing_token_message()
    assert "RUNCOMFY_API_TOKEN" in msg and "Settings" in msg


@pytest.mark.parametrize("bad,what", [("tok\nen", "line break"), ("tok\u00e9n", "U+00E9"), ("to\x00ken", "U+0000"),
                                      ("tok\ten", "U+0009"), ("tok en", "space")])
def test_tokens_a_header_cannot_carry_are_refused_at_save(tmp_path, bad, what):
    with pytest.raises(ValueError, match=re.escape(what)):
        credentials.save_token(tmp_path, bad)
    assert not credentials.credentials_path(tmp_path).exists()


def test_an_unusable_environment_token_is_a_clear_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "secret-part\u00e9-rest")
    with pytest.raises(ConfigError) as info:
        credentials.resolve_token(tmp_path)
    text = str(info.value)
    assert "RUNCOMFY_API_TOKEN" in text and "U+00E9" in text and "secret-part" not in text
    # A good saved token is used first, so the broken variable does not block it.
    credentials.save_token(tmp_path, "saved-token-456")
    assert credentials.resolve_token(tmp_path).source == "saved"


def test_a_hand_edited_saved_token_is_a_clear_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNCOMFY_API_TOKEN", raising=False)
    credentials.credentials_path(tmp_path).write_text(json.dumps({"api_token": "abc\r\nX-Evil: 1"}))
    with pytest.raises(ConfigError) as info:
        credentials.resolve_token(tmp_path)
    assert str(credentials.credentials_path(tmp_path)) in str(info.value) and "line break" in str(info.value)
    assert "X-Evil" not in str(info.value)


def test_a_deeply_nested_credentials_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "env-token-123")
    credentials.credentials_path(tmp_path).write_text("[" * 100000 + "]" * 100000)
    assert credentials.resolve_token(tmp_path).source == "environment"
