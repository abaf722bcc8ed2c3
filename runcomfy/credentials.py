"""Where the API token comes from: a saved server-side setting first, then the
``RUNCOMFY_API_TOKEN`` environment variable. The saved file is owner-only (0600) and
written atomically; nothing here ever returns the token to a caller that displays it.
A token that an HTTP header cannot carry is refused when saved and reported as a ConfigError
when found in the file or the environment, so it never reaches the network layer."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import settings
from .api.urls import TOKEN_ENV, token_problem
from .errors import ConfigError
from .journal import atomic_write
from .api import proxies

CREDENTIALS_FILE = "credentials.json"
# The proxy setting of Settings > RunComfy Model API (its URL may hold the proxy's password: also 0600).
NETWORK_FILE = "network.json"
SAVED, ENVIRONMENT, NONE = "saved", "environment", "none"


@dataclass(frozen=True)
class TokenInfo:
    token: str | None
    source: str  # saved | environment | none

    def __repr__(self) -> str:  # the token itself must never reach a log line
        return f"TokenInfo(source={self.source!r}, set={self.token is not None})"

    def public(self) -> dict:
        """What a browser may see."""
        return {"configured": self.token is not None, "source": self.source}


def credentials_path(config_dir: Path | str) -> Path:
    return Path(config_dir) / CREDENTIALS_FILE


def read_saved(config_dir: Path | str | None) -> str | None:
    if config_dir is None:
        return None
    try:
        doc = json.loads(credentials_path(config_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
    token = doc.get("api_token") if isinstance(doc, dict) else None
    token = token.strip() if isinstance(token, str) and token.strip() else None
    problem = token_problem(token) if token else None
    if problem:
        raise ConfigError(f"The saved RunComfy token in {credentials_path(config_dir)} is unusable: {problem} "
                          "Save it again in Settings > RunComfy Model API, or delete that file.")
    return token


def resolve_token(config_dir: Path | str | None = None) -> TokenInfo:
    """The token to use. Raises ConfigError (naming the file or the variable, never showing the
    token) when the one that would be used cannot be sent in an HTTP header."""
    saved = read_saved(config_dir)
    if saved:
        return TokenInfo(saved, SAVED)
    env = settings.api_token()
    if env:
        problem = token_problem(env)
        if problem:
            raise ConfigError(f"The environment variable {TOKEN_ENV} is unusable: {problem} "
                              "Fix it and restart ComfyUI, or save a token in Settings > RunComfy Model API.")
        return TokenInfo(env, ENVIRONMENT)
    return TokenInfo(None, NONE)


def save_token(config_dir: Path | str, token: str) -> None:
    """Raises ValueError with a clear text for a token an HTTP header cannot carry."""
    token = (token or "").strip()
    problem = token_problem(token)
    if problem:
        raise ValueError(problem)
    atomic_write(credentials_path(config_dir), json.dumps({"api_token": token}).encode(), mode=0o600)


def clear_token(config_dir: Path | str) -> bool:
    try:
        os.unlink(credentials_path(config_dir))
        return True
    except FileNotFoundError:
        return False


def missing_token_message(settings_available: bool = True) -> str:
    where = ("open ComfyUI Settings (gear icon) > RunComfy > API token and paste it there, or "
             if settings_available else "")
    return ("No RunComfy API token is configured. Get one from your RunComfy profile page "
            f"(https://www.runcomfy.com/profile), then {where}set the environment variable "
            f"{TOKEN_ENV} before starting ComfyUI. On RunComfy-hosted ComfyUI machines {TOKEN_ENV} "
            "is normally set for you.")


def network_path(config_dir: Path | str) -> Path:
    return Path(config_dir) / NETWORK_FILE


def read_saved_proxy(config_dir: Path | str | None) -> str | None:
    """The saved proxy ("direct" included), or None. An unusable value is reported when used."""
    if config_dir is None:
        return None
    try:
        doc = json.loads(network_path(config_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    value = doc.get("proxy") if isinstance(doc, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def save_proxy(config_dir: Path | str, value: str) -> str:
    """Saves ``value`` (a proxy URL, ``host:port`` or ``direct``) and returns it normalised.
    Raises ConfigError with a clear text (never showing a password) for anything else."""
    value = (value or "").strip()
    if value.lower() in (proxies.DIRECT, "none"):
        value = proxies.DIRECT
    else:
        value = proxies.check_proxy_url(value, "The proxy")
    atomic_write(network_path(config_dir), json.dumps({"proxy": value}).encode(), mode=0o600)
    return value


def clear_proxy(config_dir: Path | str) -> bool:
    try:
        os.unlink(network_path(config_dir))
        return True
    except FileNotFoundError:
        return False
