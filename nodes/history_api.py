"""The request history, spend totals and spending limits, as routes for the RunComfy sidebar tab
(issue 20). Plain functions answer (status, body); ``add_routes`` puts them on ComfyUI's server.

Origin rules: every route here is guarded. Writes (actions, limits, clear) use the pack's write
guard (same_origin_write: own Host, same or no Origin, X-RunComfy-Request: 1, JSON). Reads use
same_origin_read, like /runcomfy-model-api/network, not public_read like the price: the listing reveals
what was spent, which models were used and when, request ids and the result files' URLs (which
open the results without a token), none of which a foreign page or a rebinding host may read.
No answer ever carries the token; prompts and inputs are never stored, so never shown.

None of these routes submits: fetching into a node returns what the web needs to set
``resume_request_id`` (the node then resumes, free), re-download calls /result and downloads,
cancel calls /cancel.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..runcomfy import credentials
from ..runcomfy.errors import ConfigError, RunComfyError
from ..runcomfy.journal import Journal, owners
from ..runcomfy.spending import HistoryLog, Tag, current_limits, save_limits
from ..runcomfy.spending import report as spend_report
from ..runcomfy.spending import tally
from ..runcomfy.spending.windows import day_start, month_start
from ..runcomfy.spending.history import Charge
from . import comfy
from .http_json import bad_body, read_json
from .model_node import config_dir, shared_client

log = logging.getLogger("runcomfy")

RESUME_INPUT = "resume_request_id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EXT = re.compile(r"^\.[A-Za-z0-9]{1,5}$")
# States whose request RunComfy may still hold (the others have nothing to fetch).
_FETCHABLE = ("submitted", "succeeded", "uncertain")
# What the POST routes take (nodes/http_json.py answers a wrong body with these).
LIMITS_EXAMPLE = {"daily_usd": 5, "monthly_usd": 50}
CLEAR_EXAMPLE = {"all": False}
ACTION_EXAMPLE = {"action": "fetch_into_node", "id": "<id from the listing>"}
PREVIEW_EXAMPLE = {"nodes": [{"id": "3", "class_type": "RunComfy_...", "inputs": {}}]}


def _folder() -> Path:
    return config_dir()


def _journal() -> Journal:
    return Journal(_folder() / "journal.json", spend=Tag(_folder()))


def _journal_entries() -> list[dict]:
    try:
        return _journal().entries()
    except RunComfyError:
        return []


def _from_journal(e: dict) -> Charge:
    state = {"pending": "submitted", "submit_unknown": "uncertain"}.get(e.get("state"), e.get("state") or "unknown")
    return Charge(e.get("claim") or e.get("request_id") or e["fingerprint"][:32], e.get("created") or 0.0,
                  model_id=e.get("model_id") or "", request_id=e.get("request_id"), state=state,
                  cost=e.get("cost"), urls=list(e.get("urls") or []), updated=e.get("updated") or 0.0,
                  delivered=e.get("delivered"), reason=e.get("reason") or "")


def _live_check(entries: list[dict]):
    by_claim = {e.get("claim"): e for e in entries if e.get("claim")}
    now = time.time()

    def live(c: Charge) -> bool:
        e = by_claim.get(c.id)
        return e is not None and e.get("state") == "submitting" and owners.in_flight(e, now)
    return live


# --- reads ----------------------------------------------------------------------------------------

def listing(query) -> tuple[int, dict]:
    """GET /runcomfy-model-api/history: ?state=a,b&model=ID&day=YYYY-MM-DD&cursor=...&limit=50"""
    states = [s for s in (query.get("state") or "").split(",") if s]
    bad = [s for s in states if s not in spend_report.STATES]
    if bad:
        return 400, {"ok": False, "error": f"state {bad[0][:20]!r} is not one of {', '.join(spend_report.STATES)}"}
    day = query.get("day") or None
    if day is not None and not _DAY.match(day):
        return 400, {"ok": False, "error": "day must be YYYY-MM-DD (local time)"}
    try:
        limit = int(query.get("limit") or 50)
    except ValueError:
        return 400, {"ok": False, "error": "limit must be a whole number (1-200)"}
    entries = _journal_entries()
    try:
        body = spend_report.page(HistoryLog(_folder()), states=states, model=query.get("model") or None, day=day,
                                 cursor=query.get("cursor") or None, limit=limit, live_submit=_live_check(entries),
                                 extra=[_from_journal(e) for e in entries])
    except ValueError as exc:
        return 400, {"ok": False, "error": str(exc)}
    for it in body["items"]:
        it["actions"] = _actions(it)
    return 200, {"ok": True, **body}


def _actions(it: dict) -> list[str]:
    acts = []
    if it["request_id"] and it["state"] in _FETCHABLE:
        acts.append("fetch_into_node")
    if it["request_id"] and it["state"] == "succeeded" and (not it["files"] or not all(f["exists"] for f in it["files"])):
        acts.append("redownload")
    if it["request_id"] and it["state"] == "submitted":
        acts.append("cancel")
    if it["state"] == "uncertain" and not it["request_id"]:
        acts.append("uncertain")
    return acts


def limits_status() -> tuple[int, dict]:
    """GET /runcomfy-model-api/limits: the limits in force, where each comes from, and the spend they count."""
    folder = _folder()
    try:
        lim = current_limits(folder)
    except ConfigError as exc:
        return 200, {"ok": False, "error": exc.base_message}
    now = time.time()
    windows = (("today", day_start(now)), ("month", month_start(now)))
    sums = tally.read(HistoryLog(folder).folder, month_start(now), lambda t: [t.spent(since) for _, since in windows])
    spent = {}
    for (name, _), (total, reported, estimated, unknown) in zip(windows, sums):
        spent[name] = {"usd": total, "reported_usd": reported, "estimated_usd": estimated, "unknown": unknown}
    return 200, {"ok": True, **lim.public(), "spent": spent}


def totals() -> tuple[int, dict]:
    body = spend_report.totals(HistoryLog(_folder()))
    st, lim = limits_status()
    return 200, {"ok": True, "currency": "USD", **body, "limits": lim}


def export(query) -> tuple[int, str, str]:
    """(status, content type, text) for GET /runcomfy-model-api/history/export?format=csv|jsonl&since=YYYY-MM-DD"""
    fmt = query.get("format") or "csv"
    since = query.get("since") or None
    t = None
    if since is not None:
        if not _DAY.match(since):
            return 400, "text/plain", "since must be YYYY-MM-DD (local time)"
        t = time.mktime(time.strptime(since, "%Y-%m-%d"))
    try:
        text = spend_report.export(HistoryLog(_folder()), fmt, since=t, live_submit=_live_check(_journal_entries()))
    except ValueError as exc:
        return 400, "text/plain", str(exc)
    return 200, ("text/csv" if fmt == "csv" else "application/x-ndjson"), text


# --- writes ---------------------------------------------------------------------------------------

def save_limits_from(body) -> tuple[int, dict]:
    """POST /runcomfy-model-api/limits {"daily_usd": number|null, "monthly_usd": number|null} (null/0: off)."""
    if not isinstance(body, dict) or not {"daily_usd", "monthly_usd"} & set(body):
        return bad_body("Give daily_usd, monthly_usd or both (null or 0 turns one off)", LIMITS_EXAMPLE)
    folder = _folder()
    try:
        lim = current_limits(folder)
        daily = body.get("daily_usd", lim.saved_daily)
        monthly = body.get("monthly_usd", lim.saved_monthly)
        save_limits(folder, daily, monthly)
    except ConfigError as exc:
        return 400, {"ok": False, "error": f"{exc.base_message} Nothing was saved."}
    except OSError as exc:
        return 400, {"ok": False, "error": f"Could not write the limits in {folder}: {exc.strerror or exc}."}
    return limits_status()


def clear(body) -> tuple[int, dict]:
    """POST /runcomfy-model-api/history/clear {"all": false}: deletes the months before this one; with
    "all": true also this month's (the spending limits then count from zero)."""
    if isinstance(body, dict) and not isinstance(body.get("all", False), bool):
        return bad_body("'all' must be true or false", CLEAR_EXAMPLE)
    everything = bool(isinstance(body, dict) and body.get("all") is True)
    gone = HistoryLog(_folder()).clear(keep_current_month=not everything)
    return 200, {"ok": True, "removed": gone}


