"""Schema files shipped in the pack, and many catalog entries at once.

A schema file (``<name>.schema.json``) is the model's input/output schema as RunComfy
publishes it (a catalog entry has the same shape plus catalog keys). An optional overlay beside
it (``<name>.overlay.json``) holds English UI texts and limits that the published schema only
states in prose (the prompt's 2000 characters).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable

from .dialects import parse_schema
from .model import ModelSchema, SchemaError
from .rules import unknown_rules

log = logging.getLogger("runcomfy")

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_SUFFIX = ".schema.json"
OVERLAY_SUFFIX = ".overlay.json"

# Runnable catalog entries: kind "model", or no kind at all.
RUNNABLE_KINDS = (None, "model")

_said: set = set()


def log_once(key, level: int, message: str, *args) -> None:
    """Each message once per process: a catalog is re-read at every start and every refresh."""
    if key in _said:
        return
    _said.add(key)
    log.log(level, message, *args)


def report(schema: ModelSchema) -> None:
    """Log, once each, the optional inputs left out and the validation rules left to the service."""
    for name, reason in schema.skipped:
        log_once(("skip", schema.model_id, name), logging.WARNING,
                 "runcomfy: model %s: optional input '%s' left out of its node: %s",
                 schema.model_id, name, reason)
    for name, input_name, reason in schema.renamed:
        log_once(("renamed", schema.model_id, name), logging.WARNING,
                 "runcomfy: model %s: input '%s' is shown as '%s' on its node (%s); it is sent as '%s'",
                 schema.model_id, name, input_name, reason, name)
    for f in schema.fields:
        for rule in unknown_rules(f):
            log_once(("rule", schema.model_id, f.name, rule), logging.INFO,
                     "runcomfy: model %s: input '%s' has a validation rule the pack does not check "
                     "locally (%r); the service checks it", schema.model_id, f.name, rule)


def load_schema(path: Path) -> ModelSchema:
    path = Path(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    overlay_path = path.with_name(path.name[: -len(SCHEMA_SUFFIX)] + OVERLAY_SUFFIX)
    overlay = json.loads(overlay_path.read_text(encoding="utf-8")) if overlay_path.exists() else None
    schema = parse_schema(doc, overlay, path)
    schema.source = "bundled" if path.parent.resolve() == SCHEMA_DIR else str(path)
    return schema


def discover_schemas(directory: Path = SCHEMA_DIR) -> list[ModelSchema]:
    return [load_schema(p) for p in sorted(Path(directory).glob("*" + SCHEMA_SUFFIX))]


def find_schema(model_id: str, directory: Path = SCHEMA_DIR) -> ModelSchema:
    for s in discover_schemas(directory):
        if s.model_id == model_id:
            return s
    raise KeyError(f"no schema shipped for model {model_id!r}")


def parse_catalog(docs: Iterable[dict], overlays: dict | None = None, source: str = "catalog") -> list[ModelSchema]:
    """Every runnable entry that can become a node, in order; a later entry of the same model
    replaces an earlier one. Never raises: a bad entry is logged once (model and reason) and
    skipped, so it cannot take the other nodes down."""
    overlays = overlays or {}
    out: dict[str, ModelSchema] = {}
    for i, doc in enumerate(docs):
        mid = doc.get("model_id") if isinstance(doc, dict) else None
        if isinstance(doc, dict) and doc.get("kind") not in RUNNABLE_KINDS:
            continue
        try:
            schema = parse_schema(doc, overlays.get(mid))
        except SchemaError as exc:
            log_once(("bad", mid or i, str(exc)), logging.WARNING, "runcomfy: no node for %s: %s",
                     mid or f"catalog entry {i}", exc)
            continue
        except Exception as exc:  # a malformed entry of any shape: still only this one is lost
            log_once(("bad", mid or i, repr(exc)), logging.WARNING,
                     "runcomfy: no node for %s: its schema could not be read (%s: %s)",
                     mid or f"catalog entry {i}", type(exc).__name__, exc)
            continue
        schema.source = source
        report(schema)
        out[schema.model_id] = schema
    return list(out.values())
