"""The batch: every valid line of JOBS.jsonl through ``pipeline.Runner``, at an adaptive concurrency.

Money rules, as in the node: a job is submitted at most once (the journal's claim comes first;
a 429 is a certain "not taken", so that job is queued again; an uncertain submit is never
re-sent and the job is reported); a re-run of the same command resumes pending requests and
finished-but-unsaved results from the journal and skips jobs whose outputs exist (see outputs.py).

``--max-cost`` (see spend.py): a job is submitted only while what this --out folder has spent in
every run (reported costs of finished requests; estimates of requests in flight, of submits whose
outcome is unknown and of finished ones without a numeric cost) plus the job's own estimate
(runcomfy/estimate.py) stays within the cap; a job whose estimate is unknown is not submitted
unless ``--max-cost-unknown`` gives an amount to assume. Resuming a request already paid for is
never refused.

Every line ends in the report: done, failed (with the reason), skipped, or not run (with the
reason); an exception of any kind in one job fails that job alone.

Stopping: the first Ctrl-C (or SIGTERM) stops new submits, lets submits already on the wire
get their answer (so none becomes uncertain), then quits; jobs still running remotely are
resumed by the next run. A second Ctrl-C quits at once. A SIGKILL or crash is covered by the
journal: the next run resumes what was submitted and reports (never re-sends) a submit whose
answer was lost with the process.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..media import images as media
from ..media.errors import UnreadableInputError
from ..api import TERMINAL, CallKind, ClientHooks, RunComfyClient, normalize_state
from ..errors import (EarlierSubmitUncertainError, RateLimitError, RunComfyError, SubmitOutcomeUnknownError,
                      ValidationError)
from ..run import GenerationRequest, Hooks, Runner
from ..run.polling import PollPolicy
from ..estimate import Estimate, counted_cost, estimate
from ..pricing import PER_SECOND_UNITS, format_usd
from ..schema import ModelSchema
from . import hints
from .jobsfile import JobSpec, LineProblem, input_error
from .journal import BatchJournal, FolderBusyError
from .limiter import AdaptiveLimit
from .outputs import fetch_into, finished, migrate, read_manifest, write_manifest, write_outputs
from .progress import ProgressBar
from .spend import SpendLedger
from .threads import AdaptivePool
from ..spending.gate import SpendLimitError, batch_tag

DEFAULT_CONCURRENCY = 8          # RunComfy runs a few jobs per account at once; more only queue there
MAX_RATE_LIMIT_REQUEUES = 30     # per job: after this many 429-refused submits it is reported failed
STATE_DIR = ".runcomfy-batch"
INCOMING = "incoming"       # under STATE_DIR: results as they download, renamed to their output names


@dataclass
class BatchOptions:
    out: Path
    concurrency: int = DEFAULT_CONCURRENCY
    upload_format: str = "png"
    max_cost: float | None = None
    max_cost_unknown: float | None = None   # assumed cost of a job whose estimate is unknown
    dry_run: bool = False
    report: Path | None = None
    timeout: float = 1800.0
    submit_anyway: str = ""              # one-time codes from "an earlier submit may have been billed"
    poll: PollPolicy | None = None
    progress_stream: object = None       # default stderr
    install_signal_handlers: bool = True
    # The config folder: its spending limits apply and its spend history records every request
    # (runcomfy/spending, issue 20); None (library default) leaves both out. The CLI sets it.
    spend_dir: Path | None = None
    # Keep every JobReport for BatchResult.reports (memory grows with the batch); the report
    # file (--report) and the summary's tally do not need it.
    keep_reports: bool = False


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
    estimate: float | None = None   # what --max-cost counted before the submit
    counted: float | None = None    # what it counts for now (reported cost, else the estimate)
    cost_basis: str | None = None
    model_id: str | None = None     # the same fields as the spend history's export (spending/report.py)
    finished: float | None = None   # epoch seconds

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


MAX_LISTED = 100        # failed / refused jobs the summary names one by one (all are in --report)


@dataclass
class Tally:
    """What the summary needs, as running sums: a batch's memory does not grow with its length."""
    states: dict = field(default_factory=dict)
    cost: float = 0.0                    # reported costs of done jobs
    cost_reported: bool = False
    no_cost: int = 0                     # done jobs without a numeric cost
    no_cost_counted: float = 0.0         # ... what they count for (their estimates)
    dry_known: int = 0                   # dry run: jobs with a known estimate, their sum, all jobs
    dry_sum: float = 0.0
    dry_all: int = 0
    listed: list = field(default_factory=list)    # the first MAX_LISTED failed / refused JobReports
    unlisted: int = 0

    def add(self, r: JobReport) -> None:
        self.states[r.state] = self.states.get(r.state, 0) + 1
        if r.state == "done":
            if r.cost is not None:
                self.cost += r.cost
                self.cost_reported = True
            else:
                self.no_cost += 1
                self.no_cost_counted += r.counted or 0.0
        elif r.state == "dry_run":
            self.dry_all += 1
            if r.estimate is not None:
                self.dry_known += 1
                self.dry_sum += r.estimate
        if r.state == "failed" or (r.state == "not_run" and r.error and "cost" in r.error and "unknown" in r.error):
            if len(self.listed) < MAX_LISTED:
                self.listed.append(r)
            else:
                self.unlisted += 1


