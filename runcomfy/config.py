"""Where requests go: the API base URL, which hosts results may be downloaded from, and
what a request id may look like before it is put into a URL path."""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import urlsplit

from .errors import ConfigError, UnsafeUrlError

DEFAULT_BASE_URL = "https://model-api.runcomfy.net/v1"
BASE_URL_ENV = "RUNCOMFY_MODEL_API_BASE"
TOKEN_ENV = "RUNCOMFY_API_TOKEN"
EXTRA_DOWNLOAD_HOSTS_ENV = "RUNCOMFY_DOWNLOAD_HOSTS"

# Output files live on RunComfy storage; a leading dot means "this domain and its subdomains".
DEFAULT_DOWNLOAD_HOSTS = (".runcomfy.net", ".runcomfy.com")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def is_loopback_host(host: str | None) -> bool:
    host = (host or "").strip().lower()
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(explicit: str | None = None) -> str:
    """The API base URL; a non-loopback origin must be HTTPS so the token never travels in clear."""
    url = (explicit or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{BASE_URL_ENV} must be an http(s) URL, got {url!r}.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"{BASE_URL_ENV} must use https for a non-loopback host (got {parts.scheme}://{parts.hostname}); "
            "plain http is only allowed for a local emulator on 127.0.0.1/localhost."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{BASE_URL_ENV} must be a plain base URL without credentials, query or fragment.")
    return url


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def check_request_id(request_id: str) -> str:
    """Request ids come from the server or the user and end up in a URL path: only plain ids pass."""
    rid = (request_id or "").strip()
    if not _REQUEST_ID.match(rid):
        shown = rid if len(rid) <= 40 else rid[:37] + "..."
        raise UnsafeUrlError(
            f"Request id {shown!r} is not valid: expected 1 to 128 letters, digits, '-' or '_'."
        )
    return rid


def download_hosts(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    env = tuple(h.strip().lower() for h in os.environ.get(EXTRA_DOWNLOAD_HOSTS_ENV, "").split(",") if h.strip())
    return DEFAULT_DOWNLOAD_HOSTS + tuple(h.lower() for h in extra) + env


def check_download_url(url: str, allowed_hosts: tuple[str, ...]) -> str:
    """Results are fetched only over HTTPS from allowed hosts, or from loopback (the emulator)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.username or parts.password:
        raise UnsafeUrlError(f"Refusing to download {url!r}: URLs with credentials are not allowed.")
    if is_loopback_host(host) and parts.scheme in ("http", "https"):
        return url
    if parts.scheme != "https":
        raise UnsafeUrlError(f"Refusing to download {url!r}: only https URLs are allowed for results.")
    for allowed in allowed_hosts:
        if allowed.startswith("."):
            if host == allowed[1:] or host.endswith(allowed):
                return url
        elif host == allowed:
            return url
    raise UnsafeUrlError(
        f"Refusing to download from host {host!r}: not on the allow-list {list(allowed_hosts)}. "
        f"Add it to {EXTRA_DOWNLOAD_HOSTS_ENV} (comma-separated) if you trust it."
    )
