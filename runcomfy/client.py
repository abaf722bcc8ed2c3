"""HTTP client for the RunComfy Model API. Knows nothing of ComfyUI or torch.

Money rules: a submit is re-sent only when the server certainly did not take it (the
connection was never established, or HTTP 429). Reads are retried with backoff.
The token goes only to the configured API origin; result downloads never carry it. Proxies and
the CA bundle come from transport/proxies.py (never from .netrc): https only, through a CONNECT
tunnel, so a proxy never sees the token.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from pathlib import Path
from urllib.parse import quote, urljoin

import requests
import urllib3

from . import __version__, upload_progress
from .config import (check_download_url, check_request_id, download_hosts, origin_of,
                     resolve_base_url)
from .errors import (AnswerTooLargeError, ApiError, AuthError, BadResponseError, ConfigError, DownloadError,
                     InsufficientBalanceError, Interrupted, NotFoundError, PermissionDeniedError,
                     RateLimitError, RemoteValidationError, RunComfyError, ServerError,
                     SubmitOutcomeUnknownError, TransportError, UnsafeUrlError)
from .jsonbody import dumps_bytes
from .media.spec import OUTPUT_KEYS
from .transport.answers import (MAX_JSON_BYTES, NotJson, TooLarge, finite_number, parse_json, read_capped,
                                redact, redact_text)
from .transport import proxies
from .transport.deadlines import Call, TrackedAdapter, running

USER_AGENT = f"comfyui-runcomfy-model-api/{__version__}"

# Normalised job states. The status endpoint and the result endpoint name them differently.
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
_STATE_NAMES = {
    "in_queue": QUEUED, "queued": QUEUED, "pending": QUEUED,
    "in_progress": RUNNING, "running": RUNNING, "processing": RUNNING,
    "completed": SUCCEEDED, "succeeded": SUCCEEDED, "success": SUCCEEDED,
    "failed": FAILED, "error": FAILED,
    "cancelled": CANCELLED, "canceled": CANCELLED,
}

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
# Total deadlines, seconds, whatever the server does (one call, not its retries). A submit
# carries up to 64 MB of inline media, which takes minutes on a slow uplink.
CALL_DEADLINE = 60.0
SUBMIT_DEADLINE = 600.0
DOWNLOAD_DEADLINE = 600.0
CANCEL_DEADLINE = 15.0
MAX_CATALOG_BYTES = 32 * 1024 * 1024
# Numbers outside these ranges are treated as "not reported", never trusted or crashed on.
MAX_QUEUE_POSITION = 1_000_000
MAX_COST_USD = 100_000.0
_MESSAGE_KEYS = ("error_message", "message", "error", "detail", "msg")


def normalize_state(raw: Any) -> str:
    state = _STATE_NAMES.get(str(raw or "").strip().lower())
    if state is None:
        raise BadResponseError(f"Unknown job status {raw!r} from the service.")
    return state


@dataclass
class Submission:
    request_id: str
    raw: dict


@dataclass
class JobStatus:
    request_id: str
    state: str
    raw_status: str
    queue_position: int | None
    raw: dict


@dataclass
class JobResult:
    request_id: str
    state: str
    raw_status: str
    output_urls: list[str]
    output: dict
    cost: float | None
    created_at: str | None
    finished_at: str | None
    error_message: str | None
    raw: dict = field(repr=False, default_factory=dict)


@dataclass
class CancelOutcome:
    request_id: str
    outcome: str
    status: str | None
    raw: dict


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, honouring Retry-After, within a bound."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    max_elapsed: float = 120.0
    submit_max_attempts: int = 4
    # Result files may 404 for a while after the job succeeded (storage lag): keep trying this long.
    download_window: float = 120.0
    download_min_delay: float = 0.25     # a file that 404s is not asked again sooner than this
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.base_delay * (2 ** attempt))
        wait = self.rng.uniform(backoff / 2, backoff)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def message_of(body: Any) -> str | None:
    """The server's own text, whichever key this service used."""
    if isinstance(body, str):
        return body.strip() or None
    if not isinstance(body, dict):
        return None
    for key in _MESSAGE_KEYS:
        val = body.get(key)
        if isinstance(val, str) and val.strip():
            return val.strip()
        if isinstance(val, dict):
            inner = message_of(val)
            if inner:
                return inner
        if isinstance(val, list) and val:
            return _format_detail_list(val)
    return None