def _find(charge_id: str) -> Charge | None:
    charges = HistoryLog(_folder()).charges()
    c = charges.get(charge_id)
    if c is None:
        c = next((x for x in charges.values() if x.request_id == charge_id), None)
    if c is None:
        e = next((e for e in _journal_entries() if charge_id in (e.get("claim"), e.get("request_id"))), None)
        c = _from_journal(e) if e is not None else None
    return c


def action(body, node_classes: dict | None = None) -> tuple[int, dict]:
    """POST /runcomfy-model-api/history/action {"action": ..., "id": <item id or request id>}."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not _SAFE_ID.match(body["id"]):
        return bad_body("'id' must be an item id or request id from the listing", ACTION_EXAMPLE)
    name = body.get("action")
    handler = {"fetch_into_node": _fetch_into_node, "redownload": _redownload, "cancel": _cancel,
               "uncertain": _uncertain}.get(name)
    if handler is None:
        return bad_body("'action' must be fetch_into_node, redownload, cancel or uncertain", ACTION_EXAMPLE)
    c = _find(body["id"])
    if c is None:
        return 404, {"ok": False, "error": "No such request in this ComfyUI's history or journal."}
    return handler(c, node_classes or {})


def _class_for(model_id: str, node_classes: dict) -> str | None:
    return next((n for n, cls in node_classes.items() if getattr(cls, "MODEL_ID", None) == model_id), None)


def _fetch_into_node(c: Charge, node_classes: dict) -> tuple[int, dict]:
    if not c.request_id:
        return 409, {"ok": False, "error": "This submit has no request id (its answer never arrived): there is "
                                           "nothing to fetch. See its one-time code (action 'uncertain')."}
    if c.state in ("failed", "cancelled", "rejected", "expired"):
        return 409, {"ok": False, "error": f"Request {c.request_id} {c.state}: RunComfy has no result to fetch."}
    cls = _class_for(c.model_id, node_classes)
    return 200, {"ok": True, "request_id": c.request_id, "model_id": c.model_id, "class_name": cls,
                 "input": RESUME_INPUT, "node_id": c.node,
                 "note": None if cls else f"No node of this ComfyUI runs {c.model_id}: sync the catalog (Settings "
                                           "› RunComfy) to add it."}


def _client():
    info = credentials.resolve_token(_folder())
    if info.token is None:
        raise ConfigError(credentials.missing_token_message())
    return shared_client(info.token)


def _ext(url: str) -> str:
    ext = os.path.splitext(urlsplit(url).path)[1].lower()
    return ext if _EXT.match(ext) else ".bin"


def _redownload(c: Charge, node_classes: dict) -> tuple[int, dict]:
    """/result for the request (never a submit), then each file that is not on disk, into
    ComfyUI's output folder: runcomfy/history/<request id>/<n>.<ext>."""
    if not c.request_id:
        return 409, {"ok": False, "error": "This submit has no request id: nothing to download."}
    out = comfy.folder("output")
    if out is None:
        return 409, {"ok": False, "error": "ComfyUI's output folder is unknown here."}
    try:
        client = _client()
        res = client.result(c.request_id, True)
    except RunComfyError as exc:
        return 502, {"ok": False, "error": f"RunComfy did not give request {c.request_id}'s result: {exc.base_message}"}
    urls = list(res.output_urls or [])
    if res.state != "succeeded" or not urls:
        return 409, {"ok": False, "error": f"Request {c.request_id} is {res.state}: no result files to download."}
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", c.request_id)[:80]
    folder = Path(out) / "runcomfy" / "history" / safe
    files, downloaded, errors = [], 0, []
    for i, url in enumerate(urls):
        path = folder / f"{i}{_ext(url)}"
        if not path.exists():
            try:
                client.download_to_file(url, path)
                downloaded += 1
            except RunComfyError as exc:
                errors.append(f"file {i + 1}: {exc.base_message}")
                continue
        files.append(str(path))
    tag = Tag(_folder(), c.model_id, c.name)
    tag.note("files", request_id=c.request_id, files=files, model_id=c.model_id, name=c.name)
    sub = f"runcomfy/history/{safe}"
    return (200 if not errors else 502), {
        "ok": not errors, "request_id": c.request_id, "downloaded": downloaded, "errors": errors,
        "files": [{"path": f, "view": {"filename": Path(f).name, "subfolder": sub, "type": "output"}} for f in files]}