@dataclass
class BatchResult:
    reports: list[JobReport]            # every job's report with BatchOptions(keep_reports=True), else []
    problems: list[LineProblem]
    price: dict | None
    wall: float
    stopped: str | None = None      # why new submits stopped early (max cost, interrupted)
    peak_concurrency: int = 0
    limit_cuts: int = 0
    spent: float | None = None      # this --out folder, every run: what --max-cost counts
    spent_unknown: int = 0          # charges of unknown amount left out of ``spent``
    max_cost: float | None = None
    notes: list[str] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)

    def count(self, state: str) -> int:
        return self.tally.states.get(state, 0)

    @property
    def cost(self) -> float:
        return self.tally.cost

    @property
    def failures(self) -> list[JobReport]:
        return [r for r in self.tally.listed if r.state == "failed"]

    @property
    def exit_code(self) -> int:
        if self.problems or self.count("failed") or self.count("not_run"):
            return 1
        return 0


_NO_COST = object()
# A job polls /result, not /status: a finished job is then submit + result + its files. Looks
# start at 0.5 s and settle at 2 s (RunComfy's own nodes poll every 5 s): with more jobs in flight
# than the service runs at once, a later look costs no wall time (the service stays busy with the
# others) and saves the client's and the service's CPU on each poll.
_BATCH_POLL = PollPolicy(via_result=True, first=0.5, cap=2.0)


class ClientObserver:
    """What the batch learns from the client's calls (runcomfy/api/hooks.py), attached for the
    run with ``client.observed(observer.hooks())``: 429s and accepted submits steer the adaptive
    limit, and each finished request's ``cost`` is kept exactly as /result sent it (the client's
    JobResult keeps numbers only)."""

    def __init__(self, on_throttle=lambda retry_after: None, on_submit_ok=lambda: None):
        self.on_throttle = on_throttle
        self.on_submit_ok = on_submit_ok
        self.raw_costs: dict[str, object] = {}

    def hooks(self) -> ClientHooks:
        return ClientHooks(on_response=self._answered, on_error=self._failed,
                           on_submit_sent=lambda _sub: self.on_submit_ok())

    def _answered(self, answer) -> None:
        if answer.call.kind is not CallKind.RESULT or answer.call.request_id is None:
            return
        try:
            state = normalize_state(answer.body.get("status"))
        except RunComfyError:
            return
        if state in TERMINAL:
            self.raw_costs[answer.call.request_id] = answer.body.get("cost", _NO_COST)

    def _failed(self, _call, exc) -> None:
        if isinstance(exc, RateLimitError):
            self.on_throttle(exc.retry_after)


MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024      # read into memory whole: refuse larger before reading


class InputFileError(ValueError):
    """A job's input file is not usable media: names the line and the field, never the bytes."""


