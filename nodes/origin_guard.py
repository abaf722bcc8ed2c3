"""Which browser requests the pack's routes accept.

ComfyUI's own origin check lets ``Origin: null`` through (sandboxed iframes, local files) and
compares Host with Origin only when the Host resolves to loopback, so a DNS-rebinding name or a
foreign page could replace or clear the saved token. The routes therefore check, per request:

* Host is this server's own: ``localhost`` or a literal loopback IP (any port), the address the
  request arrived on (the listen address, e.g. a LAN IP with ``--listen 0.0.0.0``) with its
  port, this machine's host name (and ``<name>.local``) with that port, or the host of
  ``RUNCOMFY_PUBLIC_ORIGIN`` (the browser-visible origin behind a reverse proxy). A rebinding
  name never matches: the browser sends the attacker's name.
* Origin, when sent, is exactly this server's origin (request scheme + Host) or
  ``RUNCOMFY_PUBLIC_ORIGIN``; ``Origin: null`` and any other value are refused.
* ``Sec-Fetch-Site``, when sent, is ``same-origin`` (reads also accept ``none``: a URL typed in
  the address bar).
* State-changing routes also need ``X-RunComfy-Request: 1`` (a cross-site page cannot add a
  custom header without a CORS preflight, which ComfyUI does not grant for it) and a JSON content
  type whenever a body or a content type is sent, so an HTML form or a text/plain "simple"
  request never gets through.

Non-browser clients (curl, scripts on this machine) send no Origin: they pass with the header.

Public reads (``public_read``: the price, whether a token is set and where from, catalog
listings) reveal no secret and change nothing, so they answer for any Host and Origin (a hosted or
reverse-proxied ComfyUI needs no setting for them); only a browser's own marks of a foreign page
(``Sec-Fetch-Site`` other than same-origin/none, ``Origin: null``) and duplicated headers are refused.

A refused request gets a machine-readable ``reason`` (see REASONS); for ``host`` and ``origin``
the settings page composes the exact ``RUNCOMFY_PUBLIC_ORIGIN`` value from its own
``location.origin``. The server never turns a request's Host or Origin into advice.

``refusal`` is a pure function of the request's parts; ``guard`` wraps an aiohttp handler.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
from urllib.parse import urlsplit

from ..runcomfy import settings
from ..runcomfy.api.urls import is_loopback_host

log = logging.getLogger("runcomfy")

HEADER = "X-RunComfy-Request"
HEADER_VALUE = "1"
PUBLIC_ORIGIN_ENV = settings.PUBLIC_ORIGIN_ENV
_SINGLE = ("host", "origin", "content-type", HEADER.lower(), "sec-fetch-site")
_PROXY_HINT = (f" If ComfyUI is reached through a reverse proxy or another host name, set {PUBLIC_ORIGIN_ENV} "
               "to the exact address shown in the browser (for example https://comfy.example.com) "
               "before starting ComfyUI.")


# Machine-readable reasons of a refusal. FIXED_BY_PUBLIC_ORIGIN: setting RUNCOMFY_PUBLIC_ORIGIN to
# the address the browser shows makes the request pass.
MALFORMED, HOST, ORIGIN, ORIGIN_NULL, FETCH_SITE, MISSING_HEADER, CONTENT_TYPE, PUBLIC_ORIGIN_INVALID = (
    "malformed", "host", "origin", "origin_null", "fetch_site", "missing_header", "content_type",
    "public_origin_invalid")
REASONS = (MALFORMED, HOST, ORIGIN, ORIGIN_NULL, FETCH_SITE, MISSING_HEADER, CONTENT_TYPE, PUBLIC_ORIGIN_INVALID)
FIXED_BY_PUBLIC_ORIGIN = (HOST, ORIGIN, PUBLIC_ORIGIN_INVALID)


class _Refused(Exception):
    def __init__(self, text: str, code: str = MALFORMED):
        super().__init__(text)
        self.code = code


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _split_host(value: str) -> tuple[str, int | None]:
    """(hostname, port or None) of a Host header value; raises _Refused when it is malformed."""
    parts = urlsplit("//" + value)
    try:
        port = parts.port
    except ValueError:
        raise _Refused(f"the Host header {value!r} has an invalid port.", HOST) from None
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.path or parts.query or parts.fragment:
        raise _Refused(f"the Host header {value!r} is not a host name.", HOST)
    return host, port


def _split_origin(value: str, what: str, code: str = ORIGIN) -> tuple[str, str, int]:
    """(scheme, hostname, port) of an exact origin ``scheme://host[:port]``."""
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        raise _Refused(f"{what} {value!r} has an invalid port.", code) from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username is not None):
        raise _Refused(f"{what} {value!r} is not an origin like https://host[:port].", code)
    return parts.scheme, parts.hostname.lower(), port if port is not None else _default_port(parts.scheme)