def _cancel(c: Charge, node_classes: dict) -> tuple[int, dict]:
    if not c.request_id or c.state != "submitted":
        return 409, {"ok": False, "error": "Only a request that is still queued can be cancelled."}
    try:
        outcome = _client().cancel(c.request_id).outcome
    except RunComfyError as exc:
        return 502, {"ok": False, "error": f"Cancel of request {c.request_id} failed: {exc.base_message}"}
    if outcome == "cancelled":
        j = _journal()
        if j.find_request(c.request_id) is not None:
            j.record_state(c.request_id, "cancelled")
        else:
            j.spend.note("state", request_id=c.request_id, state="cancelled", model_id=c.model_id, name=c.name)
        return 200, {"ok": True, "request_id": c.request_id, "outcome": outcome,
                     "text": "Cancelled while queued: it is not billed."}
    text = ("It was already running: it will finish and be billed; fetch its result into a node without a new "
            "charge." if outcome == "not_cancellable" else f"The cancel outcome is unclear ({outcome}).")
    return 200, {"ok": False, "request_id": c.request_id, "outcome": outcome, "text": text}


def _uncertain(c: Charge, node_classes: dict) -> tuple[int, dict]:
    """The one-time code of a submit whose outcome is unknown (kept in the journal only)."""
    e = next((e for e in _journal_entries() if e.get("claim") == c.id), None)
    if e is None or e.get("state") not in ("submitting", "submit_unknown") or not e.get("resubmit_code"):
        where = (" It came from a batch run: its code is in that run's report." if c.source == "batch" else "")
        return 404, {"ok": False, "error": "No uncertain submit with a one-time code is kept for this entry "
                                           f"(it lapsed or was resolved).{where}"}
    j = _journal()
    until = e["created"] + j.block_window
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(e["created"]))
    return 200, {"ok": True, "code": e["resubmit_code"], "submitted_at": e["created"], "blocks_until": until,
                 "model_id": e.get("model_id"), "input": "submit_anyway",
                 "meaning": (f"A submit of these inputs at {when} may have been accepted and billed by RunComfy, but "
                             "its answer never arrived, so the pack does not send the same inputs again. Look in your "
                             f"RunComfy request history for a request made at {when}: if it is there, put its request "
                             f"id into '{RESUME_INPUT}' (no new charge). To pay for a new run of exactly these inputs "
                             "anyway, type this code into 'submit_anyway' on that node (it works once). Changing an "
                             "input (e.g. the seed) also runs afresh.")}


