"""A ComfyUI node class for one model schema: a thin adapter over ``runcomfy.run``.

It turns socket values (IMAGE tensors, VIDEO, AUDIO) into the library's media values and back
(``media_io``) and wires ComfyUI's progress bar, status text and Stop into the pipeline.
Everything else lives in the library.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..runcomfy import credentials, pricing, settings
from ..runcomfy.catalog.classnames import base_name
from ..runcomfy.api import RunComfyClient
from ..runcomfy.api.urls import resolve_base_url
from ..runcomfy.errors import (ConfigError, EarlierSubmitUncertainError, Interrupted, JobCancelledError,
                               JobFailedError, PaidResultError, RunComfyError, SubmitOutcomeUnknownError,
                               ValidationError)
from ..runcomfy.journal import Journal
from ..runcomfy.media import spec as media_spec
from ..runcomfy.run import GenerationRequest, Hooks, Runner, Update
from ..runcomfy.schema import ModelSchema, log_once
from ..runcomfy.spending import node_tag
from . import comfy, generation, labels, media_io, where_to_fix, widget_order
from .inputs import PACK_LABELS, RESUME_INPUT, collect, generation_input, input_types, pack_inputs, stale_inputs
from .layout import layout_for, seed_field
from .safe_text import inert, inert_input_types

log = logging.getLogger("runcomfy")

CATEGORY_ROOT = "RunComfy"
CONFIG_DIR_ENV = settings.CONFIG_DIR_ENV


def config_dir() -> Path:
    """Server-side home of the saved token and the catalog caches: $RUNCOMFY_CONFIG_DIR, else
    ComfyUI's user directory (never served to browsers outside the per-user folders), else
    ~/.config/runcomfy (runcomfy.settings.config_dir, the same folder the command line uses)."""
    return settings.config_dir(comfy.user_directory())


_clients: dict = {}
_clients_lock = threading.Lock()


def shared_client(token: str) -> RunComfyClient:
    """One pooled client per (base URL, token), shared by all nodes."""
    base = resolve_base_url()
    key = (base, hash(token))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = RunComfyClient(token, base, should_abort=comfy.processing_interrupted)
            _clients[key] = client
        return client


def class_name_for(model_id: str) -> str:
    """The usual class name of a model id. Two ids can make the same one; which id a class
    name belongs to on this machine is runcomfy.catalog.classnames' (see build_mappings)."""
    return base_name(model_id)


def named_classes(built: dict, class_names=None):
    """(class name, schema, notes, display name) per model of ``built`` (model id -> (schema,
    notes, shipped)), in order. A model whose id makes the same usual class name as another's
    says so in its description, and the one that does not have the usual name shows its id in
    its display name, so the two are told apart in the node search."""
    from ..runcomfy.catalog.classnames import ClassNames
    registry = class_names if class_names is not None else ClassNames()
    assigned = registry.assign(list(built), bundled={m for m, (_, _, shipped) in built.items() if shipped})
    holders = None
    for model_id, (schema, notes, _) in built.items():
        key, display = assigned[model_id], schema.display_name
        rivals = registry.rivals(model_id)
        if rivals:
            holders = registry.holders() if holders is None else holders
            usual = class_name_for(model_id)
            if key == usual:
                note = (f"Model id(s) {', '.join(repr(r) for r in rivals)} would make the same node class name "
                        f"({usual}); this node keeps it and always runs '{model_id}'.")
            else:
                display = f"{display} [{model_id}]"
                note = (f"This node's class is {key}, not {usual}: on this machine that name belongs to model "
                        f"'{holders.get(usual, rivals[0])}' (the ids differ only in punctuation or case). "
                        f"This node always runs '{model_id}'.")
            notes = list(notes) + [note]
            log_once(("collision", model_id, key), logging.WARNING, "RunComfy: model %s: %s", model_id, note)
        yield key, schema, notes, display


