"""Which proxy and which CA bundle a request uses, and what a failure of either means.

The sessions keep ``trust_env = False`` so that ``requests`` never adds ``.netrc`` credentials;
the proxy is chosen here instead, per URL, from (first wins):

1. the pack's saved setting (Settings > RunComfy Model API > Proxy, set through ``set_saved_proxy``),
2. ``RUNCOMFY_PROXY``,
3. the usual ``https_proxy`` / ``HTTPS_PROXY`` / ``all_proxy`` / ``ALL_PROXY`` (lower case first,
   as curl and Python's urllib read them).

``NO_PROXY`` / ``no_proxy`` exempt hosts from any of them (requests' rules: suffixes, ``*``,
CIDR blocks); the value ``direct`` for 1 or 2 turns the proxy off whatever the environment says.

Only https URLs are ever proxied, and always through a CONNECT tunnel: the proxy sees the target
host and port, never a header (so the token stays inside TLS). Plain http is something the pack
only uses for a loopback emulator, and a proxy would see its token in clear, so plain http
always goes direct (``HTTP_PROXY`` therefore never applies).

CA bundle: ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE``, ``SSL_CERT_DIR``
(first set wins) replace the default bundle, as requests does when it reads the environment.

A refused tunnel, a proxy asking for credentials, an unreachable proxy or a certificate that
fails verification all happen before any request byte is sent: they are reported as such
(``ProxyFailure``, ``CertificateFailure``, never "may have been received").
"""

from __future__ import annotations

import os
import re
import ssl
import threading
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3

from .. import settings
from ..errors import ConfigError, TransportError

PROXY_ENV = settings.PROXY_ENV
SAVED = "saved setting"
DIRECT = "direct"
CA_ENVS = settings.CA_ENVS
_ENV_ORDER = settings.PROXY_ENVS

_saved: str | None = None
_saved_lock = threading.Lock()


def set_saved_proxy(value: str | None) -> None:
    """The pack's saved proxy setting ("" or None: not set; ``direct``: no proxy at all)."""
    global _saved
    with _saved_lock:
        _saved = (value or "").strip() or None


def saved_proxy() -> str | None:
    with _saved_lock:
        return _saved


class ProxyFailure(TransportError):
    """The proxy refused or could not be reached: nothing reached RunComfy."""

    def __init__(self, message: str, *, permanent: bool, request_id: str | None = None):
        self.permanent = permanent     # retrying cannot help (credentials, a refused tunnel)
        super().__init__(message, maybe_received=False, request_id=request_id)


class CertificateFailure(TransportError):
    """A TLS certificate failed verification: the handshake ended before any request was sent."""

    def __init__(self, message: str, *, request_id: str | None = None):
        self.permanent = True
        super().__init__(message, maybe_received=False, request_id=request_id)


@dataclass(frozen=True)
class Route:
    proxy: str | None       # the proxy URL (may hold credentials: never show it, see ``shown``)
    source: str             # where it came from: "saved setting", "RUNCOMFY_PROXY", "HTTPS_PROXY"...

    @property
    def shown(self) -> str:
        return shown_proxy(self.proxy) if self.proxy else "none"

    def requests_proxies(self) -> dict:
        return {"https": self.proxy} if self.proxy else {}


def shown_proxy(url: str) -> str:
    """A proxy URL without its credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    user = "<user>:<password>@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{user}{host}{port}"


def check_proxy_url(value: str, what: str) -> str:
    """An http(s) proxy URL ``scheme://[user:password@]host[:port]``; ConfigError naming ``what``
    otherwise. A bare ``host:port`` means ``http://host:port`` (as curl reads it)."""
    raw = (value or "").strip()
    if "://" not in raw:
        raw = "http://" + raw
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        raise ConfigError(f"{what} names a SOCKS proxy ({scheme}://...), which the RunComfy pack does not "
                          f"support: use an HTTP proxy (http://host:port), set {PROXY_ENV}=direct to go "
                          "without one, or exempt the RunComfy hosts with NO_PROXY.")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ConfigError(f"{what} is not a proxy URL like http://host:port (got {shown_proxy(raw)!r}).")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{what} must be just scheme://host:port (with user:password@ if the proxy needs "
                          f"them), without a path or query (got {shown_proxy(raw)!r}).")
    return raw.rstrip("/")


def _explicit() -> tuple[str | None, str]:
    saved = saved_proxy()
    if saved:
        return saved, SAVED
    env = settings.proxy_setting()
    if env:
        return env, PROXY_ENV
    return None, ""


def _from_environment() -> tuple[str | None, str]:
    return settings.environment_proxy()


def bypassed(url: str) -> bool:
    """NO_PROXY / no_proxy (and, on macOS and Windows, the system's exceptions)."""
    try:
        return bool(requests.utils.should_bypass_proxies(url, no_proxy=None))
    except Exception:   # a malformed NO_PROXY entry must not break every call
        return False