# --- the price of a prompt before it is queued (issue 20.5; H16) ------------------------------------

_MAX_PREVIEW_NODES = 500


def preview(body, node_classes: dict | None = None) -> tuple[int, dict]:
    """POST /runcomfy-model-api/prompt/preview {"nodes": [{"id", "class_type", "inputs"}]} (the API prompt's
    RunComfy nodes): per node what a Run would send, read-only. A request whose exact inputs this
    journal can resume (or that ``resume_request_id`` names) is not a new charge; a node fed by
    other nodes cannot be fingerprinted before it runs, so its requests count as new."""
    nodes = body.get("nodes") if isinstance(body, dict) else None
    if not isinstance(nodes, list) or len(nodes) > _MAX_PREVIEW_NODES:
        return bad_body(f"'nodes' must be a list of at most {_MAX_PREVIEW_NODES} nodes", PREVIEW_EXAMPLE)
    journal = _journal()
    out = [_preview_node(n, node_classes or {}, journal) for n in nodes if isinstance(n, dict)]
    known = [n["estimate_usd"] for n in out if n["new_requests"]]
    total = sum(u for u in known if u is not None)
    return 200, {"ok": True, "nodes": out, "total_usd": round(total, 6),
                 "unknown": sum(1 for u in known if u is None)}


