"""The maintainers' bundled snapshot: the cached catalog written into the pack's
``runcomfy/schemas`` (one ``<id with / as __>.schema.json`` per runnable model), so an offline
install and a shared workflow still find their nodes.

Only a catalog read from RunComfy itself may go into the pack: a cache synced from a loopback
emulator holds the project's own samples, which must never ship as if they were RunComfy models.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from ..api.urls import is_loopback_host
from .bundled import SCHEMA_DIR, SCHEMA_SUFFIX, file_stem
from .cache import cache_path, read_cache

# What a shipped file keeps of a catalog entry (the rest, such as thumbnails, is not needed).
KEPT_KEYS = ("model_id", "display_name", "categories", "kind", "base_price_usd", "price_unit", "pricing_note",
             "input_schema", "output_schema")


def write_snapshot(config_dir: Path | str, base_url: str, out_dir: Path, *, allow_emulator: bool = False) -> list[Path]:
    cache = read_cache(cache_path(config_dir, base_url))
    if cache is None:
        raise ValueError(f"no catalog cache for {base_url} in {config_dir}: run `python -m runcomfy models sync` first")
    host = urlsplit(cache.base_url).hostname or ""
    out_dir = Path(out_dir).resolve()
    if is_loopback_host(host):
        if not allow_emulator:
            raise ValueError(f"the cache comes from {cache.base_url}, a local emulator: its models are not "
                             "RunComfy's and are not written into the pack")
        if out_dir == SCHEMA_DIR.resolve():
            raise ValueError("an emulator's catalog is never written into the pack's runcomfy/schemas; use --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in cache.models:
        kept = {k: doc[k] for k in KEPT_KEYS if k in doc}
        path = out_dir / (file_stem(doc["model_id"]) + SCHEMA_SUFFIX)
        text = json.dumps(kept, ensure_ascii=False, indent=2) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