MODEL_ID_PROPERTY = "runcomfy_model_id"     # node.properties key the web extension keeps (board)
RELOAD_HOWTO = ("Reload the node: reload the browser page (or press R in the graph) so ComfyUI has the new "
                "definition, then replace this node with a new one from the node library (search for its name) "
                "and set its inputs again. If Settings › RunComfy Model API said to restart ComfyUI, restart it first.")


class NodeMismatchError(ConfigError):
    """The node cannot run the model it was made for as it stands; nothing was sent."""


def _workflow_nodes(workflow: dict, inner: bool):
    """The top-level nodes, or (``inner``) the nodes of every subgraph definition."""
    if not inner:
        yield from (n for n in workflow.get("nodes") or [] if isinstance(n, dict))
        return
    defs = workflow.get("definitions")
    for sub in (defs.get("subgraphs") or [] if isinstance(defs, dict) else []):
        if isinstance(sub, dict):
            yield from (n for n in sub.get("nodes") or [] if isinstance(n, dict))


def recorded_model_ids(extra_pnginfo, unique_id, class_name: str) -> set[str]:
    """The model ids the UI workflow records for this node (``node.properties``): empty when the
    prompt came without a workflow (the API, a script) or the node has no such property. A node
    inside a subgraph runs as ``<outer id>:<inner id>``; its inner id is looked up among the
    subgraphs' nodes of the same class."""
    workflow = extra_pnginfo.get("workflow") if isinstance(extra_pnginfo, dict) else None
    if not isinstance(workflow, dict) or unique_id is None:
        return set()
    own = str(unique_id).rsplit(":", 1)[-1]
    found = set()
    for n in _workflow_nodes(workflow, inner=":" in str(unique_id)):
        if str(n.get("id")) != own or n.get("type") != class_name:
            continue
        props = n.get("properties")
        value = props.get(MODEL_ID_PROPERTY) if isinstance(props, dict) else None
        if isinstance(value, str) and value:
            found.add(value)
    return found


def _class_running(model_id: str) -> str | None:
    from .mappings import NODE_CLASS_MAPPINGS
    return next((name for name, c in NODE_CLASS_MAPPINGS.items() if getattr(c, "MODEL_ID", None) == model_id), None)


def check_recorded_model(cls: type, extra_pnginfo, unique_id) -> None:
    """A node submits only to the model it was made for: a workflow node whose recorded model id
    is not its class's model (a class name another machine gave to another id) is refused."""
    recorded = recorded_model_ids(extra_pnginfo, unique_id, cls.__name__)
    if not recorded or cls.MODEL_ID in recorded:
        return
    wanted = sorted(recorded)[0]
    other = _class_running(wanted)
    where = (f"On this ComfyUI that model's node is '{other}': replace this node with it." if other else
             "That model has no node on this ComfyUI (Settings › RunComfy Model API › Refresh model catalog may add it).")
    raise NodeMismatchError(
        f"This node was made for model '{wanted}', but its node class {cls.__name__} runs model "
        f"'{cls.MODEL_ID}' on this ComfyUI (their ids differ only in punctuation or case). Nothing was sent. "
        + where)


def current_schema(cls: type, kwargs: dict) -> ModelSchema:
    """The schema a run uses: the newest one of the node's model. A catalog refresh replaces a
    changed model's class, but ComfyUI keeps running the instances it made of the old one; their
    arguments are mapped by name onto the new layout, and what cannot be mapped stops the run."""
    own = cls.SCHEMA
    newest = cls
    for _ in range(1000):              # a chain of refreshes; bounded all the same
        nxt = getattr(newest, "REPLACED_BY", None)
        if nxt is None or nxt.MODEL_ID != cls.MODEL_ID:
            break
        newest = nxt
    schema = newest.SCHEMA
    if schema is own:
        return own
    reasons = stale_inputs(own, schema, kwargs)
    if reasons:
        raise NodeMismatchError(
            f"RunComfy changed model '{cls.MODEL_ID}' since this node was made (model catalog refresh): "
            + "; ".join(reasons) + ". Nothing was sent. " + RELOAD_HOWTO)
    return schema


