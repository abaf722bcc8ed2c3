"""ComfyUI node classes, one per model: the schemas shipped in ``runcomfy/schemas`` and, once
synced, RunComfy's catalog (see runcomfy/catalog). A new model is a new schema, not new code.
"""

from __future__ import annotations

import logging

from .build import build_mappings
from .mappings import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .model_node import class_name_for  # noqa: F401 (part of the package's interface)
from .routes import register as register_routes

log = logging.getLogger("runcomfy")


def _startup_entries():
    """Shipped models + the catalog cache, refreshed first when it is missing or a day old
    (bounded wait, see catalog_startup). Whatever goes wrong, ComfyUI starts with the shipped models."""
    from .catalog_api import on_late_startup_sync
    from .catalog_startup import load_for_startup
    try:
        return load_for_startup(on_late_sync=on_late_startup_sync)
    except Exception as exc:  # never a traceback at ComfyUI's start
        log.warning("RunComfy: could not read the model catalog (%s: %s); using the models shipped in the pack.",
                    type(exc).__name__, exc)
        return None


def _startup_class_names():
    from .catalog_startup import machine_class_names
    return machine_class_names()


_classes, _names = build_mappings(_startup_entries(), class_names=_startup_class_names())
NODE_CLASS_MAPPINGS.update(_classes)             # the same dict objects catalog_api extends later
NODE_DISPLAY_NAME_MAPPINGS.update(_names)
register_routes(NODE_CLASS_MAPPINGS)
