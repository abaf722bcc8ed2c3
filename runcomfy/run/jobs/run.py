"""Running one job: claim, submit or resume, wait, fetch, download.

Money rules kept here: a submit is sent only after the journal recorded it (and nothing
blocks it); a request id the server gave is never lost (journal, or this process's memory
when the journal cannot be written); every error after the submit was accepted passes through
``run_job``'s one handler, which raises it once more as a copy that names the request id and says
it is (or may be) billed (RunComfyError.accepted_as; the raised error is never edited); every failure to deliver a succeeded job's files is a
PaidResultError (``_deliver``); a job that succeeded is never turned into "expired" by its files
failing to download or decode, only by ``/result`` saying the request is gone (404001).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ...api import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, TERMINAL
from ...media import kinds
from ...errors import (DownloadError, Interrupted, JobCancelledError, JobFailedError, JobTimeoutError,
                      JournalWriteError, NotFoundError, PaidDownloadError, PaidResultError, ResultLimitError,
                      RunComfyError, SubmitOutcomeUnknownError, TransportError)
from ...journal import EXPIRED, STALE_AFTER
from . import guard
from .model import Hooks, JobOutcome, Update, fingerprint, never_interrupted

log = logging.getLogger("runcomfy")

# Memory bounds on what one job may bring back (each refusal names the limit and keeps the URLs).
MAX_RESULT_FILES = 16


class _Gone(Exception):
    """/result said the request no longer exists (404001)."""

    def __init__(self, cause: NotFoundError):
        self.cause = cause


async def _thread(fn, *args, **kwargs):
    return await asyncio.to_thread(fn, *args, **kwargs)


async def _interruptible_sleep(seconds: float, hooks: Hooks, deadline: float) -> None:
    end = min(time.monotonic() + seconds, deadline)
    if hooks.is_interrupted is never_interrupted:      # the batch: its Stop cancels the task
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        return
    while True:
        if hooks.is_interrupted():
            return
        left = end - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(0.05, left))


async def _journal(note_to: list, fn, *args, **kwargs) -> None:
    """A journal write after the submit: a failure is reported, never raised (the entry is kept
    in memory by the journal, the request id is in the note, the log and every later error)."""
    try:
        if getattr(fn, "nonblocking", False):     # an append handed to a writer thread: no hop needed
            fn(*args, **kwargs)
        else:
            await _thread(fn, *args, **kwargs)
    except JournalWriteError as exc:
        log.warning("runcomfy: %s", exc)
        note_to.append(f"journal not writable: request {exc.request_id} is kept in memory only")


async def run_job(ctx, model_id: str, payload: dict, *,
                  resume_request_id: str | None = None, index: int = 0, count: int = 1,
                  _after_expiry: bool = False) -> JobOutcome:
    """One job in ``ctx`` (a RunContext: client, journal, hooks, limits, where results go)."""
    hooks = ctx.hooks
    started = time.monotonic()
    timings: dict = {}
    notes: list[str] = []
    journal = ctx.journal
    # Hashes megabytes of inline images in a thread; a small payload (text) in place.
    fp = (fingerprint(model_id, payload) if _inline_bytes(payload) < SMALL_PAYLOAD
          else await _thread(fingerprint, model_id, payload))
    rid = resume_request_id
    resumed = bool(rid)

    def update(state, **kw):
        if notes and "note" not in kw:
            kw["note"] = notes[-1]
        hooks.on_update(Update(rid, state, time.monotonic() - started, index=index, count=count, **kw))

    if hooks.is_interrupted():
        raise Interrupted("Stopped before submitting; nothing was sent or charged.")
    claimed = None
    unjournaled = False          # accepted, but the journal on disk does not know the request id
    if not rid and journal is not None:
        claimed = await guard.claim(journal, fp, model_id, ctx.submit_anyway, hooks, update,
                                    max_wait=ctx.client.submit_deadline + STALE_AFTER)
        if claimed.action == "resume":
            rid, resumed = claimed.entry["request_id"], True
            claimed = None
    if not rid:
        # On a home uplink, megabytes of inline images take seconds to send: say so.
        mb = _inline_bytes(payload) / 1e6
        update("submitting", note=f"sending {mb:.1f} MB" if mb >= 1 else "")
        t0 = time.monotonic()
        beat = asyncio.create_task(guard.heartbeat(journal, claimed.claim_id)) if claimed else None
        try:
            # The body streams with progress: "sending 3.1 of 7.2 MB, 2.4 MB/s" (api/upload_progress.py).
            sub = await _thread(ctx.client.submit, model_id, payload,
                                progress=lambda p: update("submitting", note=p.text(), progress=p.fraction),
                                uplink=ctx.uplink)
        except RunComfyError as exc:
            if claimed is not None:
                unknown = isinstance(exc, SubmitOutcomeUnknownError)
                try:
                    await _thread(journal.record_submit_failed, claimed, unknown, exc.base_message)
                except JournalWriteError as jexc:
                    log.warning("runcomfy: %s", jexc)
            raise
        except BaseException:
            # Cancelled mid-submit (the worker thread may still be sending): nobody will learn
            # the answer, so the outcome is unknown, never "not sent".
            if claimed is not None:
                try:
                    journal.record_submit_failed(claimed, True, "the run was cancelled during the submit")
                except (JournalWriteError, OSError):
                    pass
            raise
        finally:
            if beat is not None:
                beat.cancel()
        rid = sub.request_id
        timings["submit"] = time.monotonic() - t0
        log.info("runcomfy: submitted %s as request %s", model_id, rid)
        if claimed is not None:
            await _journal(notes, journal.record_submitted, claimed, rid)
            unjournaled = bool(notes)
    update("submitted" if not resumed else "resuming")
    try:
        outcome = await _wait_and_fetch(ctx, rid, started, update, notes)
    except _Gone as gone:
        if journal is not None:
            await _journal(notes, journal.record_state, rid, EXPIRED)
        if resumed and not resume_request_id and not _after_expiry:
            # The journal pointed at a request RunComfy no longer keeps: submit afresh.
            return await run_job(ctx, model_id, payload, index=index, count=count, _after_expiry=True)
        raise gone.cause.accepted_as(rid) from gone.cause
    except RunComfyError as exc:
        note = (f"The submit was accepted and billed as request {rid}, but the journal could not be written: "
                "only this process remembers it (until it exits); fetch it by that request id."
                if unjournaled else "")
        raise exc.accepted_as(rid, note) from exc
    except Exception as exc:
        # Not one of ours (a bug, an OSError, MemoryError): still after an accepted submit.
        raise RunComfyError(f"The job's result could not be handled ({type(exc).__name__}: {exc}).",
                            request_id=rid).accepted_as(rid) from exc
    outcome.resumed = resumed
    outcome.timings.update(timings)
    outcome.notes.extend(notes)
    return outcome


SMALL_PAYLOAD = 64 * 1024


def _inline_bytes(payload: dict) -> int:
    """Roughly the request's size: the length of its strings (inline images dominate)."""
    return sum(len(x) for v in payload.values() for x in (v if isinstance(v, list) else [v])
               if isinstance(x, str))


