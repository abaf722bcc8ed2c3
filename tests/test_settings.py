"""runcomfy.settings: the one reader of the environment and resolver of the config and state
folders. Precedence, tested once: explicit argument > configured for the process > environment >
ComfyUI's user folder (config only) > default."""

from __future__ import annotations


import pytest

from runcomfy import settings
from runcomfy.api import urls as config
from runcomfy.catalog.cli import default_config_dir
from runcomfy.errors import ConfigError

ENV = (settings.CONFIG_DIR_ENV, settings.STATE_DIR_ENV, settings.XDG_STATE_HOME_ENV, settings.BASE_URL_ENV,
       settings.DECODE_BUDGET_ENV, settings.CATALOG_REFRESH_ENV, settings.TOKEN_ENV)


@pytest.fixture
def clean(monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield tmp_path
    settings.configure(**{name: None for name in ENV})


def test_config_folder_precedence(clean, monkeypatch):
    tmp = clean
    pack = tmp / "ComfyUI" / "custom_nodes" / "pack"
    # default, then the ComfyUI folder the pack sits in, then the one the running ComfyUI names
    assert settings.config_dir() == tmp / "home" / ".config" / "runcomfy"
    assert settings.config_dir_and_source(pack_root=pack) == (tmp / "ComfyUI" / "user" / "__runcomfy",
                                                              "ComfyUI's user folder")
    assert settings.config_dir(tmp / "users", pack_root=pack) == tmp / "users" / "__runcomfy"
    # the environment wins over both
    monkeypatch.setenv(settings.CONFIG_DIR_ENV, str(tmp / "env"))
    assert settings.config_dir_and_source(tmp / "users", pack_root=pack) == (tmp / "env", settings.CONFIG_DIR_ENV)
    # what a program configured wins over the environment, and goes away with the block
    with settings.configured(**{settings.CONFIG_DIR_ENV: str(tmp / "configured")}):
        assert settings.config_dir(tmp / "users") == tmp / "configured"
        assert default_config_dir()[0] == tmp / "configured"      # the CLI asks the same function
    assert settings.config_dir() == tmp / "env"


def test_the_node_layer_and_the_cli_agree_on_the_folder(clean, monkeypatch, pack):
    monkeypatch.setattr(pack.nodes.comfy, "user_directory", lambda: None)
    assert pack.nodes.model_node.config_dir() == default_config_dir()[0] == clean / "home" / ".config" / "runcomfy"
    monkeypatch.setenv(settings.CONFIG_DIR_ENV, str(clean / "env"))
    assert pack.nodes.model_node.config_dir() == default_config_dir()[0] == clean / "env"


def test_state_folder_precedence(clean, monkeypatch):
    tmp = clean
    assert settings.state_dir() == tmp / "home" / ".local" / "state" / "runcomfy"
    monkeypatch.setenv(settings.XDG_STATE_HOME_ENV, str(tmp / "xdg"))
    assert settings.state_dir() == tmp / "xdg" / "runcomfy"
    monkeypatch.setenv(settings.STATE_DIR_ENV, str(tmp / "state"))
    assert settings.state_dir() == tmp / "state"
    from runcomfy.journal.store import default_journal_path
    assert default_journal_path() == tmp / "state" / "journal.json"


def test_base_url_precedence(clean, monkeypatch):
    assert config.resolve_base_url() == config.DEFAULT_BASE_URL
    monkeypatch.setenv(settings.BASE_URL_ENV, "http://127.0.0.1:9/v1")
    assert config.resolve_base_url() == "http://127.0.0.1:9/v1"
    settings.configure(**{settings.BASE_URL_ENV: "http://127.0.0.1:8/v1"})
    assert config.resolve_base_url() == "http://127.0.0.1:8/v1"
    assert config.resolve_base_url("http://127.0.0.1:7/v1") == "http://127.0.0.1:7/v1"


def test_values_are_checked_with_the_variable_named(clean, monkeypatch):
    assert settings.decode_budget_mb() == settings.DEFAULT_DECODE_BUDGET_MB
    monkeypatch.setenv(settings.DECODE_BUDGET_ENV, "512")
    assert settings.decode_budget_mb() == 512
    for bad in ("lots", "0", "-3", "1.5"):
        monkeypatch.setenv(settings.DECODE_BUDGET_ENV, bad)
        with pytest.raises(ConfigError, match=f"{settings.DECODE_BUDGET_ENV}.*{bad!r}"):
            settings.decode_budget_mb()
    for value, expected in (("", None), ("1", True), ("Yes", True), ("off", False), ("0", False), ("maybe", None)):
        monkeypatch.setenv(settings.CATALOG_REFRESH_ENV, value)
        assert settings.catalog_refresh() is expected, value
    monkeypatch.setenv(settings.TOKEN_ENV, "  tok  ")
    assert settings.api_token() == "tok"


def test_only_known_variables(clean):
    with pytest.raises(ValueError, match="unknown setting"):
        settings.configure(RUNCOMFY_TYPO="x")
    with pytest.raises(ValueError):
        settings.raw("HOME")