def saved_widgets_values(extra_pnginfo, unique_id, class_name: str) -> list | None:
    """This node's ``widgets_values`` in the UI workflow the prompt came with (None without one)."""
    workflow = extra_pnginfo.get("workflow") if isinstance(extra_pnginfo, dict) else None
    if not isinstance(workflow, dict) or unique_id is None:
        return None
    own = str(unique_id).rsplit(":", 1)[-1]
    for n in _workflow_nodes(workflow, inner=":" in str(unique_id)):
        if str(n.get("id")) == own and n.get("type") == class_name and isinstance(n.get("widgets_values"), list):
            return n["widgets_values"]
    return None


def rerun_status(schema: ModelSchema, spec: dict, saved_values) -> dict:
    """What a second Run does, for the panel: the widget that makes a new generation (the seed,
    or the generation counter of a model without one), its control-after-generate value as the
    workflow saved it, and whether every Run is a new paid generation (control not "fixed").
    The control is not sent in prompts: without a UI workflow both are None (the panel knows
    the live control value and should compute it itself; see the board's issue 18 note)."""
    sf = seed_field(schema)
    widget = sf.input_name if sf is not None else generation_input(schema)
    control = widget_order.control_of(spec, saved_values, widget) if saved_values is not None and widget else None
    return {"rerun_widget": widget, "rerun_control": control,
            "new_paid_generation_each_run": None if control is None else control != "fixed"}


async def run_class(cls: type, kwargs: dict, unique_id=None, extra_pnginfo=None):
    """What a node's function does: the model id checks, then ``run_node`` with the newest schema."""
    kwargs = {k: v for k, v in kwargs.items() if k != MODEL_ID_PROPERTY}
    progress = comfy.Progress(None if unique_id is None else str(unique_id))
    try:
        check_recorded_model(cls, extra_pnginfo, unique_id)
        schema = current_schema(cls, kwargs)
    except NodeMismatchError as exc:
        progress.text(f"error: {exc}", {"state": "error"})
        log.warning("runcomfy: %s", exc)
        raise
    # Positions as the browser laid them out: the class it had (a refresh may have changed the schema since).
    rerun = rerun_status(schema, cls.INPUT_TYPES(), saved_widgets_values(extra_pnginfo, unique_id, cls.__name__))
    return await run_node(schema, kwargs, unique_id, rerun=rerun)


def fetch_fields(exc: BaseException) -> dict:
    """The status fields of a failed or stopped run: the request it concerns, and the id that
    fetches its result on the next run without a new charge (``fetch_request_id``, for the
    'resume_request_id' input) when RunComfy has (or may have) that request and it did not
    end failed or cancelled; ``billed``: True, False or None (unknown / may be)."""
    rid = getattr(exc, "request_id", None)
    out: dict = {"request_id": rid, "fetch_request_id": None, "fetch_input": RESUME_INPUT, "billed": None}
    if isinstance(exc, Interrupted):
        if exc.cancel_outcome == "cancelled":
            out["billed"] = False
            return out
        if rid and exc.cancel_outcome == "not_cancellable":
            out["billed"] = True
    elif isinstance(exc, (JobFailedError, JobCancelledError, ValidationError)):
        return out
    elif isinstance(exc, PaidResultError):
        out["billed"] = True
    elif isinstance(exc, EarlierSubmitUncertainError):
        out.update(resubmit_code=exc.resubmit_code, submitted_at=exc.submitted_at)
        return out
    if rid:
        out["fetch_request_id"] = rid
    return out


RESUME_LABEL = PACK_LABELS[RESUME_INPUT]


def how_to_fetch(rid: str) -> str:
    """The one sentence that says how to fetch a kept result where there is no Fetch button (ComfyUI's
    error dialog, its console, a headless run): the widget's label first, the API name after."""
    return (f'To fetch its result without a new charge, put request id {rid} into "{RESUME_LABEL}" '
            f"({RESUME_INPUT}) and run.")


def _with_text(exc: BaseException, text: str) -> BaseException:
    return exc.retold(text) if isinstance(exc, RunComfyError) else exc


