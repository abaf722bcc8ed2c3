"""ComfyUI node classes, one per model schema shipped in ``runcomfy/schemas``.

Dropping another ``*.schema.json`` there gives another node, with no code change.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..runcomfy.schema import SCHEMA_DIR, load_schema, SCHEMA_SUFFIX
from .model_node import class_name_for, make_node_class
from .routes import register as register_routes

log = logging.getLogger("runcomfy")


def build_mappings(schema_dir: Path = SCHEMA_DIR) -> tuple[dict, dict]:
    classes, names = {}, {}
    for path in sorted(Path(schema_dir).glob("*" + SCHEMA_SUFFIX)):
        try:
            schema = load_schema(path)
        except Exception as exc:  # one broken file must not take the other nodes down
            log.error("runcomfy: skipping schema %s: %s", path.name, exc)
            continue
        key = class_name_for(schema.model_id)
        classes[key] = make_node_class(schema)
        names[key] = schema.display_name
    return classes, names


NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = build_mappings()
register_routes(NODE_CLASS_MAPPINGS)
