"""The pack's settings: the only reader of the environment and the only resolver of the config
folder (saved token, catalog caches, node class names) and of the state folder (the journal).

Precedence, everywhere: an explicit argument (a CLI flag, a function parameter), then what a
program configured for this process (``configure``: the pack loader of ``models sync
--build-nodes`` uses it instead of writing ``os.environ``), then the environment variable, then
the default. The library cannot import ComfyUI, so the node layer passes ComfyUI's user folder in
(``config_dir(comfy_user_dir=...)``). Only the standard library here: every layer may import it.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError

CONFIG_DIR_ENV = "RUNCOMFY_CONFIG_DIR"
STATE_DIR_ENV = "RUNCOMFY_STATE_DIR"
XDG_STATE_HOME_ENV = "XDG_STATE_HOME"
TOKEN_ENV = "RUNCOMFY_API_TOKEN"
BASE_URL_ENV = "RUNCOMFY_MODEL_API_BASE"
DOWNLOAD_HOSTS_ENV = "RUNCOMFY_DOWNLOAD_HOSTS"
DECODE_BUDGET_ENV = "RUNCOMFY_DECODE_BUDGET_MB"
CATALOG_REFRESH_ENV = "RUNCOMFY_CATALOG_REFRESH"
PUBLIC_ORIGIN_ENV = "RUNCOMFY_PUBLIC_ORIGIN"
PROXY_ENV = "RUNCOMFY_PROXY"
# Spending limits in USD (runcomfy/spending/limits.py reads them; the lower of these and Settings wins).
DAILY_LIMIT_ENV = "RUNCOMFY_DAILY_LIMIT_USD"
MONTHLY_LIMIT_ENV = "RUNCOMFY_MONTHLY_LIMIT_USD"
# The variables requests itself honours; the pack reads them to say which one a route came from.
PROXY_ENVS = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
CA_ENVS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")

DEFAULT_CONFIG_DIR = "~/.config/runcomfy"
DEFAULT_STATE_HOME = "~/.local/state"
DEFAULT_DECODE_BUDGET_MB = 1024
COMFY_SUBFOLDER = "__runcomfy"        # inside ComfyUI's user folder (never served to browsers)
PACK_ROOT = Path(__file__).resolve().parents[1]

_KNOWN = frozenset((CONFIG_DIR_ENV, STATE_DIR_ENV, XDG_STATE_HOME_ENV, TOKEN_ENV, BASE_URL_ENV, DOWNLOAD_HOSTS_ENV,
                    DECODE_BUDGET_ENV, CATALOG_REFRESH_ENV, PUBLIC_ORIGIN_ENV, PROXY_ENV, *PROXY_ENVS, *CA_ENVS,
                    DAILY_LIMIT_ENV, MONTHLY_LIMIT_ENV))
_configured: dict[str, str] = {}
_configured_lock = threading.Lock()


def configure(**values: str | None) -> None:
    """Settings for this process that win over the environment, by variable name
    (``configure(RUNCOMFY_CONFIG_DIR="/tmp/x")``); None removes one."""
    unknown = set(values) - _KNOWN
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(_KNOWN)}")
    with _configured_lock:
        for name, value in values.items():
            if value is None:
                _configured.pop(name, None)
            else:
                _configured[name] = str(value)


@contextmanager
def configured(**values: str | None):
    """``configure`` for a block; the previous values come back afterwards."""
    with _configured_lock:
        before = {k: _configured.get(k) for k in values}
    configure(**values)
    try:
        yield
    finally:
        configure(**before)


def raw(name: str) -> str:
    """The value of one known variable (configured, else the environment), stripped; "" when unset."""
    if name not in _KNOWN:
        raise ValueError(f"{name!r} is not a setting of the pack")
    with _configured_lock:
        if name in _configured:
            return _configured[name].strip()
    return os.environ.get(name, "").strip()


def source_of(name: str) -> str:
    """Where ``raw(name)`` came from, for messages: "configured", "environment" or ""."""
    with _configured_lock:
        if name in _configured:
            return "configured"
    return "environment" if os.environ.get(name, "").strip() else ""


# --- folders --------------------------------------------------------------------------------------

def comfy_user_dir_of_pack(pack_root: Path = PACK_ROOT) -> Path | None:
    """ComfyUI's default user folder when the pack sits in ComfyUI/custom_nodes, else None: what a
    command line run from the pack's folder guesses, without ComfyUI running."""
    pack_root = Path(pack_root)
    if pack_root.parent.name == "custom_nodes":
        return pack_root.parent.parent / "user"
    return None


