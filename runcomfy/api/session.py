"""The connection side of the client: the token and the one origin it may go to, pooled
sessions (no .netrc; proxies and the CA bundle chosen per request by proxies.py), a total
deadline and Stop for every call (deadlines.py), and one API exchange: send, read a bounded
answer, parse it, scrub the token from it, map an error answer (errormap.py).

Retries and what each endpoint means live in client.py; result files in downloads.py.
"""

from __future__ import annotations

import time
from typing import Callable
from urllib.parse import quote, urlencode

import requests
import urllib3
from requests.utils import requote_uri

from .. import __version__
from ..errors import (AnswerTooLargeError, BadResponseError, ConfigError, Interrupted, RunComfyError,
                      TransportError, UnsafeUrlError)
from . import proxies, upload_progress
from .answers import MAX_JSON_BYTES, NotJson, TooLarge, parse_json, read_capped, redact, redact_text
from .deadlines import Call, TrackedAdapter, running
from .errormap import error_from_response
from .hooks import Answer, CallInfo, CallKind, ClientHooks, HookSet
from .jsonbody import dumps_bytes
from .retry import never_connected, parse_retry_after
from .urls import origin_of, resolve_base_url

USER_AGENT = f"comfyui-runcomfy-model-api/{__version__}"

# Total deadlines, seconds, whatever the server does (one call, not its retries). A submit
# carries up to 64 MB of inline media, which takes minutes on a slow uplink.
CALL_DEADLINE = 60.0
SUBMIT_DEADLINE = 600.0
DOWNLOAD_DEADLINE = 600.0
CANCEL_DEADLINE = 15.0


def pooled_session(pool_size: int) -> requests.Session:
    s = requests.Session()
    # No .netrc credentials injected behind our back; proxies and the CA bundle are chosen
    # per request by proxies.py.
    s.trust_env = False
    adapter = TrackedAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    s.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return s


def send_small(session: requests.Session, method: str, url: str, *, body: bytes | None, params: dict | None,
               headers: dict, **adapter_kwargs) -> requests.Response:
    """``session.request(method, url, data=body, params=params, headers=headers, ...)`` (redirects
    not followed) for a body of bytes (or none), without requests' per-call preparation: it merges
    cookies, hooks and settings the pack does not use (trust_env is off; no cookies, auth or
    redirects are followed) and, with requests 2.34 on Python 3.11, checks each of them against a
    runtime Protocol (~0.3 ms of CPU a call; a batch makes three calls a job, issue 21). The
    adapter sends it exactly as ``Session.send`` would, with the same exceptions. A URL that is not
    ASCII takes requests' own preparation (it IDNA-encodes the host)."""
    if not url.isascii():
        return session.request(method, url, data=body, params=params, headers=headers, allow_redirects=False,
                               **adapter_kwargs)
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
    url = requote_uri(url)                   # as requests does (a result URL may hold a space)
    req = requests.PreparedRequest()
    req.method = method.upper()
    req.url = url
    req.headers = requests.structures.CaseInsensitiveDict(session.headers)
    req.headers.update(headers)
    if body is not None:
        req.headers["Content-Length"] = str(len(body))
    elif req.method not in ("GET", "HEAD"):
        req.headers["Content-Length"] = "0"
    req.body = body
    req.hooks = {"response": []}
    return session.get_adapter(url).send(req, **adapter_kwargs)


