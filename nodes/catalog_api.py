"""Settings › RunComfy Model API › "Refresh model catalog" (POST /runcomfy-model-api/catalog/refresh) as a plain
function, and the registration of new nodes on a running ComfyUI.

ComfyUI looks node classes up in ``nodes.NODE_CLASS_MAPPINGS`` for every /object_info and every
prompt, so classes added there after start-up are usable at once; the browser then reloads its
node definitions (the extension does it when ``restart_required`` is false). Where ComfyUI's
registry is not reachable the answer says to restart ComfyUI.
"""

from __future__ import annotations

import asyncio
import logging

from ..runcomfy import catalog
from ..runcomfy.api.urls import resolve_base_url
from ..runcomfy.errors import ConfigError
from . import comfy
from .catalog_startup import machine_class_names, run_sync
from .model_node import config_dir

log = logging.getLogger("runcomfy")

RESTART_TEXT = "Restart ComfyUI to get the new and changed nodes, then reload the browser page."
RELOAD_TEXT = ("New and changed nodes are registered; the page reloads its node definitions "
               "(if a node is missing, press R in the graph or reload the page).")


def node_updates(report: catalog.SyncReport, entries: list[catalog.CatalogEntry]) -> tuple[dict, dict]:
    """Classes for the models this sync added or changed, for any model that has no node yet, and
    for the ones it no longer lists (their node stays, now saying so)."""
    from .build import build_mappings
    from .mappings import NODE_CLASS_MAPPINGS
    wanted = set(report.added) | set(report.changed) | set(report.removed)
    names = machine_class_names()
    return build_mappings([e for e in entries
                           if e.model_id in wanted or names.get(e.model_id) not in NODE_CLASS_MAPPINGS],
                          class_names=names)


def apply_updates(classes: dict, names: dict) -> bool:
    """Put new classes into the pack's mapping and ComfyUI's registry. Call on the server's loop
    thread (or where no server runs). True when ComfyUI's registry took them."""
    from .mappings import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    like = next(iter(NODE_CLASS_MAPPINGS.values()), None)
    for name, cls in classes.items():
        old = NODE_CLASS_MAPPINGS.get(name)
        if old is not None and old is not cls and getattr(old, "MODEL_ID", None) == cls.MODEL_ID:
            # ComfyUI keeps running the instances it made of the old class: they follow this
            # link to the model's new schema (model_node.current_schema).
            old.REPLACED_BY = cls
    NODE_CLASS_MAPPINGS.update(classes)
    NODE_DISPLAY_NAME_MAPPINGS.update(names)
    return comfy.register_node_classes(classes, names, like=like)


def _answer(report: catalog.SyncReport, classes: dict, registered: bool) -> tuple[int, dict]:
    body = report.public()
    if not report.ok:
        return (200 if report.needs_token else 502), {**body, "restart_required": False}
    new_nodes = sorted(classes)
    needs_restart = bool(new_nodes) and not registered
    body.update(restart_required=needs_restart, nodes_added=new_nodes,
                message=(report.summary() + ". " + (RESTART_TEXT if needs_restart else RELOAD_TEXT if new_nodes
                                                    else "No node to add.")))
    return 200, body


def refresh() -> tuple[int, dict]:
    """Blocking sync and node build; registration is left to the caller's thread (see refresh_async)."""
    try:
        base = resolve_base_url()
    except ConfigError as exc:
        return 400, {"ok": False, "error": str(exc), "restart_required": False}
    cfg = config_dir()
    report = run_sync(cfg, base)
    if not report.ok:
        return _answer(report, {}, False)
    classes, names = node_updates(report, catalog.load_entries(cfg, base))
    return 200, {"report": report, "classes": classes, "names": names}


async def refresh_async() -> tuple[int, dict]:
    """The route: network and node building in a thread; the registry changes on the loop thread,
    between requests, so /object_info never sees the dict change under it."""
    status, result = await asyncio.to_thread(refresh)
    if "report" not in result:
        return status, result
    registered = apply_updates(result["classes"], result["names"])
    return _answer(result["report"], result["classes"], registered)


def on_late_startup_sync(report: catalog.SyncReport) -> None:
    """The start-up sync outlived its wait (runs in its thread): the nodes are built and added on
    the server's loop, which runs only once ComfyUI has finished importing the custom nodes."""
    if not report.ok:
        return
    cfg, base = config_dir(), resolve_base_url()

    def late_apply():
        try:
            classes, names = node_updates(report, catalog.load_entries(cfg, base))
            if classes:
                apply_updates(classes, names)
                log.info("RunComfy: %d model node(s) added after start-up; reload the browser page to see them.",
                         len(classes))
        except Exception as exc:     # never a traceback at start-up
            log.warning("RunComfy: could not add the catalog's new nodes (%s); restart ComfyUI.", exc)

    if not comfy.call_on_server_loop(late_apply):
        log.info("RunComfy: the model catalog is refreshed; its new nodes appear after the next start.")