def _preview_node(n: dict, node_classes: dict, journal) -> dict:
    from ..runcomfy.errors import ValidationError
    from ..runcomfy.estimate import estimate
    from ..runcomfy.run.jobs.model import fingerprint
    from .generation import salted
    from .inputs import collect, generation_input
    from .layout import seed_field
    from .model_node import MODEL_ID_PROPERTY, current_schema

    nid, ctype = str(n.get("id", ""))[:64], n.get("class_type")
    item = {"id": nid, "class_type": ctype if isinstance(ctype, str) else None, "model_id": None,
            "display_name": None, "requests": 0, "new_requests": 0, "reused": 0, "per_request_usd": None,
            "estimate_usd": None, "basis": "", "will_submit": False, "reason": ""}
    cls = node_classes.get(ctype) if isinstance(ctype, str) else None
    if cls is None or getattr(cls, "SCHEMA", None) is None:
        item["reason"] = "not a RunComfy node of this ComfyUI"
        return item
    inputs = n.get("inputs") if isinstance(n.get("inputs"), dict) else {}
    linked = sorted(k for k, v in inputs.items() if isinstance(v, list))
    kwargs = {k: v for k, v in inputs.items() if not isinstance(v, list) and k != MODEL_ID_PROPERTY}
    try:
        schema = current_schema(cls, kwargs)
        item.update(model_id=schema.model_id, display_name=getattr(schema, "display_name", "") or schema.model_id)
        fields, _sockets, urls, extras = collect(schema, kwargs)
    except (ValidationError, RunComfyError) as exc:
        item["reason"] = f"the node will refuse to run before sending anything: {str(exc)[:300]}"
        return item
    requests = max(1, int(extras["variations"] or 1))
    item["requests"] = requests
    if extras["dry_run"]:
        item["reason"] = "dry_run is on: nothing is sent"
        return item
    doc = getattr(schema, "doc", None) or {}
    est = estimate(getattr(schema, "price", None), doc.get("input_schema"), fields)
    item.update(per_request_usd=est.usd, basis=est.basis)
    fresh = [True] * requests
    reasons = []
    if extras["resume_request_id"]:
        fresh[0] = False
        reasons.append(f"fetches request {extras['resume_request_id'][:80]} (no new charge)")
    if linked:
        reasons.append("takes inputs from other nodes: its requests count as new (unless ComfyUI reuses its "
                       "cached output)")
    else:
        payload = {k: v for k, v in fields.items() if v is not None}
        for f in schema.media_fields:
            got = urls.get(f.name) or []
            if f.is_list and (got or f.required):
                payload[f.name] = got
            elif got:
                payload[f.name] = got[0]
        sf, gen = seed_field(schema), extras["generation"]
        for i in range(requests):
            if not fresh[i]:
                continue
            p, salt = dict(payload), 0
            if gen is not None:
                salt = (gen + i) % (2**31)
            elif requests > 1 and sf is not None:
                low = int(sf.minimum) if sf.minimum is not None else 0
                top = int(sf.maximum) if sf.maximum is not None else 2**31 - 1
                base = int(payload.get(sf.name, sf.default or 0))
                p[sf.name] = low + (base - low + i) % (top - low + 1)
            try:
                found = journal.find_resumable(salted(fingerprint(schema.model_id, p), salt))
            except RunComfyError:
                found = None
            if found is not None:
                fresh[i] = False
                reasons.append(f"request {i + 1}: the same inputs already ran as {found.get('request_id')} "
                               "(its result is fetched, no new charge)")
    new = sum(fresh)
    item.update(new_requests=new, reused=requests - new, will_submit=new > 0,
                estimate_usd=None if est.usd is None else round(est.usd * new, 6))
    if new and not reasons:
        reasons.append(f"{new} new request(s)")
    item["reason"] = "; ".join(reasons)
    return item


# --- on ComfyUI's server ------------------------------------------------------------------------------

def add_routes(routes, reply, json_errors, node_classes: dict | None = None) -> None:
    """Called by routes.register with its route table, JSON reply and error wrapper."""
    from .origin_guard import same_origin_read, same_origin_write

    @routes.get("/runcomfy-model-api/history")
    @same_origin_read
    @json_errors
    async def get_history(request):
        return reply(await asyncio.to_thread(listing, request.query))

    @routes.get("/runcomfy-model-api/history/totals")
    @same_origin_read
    @json_errors
    async def get_totals(request):
        return reply(await asyncio.to_thread(totals))

    @routes.get("/runcomfy-model-api/history/export")
    @same_origin_read
    @json_errors
    async def get_export(request):
        from aiohttp import web
        status, ctype, text = await asyncio.to_thread(export, request.query)
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        if status == 200:
            ext = "csv" if ctype == "text/csv" else "jsonl"
            headers["Content-Disposition"] = f'attachment; filename="runcomfy-history.{ext}"'
        return web.Response(text=text, status=status, content_type=ctype, charset="utf-8", headers=headers)

    @routes.post("/runcomfy-model-api/history/action")
    @same_origin_write
    @json_errors
    async def post_action(request):
        body = await read_json(request, ACTION_EXAMPLE, ("action", "id"))
        return reply(await asyncio.to_thread(action, body, node_classes))

    @routes.post("/runcomfy-model-api/history/clear")
    @same_origin_write
    @json_errors
    async def post_clear(request):
        return reply(await asyncio.to_thread(clear, await read_json(request, CLEAR_EXAMPLE, empty_ok=True)))

    @routes.get("/runcomfy-model-api/limits")
    @same_origin_read
    @json_errors
    async def get_limits(request):
        return reply(await asyncio.to_thread(limits_status))

    @routes.post("/runcomfy-model-api/prompt/preview")
    @same_origin_write
    @json_errors
    async def post_preview(request):
        body = await read_json(request, PREVIEW_EXAMPLE, ("nodes",))
        return reply(await asyncio.to_thread(preview, body, node_classes))

    @routes.post("/runcomfy-model-api/limits")
    @same_origin_write
    @json_errors
    async def post_limits(request):
        return reply(await asyncio.to_thread(save_limits_from, await read_json(request, LIMITS_EXAMPLE)))
