"""The batch: every valid line of JOBS.jsonl through ``pipeline.Runner``, at an adaptive concurrency.

Money rules, as in the node: a job is submitted at most once (the journal's claim comes first;
a 429 is a certain "not taken", so that job is queued again; an uncertain submit is never
re-sent and the job is reported); a re-run of the same command resumes pending requests and
finished-but-unsaved results from the journal and skips jobs whose outputs exist; ``--max-cost``
stops new submits once the costs reported so far plus the unit price of each job in flight reach
the cap.

Stopping: the first Ctrl-C (or SIGTERM) stops new submits, lets submits already on the wire
get their answer (so none becomes uncertain), then quits; jobs still running remotely are
resumed by the next run. A second Ctrl-C quits at once. A SIGKILL or crash is covered by the
journal: the next run resumes what was submitted and reports (never re-sends) a submit whose
answer was lost with the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import deque
from concurrent.futures import ThreadPoolExecutor
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import media
from ..client import RunComfyClient
from ..errors import (EarlierSubmitUncertainError, RateLimitError, RunComfyError, SubmitOutcomeUnknownError,
                      ValidationError)
from ..journal import Journal
from ..pipeline import Hooks, Runner
from ..polling import PollPolicy
from ..pricing import format_usd
from ..schema import ModelSchema
from .jobsfile import JobSpec, LineProblem
from .ledger import KeyedJournal
from .limiter import AdaptiveLimit
from .outputs import finished, write_manifest, write_outputs
from .progress import ProgressBar

DEFAULT_CONCURRENCY = 8          # RunComfy runs a few jobs per account at once; more only queue there
MAX_RATE_LIMIT_REQUEUES = 30     # per job: after this many 429-refused submits it is reported failed
STATE_DIR = ".runcomfy-batch"


@dataclass
class BatchOptions:
    out: Path
    concurrency: int = DEFAULT_CONCURRENCY
    upload_format: str = "png"
    max_cost: float | None = None
    dry_run: bool = False
    report: Path | None = None
    timeout: float = 1800.0
    submit_anyway: str = ""              # one-time codes from "an earlier submit may have been billed"
    poll: PollPolicy | None = None
    progress_stream: object = None       # default stderr
    install_signal_handlers: bool = True


@dataclass
class JobReport:
    key: str
    line: int
    state: str                  # done | failed | skipped | dry_run | not_run
    request_id: str | None = None
    cost: float | None = None
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    resumed: bool = False
    seconds: float = 0.0
    submits: int = 0            # submits that reached the service (0 when resumed)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class BatchResult:
    reports: list[JobReport]
    problems: list[LineProblem]
    price: dict | None
    wall: float
    stopped: str | None = None      # why new submits stopped early (max cost, interrupted)
    peak_concurrency: int = 0
    limit_cuts: int = 0

    def count(self, state: str) -> int:
        return sum(1 for r in self.reports if r.state == state)

    @property
    def cost(self) -> float:
        return sum(r.cost or 0.0 for r in self.reports)

    @property
    def exit_code(self) -> int:
        if self.problems or any(r.state in ("failed", "not_run") for r in self.reports):
            return 1
        return 0


class _ObservedClient(RunComfyClient):
    """The pack's client, telling the limiter about 429s and accepted submits."""

    on_throttle = staticmethod(lambda retry_after: None)
    on_submit_ok = staticmethod(lambda: None)

    def _once(self, method, url, **kw):
        try:
            out = super()._once(method, url, **kw)
        except RateLimitError as exc:
            self.on_throttle(exc.retry_after)
            raise
        if kw.get("context") == "Submit":
            self.on_submit_ok()
        return out


class _JobRunner(Runner):
    """Keeps each job's raw outcome (result bytes as the service sent them) and prices dry runs
    without a call per job."""

    def __init__(self, *a, price: dict | None = None, **kw):
        super().__init__(*a, **kw)
        self.outcomes = []
        self.price = price

    async def run_job(self, *a, **kw):
        out = await super().run_job(*a, **kw)
        self.outcomes.append(out)
        # The batch saves the service's bytes as they came: nothing for generate() to decode.
        return dataclasses.replace(out, files=[])

    async def _dry_run_report(self, model_id, payloads):
        from ..pipeline import preview_payload
        return {"model_id": model_id, "requests": len(payloads), "price": self.price,
                "payloads": [preview_payload(p) for p in payloads]}