def _texty(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def load_media(schema: ModelSchema, spec: JobSpec) -> dict[str, list]:
    """Library-level values of the job's local media files (images decoded like Load Image)."""
    from ..media import kinds as media_kinds
    fields = {f.name: f for f in schema.media_fields}
    out: dict[str, list] = {}
    for name, paths in spec.files.items():
        f = fields.get(name)
        kind = f.kind if f is not None else None
        vals = []
        for i, p in enumerate(paths):
            label = f"{name}[{i + 1}]" if f is not None and f.is_list else name
            try:
                size = Path(p).stat().st_size
                with open(p, "rb") as fh:
                    head = fh.read(64)
            except OSError as exc:
                raise InputFileError(input_error(spec.line, label, f"cannot read {p}: {exc.strerror or exc}")) from None
            sniffed = media_kinds.sniff(head)
            # Containers the sniffer does not know (AVI, MPEG-TS...) go to the video/audio decoders;
            # text never does.
            if (sniffed is not None and sniffed.name != kind) or (sniffed is None and (kind == "image" or _texty(head))):
                what = f"a {sniffed.name} file" if sniffed is not None else "not a media file this pack reads"
                raise InputFileError(input_error(spec.line, label, f"{p} ({size:,} bytes) is {what}; "
                                                                  f"this field takes {kind} files"))
            try:
                if kind == "image":
                    if size > MAX_IMAGE_FILE_BYTES:
                        raise InputFileError(input_error(
                            spec.line, label, f"{p} is {size:,} bytes; image files over "
                                              f"{MAX_IMAGE_FILE_BYTES >> 20} MiB are not read"))
                if kind not in media_kinds.KINDS:
                    raise InputFileError(input_error(spec.line, label, f"no loader for media kind {kind!r}"))
                vals.append(media_kinds.get(kind).load_input(str(p), label))
            except InputFileError:
                raise
            except UnreadableInputError as exc:      # names the file and why, never its bytes
                raise InputFileError(input_error(spec.line, label, f"{exc.source} {exc.reason}")) from None
            except MemoryError:
                raise InputFileError(input_error(spec.line, label, f"{p} ({size:,} bytes) does not fit in "
                                                                  "memory when decoded")) from None
            except Exception as exc:     # decoders' messages can quote the file's bytes: not shown
                raise InputFileError(input_error(spec.line, label, f"{p} ({size:,} bytes) is not a readable "
                                                                  f"{kind} file ({type(exc).__name__})")) from None
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
    def __init__(self, client: RunComfyClient, schema: ModelSchema, specs, opts: BatchOptions):
        self.observer = ClientObserver()
        self.client, self.schema, self.opts = client, schema, opts
        # Any iterable of JobSpec (a list, or jobsfile.JobStream reading the file as it goes), used once.
        self.total = len(specs)
        self.specs = iter(specs)
        self.out = Path(opts.out)
        self.incoming = self.out / STATE_DIR / INCOMING
        self.tally = Tally()
        self.reports: list[JobReport] = []
        self.open: dict[str, JobSpec] = {}     # jobs started and not finished: bounded by concurrency
        self.bar = ProgressBar(self.total, stream=opts.progress_stream)
        self._est_seen = [0, 0.0]               # estimates seen (known), their sum: the bar's unit price
        self.limit = AdaptiveLimit(max(1, opts.concurrency))
        self.stop_new = asyncio.Event()
        self.stopped: str | None = None
        self.price: dict | None = None
        self.submitting = 0
        self.report_fh = None
        # One append-only journal for the folder, spend ledger included (journal.py).
        self.journal: BatchJournal | None = None
        self.ledger: SpendLedger | None = None
        self.estimates: dict[str, Estimate] = {}
        self.cap_reached: str | None = None
        self.notes: list[str] = []

    # --- reporting --------------------------------------------------------------------------

    def _finish(self, r: JobReport) -> None:
        self.open.pop(r.key, None)
        self.estimates.pop(r.key, None)
        self.tally.add(r)
        if self.opts.keep_reports:
            self.reports.append(r)
        r.model_id, r.finished = self.schema.model_id, time.time()
        if r.state in ("done", "dry_run"):
            self.bar.done += 1
            self.bar.cost += (r.cost or 0.0) if r.state == "done" else 0.0
        elif r.state == "failed":
            self.bar.failed += 1
        else:
            self.bar.skipped += 1
        self.bar.job_ended()
        if self.report_fh is not None:
            try:
                self.report_fh.write(json.dumps(r.as_dict(), sort_keys=True, default=str) + "\n")
                self.report_fh.flush()
            except (OSError, ValueError) as exc:
                self.notes.append(f"report file not written for {r.key}: {exc}")
        self.bar.render()

    # --- the budget -------------------------------------------------------------------------

    def _resumable(self, identity: str) -> str | bool | None:
        """The request a run of this job would resume (already paid for); True when an earlier
        submit's outcome is unknown, so the journal will refuse a new one (with the code that
        lets the user pay again) whatever the budget; else None. In memory: no I/O."""
        entry = self.journal.resumable(identity)
        if entry:
            return entry.get("request_id")
        if not self.opts.submit_anyway and self.journal.blocking(identity):
            return True
        return None

    def _estimate(self, spec: JobSpec) -> Estimate:
        """Kept while the job runs (dropped by _finish)."""
        est = self.estimates.get(spec.key)
        if est is None:
            price = self.price or self.schema.price
            est = estimate(price, (self.schema.doc or {}).get("input_schema"), spec.fields)
            self.estimates[spec.key] = est
            if est.known:       # the progress line's "~$X more": the mean estimate so far
                self._est_seen[0] += 1
                self._est_seen[1] += est.usd
                self.bar.unit_price = self._est_seen[1] / self._est_seen[0]
        return est

    def _reserve(self, spec: JobSpec, identity: str):
        """(refusal, charge): the charge of a new submit, counted from now on; or why not.
        Runs without an await between the look at the total and the reservation."""
        est = self._estimate(spec)
        usd = est.usd if est.known else self.opts.max_cost_unknown
        basis = est.basis if est.known else f"assumed by --max-cost-unknown ({est.basis})"
        cap = self.opts.max_cost
        if cap is not None:
            if usd is None:
                return (f"not submitted: its cost is unknown ({est.basis}); --max-cost counts every job, "
                        "so give --max-cost-unknown USD (the amount to assume per such job)"), None
            if self.cap_reached:
                return self.cap_reached, None
            spent, unknown = self.ledger.spent(self.opts.max_cost_unknown)
            if unknown:
                return (f"not submitted: {unknown} earlier request(s) in this folder have an unknown cost; "
                        "give --max-cost-unknown USD to count them"), None
            if spent + usd > cap + 1e-9:
                self.cap_reached = (f"not submitted: --max-cost {cap:g} USD reached: {format_usd(spent)} spent or "
                                    f"committed in this folder (all runs), and this job's estimate "
                                    f"{format_usd(usd)} ({basis}) would pass it")
                self.stopped = (f"--max-cost {cap:g} USD reached ({format_usd(spent)} spent or committed in "
                                "this folder)")
                return self.cap_reached, None
        return None, self.ledger.reserve(identity, spec.key, usd, basis)

    def _settle(self, rid: str, est: Estimate, outputs: int | None, report: JobReport) -> None:
        raw = self.observer.raw_costs.pop(rid, _NO_COST)
        if raw is _NO_COST and outputs is None:
            return                       # no /result answer: the estimate stands
        usd, basis = counted_cost(None if raw is _NO_COST else raw, est, outputs)
        if usd is None:
            usd, basis = self.opts.max_cost_unknown, "no numeric cost and no estimate: --max-cost-unknown"
        report.counted, report.cost_basis = usd, basis
        if usd is not None:
            # Not awaited here (the event loop's thread): _save waits for it before the manifest.
            self.ledger.settle_request(rid, usd, basis, durable=False)

    # --- one job ----------------------------------------------------------------------------

    def _skip_if_done(self, spec: JobSpec, identity: str, m: dict) -> tuple[JobReport | None, str | None]:
        """(skipped report, None) when the job's outputs exist as its manifest says; else (None,
        the manifest's request id: finished before, outputs gone or contested: fetched again by
        that request id, never a new one). Runs in a worker thread (it hashes the outputs)."""
        rid = m.get("request_id")
        rid = rid if isinstance(rid, str) and rid else None
        done = finished(self.out, spec.key, identity)
        if done is None:
            return None, rid
        if rid and "counted" not in done:
            # Written by a version before the spend ledger (a manifest with "counted" was charged in
            # this folder's ledger when it finished): counted from now on, once.
            usd, basis = counted_cost(done.get("cost"), self._estimate(spec), len(done.get("files") or []))
            if isinstance(done.get("counted"), (int, float)) and not isinstance(done.get("counted"), bool):
                usd, basis = float(done["counted"]), "counted when it finished"
            self.ledger.record_known(identity, spec.key, rid, usd, basis, settled=usd is not None)
        return JobReport(spec.key, spec.line, "skipped", request_id=rid, cost=None, outputs=list(done["files"]),
                         error="already done: outputs exist"), None

    async def _job(self, spec: JobSpec) -> None:
        identity = spec.identity(self.schema.model_id)
        prior = None
        m = read_manifest(self.out, spec.key)        # no manifest (the usual case): one failed open()
        if m is not None and m.get("identity") == identity:
            skipped, prior = await asyncio.to_thread(self._skip_if_done, spec, identity, m)
            if skipped is not None:
                self._finish(skipped)
                return
        report = JobReport(spec.key, spec.line, "failed")
        t0 = time.monotonic()
        self.open[spec.key] = spec
        try:
            await self._job_inner(spec, report, identity, prior)
        except asyncio.CancelledError:
            if report.state == "failed" and not report.error:
                report.state, report.error = "not_run", "interrupted: resumed by the next run"
            raise
        except BaseException as exc:        # MemoryError, RecursionError, a bug: this job alone fails
            report.state = "failed"
            report.error = f"{type(exc).__name__}: {str(exc)[:300] or 'no message'}"
            if not isinstance(exc, Exception):
                raise
        finally:
            report.seconds = time.monotonic() - t0
            if report.state == "failed" and not report.error:
                report.error = "ended without an outcome"
            self._finish(report)

    async def _job_inner(self, spec: JobSpec, report: JobReport, identity: str, prior: str | None) -> None:
        requeues = 0
        while True:
            if not await self.limit.acquire(self.stop_new):
                report.state, report.error = "not_run", f"not submitted: {self.stopped}"
                return
            try:
                # Resuming a paid request, or being told an earlier submit may have been billed,
                # costs nothing new: the budget never stands in the way of either.
                resumes = prior or self._resumable(identity)
                charge = None
                if not resumes:
                    refusal, charge = self._reserve(spec, identity)
                    if refusal:
                        report.state, report.error = "not_run", refusal
                        return
                self.bar.running += 1
                self.bar.render()
                try:
                    await self._attempt(spec, identity, report, charge, prior)
                    return
                except RateLimitError as exc:
                    # The service certainly did not take it (429): queue it again, after the pause.
                    requeues += 1
                    if requeues > MAX_RATE_LIMIT_REQUEUES:
                        report.error = f"rate limited {requeues} times; not submitted ({exc.base_message})"
                        return
                finally:
                    self.bar.running -= 1
            finally:
                self.limit.release()

    async def _attempt(self, spec: JobSpec, identity: str, report: JobReport, charge, prior: str | None) -> None:
        est = self._estimate(spec)
        report.estimate = est.usd if est.known else self.opts.max_cost_unknown
        ledger = self.ledger
        state = {"submitting": False, "charge": charge, "sending": None}

        def on_claim():
            # The journal decided to submit: the charge it is counted under goes into the same
            # fsync as the claim, before the submit leaves.
            c = state["charge"]
            if c is None or c.request_id is not None:
                # A submit nobody reserved for (the journal's resume target had expired):
                # counted now; the overshoot is this one job's estimate.
                c = state["charge"] = ledger.reserve(identity, spec.key, report.estimate,
                                                     est.basis if est.known else "assumed")
            return c

        tag = None
        if self.opts.spend_dir is not None:      # the global limits, checked in the journal's claim
            tag = batch_tag(self.opts.spend_dir, self.schema, spec.key, est, self.opts.max_cost_unknown)
        journal = self.journal.job_view(identity, spec.key, tag, on_claim, lambda: state["charge"])
        runner = Runner(self.client, journal=journal, timeout=self.opts.timeout,
                        poll=self.opts.poll or _BATCH_POLL, submit_anyway=self.opts.submit_anyway,
                        fetch_result=fetch_into(self.incoming, spec.key))

        def on_update(u) -> None:
            if u.state == "submitting" and not state["submitting"]:
                state["submitting"] = True
                self.submitting += 1
                c = state["charge"]
                if c is None or c.request_id is not None:
                    # A submit nobody reserved for (the journal's resume target had expired):
                    # counted now; the overshoot is this one job's estimate.
                    c = state["charge"] = ledger.reserve(identity, spec.key, report.estimate,
                                                         est.basis if est.known else "assumed")
                ledger.sent(c)           # written with the claim already (a no-op then)
                state["sending"] = c
            elif u.state != "submitting" and state["submitting"]:
                state["submitting"] = False
                self.submitting -= 1
            if u.state == "submitted":
                report.submits += 1
                state["sending"] = None
                if u.request_id:
                    ledger.request(state["charge"], u.request_id)
            elif u.state == "resuming" and u.request_id:
                c = state["charge"]
                if ledger.knows_request(u.request_id):
                    if c is not None and c.request_id is None and not c.durable:
                        ledger.release(c)
                        state["charge"] = None
                else:
                    # Paid in a run this ledger never saw (an older version): counted from now on.
                    c = c if c is not None and c.request_id is None else ledger.reserve(
                        identity, spec.key, report.estimate, "resumed from an earlier run")
                    ledger.request(c, u.request_id, durable=False)
                    state["charge"] = c

        rid = None
        try:
            values = await asyncio.to_thread(load_media, self.schema, spec) if spec.files else {}
            # decode=False: the batch saves the service's bytes as they came.
            gen = await runner.run(GenerationRequest(self.schema, dict(spec.fields), media=values, urls=spec.urls,
                                                     image_format=self.opts.upload_format, resume_request_id=prior,
                                                     decode=False),
                                   Hooks(on_update=on_update))
            outcome = gen.outcomes[0]
            rid = outcome.request_id
            self._settle(rid, est, len(outcome.urls), report)
            names = await asyncio.to_thread(self._save, spec, identity, outcome, report)
            try:        # saved with its manifest: the journal forgets this job (not awaited)
                journal.record_delivered([rid])
            except Exception as exc:
                self.notes.append(f"journal not updated after saving {spec.key} ({type(exc).__name__})")
            report.state, report.request_id, report.cost = "done", outcome.request_id, gen.cost
            report.outputs, report.resumed, report.error = names, outcome.resumed, None
        except RateLimitError:
            self._release_unsent(state)
            raise
        except InputFileError as exc:
            report.error = str(exc)
        except SpendLimitError as exc:           # refused before the submit: nothing was sent
            report.state, report.error = "not_run", str(exc)
        except (ValidationError, EarlierSubmitUncertainError, SubmitOutcomeUnknownError, RunComfyError) as exc:
            report.error = hints.shown(exc)
            report.request_id = getattr(exc, "request_id", None) or report.request_id
            rid = report.request_id
            if state["sending"] is not None and not isinstance(exc, SubmitOutcomeUnknownError):
                self._release_unsent(state)       # refused for certain: nothing was taken
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            if state["submitting"]:
                self.submitting -= 1
            c = state["charge"]
            if c is not None and not c.durable and c.request_id is None and not state["sending"]:
                ledger.release(c)                 # never reached the submit: costs nothing
            if report.state != "done":
                rid = rid or (c.request_id if c is not None else None)
                if rid:
                    self._settle(rid, est, None, report)

    def _save(self, spec: JobSpec, identity: str, outcome, report: JobReport) -> list[str]:
        """Outputs, then (once the journal holds the job's settled cost) the manifest: one hop."""
        names, sizes, sums = write_outputs(self.out, spec.key, outcome.files)
        self.journal.barrier()
        write_manifest(self.out, spec.key, {
            "key": spec.key, "line": spec.line, "identity": identity, "model_id": self.schema.model_id,
            "request_id": outcome.request_id, "cost": outcome.cost, "counted": report.counted,
            "urls": outcome.urls, "files": names, "sizes": sizes, "sha256": sums})
        return names

    def _release_unsent(self, state: dict) -> None:
        c = state["sending"]
        if c is not None and c.request_id is None:
            self.ledger.release(c)
        state["sending"] = None
        if state["charge"] is c:
            state["charge"] = None

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
        if self.price is not None and self.price.get("price_unit") and \
                (self.price.get("price_unit") or "").lower() not in PER_SECOND_UNITS:
            self.bar.unit_price = self.price.get("base_price_usd")   # until the jobs' estimates say more

    async def dry_run(self) -> None:
        await self._fetch_price()
        async def one(spec: JobSpec) -> None:
            if True:
                r = JobReport(spec.key, spec.line, "dry_run")
                runner = Runner(self.client, journal=None)
                try:
                    est = self._estimate(spec)
                    r.estimate, r.cost_basis = est.usd, est.basis
                    values = await asyncio.to_thread(load_media, self.schema, spec)
                    # The price asked once for the whole batch: no call per job.
                    await runner.run(GenerationRequest(self.schema, dict(spec.fields), media=values, urls=spec.urls,
                                                       image_format=self.opts.upload_format, dry_run=True,
                                                       known_price=self.price or {}))
                    r.cost = (self.price or {}).get("base_price_usd")
                except Exception as exc:
                    r.state, r.error = "failed", str(exc) or type(exc).__name__
                self._finish(r)
        async def worker() -> None:
            for spec in self.specs:         # shared iterator: each spec goes to one worker
                await one(spec)
        await asyncio.gather(*(worker() for _ in range(max(1, media.usable_cpus()))), return_exceptions=True)

    def _migrate_once(self) -> None:
        """Version-1 outputs to version 2 (outputs.migrate reads every manifest at once): only
        when a version-1 manifest is there. Looked for one file at a time, and only among the
        manifests written since this version last ended a run here (the marker's time), so a
        resumed 100,000-job folder is neither held in memory nor read whole on every run."""
        marker = self.out / STATE_DIR / "outputs-v2"
        try:
            since = marker.stat().st_mtime
        except OSError:
            since = None
        try:
            with os.scandir(self.out) as it:
                for entry in it:
                    if not entry.name.endswith(".json") or not entry.is_file():
                        continue
                    if since is not None and entry.stat().st_mtime <= since:
                        continue
                    m = read_manifest(self.out, entry.name[:-5])
                    if m is not None and m.get("version", 1) < 2:
                        self.notes.extend(migrate(self.out))
                        return
        except OSError:
            return

    def _clear_incoming(self) -> None:
        """Results a killed run was downloading: incomplete or never named (their jobs fetch them
        again by request id). This run holds the folder's lock, so none is another run's."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        with os.scandir(self.incoming) as it:
            for entry in it:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass

    def mark_migrated(self) -> None:
        """Every manifest now here is version 2 (written or migrated by this version)."""
        try:
            (self.out / STATE_DIR / "outputs-v2").touch()
        except OSError:
            pass

    async def run(self) -> None:
        await self._fetch_price()
        try:
            self.journal = await asyncio.to_thread(BatchJournal, self.out / STATE_DIR)
        except FolderBusyError as exc:
            self.stopped = str(exc)
            for spec in self.specs:
                self._finish(JobReport(spec.key, spec.line, "not_run", error=str(exc)))
            return
        self.ledger = self.journal.ledger
        self.notes.extend(self.journal.notes)
        bad = self.journal.unreadable_lines + self.ledger.unreadable_lines
        if bad:
            self.notes.append(f"batch journal: {bad} unreadable line(s) ignored (a write cut by a kill)")
        await asyncio.to_thread(self._migrate_once)
        await asyncio.to_thread(self._clear_incoming)
        loop = asyncio.get_running_loop()
        self.observer.on_throttle = lambda ra: loop.call_soon_threadsafe(self.limit.throttled, ra)
        self.observer.on_submit_ok = lambda: loop.call_soon_threadsafe(self.limit.succeeded)
        active: set[asyncio.Future] = set()
        interrupted = asyncio.Event()
        wake = asyncio.Event()

        def ended(task: asyncio.Future) -> None:
            active.discard(task)
            wake.set()

        def on_signal() -> None:
            if interrupted.is_set():
                for t in active:
                    t.cancel()
                return
            interrupted.set()
            self._stop("interrupted (Ctrl-C/SIGTERM): the next run resumes the rest")
            wake.set()
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
        more = True
        try:
            while more or active:
                # Only as many tasks as the limit allows exist (a thousand tasks waiting for a slot
                # would all wake at every change of it); jobs are read from the file as they start.
                while more and len(active) < self.limit.allowed and not self.stop_new.is_set():
                    spec = next(self.specs, None)
                    if spec is None:
                        more = False
                        break
                    t = asyncio.ensure_future(self._job(spec))
                    active.add(t)
                    t.add_done_callback(ended)
                if self.stop_new.is_set() and more:
                    for spec in self.specs:
                        self._finish(JobReport(spec.key, spec.line, "not_run", error=f"not submitted: {self.stopped}"))
                    more = False
                if not active:
                    break
                # Woken by a job's end (or a stop); the timeout notices a raised limit.
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), 0.2)
                except asyncio.TimeoutError:
                    pass
                if interrupted.is_set() and self.submitting == 0:
                    # Everything still running was submitted and journaled: the next run resumes it.
                    for t in list(active):
                        t.cancel()
                    await asyncio.gather(*active, return_exceptions=True)
                    break
        finally:
            ticker.cancel()
            for sig in installed:
                loop.remove_signal_handler(sig)
            for spec in list(self.open.values()):
                self._finish(JobReport(spec.key, spec.line, "not_run", error="interrupted: resumed by the next run"))
            for spec in self.specs:
                self._finish(JobReport(spec.key, spec.line, "not_run", error="interrupted: resumed by the next run"))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.bar.interval)
            self.bar.render()


async def run_batch(client: RunComfyClient, schema: ModelSchema, specs, opts: BatchOptions,
                    problems: list[LineProblem] | None = None) -> BatchResult:
    """``specs``: a list of JobSpec, or a jobsfile.JobStream (read as the jobs start; its invalid
    lines are reported as they are met and end up in ``BatchResult.problems``)."""
    t0 = time.monotonic()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    batch = _Batch(client, schema, specs, opts)
    # Every job blocks a thread at times (HTTP calls, file writes): 8 threads while the client is
    # busy computing, up to 32 while steps wait on a slow network (threads.py: measured at 256 jobs
    # in flight, 32 threads cost ~45% more CPU per job than 8 when the service answers at once).
    asyncio.get_running_loop().set_default_executor(
        AdaptivePool(floor=min(8, opts.concurrency + 2), ceiling=min(32, 2 * opts.concurrency + 8)))
    if opts.report is not None:
        batch.report_fh = open(opts.report, "w", encoding="utf-8")

    def invalid(p: LineProblem) -> None:
        if batch.report_fh is not None:
            batch.report_fh.write(json.dumps({"key": p.key, "line": p.line, "state": "invalid",
                                              "error": p.message}) + "\n")
    streamed = getattr(specs, "problems", None)
    if hasattr(specs, "on_problem"):
        def met(p: LineProblem) -> None:
            batch.bar.total -= 1            # counted as a job line by the stream's first pass
            invalid(p)
        specs.on_problem = met
    try:
        for p in problems or []:
            invalid(p)
        with client.observed(batch.observer.hooks()):
            if opts.dry_run:
                await batch.dry_run()
            else:
                await batch.run()
    finally:
        # Whatever happened, every job has a line in the report.
        for spec in list(batch.open.values()):
            batch._finish(JobReport(spec.key, spec.line, "failed", error="the batch ended before this job "
                                                                        "had an outcome"))
        for spec in batch.specs:
            batch._finish(JobReport(spec.key, spec.line, "not_run", error="the batch ended before this job "
                                                                         "was started"))
        batch.bar.close()
        if batch.report_fh is not None:
            batch.report_fh.close()
        if batch.journal is not None:
            batch.journal.close()
            batch.mark_migrated()
    reports = sorted(batch.reports, key=lambda r: r.line)
    spent, unknown = (batch.ledger.spent(opts.max_cost_unknown) if batch.ledger is not None else (None, 0))
    found = list(problems or []) + (list(streamed) if streamed is not None and streamed is not problems else [])
    return BatchResult(reports, found, batch.price or schema.price, time.monotonic() - t0,
                       batch.stopped or batch.cap_reached, batch.limit.peak, batch.limit.cuts, spent, unknown,
                       opts.max_cost, batch.notes, batch.tally)


def summary_text(res: BatchResult, dry_run: bool = False) -> str:
    lines = []
    price = res.price or {}
    unit = price.get("base_price_usd")
    if dry_run:
        ok = res.count("dry_run")
        lines.append(f"dry run: {ok} job(s) valid, {res.count('failed') + len(res.problems)} invalid; nothing was sent")
        if unit is not None and (price.get("price_unit") or "").lower() in PER_SECOND_UNITS:
            lines.append(f"price: {format_usd(unit)} / s (the estimate below counts each job's duration)")
        elif unit is not None:
            lines.append(f"price: {ok} x {format_usd(unit)} / {price.get('price_unit') or 'run'} = {format_usd(ok * unit)} "
                         "(unit price x jobs; the service bills what it reports)")
        else:
            lines.append("price unavailable (no token, or RunComfy could not be reached)")
        t = res.tally
        if t.dry_all:
            lines.append(f"estimate: {format_usd(t.dry_sum)} for {t.dry_known} job(s)"
                         + (f"; {t.dry_all - t.dry_known} job(s) with an unknown cost (--max-cost refuses them "
                            "unless --max-cost-unknown is given)" if t.dry_known < t.dry_all else ""))
    else:
        t = res.tally
        lines.append(f"done {res.count('done')}, failed {res.count('failed')}, skipped {res.count('skipped')} "
                     f"(already done), not run {res.count('not_run')}, invalid lines {len(res.problems)}; "
                     + (f"cost {format_usd(res.cost)} reported" if t.cost_reported else "no cost reported")
                     + f"; {res.wall:.1f} s")
        if t.no_cost:
            lines.append(f"{t.no_cost} job(s) reported no numeric cost: counted at "
                         f"{format_usd(t.no_cost_counted)} (their estimates), not $0")
        if res.spent is not None:
            cap = f" of --max-cost {format_usd(res.max_cost)}" if res.max_cost is not None else ""
            unknown = f" + {res.spent_unknown} request(s) of unknown cost" if res.spent_unknown else ""
            lines.append(f"spent in this folder, all runs: {format_usd(res.spent)}{unknown}{cap} "
                         "(reported costs; estimates where none was reported)")
        if res.stopped:
            lines.append(f"stopped early: {res.stopped}")
    for n in res.notes:
        lines.append(f"  note: {n}")
    for p in res.problems:
        lines.append(f"  invalid {p}")
    for r in res.tally.listed:
        if r.state == "failed":
            lines.append(f"  failed line {r.line} (key {r.key!r}): {r.error}")
        elif r.state == "not_run" and r.error and "cost" in r.error and "unknown" in r.error:
            lines.append(f"  not run line {r.line} (key {r.key!r}): {r.error}")
    if res.tally.unlisted:
        lines.append(f"  ... and {res.tally.unlisted} more failed or refused job(s): see the --report file")
    return "\n".join(lines)
