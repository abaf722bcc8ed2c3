"""One remote generation, end to end: validate, encode, submit, wait, fetch, decode.

The node adapter, the batch runner and ``python -m runcomfy demo`` all run this code: they
describe the generation as a ``GenerationRequest`` and pass their progress and Stop hooks; each
job gets its RunContext (run/context.py) explicitly. Everything blocking (HTTP, PNG codecs)
runs in worker threads so the event loop stays free for other async work.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from . import jobs
from .. import pricing
from ..api import RunComfyClient
from ..api.upload_progress import UplinkEstimate
from ..media import kinds
from ..errors import (Interrupted, JournalWriteError, PaidResultError, Problem, RequestTooLargeError, RunComfyError,
                     ValidationError)
from ..schema import Field, MediaInfo, ModelSchema, check_payload, media_label, structured, validate_payload
from .context import DEFAULT_TIMEOUT, GenerationRequest, RunContext
from .hosting import DataUriHost, MediaHost
from .jobs import Hooks, JobOutcome, Update, fingerprint  # noqa: F401  (the pipeline's public names)
from .polling import PollPolicy


@dataclass
class Generation:
    # Decoded results by media kind ("image": uint8 HxWx3 arrays; "video", "audio": see
    # runcomfy/kinds), each in the order the service listed them.
    outputs: dict[str, list]
    urls: list[str]                 # every result URL, none dropped
    request_ids: list[str]
    cost: float | None
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    dry_run: dict | None = None  # what would have been sent, and its price, when nothing was
    # Every job's outcome (request id, URLs, and with decode=False the files as downloaded).
    outcomes: list[JobOutcome] = field(default_factory=list)

    @property
    def images(self) -> list:
        return self.outputs.get("image", [])


def preview_payload(payload: dict) -> dict:
    """The payload as sent, with inline media shortened to their type and size."""
    def short(v):
        if isinstance(v, str) and v.startswith("data:"):
            head, _, body = v.partition(",")
            return f"{head},<{len(body) * 3 // 4} bytes>"
        if isinstance(v, list):
            return [short(x) for x in v]
        return v
    return {k: short(v) for k, v in payload.items()}


async def _thread(fn, *args, **kwargs):
    return await asyncio.to_thread(fn, *args, **kwargs)


def _head(data, n: int = 16) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[:n])
    with open(data, "rb") as fh:        # a result streamed to a file
        return fh.read(n)


def decode_result(data, default_kind: str) -> tuple[str, object]:
    """(kind name, decoded value) of one result file: the kind its first bytes announce, else
    the model's output kind."""
    kind = kinds.sniff(_head(data)) or kinds.KINDS.get(default_kind) or kinds.get("image")
    return kind.name, kind.decode_output(data)