def load_media(schema: ModelSchema, spec: JobSpec) -> dict[str, list]:
    """Library-level values of the job's local media files (images decoded like Load Image)."""
    kinds = {f.name: f.kind for f in schema.media_fields}
    out: dict[str, list] = {}
    for name, paths in spec.files.items():
        kind = kinds.get(name)
        vals = []
        for p in paths:
            if kind == "image":
                vals.append(media.decode_image(Path(p).read_bytes()))
            elif kind == "video":
                from ..kinds.video import VideoSource
                vals.append(VideoSource(path=str(p), label=str(p)))
            elif kind == "audio":
                from ..codecs.audio import decode
                vals.append(decode(str(p)))
            else:
                raise ValueError(f"{name}: no loader for media kind {kind!r}")
        out[name] = vals
    return out


def _price_of(info: dict | None) -> dict | None:
    if not isinstance(info, dict):
        return None
    amount = info.get("base_price_usd")
    if isinstance(amount, (int, float)) and not isinstance(amount, bool):
        return {"base_price_usd": float(amount), "price_unit": info.get("price_unit")}
    return None


class _Batch:
    def __init__(self, client: RunComfyClient, schema: ModelSchema, specs: list[JobSpec], opts: BatchOptions):
        self.client, self.schema, self.specs, self.opts = client, schema, specs, opts
        self.out = Path(opts.out)
        self.reports: dict[str, JobReport] = {}
        self.bar = ProgressBar(len(specs), stream=opts.progress_stream)
        self.limit = AdaptiveLimit(max(1, opts.concurrency))
        self.stop_new = asyncio.Event()
        self.stopped: str | None = None
        self.price: dict | None = None
        self.submitting = 0
        self.report_fh = None
        # The journal, one small file per job: one shared file would be rewritten (and fsynced)
        # whole on every write, one job at a time; per-job files are written in parallel.
        self.journal_dir = self.out / STATE_DIR / "journal"

    # --- reporting --------------------------------------------------------------------------

    def _finish(self, r: JobReport) -> None:
        self.reports[r.key] = r
        if r.state in ("done", "dry_run"):
            self.bar.done += 1
            self.bar.cost += (r.cost or 0.0) if r.state == "done" else 0.0
        elif r.state == "failed":
            self.bar.failed += 1
        else:
            self.bar.skipped += 1
        self.bar.job_ended()
        if self.report_fh is not None:
            self.report_fh.write(json.dumps(r.as_dict(), sort_keys=True) + "\n")
            self.report_fh.flush()
        self.bar.render()

    def _committed_cost(self) -> float:
        unit = (self.price or {}).get("base_price_usd") or 0.0
        return self.bar.cost + unit * (self.limit.in_flight - 1)     # in_flight counts this job

    # --- one job ----------------------------------------------------------------------------

    async def _job(self, spec: JobSpec) -> None:
        identity = spec.identity(self.schema.model_id)
        t0 = time.monotonic()
        report = JobReport(spec.key, spec.line, "failed")
        requeues = 0
        while True:
            if not await self.limit.acquire(self.stop_new):
                report.state, report.error = "not_run", f"not submitted: {self.stopped}"
                break
            if self.opts.max_cost is not None and self._committed_cost() >= self.opts.max_cost:
                # Costs reported so far plus the other jobs in flight at the unit price reach the cap.
                self.limit.release()
                self._stop(f"--max-cost {self.opts.max_cost:g} USD reached ({format_usd(self.bar.cost)} reported)")
                continue
            self.bar.running += 1
            self.bar.render()
            try:
                await self._attempt(spec, identity, report)
                break
            except RateLimitError as exc:
                # The service certainly did not take it (429): queue it again, after the pause.
                requeues += 1
                if requeues > MAX_RATE_LIMIT_REQUEUES:
                    report.error = f"rate limited {requeues} times; not submitted ({exc.base_message})"
                    break
            finally:
                self.bar.running -= 1
                self.limit.release()
        report.seconds = time.monotonic() - t0
        self._finish(report)

    async def _attempt(self, spec: JobSpec, identity: str, report: JobReport) -> None:
        journal = Journal(self.journal_dir / identity[:2] / f"{identity}.json", max_entries=50)
        runner = _JobRunner(self.client, journal=KeyedJournal(journal, identity), timeout=self.opts.timeout,
                            poll=self.opts.poll, price=self.price, submit_anyway=self.opts.submit_anyway)
        phase = {"submitting": False}

        def on_update(u) -> None:
            if u.state == "submitting" and not phase["submitting"]:
                phase["submitting"] = True
                self.submitting += 1
            elif u.state != "submitting" and phase["submitting"]:
                phase["submitting"] = False
                self.submitting -= 1
            if u.state == "submitted":
                report.submits += 1

        try:
            values = await asyncio.to_thread(load_media, self.schema, spec)
            gen = await runner.generate(self.schema, dict(spec.fields), media=values, urls=spec.urls,
                                        image_format=self.opts.upload_format, hooks=Hooks(on_update=on_update))
            outcome = runner.outcomes[0]
            names = await asyncio.to_thread(write_outputs, self.out, spec.key, outcome.files)
            await asyncio.to_thread(write_manifest, self.out, spec.key, {
                "key": spec.key, "line": spec.line, "identity": identity, "model_id": self.schema.model_id,
                "request_id": outcome.request_id, "cost": outcome.cost, "urls": outcome.urls, "files": names})
            report.state, report.request_id, report.cost = "done", outcome.request_id, gen.cost
            report.outputs, report.resumed, report.error = names, outcome.resumed, None
        except RateLimitError:
            raise
        except (ValidationError, EarlierSubmitUncertainError, SubmitOutcomeUnknownError, RunComfyError) as exc:
            report.error = str(exc)
            report.request_id = getattr(exc, "request_id", None) or report.request_id
        except (OSError, ValueError) as exc:
            report.error = f"{type(exc).__name__}: {exc}"
        finally:
            if phase["submitting"]:
                self.submitting -= 1

    # --- the whole batch --------------------------------------------------------------------

    def _stop(self, why: str) -> None:
        if not self.stop_new.is_set():
            self.stopped = why
            self.stop_new.set()
            self.limit._changed.set()

    async def _fetch_price(self) -> None:
        try:
            self.price = _price_of(await asyncio.to_thread(self.client.model_info, self.schema.model_id))
        except RunComfyError:
            self.price = None
        self.bar.unit_price = (self.price or {}).get("base_price_usd")

    async def dry_run(self) -> None:
        await self._fetch_price()
        sem = asyncio.Semaphore(max(1, media._usable_cpus()))

        async def one(spec: JobSpec) -> None:
            async with sem:
                r = JobReport(spec.key, spec.line, "dry_run")
                runner = _JobRunner(self.client, journal=None, price=self.price)
                try:
                    values = await asyncio.to_thread(load_media, self.schema, spec)
                    await runner.generate(self.schema, dict(spec.fields), media=values, urls=spec.urls,
                                          image_format=self.opts.upload_format, dry_run=True)
                    r.cost = (self.price or {}).get("base_price_usd")
                except (RunComfyError, OSError, ValueError) as exc:
                    r.state, r.error = "failed", str(exc)
                self._finish(r)
        await asyncio.gather(*(one(s) for s in self.specs))

    async def run(self) -> None:
        await self._fetch_price()
        todo = []
        for spec in self.specs:
            m = finished(self.out, spec.key, spec.identity(self.schema.model_id))
            if m is not None:
                self._finish(JobReport(spec.key, spec.line, "skipped", request_id=m.get("request_id"),
                                       cost=None, outputs=list(m["files"]),
                                       error="already done: outputs exist"))
            else:
                todo.append(spec)
        loop = asyncio.get_running_loop()
        self.client.on_throttle = lambda ra: loop.call_soon_threadsafe(self.limit.throttled, ra)
        self.client.on_submit_ok = lambda: loop.call_soon_threadsafe(self.limit.succeeded)
        queue = deque(todo)
        active: set[asyncio.Future] = set()
        interrupted = asyncio.Event()

        def on_signal() -> None:
            if interrupted.is_set():
                for t in active:
                    t.cancel()
                return
            interrupted.set()
            self._stop("interrupted (Ctrl-C/SIGTERM): the next run resumes the rest")
            print("\nrunner: stopping: no new submits; waiting for submits on the wire to be answered "
                  "(Ctrl-C again to quit now)", file=sys.stderr, flush=True)

        installed = []
        if self.opts.install_signal_handlers:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, on_signal)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        ticker = asyncio.ensure_future(self._tick())
        try:
            while queue or active:
                # Only as many tasks as the limit allows exist: a thousand tasks waiting for a slot
                # would all wake at every change of it.
                while queue and len(active) < self.limit.allowed and not self.stop_new.is_set():
                    active.add(asyncio.ensure_future(self._job(queue.popleft())))
                if self.stop_new.is_set() and queue:
                    for spec in queue:
                        self._finish(JobReport(spec.key, spec.line, "not_run", error=f"not submitted: {self.stopped}"))
                    queue.clear()
                if not active:
                    break
                done, _ = await asyncio.wait(active, timeout=0.2, return_when=asyncio.FIRST_COMPLETED)
                active -= done
                if interrupted.is_set() and self.submitting == 0:
                    # Everything still running was submitted and journaled: the next run resumes it.
                    for t in active:
                        t.cancel()
                    await asyncio.gather(*active, return_exceptions=True)
                    for spec in todo:
                        if spec.key not in self.reports:
                            self._finish(JobReport(spec.key, spec.line, "not_run",
                                                   error="interrupted: resumed by the next run"))
                    break
        finally:
            ticker.cancel()
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.bar.interval)
            self.bar.render()


