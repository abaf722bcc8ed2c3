"""One remote generation, end to end: validate, encode, submit, wait, fetch, decode.

The ComfyUI node and ``python -m runcomfy demo`` both run this code; the node only turns
tensors into arrays and back and supplies ComfyUI's progress and Stop hooks. Everything
blocking (HTTP, PNG codecs) runs in worker threads so the event loop stays free for other
async nodes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import fitting, media
from .client import (CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, TERMINAL, JobStatus,
                     RunComfyClient)
from .errors import (DownloadError, Interrupted, JobCancelledError, JobFailedError, JobTimeoutError,
                     NotFoundError, Problem, RunComfyError, SubmitOutcomeUnknownError, ValidationError)
from .hosting import DataUriHost, ImageHost
from .polling import PollPolicy
from .schema import ImageInfo, ModelSchema, check_payload, validate_payload

DEFAULT_TIMEOUT = 1800.0


@dataclass
class Update:
    """What the node shows while it waits."""

    request_id: str | None
    state: str
    elapsed: float
    queue_position: int | None = None
    cost: float | None = None
    note: str = ""
    index: int = 0          # which variation
    count: int = 1

    def text(self) -> str:
        parts = []
        if self.count > 1:
            parts.append(f"[{self.index + 1}/{self.count}]")
        parts.append(self.state.replace("_", " "))
        if self.state == QUEUED and self.queue_position is not None:
            # The service does not say whether positions count from 0 or 1.
            parts.append("(next in queue)" if self.queue_position <= 0 else f"(queue position {self.queue_position})")
        parts.append(f"{self.elapsed:.0f}s")
        if self.cost is not None:
            parts.append(f"cost ${self.cost:.4f}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        if self.note:
            parts.append(self.note)
        return " · ".join(parts)


@dataclass
class Hooks:
    on_update: Callable[[Update], None] = lambda u: None
    is_interrupted: Callable[[], bool] = lambda: False


@dataclass
class JobOutcome:
    request_id: str
    urls: list[str]
    files: list[bytes]
    cost: float | None
    elapsed: float
    resumed: bool = False
    timings: dict = field(default_factory=dict)


@dataclass
class Generation:
    images: list[np.ndarray]
    urls: list[str]
    request_ids: list[str]
    cost: float | None
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    dry_run: dict | None = None  # what would have been sent, and its price, when nothing was


def preview_payload(payload: dict) -> dict:
    """The payload as sent, with inline images shortened to their type and size."""
    def short(v):
        if isinstance(v, str) and v.startswith("data:"):
            head, _, body = v.partition(",")
            return f"{head},<{len(body) * 3 // 4} bytes>"
        if isinstance(v, list):
            return [short(x) for x in v]
        return v
    return {k: short(v) for k, v in payload.items()}


def fingerprint(model_id: str, payload: dict) -> str:
    """Identifies "the same inputs": a hash of the exact payload (images included), nothing
    else of it is kept. Long strings (inline images) are hashed on their own first: hashlib
    releases the GIL on large buffers, json.dumps of megabytes would not."""
    def digest_long(v):
        if isinstance(v, str) and len(v) > 4096:
            return "sha256:" + hashlib.sha256(v.encode()).hexdigest()
        if isinstance(v, list):
            return [digest_long(x) for x in v]
        return v
    canon = json.dumps({"model": model_id, "payload": {k: digest_long(v) for k, v in payload.items()}},
                       sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def _inline_bytes(payload: dict) -> int:
    """Roughly the request's size: the length of its strings (inline images dominate)."""
    return sum(len(x) for v in payload.values() for x in (v if isinstance(v, list) else [v])
               if isinstance(x, str))


async def _thread(fn, *args, **kwargs):
    return await asyncio.to_thread(fn, *args, **kwargs)


async def _interruptible_sleep(seconds: float, hooks: Hooks, deadline: float) -> None:
    end = min(time.monotonic() + seconds, deadline)
    while True:
        if hooks.is_interrupted():
            return
        left = end - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(0.05, left))


