"""A local, loopback-only emulator of the RunComfy Model API.

Real sockets, HTTP/1.1 keep-alive, always a Content-Length: a pooled ``requests.Session``
behaves against it as against the service. Every "assumed" variant of the API README can be
switched on, and faults.py injects transport and server faults per call.
"""

from __future__ import annotations

import io
import json
import re
import socket
import ssl
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from PIL import Image, UnidentifiedImageError

from ..api.urls import is_loopback_host
from .validator import Measured, ModelInputs, input_problem, media_items, read_model, validate
from . import hostile
from .faults import AFTER_KINDS, SENDING_KINDS, Fault, FaultPlan
from . import mediacheck, mediagen
from .imagegen import DEFAULT_SIZE, encode_png, render_output
from .jobs import COMPLETED, FAILED, RESULT_NAMES, Job, JobQueue
from .shaping import Link

# The pack's shipped schema files, read with the emulator's own validator (never runcomfy/schema).
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

ENDPOINT_NAMES = ("submit", "status", "result", "cancel", "model", "models", "categories", "file")

# Which key carries the message of each error code when message_key="auto": the README says
# the key differs between RunComfy services, so a client must read all of them.
_AUTO_MESSAGE_KEYS = {400001: "message", 400002: "error_message", 400004: "error_message",
                      403001: "detail", 404001: "error", 500001: "error_message"}
_MESSAGE_KEYS = ("auto", "error_message", "message", "error", "detail")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MODEL_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_STRICT_FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
MAX_FAULT_DELAY = 600.0


@dataclass(frozen=True)
class CallRecord:
    method: str
    path: str
    endpoint: str            # one of ENDPOINT_NAMES, or "unknown"
    status: int | None       # HTTP status sent; None when the connection was dropped unanswered
    auth_header_present: bool
    t_monotonic: float       # arrival time
    fault: str | None = None     # kind of the fault injected into this call
    client_port: int = 0         # same port on consecutive calls = a reused keep-alive connection


@dataclass
class _Model:
    schema: ModelInputs
    doc: dict
    price_usd: float
    price_unit: str


class _Reply:
    """One HTTP answer, built before any fault decides whether/how it is sent."""

    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status: int, body: bytes, content_type: str = "application/json",
                 headers: dict | None = None):
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}


def _json_reply(status: int, obj, headers: dict | None = None) -> _Reply:
    return _Reply(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), headers=headers)


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _InputError(Exception):
    pass


