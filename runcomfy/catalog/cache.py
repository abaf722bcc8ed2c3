"""The catalog cache: the last sync's runnable entries, one file per API base URL in the pack's
config directory, written atomically (readers see the old file or the new one).

One file per base URL, so entries synced from a local emulator are never loaded as nodes while
the pack talks to the real service (and the other way round)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from ..api.urls import DEFAULT_BASE_URL
from ..journal import atomic_write

log = logging.getLogger("runcomfy")

CACHE_VERSION = 1
MAX_AGE_S = 24 * 3600.0


def cache_path(config_dir: Path | str, base_url: str) -> Path:
    base_url = base_url.rstrip("/")
    if base_url == DEFAULT_BASE_URL:
        return Path(config_dir) / "catalog.json"
    parts = urlsplit(base_url)
    host = f"{parts.hostname or 'host'}-{parts.port or ''}".strip("-")
    digest = hashlib.sha256(base_url.encode()).hexdigest()[:8]
    return Path(config_dir) / f"catalog-{host}-{digest}.json"


def iso_day(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")


@dataclass
class Cache:
    base_url: str
    fetched_at: float                                     # epoch seconds of the sync
    models: list[dict] = field(default_factory=list)      # runnable entries RunComfy listed
    # Entries an earlier sync listed and a later one did not: {"doc": entry, "last_listed": "YYYY-MM-DD"}
    unlisted: list[dict] = field(default_factory=list)
    total: int = 0                                         # the catalog's own total (all kinds)
    skipped: list[dict] = field(default_factory=list)     # {"model_id", "reason"} not kept

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.fetched_at

    def stale(self, max_age: float = MAX_AGE_S, now: float | None = None) -> bool:
        return self.age(now) > max_age or self.age(now) < -300   # a clock set back counts as stale

    def to_json(self) -> dict:
        return {"version": CACHE_VERSION, "base_url": self.base_url, "fetched_at": self.fetched_at,
                "fetched_at_iso": datetime.fromtimestamp(self.fetched_at, timezone.utc).isoformat(),
                "total": self.total, "models": self.models, "unlisted": self.unlisted, "skipped": self.skipped}


def read_cache(path: Path) -> Cache | None:
    """The cache, or None when there is none or it cannot be used (then one log line says why)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("runcomfy: cannot read the model catalog cache %s (%s); using the bundled models", path, exc)
        return None
    try:
        doc = json.loads(raw)
        if doc.get("version") != CACHE_VERSION:
            raise ValueError(f"version {doc.get('version')!r}, expected {CACHE_VERSION}")
        models = [m for m in doc["models"] if isinstance(m, dict)]
        unlisted = [u for u in doc.get("unlisted") or [] if isinstance(u, dict) and isinstance(u.get("doc"), dict)]
        return Cache(base_url=str(doc["base_url"]), fetched_at=float(doc["fetched_at"]), models=models,
                     unlisted=unlisted, total=int(doc.get("total") or len(models)),
                     skipped=list(doc.get("skipped") or []))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("runcomfy: the model catalog cache %s is unreadable (%s); it will be replaced at the "
                    "next sync", path, exc)
        return None


def write_cache(path: Path, cache: Cache) -> None:
    data = json.dumps(cache.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    atomic_write(path, data, mode=0o644)
