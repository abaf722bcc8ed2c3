"""Which models become nodes: the models shipped in the pack, then the catalog cache of the
configured API (the cache wins for the same model), including models RunComfy stopped listing
(their node stays, with a note). No ComfyUI, no torch."""

from __future__ import annotations

from pathlib import Path

from ..api.urls import resolve_base_url
from .bundled import SCHEMA_DIR, bundled_entries, file_stem
from .cache import MAX_AGE_S, Cache, cache_path, read_cache, write_cache
from .entry import BUNDLED, CACHE, CatalogEntry, entry_problem, is_runnable, unlisted_note
from .sync import CatalogError, Diff, SyncReport, diff, fetch_catalog, sync

__all__ = ["CatalogEntry", "Cache", "SyncReport", "Diff", "CatalogError", "load_entries", "entries_from",
           "bundled_entries", "read_cache", "write_cache", "cache_path", "sync", "fetch_catalog", "diff",
           "is_runnable", "entry_problem", "file_stem", "SCHEMA_DIR", "MAX_AGE_S", "BUNDLED", "CACHE"]


def entries_from(bundled: list[CatalogEntry], cache: Cache | None) -> list[CatalogEntry]:
    """Bundled first, then the cache; a cached entry replaces the bundled one of the same model
    but keeps its English overlay (texts the published schema only has in another language)."""
    merged: dict[str, CatalogEntry] = {e.model_id: e for e in bundled}
    if cache is not None:
        for doc in cache.models:
            if entry_problem(doc) is None:
                old = merged.get(doc["model_id"])
                merged[doc["model_id"]] = CatalogEntry(doc["model_id"], doc,
                                                       overlay=old.overlay if old else None)
        for item in cache.unlisted:
            doc = item["doc"]
            if entry_problem(doc) is not None:
                continue
            old = merged.get(doc["model_id"])
            if old is not None and old.origin == BUNDLED:
                # Shipped in the pack: a shared workflow needs it whatever the catalog says now.
                old.notes.append(unlisted_note(item.get("last_listed")))
                old.listed = False
                continue
            merged[doc["model_id"]] = CatalogEntry(
                doc["model_id"], doc, overlay=old.overlay if old else None, listed=False,
                last_listed=item.get("last_listed"), notes=[unlisted_note(item.get("last_listed"))])
    return list(merged.values())


def load_entries(config_dir: Path | str | None, base_url: str | None = None,
                 schema_dir: Path | str = SCHEMA_DIR) -> list[CatalogEntry]:
    """Every model that gets a node, without any network call."""
    cache = None
    if config_dir is not None:
        cache = read_cache(cache_path(config_dir, resolve_base_url(base_url)))
    return entries_from(bundled_entries(schema_dir), cache)
