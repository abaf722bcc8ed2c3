"""A ComfyUI node class for one model schema: a thin adapter over ``runcomfy.pipeline``.

It turns socket values (IMAGE tensors, VIDEO, AUDIO) into the library's media values and back
(``media_io``) and wires ComfyUI's progress bar, status text and Stop into the pipeline.
Everything else lives in the library.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..runcomfy import credentials, pricing
from ..runcomfy.client import RunComfyClient
from ..runcomfy.config import resolve_base_url
from ..runcomfy.errors import ConfigError, Interrupted
from ..runcomfy.journal import Journal
from ..runcomfy.pipeline import Hooks, Runner, Update
from ..runcomfy.schema import ModelSchema
from . import comfy, media_io
from .inputs import collect, input_types
from .safe_text import inert, inert_input_types

log = logging.getLogger("runcomfy")

CATEGORY_ROOT = "RunComfy"
CONFIG_DIR_ENV = "RUNCOMFY_CONFIG_DIR"


def config_dir() -> Path:
    """Server-side home of the saved token and the journal: ComfyUI's user directory
    (never served to browsers outside the per-user folders), else ~/.config/runcomfy."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit)
    user = comfy.user_directory()
    if user is not None:
        return user / "__runcomfy"
    return Path(os.path.expanduser("~/.config/runcomfy"))


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
    return "RunComfy_" + re.sub(r"[^A-Za-z0-9]+", "_", model_id).strip("_")


async def run_node(schema: ModelSchema, kwargs: dict, node_id=None):
    progress = comfy.Progress(None if node_id is None else str(node_id))
    token = credentials.resolve_token(config_dir())
    if token.token is None:
        message = credentials.missing_token_message()
        progress.text(f"error: {message}", {"state": "error"})
        raise ConfigError(message)
    fields, sockets_in, urls, extras = collect(schema, kwargs)
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
                                 "queue_position": u.queue_position, "cost": u.cost, "note": u.note})

    client = shared_client(token.token)
    runner = Runner(client, timeout=extras["timeout"], journal=Journal(config_dir() / "journal.json"),
                    submit_anyway=extras.get("submit_anyway", ""))
    output_dir = comfy.folder("output")      # paid video/audio results are kept there (README)
    runner.media_dir = str(output_dir / "runcomfy") if output_dir is not None else None
    try:
        values = await _socket_values(schema, sockets_in)
        gen = await runner.generate(
            schema, fields, media=values, urls=urls, image_format=extras["image_format"],
            variations=extras["variations"], resume_request_id=extras["resume_request_id"],
            fit_inputs=extras["fit_inputs"], dry_run=extras["dry_run"],
            hooks=Hooks(on_update=on_update, is_interrupted=comfy.processing_interrupted))
    except Interrupted as exc:
        progress.text(str(exc), {"state": "stopped", "request_id": exc.request_id})
        log.info("runcomfy: %s", exc)
        raise comfy.interrupt_exception(str(exc)) from None
    except Exception as exc:
        # Keep the outcome on the node, not only in ComfyUI's error dialog.
        progress.text(f"error: {exc}", {"state": "error", "request_id": getattr(exc, "request_id", None)})
        raise
    out = _output_adapter(schema)
    if gen.dry_run is not None:
        return await _dry_run_outputs(schema, gen, values, progress)
    results = gen.outputs.get(out.kind, [])
    primary = await asyncio.to_thread(out.to_socket, results)
    fit = out.describe(results)
    summary = [f"done: {len(results)} {out.kind}(s)"]
    others = {k: len(v) for k, v in gen.outputs.items() if k != out.kind and v}
    if others:
        summary.append("also " + ", ".join(f"{n} {k}(s)" for k, n in others.items()) + " (see urls)")
    if gen.cost is not None:
        summary.append(f"cost {pricing.format_usd(gen.cost)}")
    summary.append("request " + ", ".join(gen.request_ids))
    progress.text(" · ".join(summary + gen.notes + ([fit] if fit else [])),
                  {"request_id": gen.request_ids[0], "state": "done", "cost": gen.cost})
    return primary, "\n".join(gen.urls), "\n".join(gen.request_ids)


def _output_adapter(schema: ModelSchema):
    adapter = media_io.adapter_for_kind(schema.output_kind)
    if adapter is None:
        raise ConfigError(f"{schema.display_name} returns {schema.output_kind}, which this version of the "
                          "pack cannot turn into a ComfyUI output.")
    return adapter


async def _socket_values(schema: ModelSchema, sockets_in: dict) -> dict:
    """Socket values -> library values per media field (each socket may carry a batch)."""
    out: dict = {}
    for f in schema.media_fields:
        given = sockets_in.get(f.name) or []
        if not given:
            continue
        adapter = media_io.adapter_for_kind(f.kind)
        if adapter is None:
            raise ConfigError(f"input '{f.name}' takes {f.kind}, which this version of the pack cannot read "
                              "from a ComfyUI socket.")
        out[f.name] = [v for name, value in given for v in await asyncio.to_thread(adapter.to_values, value, name)]
    return out


def format_price(amount: float, unit: str | None) -> str:
    """RunComfy's unit price as every text of the pack shows it: "$0.03 / image", "$0.10 / s"."""
    price = pricing.price_of({"base_price_usd": amount, "price_unit": unit})
    return price.unit_text() if price is not None else pricing.UNAVAILABLE


async def _dry_run_outputs(schema: ModelSchema, gen, values: dict, progress):
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
    progress.text(text, {"state": "dry_run"})
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


# Output sockets per output kind: the media first, then the URLs and the request ids.
OUTPUTS = {
    "image": ("IMAGE", "images", "The result images as one batch (mixed sizes are padded, see README)."),
    "video": ("VIDEO", "video",
              "The result video, file-backed (nothing is decoded until a node asks; Save Video keeps "
              "its H.264 and audio without re-encoding). With several results: the first; every URL is "
              "on urls and every file is kept in ComfyUI's output folder under runcomfy/."),
    "audio": ("AUDIO", "audio",
              "The result audio at its own sample rate and channels. Several results of the same rate "
              "and channels come as one batch (padded with silence to the longest); otherwise the "
              "first, and every URL is on urls."),
}


def describe_node(schema: ModelSchema, notes=()) -> str:
    """The node's description: the model's own, its catalog price (when the entry states one),
    and notes such as "RunComfy no longer lists this model"."""
    parts = [schema.description or schema.display_name]
    if schema.price is not None:
        from ..runcomfy import pricing
        parts.append(pricing.tooltip(schema.doc))
    parts.extend(n for n in list(notes) + ([schema.note] if schema.note else []) if n)
    return "\n\n".join(parts)


def make_node_class(schema: ModelSchema, notes=()) -> type:
    # Catalog text reaches the page as data only (frontend 1.27 renders some of it as HTML).
    spec = inert_input_types(input_types(schema), schema.model_id)
    category = inert(schema.category or CATEGORY_ROOT)
    # Static, so building hundreds of classes imports no codec.
    out_type, out_name, out_tip = OUTPUTS.get(schema.output_kind, OUTPUTS["image"])
    description = inert(describe_node(schema, notes))

    async def run_async(self, unique_id=None, **kwargs):
        return await run_node(schema, kwargs, unique_id)

    def run_sync(self, unique_id=None, **kwargs):
        # ComfyUI before 0.3.45 calls node functions synchronously.
        return run_blocking(lambda: run_node(schema, kwargs, unique_id))

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
        "run": run_async if comfy.supports_async_nodes() else run_sync,
    }
    return type(class_name_for(schema.model_id), (), attrs)