def _format_detail_list(items: list) -> str:
    parts = []
    for item in items:
        if isinstance(item, dict):
            loc = item.get("loc")
            where = ".".join(str(x) for x in loc if x != "body") if isinstance(loc, (list, tuple)) else ""
            msg = item.get("msg") or item.get("message") or json.dumps(item)
            parts.append(f"{where}: {msg}" if where else str(msg))
        else:
            parts.append(str(item))
    return "; ".join(parts)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_from_response(http_status: int, body: Any, *, request_id: str | None = None,
                        retry_after: float | None = None, context: str = "") -> ApiError:
    code = body.get("error_code") if isinstance(body, dict) else None
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    server = message_of(body)
    detail = body.get("detail") if isinstance(body, dict) else None
    kw = dict(http_status=http_status, error_code=code, server_message=server, detail=detail,
              request_id=request_id)
    what = context or "The RunComfy API"
    if code == 400002 or http_status == 402:
        return InsufficientBalanceError(f"{what}: insufficient balance.", **kw)
    if code == 400004 or http_status == 401:
        return AuthError(f"{what}: the API token was rejected.", **kw)
    if code == 403001:
        return PermissionDeniedError(f"{what}: access denied.", **kw)
    if http_status == 403:
        return AuthError(f"{what}: access denied.", **kw)
    if code == 400001:
        return NotFoundError(f"{what}: unknown model id.", **kw)
    if code == 404001 or http_status == 404:
        return NotFoundError(f"{what}: not found.", **kw)
    if code == 422001 or http_status == 422:
        return RemoteValidationError(f"{what}: the inputs were rejected.", **kw)
    if http_status == 413:
        from .errors import RequestTooLargeError
        return RequestTooLargeError(f"{what}: the request is too large for the service.", **kw)
    if http_status == 429:
        return RateLimitError(f"{what}: rate limited.", retry_after=retry_after, **kw)
    if code == 500001 or http_status >= 500:
        return ServerError(f"{what}: server error.", **kw)
    return ApiError(f"{what}: request failed.", **kw)


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, AnswerTooLargeError):
        return False   # asking again would only fetch the same oversized answer
    if getattr(exc, "permanent", False):
        return False   # a proxy asking for credentials, a refused tunnel, a certificate failure
    return isinstance(exc, (RateLimitError, ServerError, BadResponseError, TransportError))