def fetch_texts(fields: dict, exc: BaseException, prefix: str = "") -> tuple[str, dict]:
    """(text, extra fields) of a failed or stopped run's status. With a request to fetch, the text is
    what happened (once, no id) plus how to fetch it by its id (once), and ``summary`` is what happened
    alone: the panel shows the id, the billed line and a Fetch button itself, so it says each fact once."""
    rid = fields.get("fetch_request_id")
    if isinstance(exc, EarlierSubmitUncertainError):
        # The panel says when and how to pay anyway (resubmit_code); this is the rest, once.
        return f"{prefix}{exc}", {"summary": (
            "Nothing was sent now, so nothing is charged twice. If your RunComfy request history has that "
            f'request, put its id into "{RESUME_LABEL}" ({RESUME_INPUT}) to fetch it without a new charge.')}
    if not rid:
        return f"{prefix}{exc}", {}
    summary = exc.summary if isinstance(exc, RunComfyError) else str(exc)
    hint = getattr(exc, "hint_added", None)
    if hint and hint not in summary and not isinstance(exc, SubmitOutcomeUnknownError):
        summary = f"{summary} {hint}"
    return f"{prefix}{summary} {how_to_fetch(rid)}", {"summary": summary}


async def run_node(schema: ModelSchema, kwargs: dict, node_id=None, rerun: dict | None = None):
    progress = comfy.Progress(None if node_id is None else str(node_id))
    rerun = rerun if rerun is not None else rerun_status(schema, input_types(schema), None)
    # A new prompt replaces the last outcome on the panel, whatever happens next.
    progress.text("started", {"state": "started", **rerun})
    token = credentials.resolve_token(config_dir())
    if token.token is None:
        message = credentials.missing_token_message()
        progress.text(f"error: {message}", {"state": "error", **rerun})
        raise ConfigError(message)
    lay = layout_for(schema, set(pack_inputs()))
    origins: dict = {}
    try:
        fields, sockets_in, urls, extras = collect(schema, kwargs)
    except ValidationError as exc:
        err = labels.relabel(exc, lay, schema, {}, bool(kwargs.get("fit_inputs_to_limits")))
        progress.text(f"error: {err}", {"state": "error", "problems": err.shown, **fetch_fields(err), **rerun})
        raise err from exc
    last = {"t": 0.0, "state": None}

    def on_update(u: Update) -> None:
        now = time.monotonic()
        if u.state == last["state"] and now - last["t"] < 0.25:
            return  # fast polling must not flood the websocket
        last.update(t=now, state=u.state)
        frac = {"submitting": 0.02, "submitted": 0.05, "resuming": 0.05, "queued": 0.1,
                "downloading": 0.95, "done": 1.0}.get(u.state)
        if u.state == "submitting" and u.progress is not None:
            frac = u.progress       # the bar shows the upload; the text says "sending X of Y MB, R MB/s"
        if u.state == "running":
            # The service reports no progress; approach 90% over a typical minute.
            frac = 0.15 + 0.75 * (1 - 2 ** (-u.elapsed / 30))
        if frac is not None:
            progress.fraction(frac)
        progress.text(u.text(), {"request_id": u.request_id, "state": u.state, "elapsed": round(u.elapsed, 1),
                                 "queue_position": u.queue_position, "cost": u.cost, "note": u.note, **rerun})

    client = shared_client(token.token)
    # The spend tag: the limits are checked, and each request written to the spend history, in the claim.
    journal = Journal(config_dir() / "journal.json", spend=node_tag(config_dir(), schema, fields, node_id))
    output_dir = comfy.folder("output")      # paid video/audio results are kept there (README)
    sf = seed_field(schema)

    async def one(values, identity, variations: int, resume, on_update_hook):
        runner = Runner(client, timeout=extras["timeout"], journal=identity,
                        submit_anyway=extras.get("submit_anyway", ""),
                        output_folder=str(output_dir / "runcomfy") if output_dir is not None else None)
        return await runner.run(
            GenerationRequest(schema, fields, media=values, urls=urls, image_format=extras["image_format"],
                              variations=variations, seed_field=sf.name if sf is not None else "seed",
                              resume_request_id=resume, fit_inputs=extras["fit_inputs"], dry_run=extras["dry_run"]),
            Hooks(on_update=on_update_hook, is_interrupted=comfy.processing_interrupted))

    try:
        values, counts = await _socket_values(schema, sockets_in)
        origins = labels.media_origins(lay, schema, counts, {k: len(v) for k, v in urls.items()})
        start, n = extras["generation"], extras["variations"]
        if start is None or n == 1 or extras["dry_run"]:
            identity = journal if start is None else generation.IdentityJournal(journal, start)
            gen = await one(values, identity, n if start is None else 1, extras["resume_request_id"], on_update)
            if start is not None and gen.dry_run is not None:
                gen.dry_run = {**gen.dry_run, "requests": n}
        else:
            # No seed: one request per consecutive generation value, each its own identity.
            gen = generation.merge(await generation.gather_runs([
                one(values, generation.IdentityJournal(journal, g), 1,
                    extras["resume_request_id"] if i == 0 else None, generation.renumbered(on_update, i, n))
                for i, g in enumerate(generation.generations(start, n))]))
    except Interrupted as exc:
        fetch = fetch_fields(exc)
        text, extra = fetch_texts(fetch, exc, "Stopped. " if fetch.get("fetch_request_id") else "")
        progress.text(text, {"state": "stopped", **fetch, **extra, **rerun})
        log.info("runcomfy: %s", text)
        raise comfy.interrupt_exception(text) from None
    except ValidationError as exc:
        err = exc if isinstance(exc, labels.NodeValidationError) else \
            labels.relabel(exc, lay, schema, origins, extras["fit_inputs"])
        progress.text(f"error: {err}", {"state": "error", "problems": err.shown, **fetch_fields(err), **rerun})
        raise err from exc
    except Exception as exc:
        # Keep the outcome on the node, not only in ComfyUI's error dialog; the library said what
        # is wrong, where_to_fix adds where a ComfyUI user fixes it.
        shown = where_to_fix.add(exc)
        fetch = fetch_fields(shown)
        text, extra = fetch_texts(fetch, shown, "error: ")
        progress.text(text, {"state": "error", **fetch, **extra, **rerun})
        if extra and fetch.get("fetch_request_id"):
            # ComfyUI's error dialog and console (and a headless run) have no Fetch button: say how.
            raise _with_text(shown, text.removeprefix("error: ")) from exc
        if shown is exc:
            raise
        raise shown from exc
    out = _output_adapter(schema)
    if gen.dry_run is not None:
        return await _dry_run_outputs(schema, gen, values, progress, rerun)
    results = gen.outputs.get(out.kind, [])
    try:
        primary = await asyncio.to_thread(out.to_socket, results)
    except Exception as exc:
        # Paid for and decoded, but not turned into a ComfyUI value (a batch over its pixel cap...).
        err = PaidResultError(", ".join(gen.request_ids), exc, urls=gen.urls)
        fetch = {"request_id": gen.request_ids[0], "billed": True, "fetch_request_id": gen.request_ids[0],
                 "fetch_input": RESUME_INPUT}
        text, extra = fetch_texts(fetch, err, "error: ")      # the panel: each fact once
        progress.text(text, {"state": "error", **fetch, **extra, **rerun})
        raise err from exc
    fit = out.describe(results)
    summary = [f"done: {len(results)} {out.kind}(s)"]
    others = {k: len(v) for k, v in gen.outputs.items() if k != out.kind and v}
    if others:
        summary.append("also " + ", ".join(f"{n} {k}(s)" for k, n in others.items()) + " (see urls)")
    if gen.cost is not None:
        summary.append(f"cost {pricing.format_usd(gen.cost)}")
    summary.append("request " + ", ".join(gen.request_ids))
    progress.text(" · ".join(summary + gen.notes + ([fit] if fit else [])),
                  {"request_id": gen.request_ids[0], "request_ids": gen.request_ids, "state": "done",
                   "cost": gen.cost, "notes": gen.notes + ([fit] if fit else []), **rerun})
    return primary, "\n".join(gen.urls), "\n".join(gen.request_ids)