def route_for(url: str) -> Route:
    """How a request to ``url`` goes out. Raises ConfigError for an unusable proxy setting."""
    if urlsplit(url).scheme.lower() != "https":
        return Route(None, "plain http is never proxied")
    value, source = _explicit()
    if value is not None and value.lower() in (DIRECT, "none"):
        return Route(None, source)
    if value is None:
        value, source = _from_environment()
    if value is None:
        return Route(None, "")
    if bypassed(url):
        return Route(None, "NO_PROXY")
    return Route(check_proxy_url(value, source), source)


def ca_bundle() -> tuple[str | bool, str]:
    """(``verify`` for requests, the variable it came from or "")."""
    value, name = settings.ca_bundle_setting()
    if not value:
        return True, ""
    if not os.path.exists(value):
        raise ConfigError(f"{name} is set to {value!r}, which does not exist: point it at a PEM file "
                          "with your network's CA certificates, or unset it.")
    return value, name


def ca_text() -> str:
    try:
        verify, name = ca_bundle()
    except ConfigError as exc:
        return exc.base_message
    return f"the CA bundle from {name} ({verify})" if name else "the default CA bundle (certifi)"


# --- what a failed exchange means ---------------------------------------------------------------

_TUNNEL = re.compile(r"Tunnel connection failed:\s*(\d{3})\s*(.*)")


def _chain(exc: BaseException) -> list[BaseException]:
    out, seen, todo = [], set(), [exc]
    while todo and len(out) < 32:
        cur = todo.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        out.append(cur)
        todo.extend(c for c in (cur.__cause__, cur.__context__, getattr(cur, "reason", None))
                    if isinstance(c, BaseException))
        todo.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    return out


def classify(exc: BaseException, route: Route, url: str, what: str, sent: bool = True,
             request_id: str | None = None) -> TransportError | None:
    """A ProxyFailure or CertificateFailure for ``exc`` (raised while requesting ``url`` by
    ``route``, about ``request_id``), or None when it is neither. ``sent``: whether the request
    itself was already being sent (False: it failed while connecting, i.e. in the proxy's CONNECT
    or the handshake)."""
    chain = _chain(exc)
    parts = urlsplit(url)
    target = f"{parts.hostname}:{parts.port or 443}"
    via = f" through the proxy {route.shown} (from {route.source})" if route.proxy else ""
    to_proxy = any(isinstance(c, (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError)) for c in chain)

    for c in chain:
        m = _TUNNEL.search(str(c.args[0])) if c.args and isinstance(c.args[0], str) else None
        if m and route.proxy:
            code, reason = int(m.group(1)), m.group(2).strip()
            if code == 407:
                how = ("the credentials in the proxy URL were refused" if "@" in route.shown
                       else "put them in the proxy URL as http://user:password@host:port")
                return ProxyFailure(f"{what}: the proxy {route.shown} (from {route.source}) requires authentication "
                                    f"(HTTP 407 Proxy Authentication Required): {how}. Nothing reached RunComfy.",
                                    permanent=True, request_id=request_id)
            return ProxyFailure(f"{what}: the proxy {route.shown} (from {route.source}) refused to open a tunnel "
                                f"to {target} (HTTP {code} {reason}). Nothing reached RunComfy; ask your network "
                                "administrator to allow it, or exempt the host with NO_PROXY.", permanent=True,
                                request_id=request_id)

    cert = next((c for c in chain if isinstance(c, ssl.SSLCertVerificationError)
                 or "CERTIFICATE_VERIFY_FAILED" in str(c) or type(c).__name__ == "CertificateError"),
                None)
    if cert is not None:
        why = getattr(cert, "verify_message", None) or str(cert)
        why = why[:200]
        if to_proxy and route.proxy and urlsplit(route.proxy).scheme == "https":
            whose = f"the proxy {route.shown} (from {route.source})"
        else:
            whose = f"{parts.hostname}{via}"
        return CertificateFailure(
            f"{what}: the TLS certificate of {whose} failed verification ({why}), so nothing was sent. "
            f"It was checked against {ca_text()}. If your network inspects TLS or uses a private CA, set "
            "REQUESTS_CA_BUNDLE or SSL_CERT_FILE to a PEM file holding that CA and start the program again "
            "(the variable is read at start).", request_id=request_id)

    if to_proxy and route.proxy:
        inner = next((c for c in chain if isinstance(c, (ConnectionRefusedError, TimeoutError, OSError))
                      and not isinstance(c, (requests.RequestException, urllib3.exceptions.HTTPError))), None)
        why = type(inner).__name__ if inner is not None else "no tunnel"
        return ProxyFailure(f"{what}: could not connect to the proxy {route.shown} (from {route.source}): {why}. "
                            "Nothing reached RunComfy.", permanent=False, request_id=request_id)
    if route.proxy and not sent:
        return ProxyFailure(f"{what}: the proxy {route.shown} (from {route.source}) did not open the tunnel to "
                            f"{target} ({type(chain[-1]).__name__}). Nothing reached RunComfy.", permanent=False)
    return None
