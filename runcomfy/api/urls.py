"""Where requests go: the API base URL, which hosts results may be downloaded from, what a
request id or model id may look like before it is put into a URL path, and which tokens an
HTTP header can carry."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from .. import settings
from ..errors import ConfigError, UnsafeUrlError

DEFAULT_BASE_URL = "https://model-api.runcomfy.net/v1"
BASE_URL_ENV = settings.BASE_URL_ENV
TOKEN_ENV = settings.TOKEN_ENV
EXTRA_DOWNLOAD_HOSTS_ENV = settings.DOWNLOAD_HOSTS_ENV

# Output files live on RunComfy storage; a leading dot means "this domain and its subdomains".
DEFAULT_DOWNLOAD_HOSTS = (".runcomfy.net", ".runcomfy.com")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
# Same shape as a schema's model_id: 2 to 4 segments, none of them "." or "..".
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){1,3}$")
MAX_MODEL_ID = 200
_HOSTNAME = re.compile(r"^[a-z0-9._\-:\[\]]+$")
MAX_TOKEN = 512


def is_loopback_host(host: str | None) -> bool:
    """Only ``localhost`` and literal loopback IPs. ``*.localhost`` names are not: whether they
    resolve to this machine is up to the resolver, so they are no proof of "local"."""
    host = (host or "").strip().lower()
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(explicit: str | None = None) -> str:
    """The API base URL; a non-loopback origin must be HTTPS so the token never travels in clear."""
    name = "base_url" if explicit else BASE_URL_ENV
    url = (explicit or settings.base_url() or DEFAULT_BASE_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s) URL, got {url!r}.")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{name} has an invalid port in {url!r}: the port must be a number from 1 to 65535.")
    if not _HOSTNAME.match(parts.hostname):
        raise ConfigError(f"{name} has an invalid host name {parts.hostname!r} in {url!r}.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"{name} must use https for a non-loopback host (got {parts.scheme}://{parts.hostname}); "
            "plain http is only allowed for a local emulator on 127.0.0.1/localhost."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{name} must be a plain base URL without credentials, query or fragment.")
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


def check_model_id(model_id: str) -> str:
    """Model ids end up in a URL path: 2 to 4 plain segments, no dot segments, no escapes."""
    mid = model_id if isinstance(model_id, str) else ""
    if len(mid) > MAX_MODEL_ID or not _MODEL_ID.fullmatch(mid):
        shown = mid if len(mid) <= 60 else mid[:57] + "..."
        raise UnsafeUrlError(
            f"Model id {shown!r} is not valid: expected 2 to 4 '/'-separated segments of letters, digits, "
            f"'.', '-' or '_' (each starting with a letter or digit), at most {MAX_MODEL_ID} characters."
        )
    return mid


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be sent as ``Authorization: Bearer <token>``, or None. Names the
    position and the code point of the first bad character, never the token itself."""
    if not token:
        return "The token is empty."
    if len(token) > MAX_TOKEN:
        return f"The token is {len(token)} characters long; at most {MAX_TOKEN} are allowed."
    for i, ch in enumerate(token, 1):
        if "\x21" <= ch <= "\x7e":
            continue
        if ch == " ":
            what = "a space"
        elif ch in "\r\n":
            what = "a line break"
        elif ch.isspace():
            what = f"a whitespace character (U+{ord(ch):04X})"
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            what = f"a control character (U+{ord(ch):04X})"
        else:
            what = f"the non-ASCII character U+{ord(ch):04X}"
        return (f"The token contains {what} at position {i}, which an HTTP header cannot carry. "
                "A RunComfy token is plain ASCII letters, digits and punctuation: copy it again from "
                "your RunComfy profile page.")
    return None


def download_hosts(extra: tuple[str, ...] = (), api_base: str | None = None) -> tuple[str, ...]:
    """The hosts result files may come from. Loopback joins only when ``api_base`` (the configured
    API) is itself loopback, i.e. the emulator: with the real API, a result URL that points at a
    port on this machine is refused, whatever the extra hosts say."""
    env = settings.extra_download_hosts()
    hosts = tuple(h for h in DEFAULT_DOWNLOAD_HOSTS + tuple(h.lower() for h in extra) + env
                  if not is_loopback_host(h))
    base_host = urlsplit(api_base).hostname if api_base else None
    if is_loopback_host(base_host):
        hosts += tuple(dict.fromkeys(("localhost", "127.0.0.1", "::1", base_host.lower())))
    return hosts


def check_download_url(url: str, allowed_hosts: tuple[str, ...]) -> str:
    """Results are fetched only over HTTPS from allowed hosts; loopback (http or https) only when
    ``allowed_hosts`` names it, which ``download_hosts`` does only for a loopback API base."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.username or parts.password:
        raise UnsafeUrlError(f"Refusing to download {url!r}: URLs with credentials are not allowed.")
    if is_loopback_host(host) and parts.scheme in ("http", "https"):
        if host in allowed_hosts:
            return url
        raise UnsafeUrlError(
            f"Refusing to download {url!r}: result files come from this machine only when "
            f"{BASE_URL_ENV} is itself a loopback address (the emulator)."
        )
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