def _output_adapter(schema: ModelSchema):
    adapter = media_io.adapter_for_kind(schema.output_kind)
    if adapter is None:
        raise ConfigError(f"{schema.display_name} returns {schema.output_kind}, which this version of the "
                          "pack cannot turn into a ComfyUI output.")
    return adapter


async def _socket_values(schema: ModelSchema, sockets_in: dict) -> tuple[dict, dict]:
    """Socket values -> library values per media field (each socket may carry a batch), and per
    field the (socket, number of values) pairs that made them, in order (for error labels)."""
    out: dict = {}
    counts: dict = {}
    for f in schema.media_fields:
        given = sockets_in.get(f.name) or []
        if not given:
            continue
        adapter = media_io.adapter_for_kind(f.kind)
        if adapter is None:
            raise ConfigError(f"input '{f.name}' takes {f.kind}, which this version of the pack cannot read "
                              "from a ComfyUI socket.")
        out[f.name] = []
        for name, value in given:
            got = await asyncio.to_thread(adapter.to_values, value, name)
            out[f.name].extend(got)
            counts.setdefault(f.name, []).append((name, len(got)))
    return out, counts


def format_price(amount: float, unit: str | None) -> str:
    """RunComfy's unit price as every text of the pack shows it: "$0.03 / image", "$0.10 / s"."""
    price = pricing.price_of({"base_price_usd": amount, "price_unit": unit})
    return price.unit_text() if price is not None else pricing.UNAVAILABLE