def public_origins(value: str | None) -> tuple[tuple[str, str, int], ...]:
    """RUNCOMFY_PUBLIC_ORIGIN: one exact origin, or several separated by commas."""
    items = [v.strip().rstrip("/") for v in (value or "").split(",") if v.strip()]
    return tuple(_split_origin(v, PUBLIC_ORIGIN_ENV, PUBLIC_ORIGIN_INVALID) for v in items)


def _same_ip(a: str, b: str) -> bool:
    try:
        x, y = ipaddress.ip_address(a.strip("[]")), ipaddress.ip_address(b.strip("[]"))
    except ValueError:
        return False
    x = getattr(x, "ipv4_mapped", None) or x
    y = getattr(y, "ipv4_mapped", None) or y
    return x == y


def _single_values(headers) -> dict:
    seen: dict = {}
    for key, value in headers.items():
        k = key.lower()
        if k in _SINGLE and k in seen:
            raise _Refused(f"the {key} header was sent more than once.")
        seen[k] = value.strip()
    return seen


def _has_body(headers) -> bool:
    length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
    if length is not None and length.strip() not in ("", "0"):
        return True
    return any(k.lower() == "transfer-encoding" for k in headers.keys())


def refusal(method: str, headers, **kw) -> str | None:
    """Why this request must be refused (a text), or None to accept it; see ``refusal_reason``."""
    refused = refusal_reason(method, headers, **kw)
    return refused[1] if refused else None


def refusal_reason(method: str, headers, *, scheme: str = "http", local_address: tuple | None = None,
                   public_origin: str | None = None, hostnames: tuple[str, ...] = (),
                   state_changing: bool | None = None, public: bool = False) -> tuple[str, str] | None:
    """(reason code, text) of why this request must be refused, or None to accept it.

    ``headers``: the request headers (any mapping with ``items()``); ``scheme``: the scheme the
    request arrived with; ``local_address``: the (ip, port, ...) socket address it arrived on;
    ``public_origin``: the value of RUNCOMFY_PUBLIC_ORIGIN; ``hostnames``: this machine's names;
    ``state_changing``: defaults to "not GET/HEAD"; ``public``: a read that reveals no secret
    (any Host, any Origin)."""
    if state_changing is None:
        state_changing = method.upper() not in ("GET", "HEAD")
    if public and state_changing:
        raise ValueError("only reads can be public")
    try:
        h = _single_values(headers)
        if public:
            if (h.get("origin") or "").lower() == "null":
                raise _Refused("Origin 'null' (a sandboxed frame or a local file) may not use these routes.",
                               ORIGIN_NULL)
            site = h.get("sec-fetch-site")
            if site is not None and site.lower() not in ("same-origin", "none"):
                raise _Refused(f"the browser marked it as Sec-Fetch-Site {site!r}; only same-origin requests "
                               "are accepted.", FETCH_SITE)
            return None
        publics = public_origins(public_origin)
        local_ip, local_port = (str(local_address[0]), int(local_address[1])) if local_address else (None, None)

        raw_host = h.get("host", "")
        if not raw_host:
            raise _Refused("the request has no Host header.", HOST)
        host, given_port = _split_host(raw_host)
        port = given_port if given_port is not None else _default_port(scheme)
        own_host = (
            is_loopback_host(host)
            or (local_ip is not None and port == local_port and _same_ip(host, local_ip))
            or (local_port is not None and port == local_port and host in {n.lower() for n in hostnames if n})
            # A TLS-terminating proxy forwards "Host: name" to plain http: no port means the public one.
            or any(host == p_host and given_port in (None, p_port) for _s, p_host, p_port in publics)
        )
        if not own_host:
            raise _Refused(f"the Host {raw_host!r} is not this ComfyUI server's own address "
                           "(a DNS-rebinding page looks like this)." + _PROXY_HINT, HOST)

        origin = h.get("origin")
        if origin is not None:
            if origin.lower() == "null" or not origin:
                raise _Refused("Origin 'null' (a sandboxed frame or a local file) may not use these routes.",
                               ORIGIN_NULL)
            o = _split_origin(origin.rstrip("/"), "the Origin")
            if o != (scheme, host, port) and o not in publics:
                raise _Refused(f"the Origin {origin!r} is not this ComfyUI page's own origin."
                               + (_PROXY_HINT if not publics else f" {PUBLIC_ORIGIN_ENV} is {public_origin!r}."),
                               ORIGIN)

        site = h.get("sec-fetch-site")
        if site is not None and site.lower() not in (("same-origin",) if state_changing else ("same-origin", "none")):
            raise _Refused(f"the browser marked it as Sec-Fetch-Site {site!r}; only same-origin requests are accepted.",
                           FETCH_SITE)

        if state_changing:
            if h.get(HEADER.lower()) != HEADER_VALUE:
                raise _Refused(f"it lacks the {HEADER}: {HEADER_VALUE} header that the RunComfy settings page sends.",
                               MISSING_HEADER)
            ctype = h.get("content-type")
            if ctype is not None or _has_body(headers):
                media = (ctype or "").split(";", 1)[0].strip().lower()
                if media != "application/json":
                    raise _Refused(f"its content type is {ctype!r}; these routes take application/json only.",
                                   CONTENT_TYPE)
    except _Refused as exc:
        return exc.code, str(exc)
    return None


