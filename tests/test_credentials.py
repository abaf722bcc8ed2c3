import os
import stat

import pytest

from runcomfy import credentials


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