def config_dir_and_source(comfy_user_dir: Path | str | None = None, *, guess_from_pack: bool = True,
                          pack_root: Path = PACK_ROOT) -> tuple[Path, str]:
    """The config folder and what chose it: $RUNCOMFY_CONFIG_DIR, else ComfyUI's user folder
    (``comfy_user_dir`` from the running ComfyUI, else, with ``guess_from_pack``, the default one
    when the pack sits in ComfyUI/custom_nodes) + ``__runcomfy``, else ~/.config/runcomfy."""
    explicit = raw(CONFIG_DIR_ENV)
    if explicit:
        return Path(os.path.expanduser(explicit)), CONFIG_DIR_ENV
    if comfy_user_dir is None and guess_from_pack:
        comfy_user_dir = comfy_user_dir_of_pack(pack_root)
    if comfy_user_dir is not None:
        return Path(comfy_user_dir) / COMFY_SUBFOLDER, "ComfyUI's user folder"
    return Path(os.path.expanduser(DEFAULT_CONFIG_DIR)), "default"


def config_dir(comfy_user_dir: Path | str | None = None, **kwargs) -> Path:
    return config_dir_and_source(comfy_user_dir, **kwargs)[0]


def state_dir() -> Path:
    """The journal's folder: $RUNCOMFY_STATE_DIR, else $XDG_STATE_HOME/runcomfy, else
    ~/.local/state/runcomfy."""
    explicit = raw(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    return Path(raw(XDG_STATE_HOME_ENV) or os.path.expanduser(DEFAULT_STATE_HOME)) / "runcomfy"


# --- values ---------------------------------------------------------------------------------------

def api_token() -> str:
    """$RUNCOMFY_API_TOKEN ("" when unset); checked where it is used (credentials.resolve_token)."""
    return raw(TOKEN_ENV)


def base_url() -> str | None:
    """$RUNCOMFY_MODEL_API_BASE or None (checked and defaulted by config.resolve_base_url)."""
    return raw(BASE_URL_ENV) or None


def extra_download_hosts() -> tuple[str, ...]:
    """$RUNCOMFY_DOWNLOAD_HOSTS: comma-separated host names, lower-cased."""
    return tuple(h.strip().lower() for h in raw(DOWNLOAD_HOSTS_ENV).split(",") if h.strip())


def decode_budget_mb() -> int:
    """$RUNCOMFY_DECODE_BUDGET_MB: decoded bytes in flight across the process, in MiB (default 1024)."""
    value = raw(DECODE_BUDGET_ENV)
    if not value:
        return DEFAULT_DECODE_BUDGET_MB
    try:
        mb = int(value)
    except ValueError:
        mb = 0
    if mb < 1:
        raise ConfigError(f"The environment variable {DECODE_BUDGET_ENV} must be a whole number of MiB "
                          f"of at least 1 (got {value!r}); unset it for the default {DEFAULT_DECODE_BUDGET_MB}.")
    return mb


_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def catalog_refresh() -> bool | None:
    """$RUNCOMFY_CATALOG_REFRESH: True (always refresh at start), False (never), None (decide:
    only inside a running ComfyUI). Any other value means None, as before."""
    value = raw(CATALOG_REFRESH_ENV).lower()
    if value in _OFF:
        return False
    if value in _ON:
        return True
    return None


def public_origin() -> str | None:
    """$RUNCOMFY_PUBLIC_ORIGIN (checked by nodes/origin_guard), or None."""
    return raw(PUBLIC_ORIGIN_ENV) or None


def proxy_setting() -> str:
    """$RUNCOMFY_PROXY ("" when unset)."""
    return raw(PROXY_ENV)


def environment_proxy() -> tuple[str | None, str]:
    """The first of https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY that is set, and its name."""
    for name in PROXY_ENVS:
        value = raw(name)
        if value:
            return value, name
    return None, ""


def ca_bundle_setting() -> tuple[str | None, str]:
    """The first CA bundle variable that is set (requests' order), and its name."""
    for name in CA_ENVS:
        value = raw(name)
        if value:
            return value, name
    return None, ""
