"""Nodes for the RunComfy models a loaded workflow names but this ComfyUI has no node for (issue
19.1): a workflow made on a machine whose catalog had a model this one has not synced, a shared
workflow, a template.

The browser asks before it builds the graph (web/lib/missing.js, POST .../resolve) and a prompt
queued headless is looked at before ComfyUI validates it (``prompt_middleware``). Both end here:
the models are looked up by the id the node carries (``node.properties.runcomfy_model_id``) or,
for workflows saved before that, by the node's class name matched against the catalog; first in
the cached catalog, then RunComfy's own (``GET /models/{id}``; a class name alone needs the whole
catalog, which is the Settings' refresh). Found models get their node classes through the same
path as the refresh (catalog_api.apply_updates). A model that cannot be found is answered with
why (offline, token, not listed) and the fix, naming the model id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from ..runcomfy import catalog
from ..runcomfy.api import RetryPolicy, RunComfyClient
from ..runcomfy.api.urls import check_model_id, resolve_base_url
from ..runcomfy.catalog.classnames import PREFIX, base_name, suffixed_name
from ..runcomfy.errors import AuthError, ConfigError, NotFoundError, PermissionDeniedError, RunComfyError
from .catalog_startup import machine_class_names, run_sync, sync_lock, token_or_none
from .http_json import BadBody
from .model_node import MODEL_ID_PROPERTY, config_dir

log = logging.getLogger("runcomfy")

MAX_ITEMS = 64               # ids or class names in one request: a workflow with more is refused
MAX_NAME = 320
RESYNC_AFTER_S = 60.0        # at most one whole-catalog read per minute for class names alone
_last_name_sync = -RESYNC_AFTER_S
LOOKUP_RETRY = dict(max_attempts=2, base_delay=0.3, max_delay=1.0, max_elapsed=10.0)

EXAMPLE = {"model_ids": ["wan-ai/wan-2-6/image-to-image"], "class_names": ["RunComfy_wan_ai_wan_2_6_image_to_image"]}

REFRESH_HOWTO = "Settings › RunComfy Model API › Catalog › Refresh model catalog"
REOPEN = "then open the workflow again (its saved values are kept)"


def _fix(reason: str) -> str:
    return {
        "offline": f"check this computer's network (and the proxy in Settings › RunComfy Model API › Proxy), "
                   f"then {REFRESH_HOWTO}, {REOPEN}.",
        "no_token": f"set your RunComfy API token in Settings › RunComfy Model API › Account (or RUNCOMFY_API_TOKEN), "
                    f"then {REFRESH_HOWTO}, {REOPEN}.",
        "token_rejected": f"check the RunComfy API token in Settings › RunComfy Model API › Account (Test), then "
                          f"{REFRESH_HOWTO}, {REOPEN}.",
        "not_listed": "RunComfy does not offer this model (any more): replace the node with a current model "
                      f"of the same family from the node library; if it was just added, {REFRESH_HOWTO}.",
        "not_runnable": "it is not a model that can run as a node (RunComfy lists it as another kind).",
        "unknown_class": f"open the workflow where it was made and save it again (newer nodes carry their "
                         f"model id), or {REFRESH_HOWTO} and {REOPEN}.",
        "restart": "restart ComfyUI, then reload the browser page.",
        "bad_id": "the workflow file is damaged: this is not a RunComfy model id.",
    }[reason]


def _why(reason: str, detail: str) -> str:
    return {
        "offline": f"RunComfy could not be reached ({detail.rstrip('. ')})",
        "no_token": "RunComfy wants an API token to look it up and none is set",
        "token_rejected": f"RunComfy refused the API token ({detail.rstrip('. ')})",
        "not_listed": "RunComfy does not list it",
        "not_runnable": "RunComfy lists it, but not as a runnable model",
        "unknown_class": "no model in RunComfy's catalog makes this node class",
        "restart": "its node was built but this ComfyUI could not register it while running",
        "bad_id": detail,
    }[reason]


@dataclass
class Resolution:
    """What a lookup found. ``nodes`` maps every resolved model id to this machine's class name
    (which can differ from the saved one: see runcomfy.catalog.classnames); ``by_class`` the saved
    class names matched without an id."""
    nodes: dict = field(default_factory=dict)
    by_class: dict = field(default_factory=dict)
    added: list = field(default_factory=list)
    unresolved: list = field(default_factory=list)
    classes: dict = field(default_factory=dict)       # built, not yet registered
    names: dict = field(default_factory=dict)

    def fail(self, reason: str, detail: str = "", *, model_id: str | None = None, class_name: str | None = None):
        what = f"RunComfy model '{model_id}'" if model_id else f"RunComfy node '{class_name}'"
        self.unresolved.append({
            "model_id": model_id, "class_name": class_name, "reason": reason, "fix": _fix(reason),
            "message": f"{what} is not on this ComfyUI: {_why(reason, detail)}. Fix: {_fix(reason)}"})

    def public(self) -> dict:
        return {"ok": not self.unresolved, "nodes": self.nodes, "by_class": self.by_class,
                "added": sorted(self.added), "unresolved": self.unresolved}


def _strings(value, label: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise BadBody(f"'{label}' must be a list of at most {MAX_ITEMS} strings", EXAMPLE)
    out = []
    for item in value:
        if not isinstance(item, str) or not item or len(item) > MAX_NAME:
            raise BadBody(f"'{label}' must hold non-empty strings of at most {MAX_NAME} characters", EXAMPLE)
        if item not in out:
            out.append(item)
    return out


def parse_request(body) -> tuple[list[str], list[str]]:
    """(model ids, class names) of a resolve request; BadBody (a ValueError) says what is wrong."""
    if not isinstance(body, dict):
        raise BadBody("The body is not a JSON object", EXAMPLE)
    return _strings(body.get("model_ids"), "model_ids"), _strings(body.get("class_names"), "class_names")


def _class_candidates(model_id: str, assigned: str | None) -> set[str]:
    return {c for c in (assigned, base_name(model_id), suffixed_name(model_id, 8), suffixed_name(model_id, 16)) if c}


def _registered() -> dict:
    from .mappings import NODE_CLASS_MAPPINGS
    return NODE_CLASS_MAPPINGS


def _match_classes(wanted: list[str], entries: dict, names) -> dict:
    """Saved class name -> model id, for the names some entry makes (its name here, or the usual or
    suffixed name another machine may have given it)."""
    found = {}
    by_name = {}
    for model_id in entries:
        for c in _class_candidates(model_id, names.get(model_id)):
            by_name.setdefault(c, model_id)
    holders = names.holders()
    for c in wanted:
        model_id = holders.get(c) if holders.get(c) in entries else by_name.get(c)
        if model_id:
            found[c] = model_id
    return found


def _add_to_cache(cfg, base: str, docs: list[dict]) -> None:
    """Models looked up one by one join the cached catalog, so the next start builds them too."""
    if not docs:
        return
    path = catalog.cache_path(cfg, base)
    with sync_lock:
        cache = catalog.read_cache(path) or catalog.Cache(base_url=base, fetched_at=0.0)
        have = {d.get("model_id") for d in cache.models}
        cache.models += [d for d in docs if d["model_id"] not in have]
        cache.unlisted = [u for u in cache.unlisted if u["doc"].get("model_id") not in {d["model_id"] for d in docs}]
        try:
            catalog.write_cache(path, cache)
        except OSError as exc:
            log.warning("RunComfy: could not keep the looked-up models in %s (%s)", path, exc)


def _lookup(client: RunComfyClient, model_id: str, res: Resolution, anonymous: bool) -> dict | None:
    try:
        doc = client.model_info(model_id)
    except AuthError as exc:
        res.fail("no_token" if anonymous else "token_rejected",
                 getattr(exc, "base_message", None) or str(exc), model_id=model_id)
        return None
    except PermissionDeniedError as exc:
        res.fail("token_rejected", getattr(exc, "base_message", None) or str(exc), model_id=model_id)
        return None
    except NotFoundError:
        res.fail("not_listed", model_id=model_id)
        return None
    except RunComfyError as exc:
        status = getattr(exc, "status", None)
        if status in (400, 404):
            res.fail("not_listed", model_id=model_id)
        else:
            res.fail("offline", getattr(exc, "base_message", None) or str(exc), model_id=model_id)
        return None
    if not isinstance(doc, dict) or doc.get("model_id") != model_id or catalog.entry_problem(doc) is not None:
        res.fail("not_listed", "its catalog entry is unusable", model_id=model_id)
        return None
    if not catalog.is_runnable(doc):
        res.fail("not_runnable", model_id=model_id)
        return None
    return doc


def resolve(model_ids: list[str], class_names: list[str], *, cfg=None, base_url: str | None = None) -> Resolution:
    """Blocking (network): finds the models and builds their classes; registering them is the
    caller's, on the server's loop thread (``apply``)."""
    from .build import build_mappings
    res = Resolution()
    cfg = config_dir() if cfg is None else cfg
    base = resolve_base_url(base_url)
    names = machine_class_names(cfg)
    ids = []
    for model_id in model_ids:
        try:
            ids.append(check_model_id(model_id))
        except (RunComfyError, ValueError) as exc:
            res.fail("bad_id", str(exc), model_id=model_id[:MAX_NAME])
    entries = {e.model_id: e for e in catalog.load_entries(cfg, base)}
    registered = _registered()
    # A saved class name that names a registered class needs nothing (a known id is checked too:
    # the class must be the one of its id here).
    classes_left = [c for c in class_names if c not in registered and c.startswith(PREFIX)]
    res.by_class.update(_match_classes(classes_left, entries, names))

    missing = [m for m in ids if m not in entries]
    if missing or any(c not in res.by_class for c in classes_left):
        token = token_or_none(cfg)
        if missing:
            client = RunComfyClient(token, base, allow_anonymous=True, retry=RetryPolicy(**LOOKUP_RETRY))
            try:
                found = []
                for model_id in missing:
                    doc = _lookup(client, model_id, res, token is None)
                    if doc is not None:
                        found.append(doc)
                        entries[model_id] = catalog.CatalogEntry(model_id, doc)
            finally:
                client.close()
            _add_to_cache(cfg, base, found)
        unmatched = [c for c in classes_left if c not in res.by_class]
        offline = any(u["reason"] == "offline" for u in res.unresolved)
        if unmatched and not offline:
            global _last_name_sync
            if time.monotonic() - _last_name_sync > RESYNC_AFTER_S:
                _last_name_sync = time.monotonic()
                report = run_sync(cfg, base)      # the Settings' refresh: the only way from a name to an id
                if report.ok:
                    entries = {e.model_id: e for e in catalog.load_entries(cfg, base)}
                    res.by_class.update(_match_classes(unmatched, entries, names))
                else:
                    reason = "no_token" if report.needs_token and token is None else (
                        "token_rejected" if report.needs_token else "offline")
                    for c in unmatched:
                        res.fail(reason, report.error or "", class_name=c)
                    unmatched = []
        elif unmatched:
            for c in unmatched:
                res.fail("offline", "see the model ids above", class_name=c)
            unmatched = []
        for c in classes_left:
            if c not in res.by_class and not any(u["class_name"] == c for u in res.unresolved):
                res.fail("unknown_class", class_name=c)

    wanted = [m for m in ids if m in entries] + [m for m in res.by_class.values() if m not in ids]
    assigned = names.assign(wanted) if wanted else {}
    build = [entries[m] for m in wanted if assigned.get(m) not in registered]
    if build:
        res.classes, res.names = build_mappings(build, class_names=names)
    for m in wanted:
        if assigned.get(m) in registered or assigned.get(m) in res.classes:
            res.nodes[m] = assigned[m]
        else:
            res.fail("not_listed", "its schema could not be made into a node (see the ComfyUI log)", model_id=m)
    res.by_class = {c: res.nodes[m] for c, m in res.by_class.items() if m in res.nodes}
    return res


def apply(res: Resolution) -> Resolution:
    """Registers what ``resolve`` built (on the server's loop thread)."""
    if not res.classes:
        return res
    from .catalog_api import apply_updates
    took = apply_updates(res.classes, res.names)
    if took or not _comfyui_running():
        res.added = sorted(res.classes)
    else:
        by_class = {v: k for k, v in res.nodes.items()}
        for cls in res.classes:
            model_id = by_class.get(cls)
            res.nodes.pop(model_id, None)
            res.fail("restart", model_id=model_id, class_name=cls)
        res.by_class = {c: k for c, k in res.by_class.items() if k in res.nodes.values()}
    res.classes, res.names = {}, {}
    return res


def _comfyui_running() -> bool:
    from . import comfy
    return comfy.comfyui_nodes_module() is not None


async def resolve_async(model_ids: list[str], class_names: list[str]) -> Resolution:
    res = await asyncio.to_thread(resolve, model_ids, class_names)
    return apply(res)


async def route(body) -> tuple[int, dict]:
    """POST .../resolve {"model_ids": [...], "class_names": [...]}."""
    try:
        model_ids, class_names = parse_request(body)
        resolve_base_url()
    except BadBody as exc:
        return exc.answer()
    except (ValueError, ConfigError) as exc:
        return 400, {"ok": False, "error": str(exc)}
    started = time.monotonic()
    res = await resolve_async(model_ids, class_names)
    if res.added:
        log.info("RunComfy: %d node(s) added for a loaded workflow in %.1f s: %s", len(res.added),
                 time.monotonic() - started, ", ".join(res.added))
    return 200, res.public()


# --- a prompt queued headless (POST /prompt) ----------------------------------------------------

def wanted_by_prompt(body, registered: dict) -> tuple[list[str], list[str], dict, dict]:
    """(model ids, class names, node id -> class name, class name -> model id) of a /prompt body's RunComfy nodes that
    ComfyUI has no class for. The ids come from the UI workflow the frontend sends along
    (extra_data.extra_pnginfo.workflow): its nodes carry them in their properties."""
    prompt = body.get("prompt") if isinstance(body, dict) else None
    if not isinstance(prompt, dict):
        return [], [], {}, {}
    unknown = {}
    for node_id, node in list(prompt.items())[:10000]:
        cls = node.get("class_type") if isinstance(node, dict) else None
        if isinstance(cls, str) and cls.startswith(PREFIX) and cls not in registered:
            unknown[str(node_id)] = cls
    if not unknown:
        return [], [], {}, {}
    ids_by_class: dict[str, str] = {}
    workflow = ((body.get("extra_data") or {}).get("extra_pnginfo") or {}).get("workflow") \
        if isinstance(body.get("extra_data"), dict) else None
    if isinstance(workflow, dict):
        groups = [workflow.get("nodes")] + [d.get("nodes") for d in ((workflow.get("definitions") or {}).get("subgraphs") or [])
                                            if isinstance(d, dict)]
        for nodes in groups:
            for n in nodes if isinstance(nodes, list) else []:
                props = n.get("properties") if isinstance(n, dict) else None
                mid = props.get(MODEL_ID_PROPERTY) if isinstance(props, dict) else None
                if isinstance(mid, str) and n.get("type") in unknown.values():
                    ids_by_class.setdefault(n["type"], mid)
    model_ids = sorted(set(ids_by_class.values()))[:MAX_ITEMS]
    class_names = sorted(c for c in set(unknown.values()) if c not in ids_by_class)[:MAX_ITEMS]
    return model_ids, class_names, unknown, ids_by_class


def refusal(res: Resolution, unknown: dict) -> dict:
    """ComfyUI's own /prompt error shape, naming the models (the frontend shows 'message')."""
    lines = [u["message"] for u in res.unresolved]
    first = lines[0] if lines else "RunComfy nodes of this prompt are not on this ComfyUI."
    return {"error": {"type": "invalid_prompt", "message": first,
                      "details": "\n".join(lines), "extra_info": {"runcomfy_unresolved": res.unresolved}},
            "node_errors": {}}


def rename_in_prompt(body: dict, res: Resolution, ids_by_class: dict) -> None:
    """A saved class name that is another class here (its id got another name on this machine)."""
    for node in (body.get("prompt") or {}).values():
        if not isinstance(node, dict):
            continue
        cls = node.get("class_type")
        new = res.by_class.get(cls) or res.nodes.get(ids_by_class.get(cls, ""))
        if new and new != cls:
            node["class_type"] = new


def prompt_middleware():
    """aiohttp middleware: before ComfyUI validates a queued prompt, the RunComfy nodes it has no
    class for are resolved; a prompt they cannot be resolved for is refused naming the models."""
    from aiohttp import web

    @web.middleware
    async def runcomfy_resolve_prompt(request, handler):
        if request.method != "POST" or request.path not in ("/prompt", "/api/prompt"):
            return await handler(request)
        try:
            body = json.loads(await request.read() or b"null")
        except Exception:  # noqa: BLE001 - ComfyUI answers bad JSON itself
            return await handler(request)
        registered = _registered_in_comfyui()
        model_ids, class_names, unknown, ids_by_class = wanted_by_prompt(body, registered)
        if not unknown:
            return await handler(request)
        try:
            res = await resolve_async(model_ids, class_names)
        except Exception as exc:  # noqa: BLE001 - the prompt must get an answer
            log.exception("RunComfy: resolving the prompt's nodes failed")
            res = Resolution()
            for c in sorted(set(unknown.values())):
                res.fail("offline", f"{type(exc).__name__}: {exc}", class_name=c)
        rename_in_prompt(body, res, ids_by_class)
        registered = _registered_in_comfyui()
        still = sorted({c for c in (n.get("class_type") for n in body["prompt"].values() if isinstance(n, dict))
                        if isinstance(c, str) and c.startswith(PREFIX) and c not in registered})
        if still:
            if not res.unresolved:
                for c in still:
                    res.fail("unknown_class", class_name=c)
            log.warning("RunComfy: prompt refused: %s", "; ".join(u["message"] for u in res.unresolved))
            return web.json_response(refusal(res, unknown), status=400)
        return await handler(_with_body(request, body))
    return runcomfy_resolve_prompt


def _with_body(request, body: dict):
    """The request with the (possibly renamed) prompt as its body: aiohttp keeps a body once read
    in ``_read_bytes``, and ComfyUI's handler reads it through json()."""
    request._read_bytes = json.dumps(body).encode("utf-8")
    return request


def _registered_in_comfyui() -> dict:
    from . import comfy
    mod = comfy.comfyui_nodes_module()
    mapping = getattr(mod, "NODE_CLASS_MAPPINGS", None)
    return mapping if isinstance(mapping, dict) else _registered()


def install_prompt_hook(srv) -> bool:
    """Adds the middleware to ComfyUI's app (custom nodes load before the app starts, so its
    middleware list is still open)."""
    app = getattr(srv, "app", None)
    try:
        app.middlewares.append(prompt_middleware())
        return True
    except Exception as exc:  # noqa: BLE001 - frozen app or no aiohttp: headless prompts get ComfyUI's error
        log.warning("RunComfy: workflows queued through /prompt cannot resolve unsynced models here (%s)", exc)
        return False