class ApiSession:
    """Everything one API exchange needs; ``RunComfyClient`` adds the calls on top."""

    def __init__(self, token: str | None, base_url: str | None = None, *,
                 connect_timeout: float = 10.0, read_timeout: float = 30.0,
                 max_json_bytes: int = MAX_JSON_BYTES,
                 call_deadline: float = CALL_DEADLINE, submit_deadline: float = SUBMIT_DEADLINE,
                 download_deadline: float = DOWNLOAD_DEADLINE,
                 should_abort: Callable[[], bool] | None = None,
                 pool_size: int = 32, allow_anonymous: bool = False,
                 hooks: ClientHooks | None = None):
        # allow_anonymous: reads of the public catalog go out without a token when none is set.
        if (not token or not str(token).strip()) and not allow_anonymous:
            raise ConfigError("No RunComfy API token is configured.")
        self._token = str(token).strip() if token and str(token).strip() else None
        self.base_url = resolve_base_url(base_url)
        self._origin = origin_of(self.base_url)
        self.timeout = (connect_timeout, read_timeout)
        self.max_json_bytes = max_json_bytes
        self.call_deadline = call_deadline
        self.submit_deadline = submit_deadline
        self.download_deadline = download_deadline
        self.should_abort = should_abort or (lambda: False)
        self.hooks = HookSet(hooks)
        self._api = pooled_session(pool_size)
        self._files = pooled_session(pool_size)

    def __repr__(self) -> str:  # never show the token
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def observed(self, hooks: ClientHooks):
        """``with client.observed(ClientHooks(...)):`` attaches observers for the block."""
        return self.hooks.attached(hooks)

    def close(self) -> None:
        self._api.close()
        self._files.close()

    # --- the token --------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _auth_headers(self, url: str) -> dict:
        if origin_of(url) != self._origin:
            raise UnsafeUrlError("Refusing to send the API token to a host other than the configured API origin.")
        if self._token is None:
            return {}
        return {"Authorization": f"Bearer {self._token}"}

    def _secrets(self) -> tuple[str, ...]:
        if self._token is None:       # an anonymous catalog read has nothing to hide
            return ()
        return (self._token, quote(self._token, safe=""))

    def scrub(self, exc: BaseException) -> BaseException:
        """Remove the token from an error's texts: servers sometimes echo the Authorization
        header (or the whole request) in their error message. The one edit of an error in
        place, on purpose: a redacted copy would leave the original, token and all, reachable
        as the copy's ``__context__``."""
        sec = self._secrets()
        if isinstance(exc, RunComfyError):
            for attr in ("base_message", "server_message"):
                val = getattr(exc, attr, None)
                if isinstance(val, str):
                    setattr(exc, attr, redact_text(val, sec))
            if getattr(exc, "detail", None) is not None:
                exc.detail = redact(exc.detail, sec)
        exc.args = tuple(redact_text(a, sec) if isinstance(a, str) else a for a in exc.args)
        return exc

    # --- time -------------------------------------------------------------------------

    def _sleep(self, seconds: float, abortable: bool = True) -> None:
        end = time.monotonic() + seconds
        while True:
            if abortable and self.should_abort():
                raise Interrupted("Stopped by the user while waiting to retry.")
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.05, left))

    def _deadline(self, budget: float, until: float | None) -> float:
        end = time.monotonic() + budget
        return min(end, until) if until is not None else end

    def _timeouts(self, call: Call) -> tuple[float, float]:
        left = max(0.05, call.remaining())
        return (min(self.timeout[0], left), min(self.timeout[1], left))

    def _killed_error(self, call: Call, context: str, request_id, budget_text: str,
                      route: proxies.Route | None = None) -> RunComfyError:
        phase = "" if call.sent else (
            f" while connecting through the proxy {route.shown}, before anything was sent" if route and route.proxy
            else " while connecting, before anything was sent")
        if call.killed == "stopped":
            return Interrupted(f"{context}: stopped by the user{phase or ' while the call was in flight'}.",
                               request_id=request_id, nothing_sent=not call.sent)
        return TransportError(f"{context}: no complete answer within the total deadline ({budget_text}){phase}; "
                              "the connection was closed.", maybe_received=call.sent, request_id=request_id)

    # --- one exchange -----------------------------------------------------------------

    def _once(self, kind: CallKind, method: str, url: str, *, json_body=None, params=None, request_id=None,
              fresh_connection: bool = False, until: float | None = None, budget: float | None = None,
              abortable: bool = True, max_bytes: int | None = None,
              progress: upload_progress.Listener | None = None,
              uplink: upload_progress.UplinkEstimate | None = None) -> dict:
        call_info = CallInfo(kind, method, url, request_id)
        self.hooks.emit("on_request", call_info)
        try:
            status, body = self._exchange(kind.label, method, url, json_body=json_body, params=params,
                                          request_id=request_id, fresh_connection=fresh_connection, until=until,
                                          budget=budget, abortable=abortable, max_bytes=max_bytes,
                                          progress=progress, uplink=uplink)
        except RunComfyError as exc:
            self.hooks.emit("on_error", call_info, exc)
            raise
        self.hooks.emit("on_response", Answer(call_info, status, body))
        return body

    def _exchange(self, what: str, method: str, url: str, *, json_body, params, request_id, fresh_connection,
                  until, budget, abortable, max_bytes, progress, uplink) -> tuple[int, dict]:
        headers = self._auth_headers(url)
        data = None
        if json_body is not None:
            data = dumps_bytes(json_body)
            headers["Content-Type"] = "application/json"
        session = self._api
        if fresh_connection:
            # A pooled keep-alive connection that the server closed meanwhile fails exactly like
            # "sent, answer lost"; a submit must never become ambiguous for that reason.
            session = pooled_session(1)
            headers["Connection"] = "close"
        budget = self.call_deadline if budget is None else budget
        call = Call(self._deadline(budget, until), self.should_abort if abortable else None)
        budget_text = f"{max(0.0, call.remaining()):.0f} s"
        try:
            route = proxies.route_for(url)
            verify, _ca_source = proxies.ca_bundle()
            with running(call):
                if call.killed:
                    raise self._killed_error(call, what, request_id, budget_text, route)
                try:
                    if data is None or len(data) < upload_progress.STREAM_MIN_BYTES:
                        resp = send_small(session, method, url, body=data, params=params, headers=headers,
                                          timeout=self._timeouts(call), stream=True, cert=None,
                                          proxies=route.requests_proxies(), verify=verify)
                    else:
                        # Large bodies (submits) stream with upload progress: upload_progress.py.
                        resp = upload_progress.request(session, method, url, data=data, params=params,
                                                       headers=headers, timeout=self._timeouts(call),
                                                       allow_redirects=False, stream=True,
                                                       proxies=route.requests_proxies(), verify=verify,
                                                       listener=progress, uplink=uplink)
                    try:
                        raw = read_capped(resp, max_bytes or self.max_json_bytes)
                    finally:
                        resp.close()
                except TooLarge as exc:
                    raise AnswerTooLargeError(
                        f"{what}: refused an answer {exc}: the client accepts at most "
                        f"{(max_bytes or self.max_json_bytes) // (1024 * 1024)} MB of JSON here.",
                        http_status=resp.status_code, request_id=request_id) from None
                except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
                    if call.killed:
                        raise self._killed_error(call, what, request_id, budget_text, route) from None
                    failure = proxies.classify(exc, route, url, what, sent=call.sent, request_id=request_id)
                    if failure is not None:
                        raise failure from None
                    # Failing before the request was being sent (TCP, TLS handshake) sent nothing.
                    never = (isinstance(exc, requests.RequestException) and never_connected(exc)) or not call.sent
                    kind = "could not connect" if never else "connection lost or timed out"
                    raise TransportError(f"{what}: {kind} ({type(exc).__name__}).",
                                         maybe_received=not never, request_id=request_id) from None
        finally:
            if session is not self._api:
                session.close()
        text = redact_text(raw.decode("utf-8", errors="replace"), self._secrets())
        problem = None
        try:
            body = redact(parse_json(text), self._secrets()) if text.strip() else {}
        except NotJson as exc:
            body, problem = None, str(exc)
        if resp.status_code >= 400 or resp.status_code in (301, 302, 303, 307, 308):
            raise error_from_response(resp.status_code, body if body is not None else text[:300],
                                      request_id=request_id,
                                      retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                                      context=what)
        if not isinstance(body, dict):
            why = problem or "it is not a JSON object"
            raise BadResponseError(f"{what}: the answer was not the expected JSON object: {why}.",
                                   http_status=resp.status_code, request_id=request_id)
        if body.get("error_code") not in (None, 0, "0", ""):
            # Some RunComfy services report errors with HTTP 200: show the real status.
            raise error_from_response(resp.status_code, body, request_id=request_id, context=what)
        return resp.status_code, body