def _timeout_error(ctx, rid: str, state: str) -> JobTimeoutError:
    return JobTimeoutError(
        f"Gave up waiting after {ctx.timeout:.0f}s; the job was still {state.replace('_', ' ')} on RunComfy. "
        "It may still finish and be billed; its result is kept.",
        request_id=rid)


async def _result_or_gone(ctx, rid: str, until: float):
    try:
        return await _thread(ctx.client.result, rid, ctx.include_cost, until=until)
    except NotFoundError as exc:
        if exc.error_code == 404001:
            raise _Gone(exc) from None
        raise


async def _wait_and_fetch(ctx, rid, started, update, notes) -> JobOutcome:
    client, hooks = ctx.client, ctx.hooks
    deadline = started + ctx.timeout
    running_since = None
    timings: dict = {}
    state, status = QUEUED, None
    result = None
    via_result = getattr(ctx.poll, "via_result", False)
    while True:
        try:
            if via_result:
                # /result answers with the state until the job ends, then with its outputs.
                result = await _result_or_gone(ctx, rid, deadline)
                status = result
            else:
                status = await _thread(client.status, rid, until=deadline)
        except Interrupted:
            # Stop arrived during the call (its connection was closed) or between retries.
            await _cancel_and_raise(ctx, rid, update)
        except NotFoundError:
            # Only /result decides that a request is gone.
            result = await _result_or_gone(ctx, rid, time.monotonic() + client.call_deadline)
            state = result.state
            if state in TERMINAL:
                break
            raise
        except TransportError:
            if time.monotonic() >= deadline:
                raise _timeout_error(ctx, rid, state) from None
            raise
        state = status.state
        now = time.monotonic()
        if state == RUNNING and running_since is None:
            running_since = now
        update(state, queue_position=getattr(status, "queue_position", None))
        if state in TERMINAL:
            timings["noticed_at"] = now
            break
        if hooks.is_interrupted():
            await _cancel_and_raise(ctx, rid, update)
        if now >= deadline:
            raise _timeout_error(ctx, rid, state)
        running_for = now - (running_since if running_since is not None else started)
        await _interruptible_sleep(ctx.poll.interval(state, running_for, getattr(status, "queue_position", None)),
                                   hooks, deadline)
    journal = ctx.journal
    if state == CANCELLED:
        if journal is not None:
            await _journal(notes, journal.record_state, rid, "cancelled")
        raise JobCancelledError("The remote job was cancelled; nothing to fetch.", request_id=rid)
    # The job has ended: fetching its result is worth a full call even past the wait limit.
    fetch_until = max(deadline, time.monotonic() + client.call_deadline)
    if result is None or result.state not in TERMINAL:
        result = await _result_or_gone(ctx, rid, fetch_until)
    for _ in range(20):
        # /result can trail /status by a moment; it answers with the live state until then.
        if result.state in TERMINAL or time.monotonic() >= deadline:
            break
        await _interruptible_sleep(0.25, hooks, deadline)
        result = await _result_or_gone(ctx, rid, fetch_until)
    if result.state == FAILED or state == FAILED:
        if journal is not None:
            await _journal(notes, journal.record_state, rid, "failed")
        raise JobFailedError("The remote job failed.", request_id=rid,
                             server_message=result.error_message or "no reason given")
    if result.state != SUCCEEDED or not result.output_urls:
        raise JobFailedError("The job finished but the service returned no output files.", request_id=rid)
    urls = list(result.output_urls)
    if journal is not None:
        await _journal(notes, journal.record_succeeded, rid, urls, result.cost)
    update("downloading", cost=result.cost)
    t0 = time.monotonic()
    files = await _deliver(ctx, rid, urls)
    timings["download"] = time.monotonic() - t0
    update("done", cost=result.cost)
    return JobOutcome(rid, urls, list(files), result.cost, time.monotonic() - started, timings=timings)


