"""One model of the catalog as the pack keeps it: RunComfy's own entry document, where it came
from (shipped in the pack, or the last sync's cache), and whether RunComfy still lists it."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

RUNNABLE_KINDS = ("model",)
# Matched whole (fullmatch): "$" alone also matches before a final line break.
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){1,3}")
BUNDLED, CACHE = "bundled", "cache"


def is_runnable(doc: dict) -> bool:
    """``kind`` "model" marks an endpoint that can be submitted to; entries without a kind are
    taken as models too (older catalog answers have none)."""
    kind = doc.get("kind")
    return kind is None or kind in RUNNABLE_KINDS


def entry_problem(doc) -> str | None:
    """Why a catalog entry cannot become a node at all, or None."""
    if not isinstance(doc, dict):
        return f"not an object ({type(doc).__name__})"
    model_id = doc.get("model_id")
    if not isinstance(model_id, str) or not MODEL_ID.fullmatch(model_id):
        return f"'model_id' must be 2 to 4 path segments (got {str(model_id)[:80]!r})"
    schema = doc.get("input_schema")
    if not isinstance(schema, dict) or not isinstance(schema.get("properties", {}), dict):
        return "'input_schema' with 'properties' is missing (was the catalog read with include_schema=true?)"
    return None


def fingerprint(doc: dict) -> str:
    """Changes when anything RunComfy states about the model changes (schema, price, names)."""
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass
class CatalogEntry:
    model_id: str
    doc: dict
    overlay: dict | None = None      # English texts shipped in the pack (Wan 2.6)
    origin: str = CACHE              # BUNDLED | CACHE
    listed: bool = True              # False: the last sync no longer found it in the catalog
    last_listed: str | None = None   # ISO date of the last sync that listed it
    notes: list[str] = field(default_factory=list)

    @property
    def display_name(self) -> str | None:
        name = self.doc.get("display_name")
        return name.strip() if isinstance(name, str) and name.strip() else None

    @property
    def categories(self) -> list[str]:
        cats = self.doc.get("categories")
        return [c for c in cats if isinstance(c, str)] if isinstance(cats, list) else []

    @property
    def kind(self) -> str | None:
        return self.doc.get("kind")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.doc)

    def public(self) -> dict:
        """A short description for listings (CLI, routes)."""
        from ..pricing import price_text
        return {"model_id": self.model_id, "display_name": self.display_name, "categories": self.categories,
                "price": price_text(self.doc), "origin": self.origin, "listed": self.listed}


def unlisted_note(last_listed: str | None) -> str:
    when = f" (last listed {last_listed})" if last_listed else ""
    return (f"RunComfy no longer lists this model{when}. The node is kept so saved workflows still load; "
            "a run may be refused by RunComfy.")