async def _dry_run_outputs(schema: ModelSchema, gen, values: dict, progress, rerun: dict | None = None):
    """Nothing was sent: show the request and its price; pass the references through."""
    report = gen.dry_run
    price = report["price"]
    if price is None:
        price_text = "price unavailable"
    else:
        unit = price.get("text") or format_price(price["base_price_usd"], price.get("price_unit"))
        price_text = f"{unit} x {report['requests']} request(s)"
    text = "\n".join([f"dry run: nothing sent, nothing charged · {price_text}"] + gen.notes +
                      [json.dumps(report["payloads"][0], ensure_ascii=False, indent=1)])
    progress.text(text, {"state": "dry_run", "price": price, "price_text": price_text, "requests": report["requests"],
                         "payload": report["payloads"][0], "notes": gen.notes, **(rerun or {})})
    out = _output_adapter(schema)
    refs = [v for f in schema.fields_of_kind(out.kind) for v in values.get(f.name, [])]
    primary = await asyncio.to_thread(out.to_socket, refs) if refs else out.empty()
    return primary, "", ""


def run_blocking(make_coro):
    """Runs a coroutine to the end from synchronous code. Normally no event loop runs in the
    calling thread; if one does (an async-capable ComfyUI whose version was not recognised),
    asyncio.run would refuse, so the coroutine gets a loop of its own in a worker thread:
    slower for the graph, but the node still works."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="runcomfy-sync-node") as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()   # re-raises the node's error


# Output sockets per output kind: the media first, then the URLs and the request ids. The socket
# type and name are the kind's row in runcomfy/media/spec.py; the tooltip is the node's.
_OUTPUT_TIPS = {
    "image": "The result images as one batch (mixed sizes are padded, see README).",
    "video": "The result video, file-backed (nothing is decoded until a node asks; Save Video keeps "
             "its H.264 and audio without re-encoding). With several results: the first; every URL is "
             "on urls and every file is kept in ComfyUI's output folder under runcomfy/.",
    "audio": "The result audio at its own sample rate and channels. Several results of the same rate "
             "and channels come as one batch (padded with silence to the longest); otherwise the "
             "first, and every URL is on urls.",
}
OUTPUTS = {k: (media_spec.KINDS[k].socket_type, media_spec.KINDS[k].output_socket, tip)
           for k, tip in _OUTPUT_TIPS.items()}


def describe_node(schema: ModelSchema, notes=()) -> str:
    """The node's description: the model's own, its catalog price (when the entry states one),
    and notes such as "RunComfy no longer lists this model"."""
    parts = [schema.description or schema.display_name]
    if schema.price is not None:
        from ..runcomfy import pricing
        parts.append(pricing.tooltip(schema.doc))
    parts.extend(n for n in list(notes) + ([schema.note] if schema.note else []) if n)
    return "\n\n".join(parts)


# Short names users type for a task (the node search matches aliases word for word).
TASK_SHORT = {"text-to-image": "t2i", "image-to-image": "i2i", "text-to-video": "t2v", "image-to-video": "i2v",
              "video-to-video": "v2v", "reference-to-video": "r2v", "text-to-audio": "t2a",
              "text-to-speech": "tts", "audio-to-audio": "a2a", "image-to-3d": "i23d"}
_TASK = re.compile(r"\b(text|image|video|audio|reference|speech)[ _-]to[ _-](image|video|audio|speech|3d)\b", re.I)


def search_aliases(schema: ModelSchema) -> list[str]:
    """What a user types to find the node (ComfyUI's SEARCH_ALIASES: core 0.33+, frontends 1.49+):
    RunComfy, the family ("wan", "kling"), the task ("image to video", "i2v") and the output kind
    ("video", "audio"), from the catalog's categories, the model id and the display name."""
    words: list[str] = ["runcomfy"]
    if schema.family:
        words.append(schema.family.lower())
    tasks = [c for c in schema.categories if isinstance(c, str)]
    tasks += [m.group(0) for m in _TASK.finditer(f"{schema.model_id.replace('/', ' ')} {schema.display_name}")]
    for t in tasks:
        t = t.lower().replace("_", "-").replace(" ", "-")
        words += [t.replace("-", " "), TASK_SHORT.get(t, "")]
    words += [schema.output_kind or "", f"{schema.output_kind} generation" if schema.output_kind else ""]
    for kind in sorted({f.kind for f in schema.media_fields if f.kind}):
        words.append(f"{kind} input")
    out: list[str] = []
    for w in words:
        w = w.strip()
        if w and w not in out:
            out.append(w)
    return out


def make_node_class(schema: ModelSchema, notes=(), class_name: str | None = None) -> type:
    """The node class of ``schema``, named ``class_name`` (default: the id's usual name)."""
    # Catalog text reaches the page as data only (frontend 1.27 renders some of it as HTML).
    spec = inert_input_types(input_types(schema), schema.model_id)
    category = inert(schema.category or CATEGORY_ROOT)
    # Static, so building hundreds of classes imports no codec.
    out_type, out_name, out_tip = OUTPUTS.get(schema.output_kind, OUTPUTS["image"])
    description = inert(describe_node(schema, notes))

    async def run_async(self, unique_id=None, extra_pnginfo=None, **kwargs):
        return await run_class(type(self), kwargs, unique_id, extra_pnginfo)

    def run_sync(self, unique_id=None, extra_pnginfo=None, **kwargs):
        # ComfyUI before 0.3.45 calls node functions synchronously.
        return run_blocking(lambda: run_class(type(self), kwargs, unique_id, extra_pnginfo))

    attrs = {
        "__doc__": description,
        "MODEL_ID": schema.model_id,
        "SCHEMA": schema,
        "INPUT_TYPES": classmethod(lambda cls: spec),
        "RETURN_TYPES": (out_type, "STRING", "STRING"),
        "RETURN_NAMES": (out_name, "urls", "request_id"),
        "OUTPUT_TOOLTIPS": (out_tip,
                            "Result file URLs, one per line: feed them to another RunComfy node's URL input.",
                            "The RunComfy request id(s), one per line."),
        "FUNCTION": "run",
        "CATEGORY": category,
        "DESCRIPTION": description,
        "SEARCH_ALIASES": [inert(a) for a in search_aliases(schema)],
        "run": run_async if comfy.supports_async_nodes() else run_sync,
    }
    return type(class_name or class_name_for(schema.model_id), (), attrs)