async def _deliver(ctx, rid: str, urls: list[str]) -> list:
    """A succeeded (paid) job's files, downloaded and checked: any failure is a PaidResultError."""
    if len(urls) > MAX_RESULT_FILES:
        raise ResultLimitError(f"it returned {len(urls)} result files; at most {MAX_RESULT_FILES} are taken "
                               "per job, so none was downloaded (memory)", urls=urls, request_id=rid)
    try:
        # Images into memory; video and audio streamed to files (media/kinds/results.py).
        fetch = ctx.fetch_result or kinds.fetch_result
        files = await asyncio.gather(*(_thread(fetch, ctx.client, u, request_id=rid, n=i,
                                               output_kind=ctx.output_kind, folder=ctx.output_folder)
                                       for i, u in enumerate(urls)))
        _check_results(files, urls, rid)
        return files
    except PaidResultError:
        raise
    except Interrupted:
        # The job succeeded (billed), so it could not be cancelled: the node says "billed" and offers the fetch.
        raise Interrupted("The job had finished on RunComfy and is billed. Its result is kept.", request_id=rid,
                          cancel_outcome="not_cancellable") from None
    except DownloadError as exc:
        raise PaidDownloadError(rid, f"its result files could not be downloaded: {exc.base_message}",
                                urls=urls) from exc
    except Exception as exc:          # an OSError writing the file, MemoryError, a codec's error...
        raise PaidResultError(rid, exc, urls=urls) from exc


def _check_results(files: list, urls: list[str], rid: str) -> None:
    """Each media kind refuses, from the files' headers alone, results it could not hold in memory
    (images: the job's pixels), before anything is decoded."""
    for kind in kinds.KINDS.values():
        try:
            kind.check_results(files)
        except kinds.DecodeLimitError as exc:
            raise ResultLimitError(str(exc), urls=urls, request_id=rid) from None


async def _cancel_and_raise(ctx, rid: str, update) -> None:
    update("cancelling")
    try:
        outcome = (await _thread(ctx.client.cancel, rid)).outcome
    except RunComfyError as exc:
        outcome = f"cancel failed: {exc.base_message}"
    if outcome == "cancelled":
        if ctx.journal is not None:
            await _journal([], ctx.journal.record_state, rid, "cancelled")
        msg = "Stopped: the remote job was cancelled while queued; it is not billed."
    elif outcome == "not_cancellable":
        msg = "The job was already running on RunComfy: it will finish and be billed. Its result is kept."
    else:
        msg = f"Stopped waiting; the remote job's cancel outcome is unclear ({outcome})."
    update("stopped", note=outcome)
    raise Interrupted(msg, request_id=rid, cancel_outcome=outcome)