class Emulator:
    MAX_CALL_RECORDS = 50_000      # newest call records kept in ``calls``; older ones only counted
    def __init__(self, token: str = "test-token", processing_time: float = 0.5, workers: int = 2,
                 host: str = "127.0.0.1", port: int = 0, schema_dir: str | Path | None = None,
                 status_vocabulary: str = "status", output_field: str = "image", outputs_per_job: int = 1,
                 error_style: str = "string", auth_error_status: int = 401, balance_error_status: int = 402,
                 price_usd: float = 0.03, price_unit: str = "image", result_ttl: float = 3600.0,
                 extra_output_sizes: list[tuple[int, int]] | None = None, queue_position_base: int = 0,
                 message_key: str = "auto", strict_formats: bool = False, idle_timeout: float = 120.0,
                 max_body_bytes: int = 64 * 1024 * 1024, fetch_timeout: float = 10.0,
                 failed_status: str = "failed", uplink_mbps: float | None = None,
                 downlink_mbps: float | None = None, rtt_ms: float = 0.0, link: Link | None = None,
                 tls: tuple[str, str] | None = None):
        if not is_loopback_host(host):
            raise ValueError(f"the emulator only listens on loopback, not {host!r}")
        _choice("status_vocabulary", status_vocabulary, ("status", "result"))
        _choice("output_field", output_field, ("image", "images", "both"))
        _choice("error_style", error_style, ("string", "object"))
        _choice("auth_error_status", auth_error_status, (401, 403))
        _choice("balance_error_status", balance_error_status, (402, 400))
        _choice("message_key", message_key, _MESSAGE_KEYS)
        _choice("queue_position_base", queue_position_base, (0, 1))
        _choice("failed_status", failed_status, ("failed", "completed"))
        self.token = token
        self.processing_time = float(processing_time)
        self.workers = int(workers)
        self.host, self._port = host, int(port)
        # tls=(cert file, key file): serve HTTPS (a proxy/CA test); the handshake runs in the handler thread.
        self.ssl_context: ssl.SSLContext | None = None
        if tls is not None:
            self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_context.load_cert_chain(tls[0], tls[1])
        self.status_vocabulary = status_vocabulary
        self.output_field = output_field
        self.outputs_per_job = max(1, int(outputs_per_job))
        self.error_style = error_style
        self.auth_error_status = auth_error_status
        self.balance_error_status = balance_error_status
        self.price_usd, self.price_unit = float(price_usd), price_unit
        self.result_ttl = float(result_ttl)
        self.extra_output_sizes = [tuple(map(int, s)) for s in (extra_output_sizes or [])]
        self.queue_position_base = queue_position_base
        # "completed": /status only knows the documented states, so a failed job reads as done
        # there and only /result tells it failed (the README marks "failed" on /status as assumed).
        self.failed_status = failed_status
        self.message_key = message_key
        self.strict_formats = strict_formats
        self.idle_timeout = idle_timeout
        self.max_body_bytes = int(max_body_bytes)
        self.fetch_timeout = fetch_timeout
        # Bandwidth and latency of the client's link (shaping.py); replaceable while running.
        self.link: Link = link or Link(uplink_mbps, downlink_mbps, rtt_ms)
        # Per-job processing time: hook(job) wins, then queued values, then processing_time.
        self.processing_time_hook: Callable[[Job], float | None] | None = None
        self._next_times: deque[float] = deque()

        self.faults = FaultPlan()
        self.jobs: dict[str, Job] = {}
        # The newest calls (tests read them); counted apart, so a 100,000-job benchmark neither
        # keeps a record per call nor rescans them: ``count`` reads the counters.
        self.calls: list[CallRecord] = []
        self.calls_dropped = 0                   # older records let go (see MAX_CALL_RECORDS)
        self.call_counts: Counter = Counter()    # (endpoint, status) -> calls, never trimmed
        self.internal_errors: list[str] = []     # tracebacks of emulator bugs, for tests to assert empty
        self.hostile_sends: list[tuple[str, str, int, int]] = []   # see hostile.send
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._balances: dict[str, float | None] = {token: None}
        self._files: dict[tuple[str, int], bytes] = {}
        self._finished_order: deque[tuple[str, int]] = deque()   # (request id, files): finishing order
        self._fail_next: deque[str] = deque()
        self._stick_next = 0
        self._hold_next = 0
        self._submits = 0
        self._models: dict[str, _Model] = {}
        self._catalog_docs: dict[str, dict] = {}    # entries served as given (serve_catalog)
        self._load_models(Path(schema_dir) if schema_dir else SCHEMA_DIR)
        self._queue = JobQueue(self.workers, self._run_job, self._lock, self._stop)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> "Emulator":
        if self._server is not None:
            return self
        if self._stop.is_set():
            raise RuntimeError("a stopped Emulator cannot be restarted; create a new one (same port is fine)")
        self._server = _Server((self.host, self._port), _Handler, self)
        self._port = self._server.server_address[1]
        self._queue.start()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="emulator-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._queue.wake_all()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread:
            self._thread.join(timeout=2)

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.ssl_context else 'http'}://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    # --- test controls --------------------------------------------------------------------

    def count(self, endpoint: str) -> int:
        with self._lock:
            return sum(n for (ep, _st), n in self.call_counts.items() if ep == endpoint)

    @property
    def submits_accepted(self) -> int:
        return self._submits

    def add_token(self, token: str, balance: float | None = None) -> None:
        with self._lock:
            self._balances[token] = balance

    def set_balance(self, token: str, usd: float | None) -> None:
        """``None`` means unlimited (the default for every token)."""
        with self._lock:
            self._balances[token] = None if usd is None else float(usd)

    def balance(self, token: str) -> float | None:
        with self._lock:
            return self._balances.get(token)

    def fail_next_jobs(self, n: int, message: str = "Content moderation: the prompt was rejected") -> None:
        with self._lock:
            self._fail_next.extend([message] * int(n))

    def stick_next_jobs(self, n: int) -> None:
        with self._lock:
            self._stick_next += int(n)

    def hold_next_jobs(self, n: int) -> None:
        """The next n jobs run but stay in progress until release(): tests order events by this
        instead of by how long a job takes (which a loaded machine stretches)."""
        with self._lock:
            self._hold_next += int(n)

    def release(self, request_id: str | None = None) -> None:
        """Lets one held job finish; with no id, every held job, and no later job is held."""
        with self._lock:
            if request_id is None:
                self._hold_next = 0
            jobs = [self.jobs[request_id]] if request_id is not None else list(self.jobs.values())
        for job in jobs:
            if job.hold is not None:
                job.hold.set()

    def set_processing_time(self, seconds: float) -> None:
        self.processing_time = float(seconds)

    def queue_processing_times(self, seconds: list[float]) -> None:
        """The next len(seconds) jobs take these times, in submit order."""
        with self._lock:
            self._next_times.extend(float(s) for s in seconds)

    def add_model(self, doc: dict, overlay: dict | None = None, price_usd: float | None = None,
                  price_unit: str | None = None) -> ModelInputs:
        """Serve one more model from a schema document (same shape as *.schema.json); its
        submits are checked by the emulator's own validator (validator.py)."""
        schema = read_model(doc, overlay)
        with self._lock:
            self._models[schema.model_id] = _Model(
                schema, doc, self.price_usd if price_usd is None else float(price_usd),
                price_unit or self.price_unit)
        return schema

    @property
    def model_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    # Catalog behaviour (class defaults, set per instance): how an unknown model id is answered
    # (the service's answers vary: 400 with 400001, or 404 with 404001), and whether the catalog
    # reads (/models, /models/{id}, /models/categories) are served without a token, as RunComfy's
    # docs describe them (a wrong token is still refused).
    unknown_model_status = 400
    catalog_public = False
    # Billing (class defaults, set per instance): with bill_per_second (the default: RunComfy's
    # price_unit "second" is per second of output) a model priced per "second" bills price x its
    # duration input (else the schema default), as the node's estimate says; False bills the price
    # once. cost_as is how /result states the cost: "number" (documented), "null", "string", "missing".
    bill_per_second = True
    cost_as = "number"

    def serve_catalog(self, entries: list[dict], *, replace: bool = True) -> list[str]:
        """Serve catalog entries exactly as given (any saved catalog answer's ``models``).
        Runnable ones (kind "model" or none) also take submits, validated against their own
        schema; an entry whose schema the emulator cannot read is listed but refuses submits.
        Returns the ids of the entries that take submits."""
        runnable = []
        with self._lock:
            if replace:
                self._models.clear()
                self._catalog_docs.clear()
        for doc in entries:
            if not isinstance(doc, dict) or not isinstance(doc.get("model_id"), str):
                continue
            model_id = doc["model_id"]
            with self._lock:
                self._catalog_docs[model_id] = doc
            if doc.get("kind") not in (None, "model"):
                continue
            try:
                self.add_model(doc, price_usd=doc.get("base_price_usd") if isinstance(
                    doc.get("base_price_usd"), (int, float)) else None, price_unit=doc.get("price_unit"))
            except Exception:      # listed as given; submits to it are answered with 422
                continue
            runnable.append(model_id)
        return runnable

    def file_bytes(self, request_id: str, n: int = 0) -> bytes | None:
        with self._lock:
            return self._files.get((request_id, n))

    def _load_models(self, directory: Path) -> None:
        for path in sorted(directory.glob("*.schema.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            ov_path = path.with_name(path.name[: -len(".schema.json")] + ".overlay.json")
            overlay = json.loads(ov_path.read_text(encoding="utf-8")) if ov_path.exists() else None
            self.add_model(doc, overlay)

    # --- response helpers -----------------------------------------------------------------

    def _error(self, status: int, code: int | None, message: str, headers: dict | None = None,
               **extra) -> _Reply:
        key = self.message_key if self.message_key != "auto" else _AUTO_MESSAGE_KEYS.get(code, "message")
        body: dict = {} if code is None else {"error_code": code}
        body[key] = message
        body.update(extra)
        return _json_reply(status, body, headers)

    def _status_name(self, state: str) -> str:
        if state == FAILED and self.failed_status == "completed":
            state = COMPLETED
        return RESULT_NAMES[state] if self.status_vocabulary == "result" else state

    def _urls(self, rid: str) -> dict:
        base = f"{self.base_url}/requests/{rid}"
        return {"status_url": f"{base}/status", "result_url": f"{base}/result", "cancel_url": f"{base}/cancel"}

    def _expired(self, job: Job) -> bool:
        return job.finished_at is not None and time.monotonic() - job.finished_at > self.result_ttl

    # --- request handling (called by _Handler) ---------------------------------------------

    def classify(self, method: str, path: str) -> tuple[str, tuple]:
        """(endpoint, args) for a path; ("unknown", ()) if no route matches."""
        parts = [p for p in path.split("/") if p]
        if len(parts) == 3 and parts[0] == "files":
            m = re.fullmatch(r"(\d+)\.(?:png|mp4|wav|mp3)", parts[2])
            if m and method == "GET":
                return "file", (parts[1], int(m.group(1)))
            return "unknown", ()
        if not parts or parts[0] != "v1":
            return "unknown", ()
        parts = parts[1:]
        if parts == ["models"] and method == "GET":
            return "models", ()
        if parts == ["models", "categories"] and method == "GET":
            return "categories", ()
        if len(parts) >= 2 and parts[0] == "models":
            model_id = "/".join(urllib.parse.unquote(p) for p in parts[1:])
            if method == "POST":
                return "submit", (model_id,)
            if method == "GET":
                return "model", (model_id,)
        if len(parts) == 3 and parts[0] == "requests":
            action = {("GET", "status"): "status", ("GET", "result"): "result", ("POST", "cancel"): "cancel"}
            ep = action.get((method, parts[2]))
            if ep:
                return ep, (parts[1],)
        return "unknown", ()

    def handle(self, endpoint: str, args: tuple, headers, query: dict, body: bytes) -> _Reply:
        if endpoint == "unknown":
            return _json_reply(404, {"detail": "Not Found"})
        if endpoint == "file":
            return self._file(*args)
        if endpoint in ("model", "models", "categories") and self.catalog_public \
                and not headers.get("Authorization"):
            token, err = None, None
        else:
            token, err = self._authenticate(headers)
        if err:
            return err
        if endpoint == "submit":
            return self._submit(token, args[0], body)
        if endpoint == "model":
            return self._model(args[0])
        if endpoint == "models":
            return self._catalog(query)
        if endpoint == "categories":
            return self._categories()
        job, err = self._own_job(token, args[0])
        if err:
            return err
        if endpoint == "status":
            return self._status(job)
        if endpoint == "result":
            return self._result(job, query)
        return self._cancel(job)

    def _authenticate(self, headers) -> tuple[str | None, _Reply | None]:
        value = headers.get("Authorization")
        if not value:
            return None, self._error(self.auth_error_status, 400004, "Missing Authorization header")
        scheme, _, token = value.partition(" ")
        token = token.strip()
        with self._lock:
            known = token in self._balances
        if scheme.lower() != "bearer" or not known:
            return None, self._error(self.auth_error_status, 400004, "Invalid, expired or revoked API token")
        return token, None

    def _own_job(self, token: str, rid: str) -> tuple[Job | None, _Reply | None]:
        with self._lock:
            job = self.jobs.get(rid) if _REQUEST_ID.match(rid) else None
            if job is None or self._expired(job):
                return None, self._error(404, 404001, f"Request {rid} not found or expired")
            if job.owner != token:
                return None, self._error(403, 403001, "This request belongs to another user")
            return job, None

    # submit -------------------------------------------------------------------------------

    def _submit(self, token: str, model_id: str, body: bytes) -> _Reply:
        with self._lock:
            model = self._models.get(model_id)
            listed = self._catalog_docs.get(model_id)
        if model is None and listed is not None and listed.get("kind") in (None, "model"):
            return self._validation_error([{"loc": ["body"], "type": "value_error",
                                            "msg": "the emulator cannot read this model's input schema"}])
        if model is None:
            return self._unknown_model(model_id)
        try:
            payload = json.loads(body.decode("utf-8")) if body.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._validation_error([{"loc": ["body"], "msg": f"Invalid JSON body: {exc}",
                                            "type": "json_invalid"}])
        if not isinstance(payload, dict):
            return self._validation_error([{"loc": ["body"], "msg": "The body must be a JSON object",
                                            "type": "dict_type"}])
        infos, raws, problems = self._inspect_images(model.schema, payload)
        media_infos, media_raws, media_problems = mediacheck.inspect(self, model.schema, payload)
        infos.update(media_infos)
        problems += media_problems
        problems += validate(model.schema, payload, infos)
        if problems:
            return self._validation_error(problems)
        with self._lock:
            balance = self._balances.get(token)
            if balance is not None and balance < model.price_usd:
                return self._error(self.balance_error_status, 400002,
                                   f"Insufficient balance: this run costs ${model.price_usd:.4f}, "
                                   f"your balance is ${balance:.4f}")
            rid = uuid.uuid4().hex
            job = Job(request_id=rid, model_id=model_id, owner=token, payload=payload,
                      processing_time=self.processing_time, accepted_at=time.monotonic(),
                      created_wall=time.time(), price_usd=self._job_price(model, payload), inputs=raws,
                      media=media_raws)
            if self._stick_next > 0:
                self._stick_next -= 1
                job.stuck = True
            elif self._fail_next:         # a stuck job never ends, so it must not use up a failure
                job.fail_message = self._fail_next.popleft()
            if self._hold_next > 0:
                self._hold_next -= 1
                job.hold = threading.Event()
            job.processing_time = self._processing_time_for(job)
            self.jobs[rid] = job
            self._submits += 1
            self._queue.put(job)
            self._purge_expired_files()
        return _json_reply(200, {"request_id": rid, **self._urls(rid)})

    def _processing_time_for(self, job: Job) -> float:
        hook = self.processing_time_hook
        if hook is not None:
            t = hook(job)
            if t is not None:
                return float(t)
        if self._next_times:
            return self._next_times.popleft()
        return self.processing_time

    def _validation_error(self, detail: list[dict]) -> _Reply:
        fields = sorted({str(d["loc"][1]) for d in detail if len(d["loc"]) > 1})
        msg = "Validation error" + (f" in: {', '.join(fields)}" if fields else "") + ". " + \
              "; ".join(d["msg"] for d in detail)
        return _json_reply(422, {"error_code": 422001, "message": msg, "detail": detail})

    def _inspect_images(self, schema: ModelInputs, payload: dict):
        """Decode the image inputs enough to measure them (size, bytes) for the schema rules."""
        infos: dict[str, list[Measured | None]] = {}
        raws: list[bytes] = []
        problems: list[dict] = []
        for inp in schema.media("image"):
            per_input: list[Measured | None] = []
            for path, item in media_items(inp, payload.get(inp.name)):
                if not isinstance(item, str) or not item.startswith(("data:", "http://", "https://")):
                    per_input.append(None)      # the validator reports the shape
                    continue
                try:
                    raw, info = self._load_image(item)
                except _InputError as exc:
                    problems.append(input_problem(path, str(exc)))
                    per_input.append(None)
                    continue
                per_input.append(info)
                raws.append(raw)
            infos[inp.name] = per_input
        return infos, raws, problems

    def _load_image(self, value: str) -> tuple[bytes, Measured]:
        raw, source = mediacheck.read_input(value, self._fetch, _InputError, "image/...")
        try:
            img = Image.open(io.BytesIO(raw))
        except (UnidentifiedImageError, OSError):
            raise _InputError(f"not a decodable image ({source})") from None
        if self.strict_formats:
            if img.format not in _STRICT_FORMATS:
                raise _InputError(f"unsupported format {img.format}; use JPEG, PNG, BMP or WEBP")
            if img.format == "PNG" and ("A" in img.getbands() or "transparency" in img.info):
                raise _InputError("PNG with an alpha channel is not supported")
        return raw, Measured(width=img.width, height=img.height, nbytes=len(raw), source=source[:60])

    def _fetch(self, url: str) -> bytes:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not is_loopback_host(parsed.hostname or ""):
            raise _InputError(f"the emulator only fetches http:// loopback URLs, not {parsed.scheme}://"
                              f"{parsed.hostname}")
        # No proxies: an HTTP(S)_PROXY in the environment must not see loopback traffic.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=self.fetch_timeout) as resp:
                raw = resp.read(self.max_body_bytes + 1)
        except urllib.error.HTTPError as exc:
            raise _InputError(f"could not fetch {url} (HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError) as exc:
            raise _InputError(f"could not fetch {url} ({exc})") from None
        if len(raw) > self.max_body_bytes:
            raise _InputError(f"{url} is too large")
        return raw

    # the job itself ------------------------------------------------------------------------

    def _run_job(self, job: Job) -> None:
        fail = job.fail_message
        files: list[bytes] = []
        if fail is None:
            try:
                files = self._render(job)
            except Exception as exc:     # undecodable reference etc.: the job fails, like a model error
                fail = f"Generation failed: {exc}"
        remaining = job.processing_time - (time.monotonic() - (job.started_at or time.monotonic()))
        if remaining > 0 and self._stop.wait(remaining):
            return
        while job.hold is not None and not job.hold.wait(0.05):
            if self._stop.is_set():
                return
        with self._lock:
            job.finished_at = time.monotonic()
            job.finished_wall = time.time()
            if fail is not None:
                job.state, job.error, job.cost = FAILED, fail, 0.0
                return
            for n, data in enumerate(files):
                self._files[(job.request_id, n)] = data
            self._finished_order.append((job.request_id, len(files)))
            job.output_urls = [f"{self.origin}/files/{job.request_id}/{n}.{mediagen.extension(data)}"
                               for n, data in enumerate(files)]
            job.state, job.cost = COMPLETED, job.price_usd
            balance = self._balances.get(job.owner)
            if balance is not None:
                self._balances[job.owner] = balance - job.price_usd

    def _job_price(self, model: _Model, payload: dict) -> float:
        if not self.bill_per_second or (model.price_unit or "").lower() not in ("second", "seconds"):
            return model.price_usd
        from ..pricing import default_duration, seconds_of
        default = seconds_of(default_duration(model.doc.get("input_schema"))) or mediagen.DEFAULT_DURATION_S
        return model.price_usd * mediagen.duration_of(payload, default=default)

    def _render(self, job: Job) -> list[bytes]:
        schema = self._models[job.model_id].schema
        refs = []
        for raw in job.inputs:
            img = Image.open(io.BytesIO(raw))
            img.load()
            refs.append(img)
        size = DEFAULT_SIZE
        if schema.get("image_size") is not None:
            size = _size_of(job.payload.get("image_size") or schema.get("image_size").default
                            or "1024*1024") or (1024, 1024)
        prompt = str(job.payload.get("prompt") or "")
        seed = job.payload.get("seed")
        if seed is None:
            seed = schema.get("seed").default if schema.get("seed") is not None else None
        seed = int(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else 0
        if getattr(schema, "output_kind", "image") in ("video", "audio"):
            return mediagen.render_media(schema.output_kind, job.payload, prompt, int(seed), refs, job.inputs,
                                         job.media, self.outputs_per_job)
        outputs = [render_output(refs, prompt, int(seed) + k, size) for k in range(self.outputs_per_job)]
        outputs += [render_output(refs, prompt, int(seed), s) for s in self.extra_output_sizes]
        return [encode_png(o) for o in outputs]

    def _purge_expired_files(self) -> None:
        # Jobs expire in the order they finished: look at the oldest only, never at every file.
        order = self._finished_order
        while order and self._expired(self.jobs[order[0][0]]):
            rid, count = order.popleft()
            for n in range(count):
                self._files.pop((rid, n), None)

    # reads ---------------------------------------------------------------------------------

    def _status(self, job: Job) -> _Reply:
        with self._lock:
            body = {"request_id": job.request_id, "status": self._status_name(job.state)}
            pos = self._queue.position(job)
            if pos is not None:
                body["queue_position"] = pos + self.queue_position_base
            body["status_url"] = self._urls(job.request_id)["status_url"]
            body["result_url"] = self._urls(job.request_id)["result_url"]
        return _json_reply(200, body)

    def _result(self, job: Job, query: dict) -> _Reply:
        with self._lock:
            body: dict = {"request_id": job.request_id, "status": RESULT_NAMES[job.state]}
            if job.state == COMPLETED:
                body["output"] = self._output(job.output_urls)
            body["created_at"] = _iso(job.created_wall)
            body["finished_at"] = _iso(job.finished_wall)
            if job.state == FAILED:
                body["error"] = job.error if self.error_style == "string" else \
                    {"message": job.error, "code": "generation_failed"}
            if _truthy(query.get("include_cost")) and job.terminal and self.cost_as != "missing":
                cost = job.cost if job.cost is not None else 0.0
                body["cost"] = {"null": None, "string": f"{cost:g}"}.get(self.cost_as, cost)
        return _json_reply(200, body)

    def _output(self, urls: list[str]) -> dict:
        many = len(urls) > 1
        key = mediagen.output_kind(urls)         # "image" | "video" | "audio": image/images, video/videos...
        if self.output_field == "image" and not many:
            return {key: urls[0]}
        if self.output_field == "both":
            return {key: urls[0], f"{key}s": list(urls)}
        return {f"{key}s": list(urls)}

    def _cancel(self, job: Job) -> _Reply:
        cancelled = self._queue.cancel(job)
        with self._lock:
            if cancelled:
                job.cost = 0.0
            return _json_reply(202, {"request_id": job.request_id, "status": self._status_name(job.state),
                                     "outcome": "cancelled" if cancelled else "not_cancellable"})

    def _model_entry(self, model: _Model, include_schema: bool) -> dict:
        s = model.schema
        entry = {"model_id": s.model_id, "display_name": s.display_name,
                 "categories": [s.model_id.split("/")[-1]], "kind": "model",
                 "base_price_usd": model.price_usd, "price_unit": model.price_unit}
        if include_schema:
            entry["input_schema"] = model.doc.get("input_schema", {})
            entry["output_schema"] = model.doc.get("output_schema", {})
        return entry

    def _entries(self) -> list[tuple[str, dict | None, _Model | None]]:
        """Every served entry in catalog order: (id, entry as given or None, runnable model or None)."""
        with self._lock:
            ids = list(self._catalog_docs) + sorted(k for k in self._models if k not in self._catalog_docs)
            return [(k, self._catalog_docs.get(k), self._models.get(k)) for k in ids]

    def _entry_doc(self, doc: dict | None, model: _Model | None, include_schema: bool) -> dict:
        if doc is None:
            return self._model_entry(model, include_schema)
        if include_schema:
            return doc
        return {k: v for k, v in doc.items() if k not in ("input_schema", "output_schema")}

    def _unknown_model(self, model_id: str) -> _Reply:
        if self.unknown_model_status == 404:
            return self._error(404, 404001, f"Model not found: {model_id}")
        return self._error(400, 400001, f"Unknown model id: {model_id}")

    def _model(self, model_id: str) -> _Reply:
        with self._lock:
            model = self._models.get(model_id)
            doc = self._catalog_docs.get(model_id)
        if model is None and doc is None:
            return self._unknown_model(model_id)
        return _json_reply(200, self._entry_doc(doc, model, True))

    def _catalog(self, query: dict) -> _Reply:
        problems = []
        values = {}
        for name, default, lo, hi in (("limit", 50, 1, 100), ("offset", 0, 0, None)):
            raw = query.get(name)
            try:
                value = default if raw in (None, "") else int(raw)
            except ValueError:
                problems.append({"loc": ["query", name], "msg": f"{name} must be an integer", "type": "int_parsing"})
                continue
            if value < lo or (hi is not None and value > hi):
                bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
                problems.append({"loc": ["query", name], "msg": f"{name} must be {bound}", "type": "value_error"})
            values[name] = value
        if problems:
            return self._validation_error(problems)
        include = _truthy(query.get("include_schema"))
        search = (query.get("search") or "").strip().lower()
        category = (query.get("category") or "").strip().lower()
        kind = (query.get("kind") or "").strip().lower()
        docs = [self._entry_doc(doc, model, include) for _, doc, model in self._entries()]

        def keep(d: dict) -> bool:
            if search and search not in d["model_id"].lower() and search not in str(d.get("display_name") or "").lower():
                return False
            if category and category not in [str(c).lower() for c in d.get("categories") or []]:
                return False
            return not kind or str(d.get("kind") or "model").lower() == kind
        docs = [d for d in docs if keep(d)]
        offset, limit = values["offset"], values["limit"]
        return _json_reply(200, {"models": docs[offset:offset + limit], "total": len(docs)})

    def _categories(self) -> _Reply:
        counts: dict[str, int] = {}
        for _, doc, model in self._entries():
            for c in self._entry_doc(doc, model, False).get("categories") or []:
                counts[str(c)] = counts.get(str(c), 0) + 1
        return _json_reply(200, {"categories": [{"name": k, "count": counts[k]} for k in sorted(counts)],
                                 "total": len(counts)})

    def _file(self, rid: str, n: int) -> _Reply:
        with self._lock:
            job = self.jobs.get(rid)
            data = self._files.get((rid, n))
            if job is not None and self._expired(job):
                data = None
        if data is None:
            return _storage_404(f"{rid}/{n}.png")
        return _Reply(200, data, mediagen.CONTENT_TYPES[mediagen.extension(data)])

    # faults ---------------------------------------------------------------------------------

    def fault_reply(self, fault: Fault, headers=None, args: tuple = ()) -> _Reply | None:
        """The answer of a fault that replaces processing; None if the request is processed."""
        p = fault.params
        if fault.kind == "echo_token":
            # Some servers quote the request back in their error text, token included.
            seen = (headers.get("Authorization") if headers is not None else None) or ""
            return _json_reply(int(p.get("status", 401)),
                               {"error_code": 400004, "error_message": f"Invalid credentials: {seen}",
                                "detail": {"received_headers": {"Authorization": seen}}},
                               {"X-Echo-Authorization": seen})
        if fault.kind == "storage_lag" and fault.endpoint == "file" and args:
            with self._lock:
                job = self.jobs.get(args[0])
                lagging = job is not None and job.finished_at is not None and \
                    time.monotonic() - job.finished_at < float(p.get("seconds", 25.0))
            return _storage_404("object") if lagging else None
        if fault.kind == "bad_file" and fault.endpoint == "file" and len(args) == 2:
            # A job that succeeded (and was billed) whose file is broken or not what it claims.
            data = p.get("data", b"\x00\x01 not a media file \xff")
            with self._lock:
                real = self._files.get((args[0], args[1]))
            kind = mediagen.CONTENT_TYPES[mediagen.extension(real)] if real else "application/octet-stream"
            return _Reply(200, data.encode() if isinstance(data, str) else bytes(data), kind)
        if fault.kind == "http":
            return _http_fault(int(p.get("status", 503)), p.get("retry_after"), p.get("error_code"),
                               self._error)
        if fault.kind == "error_200":
            return _json_reply(200, {"error_code": int(p.get("error_code", 500001)),
                                     "error_message": str(p.get("message", "Internal server error, please retry"))})
        if fault.kind == "redirect":
            # e.g. storage answering with a redirect to another scheme or host
            return _Reply(302, b"", "text/plain", {"Location": str(p.get("location", "/"))})
        if fault.kind == "not_found":
            if fault.endpoint == "file":
                return _storage_404("object")
            return self._error(404, 404001, "Request not found")
        return None


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def _truthy(value) -> bool:
    return str(value or "").lower() in ("1", "true", "yes")


def _size_of(value) -> tuple[int, int] | None:
    """``"1280*720 (16:9)"`` -> (1280, 720): output sizes written as text in Wan's enum."""
    m = re.match(r"\s*(\d+)\s*[*x\u00d7]\s*(\d+)", str(value))
    return (int(m.group(1)), int(m.group(2))) if m else None


def _storage_404(key: str) -> _Reply:
    # Result files live on object storage, which answers in XML, not the API's JSON.
    body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
            f"<Message>The specified key does not exist.</Message><Key>{key}</Key></Error>").encode()
    return _Reply(404, body, "application/xml")


def _http_fault(status: int, retry_after, error_code, error: Callable) -> _Reply:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
    if status in (502, 504):
        # A gateway in front of the API answers in HTML.
        title = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[status]
        body = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>"
        return _Reply(status, body.encode(), "text/html", headers)
    if status == 429:
        return error(429, error_code, "Rate limit exceeded, slow down", headers)
    if status >= 500:
        return error(status, error_code or 500001, "Internal server error", headers)
    return error(status, error_code, f"HTTP {status}", headers)


# --- HTTP plumbing ---------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a batch opening 64 connections at once would see
    # some dropped mid-handshake and its submits become "outcome unknown", which the service's
    # front ends never cause.
    request_queue_size = 256

    def __init__(self, address, handler, emu: Emulator):
        self.emu = emu
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def finish_request(self, request, client_address):
        ctx = self.emu.ssl_context
        if ctx is None:
            return super().finish_request(request, client_address)
        try:
            request.settimeout(30)
            tls = ctx.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (OSError, ssl.SSLError):   # e.g. a client that does not trust the test CA
            return None
        with self._conns_lock:
            self._conns.add(tls)
        try:
            return super().finish_request(tls, client_address)
        finally:
            with self._conns_lock:
                self._conns.discard(tls)
            tls.close()

    def close_connections(self) -> None:
        # Idle keep-alive connections would otherwise keep being served after stop().
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        self.emu.internal_errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as production HTTP servers set: otherwise a reply's body can wait ~40 ms
    # for the client's delayed ACK after an idle pause, a stall the real service does not have.
    disable_nagle_algorithm = True
    server_version = "RunComfyEmulator/1.0"
    sys_version = ""

    def setup(self):
        self.timeout = self.server.emu.idle_timeout
        super().setup()
        self.server.emu.link.wrap_handler(self, self.server.emu._stop)

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, TimeoutError, OSError):
            pass

    def log_message(self, format, *args):   # quiet: tests and the CLI print what matters
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _read_body(self) -> bytes | None:
        """The request body; None if it is over the size limit (then it was discarded)."""
        emu: Emulator = self.server.emu
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                total += size
            return b"".join(chunks) if total <= emu.max_body_bytes else None
        length = int(self.headers.get("Content-Length") or 0)
        if length <= emu.max_body_bytes:
            return self.rfile.read(length) if length > 0 else b""
        while length > 0:      # discard, so the 413 reaches a client still sending
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)
        return None

    def _dispatch(self, method: str) -> None:
        emu: Emulator = self.server.emu
        t = time.monotonic()
        emu.link.request_delay(emu._stop)
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query))
        endpoint, args = emu.classify(method, split.path)
        auth_present = "Authorization" in self.headers
        fault: Fault | None = None
        recorded = False

        def record(status: int | None) -> None:
            # Before the answer leaves: a client that got its response must find the call listed.
            nonlocal recorded
            recorded = True
            with emu._lock:
                emu.calls.append(CallRecord(method, self.path, endpoint, status, auth_present, t,
                                            fault.kind if fault else None, self.client_address[1]))
                emu.call_counts[(endpoint, status)] += 1
                if len(emu.calls) > emu.MAX_CALL_RECORDS:
                    half = len(emu.calls) // 2
                    del emu.calls[:half]
                    emu.calls_dropped += half

        try:
            body = self._read_body()
            fault = emu.faults.take(endpoint) if endpoint != "unknown" else None
            if fault and fault.kind == "drop_before":
                self.close_connection = True
                return
            if fault and fault.kind == "slow":
                emu._stop.wait(min(float(fault.params.get("delay", 1.0)), MAX_FAULT_DELAY))
            reply = emu.fault_reply(fault, self.headers, args) if fault else None
            if reply is None:
                if body is None:
                    reply = _Reply(413, b"<html><head><title>413 Request Entity Too Large</title></head>"
                                        b"<body><h1>413 Request Entity Too Large</h1></body></html>",
                                   "text/html")
                    self.close_connection = True
                else:
                    try:
                        reply = emu.handle(endpoint, args, self.headers, query, body)
                    except Exception:
                        emu.internal_errors.append(traceback.format_exc())
                        reply = emu._error(500, 500001, "Internal server error")
            if fault and fault.kind == "drop_after":
                self.close_connection = True
                return
            if fault and fault.kind in AFTER_KINDS:
                reply = hostile.transform(fault, reply)
            if fault and fault.kind == "slow_after":
                emu._stop.wait(min(float(fault.params.get("delay", 1.0)), MAX_FAULT_DELAY))
            if fault and fault.kind in SENDING_KINDS:
                record(reply.status)
                self.close_connection = True
                hostile.send(self, emu, fault, reply)
                return
            payload = reply.body
            if fault and fault.kind == "malformed_json":
                payload = payload[: len(payload) // 2]
            truncate = fault is not None and fault.kind == "truncated"
            record(reply.status)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if truncate:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self.wfile.write(payload)
        finally:
            if not recorded:
                record(None)