class Runner:
    """Runs jobs on one client with one polling policy, optionally journaled."""

    def __init__(self, client: RunComfyClient, *, poll: PollPolicy | None = None,
                 timeout: float = DEFAULT_TIMEOUT, journal=None, include_cost: bool = True):
        self.client = client
        self.poll = poll or PollPolicy()
        self.timeout = timeout
        self.journal = journal
        self.include_cost = include_cost

    # --- one job ----------------------------------------------------------------------

    async def run_job(self, model_id: str, payload: dict, hooks: Hooks | None = None, *,
                      resume_request_id: str | None = None, index: int = 0, count: int = 1) -> JobOutcome:
        hooks = hooks or Hooks()
        started = time.monotonic()
        timings: dict = {}
        fp = await _thread(fingerprint, model_id, payload)      # hashes megabytes of inline images
        rid = resume_request_id
        resumed = bool(rid)
        if not rid and self.journal is not None:
            entry = self.journal.find_resumable(fp)
            if entry is not None:
                rid, resumed = entry["request_id"], True
        def update(state, **kw):
            hooks.on_update(Update(rid, state, time.monotonic() - started, index=index, count=count, **kw))
        if hooks.is_interrupted():
            raise Interrupted("Stopped before submitting; nothing was sent or charged.")
        if not rid:
            # On a home uplink, megabytes of inline images take seconds to send: say so.
            mb = _inline_bytes(payload) / 1e6
            update("submitting", note=f"sending {mb:.1f} MB" if mb >= 1 else "")
            t0 = time.monotonic()
            if self.journal is not None:
                self.journal.record_submitting(fp, model_id)
            try:
                sub = await _thread(self.client.submit, model_id, payload)
            except RunComfyError as exc:
                if self.journal is not None:
                    self.journal.record_submit_failed(fp, unknown=isinstance(exc, SubmitOutcomeUnknownError))
                raise
            rid = sub.request_id
            timings["submit"] = time.monotonic() - t0
            if self.journal is not None:
                self.journal.record_submitted(fp, model_id, rid)
        update("submitted" if not resumed else "resuming")
        try:
            outcome = await self._wait_and_fetch(model_id, rid, fp, hooks, started, update, index, count)
        except (NotFoundError, DownloadError) as exc:
            gone = isinstance(exc, NotFoundError) or getattr(exc, "gone", False)
            if not gone:
                raise
            if self.journal is not None:
                self.journal.record_state(rid, "expired")
            if resumed and not resume_request_id:
                # The journal pointed at a request (or result files) that expired: submit afresh.
                return await self.run_job(model_id, payload, hooks, index=index, count=count)
            raise
        outcome.resumed = resumed
        outcome.timings.update(timings)
        return outcome

    async def _wait_and_fetch(self, model_id, rid, fp, hooks, started, update, index, count) -> JobOutcome:
        deadline = started + self.timeout
        running_since = None
        timings: dict = {}
        state, status = QUEUED, None
        while True:
            try:
                status: JobStatus = await _thread(self.client.status, rid)
            except Interrupted:
                # Stop arrived while the client was backing off between retries.
                await self._cancel_and_raise(rid, update)
            state = status.state
            now = time.monotonic()
            if state == RUNNING and running_since is None:
                running_since = now
            update(state, queue_position=status.queue_position)
            if state in TERMINAL:
                timings["noticed_at"] = now
                break
            if hooks.is_interrupted():
                await self._cancel_and_raise(rid, update)
            if now >= deadline:
                raise JobTimeoutError(
                    f"Gave up waiting after {self.timeout:.0f}s; the job was still {state.replace('_', ' ')}. "
                    "It may still finish (and is billed if it runs): run the node again with the same inputs, "
                    "or put the request id into 'resume_request_id', to fetch the result.",
                    request_id=rid)
            running_for = now - (running_since if running_since is not None else started)
            await _interruptible_sleep(self.poll.interval(state, running_for, status.queue_position),
                                       hooks, deadline)
        if state == CANCELLED:
            if self.journal is not None:
                self.journal.record_state(rid, "cancelled")
            raise JobCancelledError("The remote job was cancelled; nothing to fetch.", request_id=rid)
        result = await _thread(self.client.result, rid, self.include_cost)
        for _ in range(20):
            # /result can trail /status by a moment; it answers with the live state until then.
            if result.state in TERMINAL or time.monotonic() >= deadline:
                break
            await _interruptible_sleep(0.25, hooks, deadline)
            result = await _thread(self.client.result, rid, self.include_cost)
        if result.state == FAILED or state == FAILED:
            if self.journal is not None:
                self.journal.record_state(rid, "failed")
            raise JobFailedError("The remote job failed.", request_id=rid,
                                 server_message=result.error_message or "no reason given")
        if result.state != SUCCEEDED or not result.output_urls:
            raise JobFailedError("The job finished but the service returned no output files.", request_id=rid)
        if self.journal is not None:
            self.journal.record_succeeded(rid, result.output_urls, result.cost)
        update("downloading", cost=result.cost)
        t0 = time.monotonic()
        files = await asyncio.gather(*(_thread(self.client.download, u) for u in result.output_urls))
        timings["download"] = time.monotonic() - t0
        update("done", cost=result.cost)
        return JobOutcome(rid, list(result.output_urls), list(files), result.cost,
                          time.monotonic() - started, timings=timings)

    async def _cancel_and_raise(self, rid: str, update) -> None:
        update("cancelling")
        try:
            outcome = (await _thread(self.client.cancel, rid)).outcome
        except RunComfyError as exc:
            outcome = f"cancel failed: {exc.base_message}"
        if outcome == "cancelled":
            if self.journal is not None:
                self.journal.record_state(rid, "cancelled")
            msg = "Stopped: the remote job was cancelled while queued; it is not billed."
        elif outcome == "not_cancellable":
            msg = ("Stopped waiting, but the remote job was already running: it will finish and be billed. "
                   "Its result is kept: run the node again with the same inputs to fetch it.")
        else:
            msg = f"Stopped waiting; the remote job's cancel outcome is unclear ({outcome})."
        update("stopped", note=outcome)
        raise Interrupted(msg, request_id=rid, cancel_outcome=outcome)

    # --- a whole generation: images in, images out ----------------------------------------

    async def _dry_run_report(self, model_id: str, payloads: list[dict]) -> dict:
        price = None
        try:
            info = await _thread(self.client.model_info, model_id)
            amount = info.get("base_price_usd")
            if isinstance(amount, (int, float)) and not isinstance(amount, bool):
                price = {"base_price_usd": float(amount), "price_unit": info.get("price_unit")}
        except RunComfyError:
            pass  # "price unavailable", never a guess
        return {"model_id": model_id, "requests": len(payloads), "price": price,
                "payloads": [preview_payload(p) for p in payloads]}

    async def _fit_and_encode(self, schema: ModelSchema, images: dict, image_format: str,
                              notes: list[str]) -> dict[str, list[media.EncodedImage]]:
        """Scale each image into the model's limits, then encode it under the byte limit."""
        async def one(f, i, arr):
            label = f"{f.name}[{i + 1}]" if f.is_image_list else f.name
            lim = fitting.limits_of(f)
            try:
                arr, geo_note = await _thread(fitting.fit_geometry, arr, lim, label)
                enc, size_note = await _thread(fitting.fit_bytes, arr, lim, label, image_format)
            except ValueError as exc:
                raise ValidationError([Problem(label, "could not be fitted", message=str(exc))]) from None
            return enc, [n for n in (geo_note, size_note) if n]
        out: dict[str, list[media.EncodedImage]] = {}
        for f in schema.image_fields:
            results = await asyncio.gather(*(one(f, i, a) for i, a in enumerate(images.get(f.name, []))))
            out[f.name] = [enc for enc, _ in results]
            notes.extend(n for _, ns in results for n in ns)
        return out

    async def generate(self, schema: ModelSchema, fields: dict, *,
                       images: dict[str, list[np.ndarray]] | None = None,
                       image_urls: dict[str, list[str]] | None = None,
                       host: ImageHost | None = None, image_format: str = "png", jpeg_quality: int = 95,
                       variations: int = 1, seed_field: str = "seed",
                       resume_request_id: str | None = None, hooks: Hooks | None = None,
                       fit_inputs: bool = False, dry_run: bool = False) -> Generation:
        images = images or {}
        image_urls = image_urls or {}
        host = host or DataUriHost()
        timings: dict = {}
        notes: list[str] = []
        # Cheap checks first, before any encoding work.
        count_problems = []
        for f in schema.image_fields:
            n = len(images.get(f.name, [])) + len(image_urls.get(f.name, []))
            if f.is_image_list:
                if f.max_items is not None and n > f.max_items:
                    count_problems.append(Problem(f.name, "takes at most this many images:", f.max_items,
                                                  f"{n} images (sockets and URLs together)"))
            elif n > 1:
                count_problems.append(Problem(f.name, "takes exactly one image, got", None, f"{n} images"))
        if variations < 1:
            count_problems.append(Problem("variations", "must be at least", 1, variations))
        if count_problems:
            raise ValidationError(count_problems)

        t0 = time.monotonic()
        encoded: dict[str, list[media.EncodedImage]] = {}
        if fit_inputs:
            encoded = await self._fit_and_encode(schema, images, image_format, notes)
        else:
            flat = [(name, a) for name, arrs in images.items() for a in arrs]
            if flat:
                enc = await _thread(media.encode_many, [a for _, a in flat], image_format, jpeg_quality)
                for (name, _), e in zip(flat, enc):
                    encoded.setdefault(name, []).append(e)
        timings["encode"] = time.monotonic() - t0

        payload = {k: v for k, v in fields.items() if v is not None}
        infos: dict[str, list[ImageInfo]] = {}
        # Base64 of megabytes holds the GIL: a thread, so the loop can serve other nodes meanwhile.
        hosted = await _thread(lambda: {name: host.host(encs) for name, encs in encoded.items() if encs})
        for f in schema.image_fields:
            encs = encoded.get(f.name, [])
            urls = list(hosted.get(f.name, []))
            urls += list(image_urls.get(f.name, []))
            infos[f.name] = [e.info() for e in encs] + [ImageInfo(source=u[:80]) for u in image_urls.get(f.name, [])]
            if f.is_image_list:
                if urls or f.required:
                    payload[f.name] = urls
            elif urls:
                payload[f.name] = urls[0]
        problems = validate_payload(schema, payload, infos)
        if problems:
            raise ValidationError(problems)

        payloads = [payload]
        if variations > 1:
            sf = next((f for f in schema.fields if f.name == seed_field), None)
            if sf is None:
                raise ValidationError([Problem("variations", "needs a seed input; this model has none", None,
                                               variations)])
            base = int(payload.get(seed_field, sf.default or 0))
            top = int(sf.maximum) if sf.maximum is not None else 2**31 - 1
            low = int(sf.minimum) if sf.minimum is not None else 0
            payloads = []
            for i in range(variations):
                p = dict(payload)
                p[seed_field] = low + (base - low + i) % (top - low + 1)  # wrap, never out of range
                payloads.append(p)
            for p in payloads:
                check_payload(schema, p, infos)
        if dry_run:
            return Generation(images=[], urls=[], request_ids=[], cost=None, notes=notes, timings=timings,
                              dry_run=await self._dry_run_report(schema.model_id, payloads))

        outs = await asyncio.gather(*(
            self.run_job(schema.model_id, p, hooks, resume_request_id=resume_request_id if i == 0 else None,
                         index=i, count=len(payloads))
            for i, p in enumerate(payloads)), return_exceptions=True)
        errors = [o for o in outs if isinstance(o, BaseException)]
        if errors:
            # Interrupt wins so ComfyUI ends cleanly; otherwise the first error, whose text says
            # which request failed (the others' results stay in the journal).
            for e in errors:
                if isinstance(e, Interrupted):
                    raise e
            raise errors[0]
        t0 = time.monotonic()
        files = [(o, data) for o in outs for data in o.files]
        decoded = await asyncio.gather(*(_thread(media.decode_image, data) for _, data in files))
        timings["decode"] = time.monotonic() - t0
        for o in outs:
            for k, v in o.timings.items():
                timings.setdefault(k, v)
            if o.resumed:
                notes.append(f"resumed request {o.request_id} instead of paying for a new one")
        costs = [o.cost for o in outs if o.cost is not None]
        return Generation(
            images=list(decoded),
            urls=[u for o in outs for u in o.urls],
            request_ids=[o.request_id for o in outs],
            cost=sum(costs) if costs else None,
            notes=notes,
            timings=timings,
        )