async def run_batch(client: RunComfyClient, schema: ModelSchema, specs: list[JobSpec], opts: BatchOptions,
                    problems: list[LineProblem] | None = None) -> BatchResult:
    t0 = time.monotonic()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    batch = _Batch(client, schema, specs, opts)
    # Every job blocks a thread at times (HTTP calls, codecs, journal writes); asyncio's default
    # pool (CPUs + 4 threads) would let only a handful of jobs make progress at once.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=min(256, 2 * opts.concurrency + 8), thread_name_prefix="runcomfy-batch"))
    if opts.report is not None:
        batch.report_fh = open(opts.report, "w", encoding="utf-8")
    try:
        if problems:
            for p in problems:
                if batch.report_fh is not None:
                    batch.report_fh.write(json.dumps({"key": p.key, "line": p.line, "state": "invalid",
                                                      "error": p.message}) + "\n")
        if opts.dry_run:
            await batch.dry_run()
        else:
            await batch.run()
    finally:
        batch.bar.close()
        if batch.report_fh is not None:
            batch.report_fh.close()
    order = {s.key: i for i, s in enumerate(specs)}
    reports = sorted(batch.reports.values(), key=lambda r: order.get(r.key, 0))
    return BatchResult(reports, list(problems or []), batch.price, time.monotonic() - t0, batch.stopped,
                       batch.limit.peak, batch.limit.cuts)


def summary_text(res: BatchResult, dry_run: bool = False) -> str:
    lines = []
    price = res.price or {}
    unit = price.get("base_price_usd")
    if dry_run:
        ok = res.count("dry_run")
        lines.append(f"dry run: {ok} job(s) valid, {res.count('failed') + len(res.problems)} invalid; nothing was sent")
        if unit is not None:
            lines.append(f"price: {ok} x {format_usd(unit)} / {price.get('price_unit') or 'run'} = {format_usd(ok * unit)} "
                         "(unit price x jobs; the service bills what it reports)")
        else:
            lines.append("price unavailable (no token, or RunComfy could not be reached)")
    else:
        lines.append(f"done {res.count('done')}, failed {res.count('failed')}, skipped {res.count('skipped')} "
                     f"(already done), not run {res.count('not_run')}, invalid lines {len(res.problems)}; "
                     f"cost {format_usd(res.cost) or '$0.00'} reported; {res.wall:.1f} s")
        if res.stopped:
            lines.append(f"stopped early: {res.stopped}")
    for p in res.problems:
        lines.append(f"  invalid {p}")
    for r in res.reports:
        if r.state == "failed":
            lines.append(f"  failed line {r.line} (key {r.key!r}): {r.error}")
    return "\n".join(lines)
