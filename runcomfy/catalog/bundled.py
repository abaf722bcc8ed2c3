"""The models shipped inside the pack (``runcomfy/schemas``): what an offline install and a
shared workflow can always find. Today that is only what this project can state honestly, the
Wan 2.6 image-to-image schema from its model page; ``python -m runcomfy models snapshot`` is how a
maintainer adds a real catalog's entries."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .entry import BUNDLED, CatalogEntry, entry_problem

log = logging.getLogger("runcomfy")

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
SCHEMA_SUFFIX = ".schema.json"
OVERLAY_SUFFIX = ".overlay.json"


def file_stem(model_id: str) -> str:
    """``wan-ai/wan-2-6/image-to-image`` -> ``wan-ai__wan-2-6__image-to-image``."""
    return model_id.replace("/", "__")


def bundled_entries(schema_dir: Path | str = SCHEMA_DIR) -> list[CatalogEntry]:
    entries = []
    for path in sorted(Path(schema_dir).glob("*" + SCHEMA_SUFFIX)):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            problem = entry_problem(doc)
            if problem:
                raise ValueError(problem)
            overlay_path = path.with_name(path.name[: -len(SCHEMA_SUFFIX)] + OVERLAY_SUFFIX)
            overlay = json.loads(overlay_path.read_text(encoding="utf-8")) if overlay_path.exists() else None
        except (OSError, ValueError) as exc:    # one broken file must not take the other models down
            log.error("runcomfy: skipping bundled schema %s: %s", path.name, exc)
            continue
        entries.append(CatalogEntry(doc["model_id"], doc, overlay=overlay, origin=BUNDLED))
    return entries