def _never_connected(exc: requests.RequestException) -> bool:
    """True only when the request certainly never reached the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
        seen, cur = set(), exc
        while cur is not None and id(cur) not in seen:
            seen.add(id(cur))
            name = type(cur).__name__
            if name in ("NewConnectionError", "ConnectionRefusedError", "NameResolutionError", "gaierror"):
                return True
            cur = cur.__cause__ or cur.__context__ or (cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None)
            if hasattr(cur, "reason") and isinstance(getattr(cur, "reason"), BaseException):
                cur = cur.reason
    return False


class RunComfyClient:
    def __init__(self, token: str | None, base_url: str | None = None, *,
                 connect_timeout: float = 10.0, read_timeout: float = 30.0,
                 retry: RetryPolicy | None = None,
                 extra_download_hosts: tuple[str, ...] = (),
                 max_download_bytes: int = MAX_DOWNLOAD_BYTES,
                 max_json_bytes: int = MAX_JSON_BYTES,
                 call_deadline: float = CALL_DEADLINE, submit_deadline: float = SUBMIT_DEADLINE,
                 download_deadline: float = DOWNLOAD_DEADLINE,
                 should_abort: Callable[[], bool] | None = None,
                 pool_size: int = 32, allow_anonymous: bool = False):
        # allow_anonymous: reads of the public catalog go out without a token when none is set.
        if (not token or not str(token).strip()) and not allow_anonymous:
            raise ConfigError("No RunComfy API token is configured.")
        self._token = str(token).strip() if token and str(token).strip() else None
        self.base_url = resolve_base_url(base_url)
        self._origin = origin_of(self.base_url)
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self.download_hosts = download_hosts(extra_download_hosts, self.base_url)
        self.max_download_bytes = max_download_bytes
        self.max_json_bytes = max_json_bytes
        self.call_deadline = call_deadline
        self.submit_deadline = submit_deadline
        self.download_deadline = download_deadline
        self.should_abort = should_abort or (lambda: False)
        self._api = self._session(pool_size)
        self._files = self._session(pool_size)

    def __repr__(self) -> str:  # never show the token
        return f"RunComfyClient(base_url={self.base_url!r})"

    @staticmethod
    def _session(pool_size: int) -> requests.Session:
        s = requests.Session()
        # No .netrc credentials injected behind our back; proxies and the CA bundle are chosen
        # per request by transport/proxies.py.
        s.trust_env = False
        adapter = TrackedAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        s.mount("https://", adapter)
        s.mount("http://", adapter)
        s.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        return s

    def close(self) -> None:
        self._api.close()
        self._files.close()

    # --- low level ------------------------------------------------------------------

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
        header (or the whole request) in their error message."""
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
            exc = Interrupted(f"{context}: stopped by the user{phase or ' while the call was in flight'}.",
                              request_id=request_id)
            exc.nothing_sent = not call.sent
            return exc
        return TransportError(f"{context}: no complete answer within the total deadline ({budget_text}){phase}; "
                              "the connection was closed.", maybe_received=call.sent, request_id=request_id)

    def _once(self, method: str, url: str, *, json_body=None, params=None, request_id=None,
              context: str = "", fresh_connection: bool = False, until: float | None = None,
              budget: float | None = None, abortable: bool = True, max_bytes: int | None = None) -> dict:
        headers = self._auth_headers(url)
        data = None
        if json_body is not None:
            data = dumps_bytes(json_body)
            headers["Content-Type"] = "application/json"
        what = context or "RunComfy API"
        session = self._api
        if fresh_connection:
            # A pooled keep-alive connection that the server closed meanwhile fails exactly like
            # "sent, answer lost"; a submit must never become ambiguous for that reason.
            session = self._session(1)
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
                    # Large bodies (submits) stream with upload progress: upload_progress.py.
                    resp = upload_progress.request(session, method, url, data=data, params=params, headers=headers,
                                           timeout=self._timeouts(call), allow_redirects=False, stream=True,
                                           proxies=route.requests_proxies(), verify=verify)
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
                    failure = proxies.classify(exc, route, url, what, sent=call.sent)
                    if failure is not None:
                        failure.request_id = request_id
                        raise failure from None
                    # Failing before the request was being sent (TCP, TLS handshake) sent nothing.
                    never = (isinstance(exc, requests.RequestException) and _never_connected(exc)) or not call.sent
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
                                      retry_after=_parse_retry_after(resp.headers.get("Retry-After")),
                                      context=context)
        if not isinstance(body, dict):
            why = problem or "it is not a JSON object"
            raise BadResponseError(f"{what}: the answer was not the expected JSON object: {why}.",
                                   http_status=resp.status_code, request_id=request_id)
        if body.get("error_code") not in (None, 0, "0", ""):
            # Some RunComfy services report errors with HTTP 200: show the real status.
            raise error_from_response(resp.status_code, body, request_id=request_id, context=context)
        return body

    def _read(self, method: str, path: str, *, params=None, request_id=None, context="",
              json_body=None, until: float | None = None, abortable: bool = True,
              max_bytes: int | None = None) -> dict:
        """A call that changes nothing billable: retried on transient failures, within
        ``retry.max_elapsed`` and the absolute ``until`` (time.monotonic())."""
        url = self._url(path)
        start = time.monotonic()
        attempt = 0
        while True:
            try:
                return self._once(method, url, params=params, request_id=request_id, context=context,
                                  json_body=json_body, until=until, abortable=abortable, max_bytes=max_bytes)
            except RunComfyError as exc:
                attempt += 1
                if not _is_retryable(exc) or attempt >= self.retry.max_attempts:
                    raise self.scrub(exc)
                wait = self.retry.delay(attempt - 1, getattr(exc, "retry_after", None))
                now = time.monotonic()
                if now - start + wait > self.retry.max_elapsed or (until is not None and now + wait >= until):
                    raise self.scrub(exc)
                self._sleep(wait, abortable)

    # --- endpoints --------------------------------------------------------------------

    @staticmethod
    def model_path(model_id: str) -> str:
        segments = model_id.strip("/").split("/")
        if not 2 <= len(segments) <= 4 or not all(segments):
            raise UnsafeUrlError(f"Model id {model_id!r} must have 2 to 4 path segments.")
        return "/models/" + "/".join(quote(s, safe="") for s in segments)

    def submit(self, model_id: str, payload: dict) -> Submission:
        if self._token is None:
            raise ConfigError("No RunComfy API token is configured.")
        try:
            return self._submit(model_id, payload)
        except RunComfyError as exc:
            if getattr(exc, "http_status", None) == 413:
                # Which parts made it too large is what the user needs to act on.
                said = exc.server_message if not str(exc.server_message or "").lstrip().startswith("<") else None
                exc = type(exc)(f"Submit: the request is too large ({exc.parts(payload)}).",
                                http_status=413, error_code=exc.error_code, server_message=said)
            raise self.scrub(exc)

    def _submit(self, model_id: str, payload: dict) -> Submission:
        url = self._url(self.model_path(model_id))
        attempt = 0
        while True:
            try:
                body = self._once("POST", url, json_body=payload, context="Submit", fresh_connection=True,
                                  budget=self.submit_deadline)
                break
            except (RateLimitError, TransportError) as exc:
                # Only these two are certain "not taken" outcomes, and a transport error only
                # when the connection was never established.
                certain = isinstance(exc, RateLimitError) or not exc.maybe_received
                attempt += 1
                if certain and getattr(exc, "permanent", False):
                    raise   # the proxy or a certificate: nothing reached RunComfy, and asking again cannot help
                if not certain:
                    raise SubmitOutcomeUnknownError(
                        "The submit may have reached RunComfy, but its answer was lost "
                        f"({exc.base_message}). It was NOT re-sent, so you are not charged twice. "
                        "If it was accepted it will appear in your RunComfy request history; "
                        "put its request id into 'resume_request_id' to fetch the result."
                    ) from None
                if attempt >= self.retry.submit_max_attempts:
                    raise
                self._sleep(self.retry.delay(attempt - 1, getattr(exc, "retry_after", None)))
            except Interrupted as exc:
                if getattr(exc, "nothing_sent", False):
                    raise Interrupted("Stopped while connecting, before the submit was sent: nothing reached "
                                      "RunComfy, so nothing was billed.") from None
                raise SubmitOutcomeUnknownError(
                    "Stopped while the submit was being sent or answered: it may have reached RunComfy "
                    "and been accepted (billed). It was NOT re-sent; if it was accepted it will appear in "
                    "your RunComfy request history.") from None
            except (ServerError, BadResponseError) as exc:
                raise SubmitOutcomeUnknownError(
                    f"The submit's outcome is unknown ({exc.base_message}). It was NOT re-sent, "
                    "so you are not charged twice; if it was accepted it will appear in your RunComfy "
                    "request history.",
                    server_message=exc.server_message) from None
        rid = body.get("request_id")
        try:
            rid = check_request_id(rid) if isinstance(rid, str) else None
        except UnsafeUrlError:
            rid = None
        if rid is None:
            shown = body.get("request_id")
            shown = repr(shown)[:60] if shown is not None else "none"
            raise SubmitOutcomeUnknownError(
                f"The submit was answered with HTTP 200 but without a usable request id (got {shown}): it "
                "may have been accepted and billed. It was NOT re-sent; look for it in your RunComfy "
                "request history.")
        return Submission(request_id=rid, raw=body)

    def status(self, request_id: str, *, until: float | None = None) -> JobStatus:
        rid = check_request_id(request_id)
        body = self._read("GET", f"/requests/{rid}/status", request_id=rid, context="Status", until=until)
        raw_status = body.get("status")
        qp = finite_number(body.get("queue_position"), 0, MAX_QUEUE_POSITION)
        return JobStatus(rid, self._state(raw_status, rid), str(raw_status),
                         int(qp) if qp is not None else None, body)

    def _state(self, raw, rid) -> str:
        try:
            return normalize_state(raw)
        except BadResponseError as exc:
            raise self.scrub(BadResponseError(exc.base_message, request_id=rid)) from None

    def result(self, request_id: str, include_cost: bool = True, *, until: float | None = None) -> JobResult:
        rid = check_request_id(request_id)
        params = {"include_cost": "true"} if include_cost else None
        body = self._read("GET", f"/requests/{rid}/result", params=params, request_id=rid, context="Result",
                          until=until)
        raw_status = body.get("status")
        state = self._state(raw_status, rid)
        output = body.get("output") if isinstance(body.get("output"), dict) else {}
        urls = output_urls(output)
        err = body.get("error")
        created, finished = body.get("created_at"), body.get("finished_at")
        return JobResult(
            request_id=rid, state=state, raw_status=str(raw_status), output_urls=urls, output=output,
            cost=finite_number(body.get("cost"), 0, MAX_COST_USD),
            created_at=created if isinstance(created, str) else None,
            finished_at=finished if isinstance(finished, str) else None,
            error_message=message_of(err) if isinstance(err, dict) else (str(err)[:2000] if err else None),
            raw=body,
        )

    def cancel(self, request_id: str) -> CancelOutcome:
        rid = check_request_id(request_id)
        # Cancelling twice is harmless, so it is retried like a read. It is sent *because* the
        # user pressed Stop, so Stop must not abort it; its own deadline bounds it.
        body = self._read("POST", f"/requests/{rid}/cancel", request_id=rid, context="Cancel",
                          until=time.monotonic() + CANCEL_DEADLINE, abortable=False)
        outcome = body.get("outcome") or body.get("status") or "unknown"
        status = body.get("status")
        return CancelOutcome(rid, str(outcome)[:100], status if isinstance(status, str) else None, body)

    def model_info(self, model_id: str) -> dict:
        # Not part of a job: ComfyUI's Stop flag stays set after a prompt was stopped, and the
        # price badge and settings page must keep working meanwhile.
        return self._read("GET", self.model_path(model_id), context="Model info", abortable=False)

    def list_models(self, include_schema: bool = False, limit: int = 50, offset: int = 0) -> dict:
        params = {"include_schema": str(include_schema).lower(), "limit": limit, "offset": offset}
        # A page of the catalog with full schemas is the one large answer the API gives.
        return self._read("GET", "/models", params=params, context="Model catalog", abortable=False,
                          max_bytes=MAX_CATALOG_BYTES if include_schema else None)

    # --- downloads ------------------------------------------------------------------------

    def download(self, url: str, *, max_bytes: int | None = None, window: float | None = None,
                 until: float | None = None) -> bytes:
        """Fetch one result file into memory: no token, allow-listed hosts only, capped in size,
        retried (a 404 too: storage can trail the job) for up to ``window`` seconds."""
        sink = _MemorySink()
        self._download(url, sink, max_bytes or self.max_download_bytes, window, until)
        return sink.value()

    def download_to_file(self, url: str, path, *, max_bytes: int | None = None, window: float | None = None,
                         until: float | None = None) -> int:
        """Stream one result file to ``path`` (a temp file next to it, renamed when complete), with
        the same host rules, retries, deadline and cap as ``download``. Returns the byte count."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        sink = _FileSink(target)
        try:
            self._download(url, sink, max_bytes or self.max_download_bytes, window, until)
            return sink.commit()
        finally:
            sink.discard()

    def _download(self, url: str, sink, limit: int, window: float | None, until: float | None) -> None:
        window = self.retry.download_window if window is None else window
        start = time.monotonic()
        # The window bounds when a new attempt may start; each attempt has its own deadline.
        end = start + window if until is None else min(start + window, until)
        attempt = 0
        while True:
            try:
                sink.reset()
                return self._download_once(url, limit, sink, until)
            except (DownloadError, TransportError, ServerError) as exc:
                attempt += 1
                if isinstance(exc, DownloadError) and not getattr(exc, "transient", False):
                    raise self.scrub(exc)
                wait = max(self.retry.download_min_delay,
                           min(self.retry.delay(min(attempt - 1, 6), None), self.retry.max_delay))
                if time.monotonic() + wait >= end:
                    final = DownloadError(f"Could not download {url} after {attempt} attempts over "
                                          f"{time.monotonic() - start:.0f} s: {exc.base_message}")
                    final.transient = True
                    final.http_status = getattr(exc, "http_status", None)
                    raise self.scrub(final) from None
                self._sleep(wait)

    def _download_once(self, url: str, limit: int, sink, until: float | None) -> None:
        current = url
        for _hop in range(5):
            check_download_url(current, self.download_hosts)
            route = proxies.route_for(current)
            verify, _ca_source = proxies.ca_bundle()
            call = Call(self._deadline(self.download_deadline, until), self.should_abort)
            with running(call):
                try:
                    resp = self._files.get(current, timeout=self._timeouts(call), stream=True,
                                           allow_redirects=False, headers={"Accept": "*/*"},
                                           proxies=route.requests_proxies(), verify=verify)
                except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
                    if call.killed == "stopped":
                        raise Interrupted(f"Download of {current}: stopped by the user.") from None
                    failure = proxies.classify(exc, route, current, f"Download of {current}", sent=call.sent)
                    if failure is not None:
                        raise _transient(failure.base_message) if not failure.permanent \
                            else DownloadError(failure.base_message) from None
                    raise TransportError(f"Download of {current}: {type(exc).__name__}", maybe_received=True) from None
                with resp:
                    if resp.is_redirect:
                        target = urljoin(current, resp.headers.get("Location", ""))
                        if current.startswith("https://") and not target.startswith("https://"):
                            raise UnsafeUrlError(f"Refusing redirect from https to {target!r}.")
                        current = target
                        continue
                    if resp.status_code == 404 or resp.status_code >= 500 or resp.status_code == 429:
                        # Storage can lag behind the job's completion for a while.
                        raise _transient(f"Download of {current} answered HTTP {resp.status_code}.",
                                         http_status=resp.status_code)
                    if resp.status_code != 200:
                        raise DownloadError(f"Download of {current} answered HTTP {resp.status_code}.")
                    declared = resp.headers.get("Content-Length")
                    if declared is not None and declared.isdigit() and int(declared) > limit:
                        raise DownloadError(f"Result file {current} is {int(declared)} bytes, over the {limit}-byte limit.")
                    total = 0
                    try:
                        for chunk in resp.iter_content(256 * 1024):
                            total += len(chunk)
                            if total > limit:
                                raise DownloadError(f"Result file {current} is over the {limit}-byte limit.")
                            sink.write(chunk)
                    except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
                        if call.killed == "stopped":
                            raise Interrupted(f"Download of {current}: stopped by the user.") from None
                        why = "took longer than its deadline" if call.killed else f"broke off ({type(exc).__name__})"
                        raise _transient(f"Download of {current} {why}.") from None
                    if declared is not None and declared.isdigit() and total != int(declared):
                        raise _transient(f"Download of {current} was truncated ({total} of {declared} bytes).")
                    return
        raise DownloadError(f"Too many redirects downloading {url}.")


class _MemorySink:
    def __init__(self):
        self._parts: list[bytes] = []

    def reset(self):
        self._parts = []

    def write(self, chunk: bytes):
        self._parts.append(chunk)

    def value(self) -> bytes:
        return b"".join(self._parts)


class _FileSink:
    def __init__(self, target: Path):
        self.target = target
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
        self.tmp = Path(tmp)
        self.fh = os.fdopen(fd, "wb")
        self.size = 0

    def reset(self):
        self.fh.seek(0)
        self.fh.truncate()
        self.size = 0

    def write(self, chunk: bytes):
        self.fh.write(chunk)
        self.size += len(chunk)

    def commit(self) -> int:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.target)
        return self.size

    def discard(self):
        if not self.fh.closed:
            self.fh.close()
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


def _transient(message: str, http_status: int | None = None) -> DownloadError:
    err = DownloadError(message)
    err.transient = True
    err.http_status = http_status
    return err


def output_urls(output: dict) -> list[str]:
    """All result file URLs, whichever of image(s) / video(s) / audio(s) the model filled."""
    urls: list[str] = []
    for key in OUTPUT_KEYS:
        val = output.get(key)
        for item in (val if isinstance(val, list) else [val]):
            if isinstance(item, str) and item and item not in urls:
                urls.append(item)
            elif isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"] not in urls:
                urls.append(item["url"])
    return urls