class Runner:
    """Runs jobs on one client with one polling policy, optionally journaled."""

    def __init__(self, client: RunComfyClient, *, poll: PollPolicy | None = None,
                 timeout: float = DEFAULT_TIMEOUT, journal=None, include_cost: bool = True,
                 submit_anyway: str = "", output_folder: str | None = None,
                 uplink: UplinkEstimate | None = None, fetch_result=None):
        self.client = client
        self.poll = poll or PollPolicy()
        self.timeout = timeout
        self.journal = journal
        self.include_cost = include_cost
        # One-time codes from an "earlier submit may have been billed" error (see jobs/guard.py).
        self.submit_anyway = submit_anyway
        # Video/audio results are streamed to files here (None: the system temp dir); the node
        # passes ComfyUI's output folder.
        self.output_folder = output_folder
        self.uplink = uplink
        self.fetch_result = fetch_result       # see RunContext.fetch_result (None: the media kinds')

    def context(self, hooks: Hooks | None = None, *, output_kind: str | None = None,
                output_folder: str | None = None) -> RunContext:
        """The RunContext of this runner's jobs."""
        return RunContext(client=self.client, journal=self.journal, poll=self.poll, timeout=self.timeout,
                          include_cost=self.include_cost, submit_anyway=self.submit_anyway,
                          hooks=hooks or Hooks(), output_kind=output_kind,
                          output_folder=output_folder or self.output_folder, uplink=self.uplink,
                          fetch_result=self.fetch_result)

    # --- one job ----------------------------------------------------------------------

    async def run_job(self, model_id: str, payload: dict, hooks: Hooks | None = None, *,
                      resume_request_id: str | None = None, index: int = 0, count: int = 1) -> JobOutcome:
        """One job: claim it in the journal, submit or resume, wait, fetch (see run/jobs)."""
        return await jobs.run_job(self.context(hooks), model_id, payload, resume_request_id=resume_request_id,
                                  index=index, count=count)

    # --- after the jobs: their paid results -----------------------------------------------

    async def _decode_paid(self, outcome: JobOutcome, data, default_kind: str) -> tuple[str, object]:
        """One result file of a paid job, decoded: any failure (a bad file, a size or length
        limit, MemoryError) is a PaidResultError naming the request and its URLs; the journal
        keeps the request succeeded, so the next run downloads it again instead of paying."""
        try:
            return await _thread(decode_result, data, default_kind)
        except Exception as exc:
            raise PaidResultError(outcome.request_id, exc, urls=outcome.urls) from exc

    async def _delivered(self, request_ids: list[str], notes: list[str]) -> None:
        """Results handed over: their journal entries become finished (capped like the others)."""
        if self.journal is None or not hasattr(self.journal, "record_delivered"):
            return
        try:
            await _thread(self.journal.record_delivered, request_ids)
        except (OSError, JournalWriteError) as exc:
            # Only the cap is affected: the entries stay kept until their resume window passes.
            notes.append(f"journal not updated after delivery ({type(exc).__name__})")

    # --- a whole generation: media in, media out ------------------------------------------

    async def _dry_run_report(self, schema: ModelSchema, payloads: list[dict], known_price: dict | None) -> dict:
        """What would be sent, and its price: ``known_price`` when the caller has it (the batch asks
        once for all its jobs), else the catalog entry's figures when it states them (the same the
        node's badge shows), else ``GET /models/{id}``; never a guess."""
        if known_price is not None:     # {} : the caller knows there is no price to state
            return {"model_id": schema.model_id, "requests": len(payloads),
                    "price": {**known_price, "source": known_price.get("source", "caller")} if known_price else None,
                    "payloads": [preview_payload(p) for p in payloads]}
        doc = schema.doc if schema.price is not None else None
        source = "catalog"
        if doc is None:
            source = "live"
            try:
                info = await _thread(self.client.model_info, schema.model_id)
                doc = {**info, "input_schema": schema.doc.get("input_schema")} if isinstance(info, dict) else None
            except RunComfyError:
                doc = None      # "price unavailable"
        desc = pricing.describe(doc, payloads[0]) if doc is not None else {"available": False}
        price = None
        if desc.get("available"):
            price = {"base_price_usd": desc["base_price_usd"], "price_unit": desc.get("price_unit"),
                     "text": desc["text"], "source": source}
        return {"model_id": schema.model_id, "requests": len(payloads), "price": price,
                "payloads": [preview_payload(p) for p in payloads]}

    async def _media_inputs(self, schema: ModelSchema, values: dict, urls: dict,
                            options: kinds.PrepareOptions, host: MediaHost, notes: list[str],
                            timings: dict) -> tuple[dict[str, list[str]], dict[str, list[MediaInfo]]]:
        """Every media field's inputs as the URLs to send, with what is known of each: socket
        values prepared by their kind (all fields of one kind together, so identical images are
        encoded once), then the field's URL lines; ``data:`` URIs among those are decoded and
        measured here like socket values."""
        problems: list[Problem] = []
        by_kind: dict[str, list[Field]] = {}
        for f in schema.media_fields:
            if values.get(f.name) or urls.get(f.name):
                if f.kind not in kinds.KINDS:
                    problems.append(Problem(f.name, f"takes {f.kind} inputs, which this version of the pack "
                                                    "cannot send", None, f.name))
                    continue
                by_kind.setdefault(f.kind, []).append(f)
        if problems:
            raise ValidationError(problems)
        if not by_kind:
            timings["encode"] = 0.0
            return {}, {}                        # no media: no gathers, no thread hop (a text batch job)

        async def inspect(f: Field, index: int, uri: str) -> MediaInfo:
            kind = kinds.get(f.kind)
            try:
                info = await _thread(kind.inspect_uri, uri) if uri.startswith("data:") else None
            except ValueError as exc:
                problems.append(Problem(media_label(f, index), "is not usable", message=f"{exc}"))
                return MediaInfo(source=uri[:80])
            if info is None:
                return MediaInfo(source=uri[:80])     # an http(s) URL: the service fetches and checks it
            info.source = f"data URI, {info.nbytes} bytes"
            return info

        async def prepare(kind_name: str, fields: list[Field]):
            kind = kinds.get(kind_name)
            groups = [(f, list(values.get(f.name) or [])) for f in fields]
            try:
                return fields, await _thread(kind.prepare_fields, groups, options)
            except ValueError as exc:
                # Fitting that cannot succeed, or a value of the wrong shape: before any money.
                label = fields[0].name if len(fields) == 1 else ", ".join(f.name for f in fields)
                raise ValidationError([Problem(label, "could not be prepared", message=str(exc))]) from None

        t0 = time.monotonic()
        uri_jobs = [(f, len(values.get(f.name) or []) + j, u) for fs in by_kind.values() for f in fs
                    for j, u in enumerate(urls.get(f.name) or [])]
        uri_infos, prepared_groups = await asyncio.gather(
            asyncio.gather(*(inspect(f, i, u) for f, i, u in uri_jobs)),
            asyncio.gather(*(prepare(k, fs) for k, fs in by_kind.items())))
        timings["encode"] = time.monotonic() - t0
        prepared = {f.name: items for fs, lists in prepared_groups for f, items in zip(fs, lists)}
        # Base64 of megabytes holds the GIL: a thread, so the loop can serve other nodes meanwhile.
        hosted = await _thread(lambda: {name: host.host(items) for name, items in prepared.items() if items})
        sent: dict[str, list[str]] = {}
        infos: dict[str, list[MediaInfo]] = {}
        by_uri = iter(uri_infos)
        for fs in by_kind.values():
            for f in fs:
                items = prepared.get(f.name, [])
                notes.extend(n for item in items for n in item.notes)
                sent[f.name] = list(hosted.get(f.name, [])) + list(urls.get(f.name) or [])
                infos[f.name] = [item.info for item in items] + [next(by_uri) for _ in urls.get(f.name) or []]
        for f in schema.media_fields:
            kind = kinds.KINDS.get(f.kind)
            for i, info in enumerate(infos.get(f.name, [])):
                problems.extend(kind.check(info, f, i))
        if problems:
            raise ValidationError(problems)
        return sent, infos

    async def _structured_data_uris(self, schema: ModelSchema, payload: dict) -> list[Problem]:
        """``data:`` URIs typed inside structured JSON (``elements[1].image_url``) decoded and
        measured by their kind, like URL lines."""
        found: list = []
        for f in schema.fields:
            if f.structured and payload.get(f.name) is not None:
                structured.data_uris(payload[f.name], f.spec, f.name, found)

        async def one(path, kind_name, spec, uri):
            kind = kinds.KINDS.get(kind_name)
            if kind is None:
                return [Problem(path, f"takes {kind_name}, which this version of the pack cannot send", None,
                                uri[:40])]
            try:
                info = await _thread(kind.inspect_uri, uri)
            except ValueError as exc:
                return [Problem(path, "is not usable", message=str(exc))]
            info.source = f"data URI, {info.nbytes} bytes"
            nested = Field(name=path, type="string", kind=kind_name, format=spec.get("format"),
                           validations=[r for r in spec.get("validations") or [] if isinstance(r, dict)])
            return kind.check(info, nested)
        if not found:
            return []
        results = await asyncio.gather(*(one(*x) for x in found))
        return [p for ps in results for p in ps]

    async def generate(self, schema: ModelSchema, fields: dict, *, hooks: Hooks | None = None,
                       images: dict[str, list] | None = None, image_urls: dict[str, list[str]] | None = None,
                       **request) -> Generation:
        """``run(GenerationRequest(schema, fields, **request), hooks)``: the short form tests and
        scripts use. ``images``/``image_urls`` are the older names of ``media``/``urls``, merged in."""
        if images or image_urls:
            request["media"] = {**(images or {}), **(request.get("media") or {})}
            request["urls"] = {**(image_urls or {}), **(request.get("urls") or {})}
        return await self.run(GenerationRequest(schema, fields, **request), hooks)

    async def run(self, req: GenerationRequest, hooks: Hooks | None = None) -> Generation:
        """One generation: validate, encode, submit each variation, wait, fetch, decode."""
        schema, fields = req.schema, req.fields
        values = dict(req.media or {})
        url_lines = dict(req.urls or {})
        variations, seed_field = req.variations, req.seed_field
        ctx = self.context(hooks, output_kind=schema.output_kind, output_folder=req.output_folder)
        host = req.host or DataUriHost()
        timings: dict = {}
        notes: list[str] = []
        # Cheap checks first, before any encoding work.
        count_problems = []
        names = {f.name for f in schema.media_fields}
        for name in list(values) + list(url_lines):
            if name not in names and (values.get(name) or url_lines.get(name)):
                count_problems.append(Problem(name, "is not a media input of", schema.model_id, name))
        for f in schema.media_fields:
            n = len(values.get(f.name) or []) + len(url_lines.get(f.name) or [])
            if f.is_list:
                if f.max_items is not None and n > f.max_items:
                    count_problems.append(Problem(f.name, f"takes at most this many {f.kind}s:", f.max_items,
                                                  f"{n} {f.kind}s (sockets and URLs together)"))
            elif n > 1:
                count_problems.append(Problem(f.name, f"takes exactly one {f.kind}, got", None, f"{n} {f.kind}s"))
        if variations < 1:
            count_problems.append(Problem("variations", "must be at least", 1, variations))
        if count_problems:
            raise ValidationError(count_problems)

        options = kinds.PrepareOptions(fit=req.fit_inputs, image_format=req.image_format,
                                       jpeg_quality=req.jpeg_quality)
        sent, infos = await self._media_inputs(schema, values, url_lines, options, host, notes, timings)
        timings.setdefault("encode", 0.0)
        payload = {k: v for k, v in fields.items() if v is not None}
        for f in schema.media_fields:
            got = sent.get(f.name, [])
            if f.is_list:
                if got or f.required:
                    payload[f.name] = got
            elif got:
                payload[f.name] = got[0]
        measured = await self._structured_data_uris(schema, payload)
        said = {p.field for p in measured}       # one problem per path: the measured one says more
        problems = [p for p in validate_payload(schema, payload) if p.field not in said] + measured
        inline = sum(len(u) for us in sent.values() for u in us if u.startswith("data:"))
        if inline > kinds.REQUEST_CAP_BYTES:
            # The parts' sizes as a 413 would state them, so the user sees which input to move to a URL.
            problems.append(Problem("request", "", message=(
                f"inline media must total at most {kinds.REQUEST_CAP_BYTES / (1 << 20):g} MiB per request "
                f"(RunComfy's cap), got {inline / (1 << 20):.1f} MiB of inline media "
                f"({RequestTooLargeError.parts(payload)}); send large files as https URLs instead")))
        # Fetching one request by its id sends no payload: a node made only to fetch a result (the
        # history tab's "fetch into new node") has empty inputs, and must not be refused for them.
        if problems and not (req.resume_request_id and variations == 1 and not req.dry_run):
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
                check_payload(schema, p)
        if req.dry_run:
            return Generation(outputs={}, urls=[], request_ids=[], cost=None, notes=notes, timings=timings,
                              dry_run=await self._dry_run_report(schema, payloads, req.known_price))

        outs = await asyncio.gather(*(
            jobs.run_job(ctx, schema.model_id, p, resume_request_id=req.resume_request_id if i == 0 else None,
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
        outputs: dict[str, list] = {}
        if req.decode:
            t0 = time.monotonic()
            with kinds.job_decoding():      # one pixel/sample budget for every file of every variation
                decoded = await asyncio.gather(*(self._decode_paid(o, data, schema.output_kind)
                                                 for o in outs for data in o.files))
            for kind_name, value in decoded:
                outputs.setdefault(kind_name, []).append(value)
            timings["decode"] = time.monotonic() - t0
            # Only what was decoded here was delivered (a caller that takes the files itself, like
            # the batch runner, hands them over once it has saved them).
            await self._delivered([o.request_id for o in outs if o.files], notes)
        for o in outs:
            for k, v in o.timings.items():
                timings.setdefault(k, v)
            if o.resumed:
                notes.append(f"resumed request {o.request_id} instead of paying for a new one")
        costs = [o.cost for o in outs if o.cost is not None]
        return Generation(
            outputs=outputs,
            urls=[u for o in outs for u in o.urls],
            request_ids=[o.request_id for o in outs],
            cost=sum(costs) if costs else None,
            notes=notes,
            timings=timings,
            outcomes=list(outs),
        )
