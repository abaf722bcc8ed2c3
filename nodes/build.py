"""Node classes for catalog entries (``build_mappings``): one per model, from the schemas shipped
in ``runcomfy/schemas`` and RunComfy's catalog. Kept out of ``nodes/__init__`` so the catalog
refresh (catalog_api) can build classes without importing the package that imports it."""

from __future__ import annotations

import logging
from pathlib import Path

from ..runcomfy.schema import SCHEMA_DIR, SCHEMA_SUFFIX, ModelSchema, log_once, parse_schema, report
from ..runcomfy.schema import load_schema
from ..runcomfy.schema.loading import RUNNABLE_KINDS
from .model_node import make_node_class, named_classes
from .safe_text import inert

log = logging.getLogger("runcomfy")


def _shipped(schema_dir: Path) -> list:
    out = []
    for path in sorted(Path(schema_dir).glob("*" + SCHEMA_SUFFIX)):
        try:
            out.append(load_schema(path))
        except Exception as exc:  # one broken file must not take the other nodes down
            log.error("runcomfy: skipping schema %s: %s", path.name, exc)
    return out


def build_mappings(entries=None, schema_dir: Path = SCHEMA_DIR, class_names=None) -> tuple[dict, dict]:
    """Node classes and display names for ``entries``: catalog entries (anything with ``.doc``
    and optionally ``.overlay`` and ``.notes``, see runcomfy/catalog) or parsed ModelSchemas.
    None means the schemas shipped in ``schema_dir``. A bad entry is logged once and skipped;
    a later entry of the same model replaces an earlier one. Class names come from
    ``class_names`` (runcomfy.catalog.classnames.ClassNames; default: one in memory): two ids
    never share one, and a name once given stays with its id."""
    if entries is None:
        entries = _shipped(schema_dir)
    built: dict = {}                     # model id -> (schema, notes, shipped)
    for i, entry in enumerate(entries):
        label = getattr(entry, "model_id", None) or f"entry {i}"
        notes = list(getattr(entry, "notes", None) or [])
        try:
            if isinstance(entry, ModelSchema):
                schema = entry
            else:
                if isinstance(entry.doc, dict) and entry.doc.get("kind") not in RUNNABLE_KINDS:
                    continue      # collections, workflows, guides: listed by RunComfy, not runnable
                schema = parse_schema(entry.doc, getattr(entry, "overlay", None))
                schema.source = getattr(entry, "origin", "") or ""
            report(schema)
            built[schema.model_id] = (schema, notes, schema.source == "bundled")
        except Exception as exc:  # one bad entry must not take the other nodes down
            log_once(("node", label, str(exc)), logging.WARNING, "runcomfy: no node for %s: %s", label, exc)
    classes, names = {}, {}
    for key, schema, notes, display in named_classes(built, class_names):
        try:
            classes[key] = make_node_class(schema, notes, key)
            names[key] = inert(display)     # catalog text is data, never markup
        except Exception as exc:  # one bad entry must not take the other nodes down
            log_once(("node", schema.model_id, str(exc)), logging.WARNING, "runcomfy: no node for %s: %s",
                     schema.model_id, exc)
    return classes, names
