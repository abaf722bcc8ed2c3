"""The RunComfy Model API's calls: submit, status, result, cancel, model info and the catalog,
plus result downloads. Knows nothing of ComfyUI or torch.

Money rules: a submit is re-sent only when the server certainly did not take it (the
connection was never established, or HTTP 429). Reads are retried with backoff (retry.py).
The token goes only to the configured API origin; result downloads never carry it (downloads.py).
Proxies and the CA bundle come from proxies.py (never from .netrc): https only, through a CONNECT
tunnel, so a proxy never sees the token. Observers: hooks.py (``ClientHooks``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from ..errors import (BadResponseError, ConfigError, Interrupted, RateLimitError, RunComfyError, ServerError,
                      SubmitOutcomeUnknownError, TransportError, UnsafeUrlError)
from . import downloads, upload_progress
from .answers import MAX_JSON_BYTES, finite_number
from .downloads import MAX_DOWNLOAD_BYTES
from .errormap import message_of
from .hooks import CallKind, ClientHooks
from .records import (MAX_COST_USD, MAX_QUEUE_POSITION, CancelOutcome, JobResult, JobStatus, Submission,
                      normalize_state, output_urls)
from .retry import RetryPolicy, is_retryable
from .session import CALL_DEADLINE, CANCEL_DEADLINE, DOWNLOAD_DEADLINE, SUBMIT_DEADLINE, ApiSession
from .urls import check_request_id, download_hosts

MAX_CATALOG_BYTES = 32 * 1024 * 1024


class RunComfyClient(ApiSession):
    def __init__(self, token: str | None, base_url: str | None = None, *,
                 connect_timeout: float = 10.0, read_timeout: float = 30.0,
                 retry: RetryPolicy | None = None,
                 extra_download_hosts: tuple[str, ...] = (),
                 max_download_bytes: int = MAX_DOWNLOAD_BYTES,
                 max_json_bytes: int = MAX_JSON_BYTES,
                 call_deadline: float = CALL_DEADLINE, submit_deadline: float = SUBMIT_DEADLINE,
                 download_deadline: float = DOWNLOAD_DEADLINE,
                 should_abort: Callable[[], bool] | None = None,
                 pool_size: int = 32, allow_anonymous: bool = False,
                 hooks: ClientHooks | None = None):
        super().__init__(token, base_url, connect_timeout=connect_timeout, read_timeout=read_timeout,
                         max_json_bytes=max_json_bytes, call_deadline=call_deadline,
                         submit_deadline=submit_deadline, download_deadline=download_deadline,
                         should_abort=should_abort, pool_size=pool_size, allow_anonymous=allow_anonymous,
                         hooks=hooks)
        self.retry = retry or RetryPolicy()
        self.download_hosts = download_hosts(extra_download_hosts, self.base_url)
        self.max_download_bytes = max_download_bytes

    # --- reads: retried ---------------------------------------------------------------

    def _read(self, kind: CallKind, method: str, path: str, *, params=None, request_id=None,
              json_body=None, until: float | None = None, abortable: bool = True,
              max_bytes: int | None = None) -> dict:
        """A call that changes nothing billable: retried on transient failures, within
        ``retry.max_elapsed`` and the absolute ``until`` (time.monotonic())."""
        url = self._url(path)
        start = time.monotonic()
        attempt = 0
        while True:
            try:
                return self._once(kind, method, url, params=params, request_id=request_id,
                                  json_body=json_body, until=until, abortable=abortable, max_bytes=max_bytes)
            except RunComfyError as exc:
                attempt += 1
                if not is_retryable(exc) or attempt >= self.retry.max_attempts:
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

    def submit(self, model_id: str, payload: dict, *, progress: upload_progress.Listener | None = None,
               uplink: upload_progress.UplinkEstimate | None = None) -> Submission:
        """Send one paid request. ``progress`` hears how much of a large body is sent; ``uplink``
        learns the throughput (default: ``upload_progress.UPLINK``)."""
        if self._token is None:
            raise ConfigError("No RunComfy API token is configured.")
        try:
            sub = self._submit(model_id, payload, progress, uplink)
        except RunComfyError as exc:
            if getattr(exc, "http_status", None) == 413:
                # Which parts made it too large is what the user needs to act on.
                said = exc.server_message if not str(exc.server_message or "").lstrip().startswith("<") else None
                raise self.scrub(type(exc)(f"Submit: the request is too large ({exc.parts(payload)}).",
                                           http_status=413, error_code=exc.error_code,
                                           server_message=said)) from None
            raise self.scrub(exc)
        self.hooks.emit("on_submit_sent", sub)
        return sub

    def _submit(self, model_id: str, payload: dict, progress, uplink) -> Submission:
        url = self._url(self.model_path(model_id))
        attempt = 0
        while True:
            try:
                body = self._once(CallKind.SUBMIT, "POST", url, json_body=payload, fresh_connection=True,
                                  budget=self.submit_deadline, progress=progress, uplink=uplink)
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
                        "its request id from there fetches the result."
                    ) from None
                if attempt >= self.retry.submit_max_attempts:
                    raise
                self._sleep(self.retry.delay(attempt - 1, getattr(exc, "retry_after", None)))
            except Interrupted as exc:
                if exc.nothing_sent:
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
        body = self._read(CallKind.STATUS, "GET", f"/requests/{rid}/status", request_id=rid, until=until)
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
        body = self._read(CallKind.RESULT, "GET", f"/requests/{rid}/result", params=params, request_id=rid,
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
        body = self._read(CallKind.CANCEL, "POST", f"/requests/{rid}/cancel", request_id=rid,
                          until=time.monotonic() + CANCEL_DEADLINE, abortable=False)
        outcome = body.get("outcome") or body.get("status") or "unknown"
        status = body.get("status")
        return CancelOutcome(rid, str(outcome)[:100], status if isinstance(status, str) else None, body)

    def model_info(self, model_id: str) -> dict:
        # Not part of a job: ComfyUI's Stop flag stays set after a prompt was stopped, and the
        # price badge and settings page must keep working meanwhile.
        return self._read(CallKind.MODEL_INFO, "GET", self.model_path(model_id), abortable=False)

    def list_models(self, include_schema: bool = False, limit: int = 50, offset: int = 0) -> dict:
        params = {"include_schema": str(include_schema).lower(), "limit": limit, "offset": offset}
        # A page of the catalog with full schemas is the one large answer the API gives.
        return self._read(CallKind.CATALOG, "GET", "/models", params=params, abortable=False,
                          max_bytes=MAX_CATALOG_BYTES if include_schema else None)

    # --- result files (downloads.py) ----------------------------------------------------

    def download(self, url: str, *, max_bytes: int | None = None, window: float | None = None,
                 until: float | None = None) -> bytes:
        """Fetch one result file into memory: no token, allow-listed hosts only, capped in size,
        retried (a 404 too: storage can trail the job) for up to ``window`` seconds."""
        sink = downloads.MemorySink()
        downloads.fetch(self, url, sink, max_bytes or self.max_download_bytes, window, until)
        return sink.value()

    def download_to_file(self, url: str, path, *, max_bytes: int | None = None, window: float | None = None,
                         until: float | None = None, durable: bool = True) -> int:
        """Stream one result file to ``path`` (a temp file next to it, renamed when complete), with
        the same host rules, retries, deadline and cap as ``download``. Returns the byte count."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        sink = downloads.FileSink(target, durable)
        try:
            downloads.fetch(self, url, sink, max_bytes or self.max_download_bytes, window, until)
            return sink.commit()
        finally:
            sink.discard()