def _machine_names() -> tuple[str, ...]:
    try:
        name = socket.gethostname().lower()
    except OSError:
        return ()
    return (name, name + ".local") if name and "." not in name else (name,)


def request_refusal(request, state_changing: bool, public: bool = False) -> tuple[str, str] | None:
    """``refusal_reason`` for an aiohttp request."""
    transport = getattr(request, "transport", None)
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    local = sockname if isinstance(sockname, tuple) and len(sockname) >= 2 else None
    return refusal_reason(request.method, request.headers, scheme=request.scheme, local_address=local,
                          public_origin=settings.public_origin(), hostnames=_machine_names(),
                          state_changing=state_changing, public=public)


def refusal_body(code: str, text: str, public_origin: str | None) -> dict:
    """The 403 answer. ``fix: "public_origin"`` tells the settings page to show
    ``RUNCOMFY_PUBLIC_ORIGIN=<its own location.origin>``; nothing here comes from the request."""
    body = {"ok": False, "error": "RunComfy refused this request: " + text, "reason": code,
            "public_origin_env": PUBLIC_ORIGIN_ENV, "public_origin_set": bool((public_origin or "").strip())}
    if code in FIXED_BY_PUBLIC_ORIGIN:
        body["fix"] = "public_origin"
    return body


def guard(state_changing: bool, public: bool = False):
    """Decorator for an aiohttp handler ``async def handler(request)``: a refused request gets
    HTTP 403 with ``refusal_body`` and never reaches the handler."""
    def wrap(handler):
        @functools.wraps(handler)
        async def guarded(request):
            refused = request_refusal(request, state_changing, public)
            if refused is not None:
                from aiohttp import web
                log.warning("runcomfy: refused %s %s: %s", request.method, request.path, refused[1])
                return web.json_response(refusal_body(*refused, settings.public_origin()),
                                         status=403, headers={"Cache-Control": "no-store"})
            return await handler(request)
        return guarded
    return wrap


# For the pack's routes: every POST/PUT/PATCH/DELETE uses ``same_origin_write``; a GET that
# reveals no secret (price, token yes/no and its source, catalog listings) ``public_read``, any
# other GET ``same_origin_read``.
same_origin_write = guard(state_changing=True)
same_origin_read = guard(state_changing=False)
public_read = guard(state_changing=False, public=True)
