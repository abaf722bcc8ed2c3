"""Reading the whole catalog (``GET /models?include_schema=true``, page by page until ``total``)
and storing its runnable entries in the cache, with what changed since the last sync.

The same function serves ComfyUI's start, the Settings action and ``python -m runcomfy models sync``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..api import RetryPolicy, RunComfyClient
from ..api.urls import resolve_base_url
from ..errors import AuthError, RunComfyError
from .cache import Cache, cache_path, iso_day, read_cache, write_cache
from .entry import entry_problem, fingerprint, is_runnable

log = logging.getLogger("runcomfy")

PAGE_SIZE = 100          # the service's largest page
MAX_PAGES = 200          # 20,000 entries: far above the catalog's size; ends a server that never stops


class CatalogError(RunComfyError):
    """The catalog could not be read; ``needs_token`` when RunComfy wants a token for it."""

    def __init__(self, message: str, *, needs_token: bool = False):
        super().__init__(message)
        self.needs_token = needs_token


@dataclass
class Fetched:
    models: list[dict]               # runnable, well-formed entries, catalog order, one per model id
    total: int                       # the catalog's own total
    pages: int
    skipped: list[dict] = field(default_factory=list)   # {"model_id", "reason"}


def fetch_catalog(client: RunComfyClient, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES) -> Fetched:
    models: dict[str, dict] = {}
    skipped: list[dict] = []
    offset, pages, total = 0, 0, None
    while pages < max_pages:
        body = client.list_models(include_schema=True, limit=page_size, offset=offset)
        pages += 1
        page, page_total = body.get("models"), body.get("total")
        if not isinstance(page, list) or isinstance(page_total, bool) or not isinstance(page_total, int):
            raise CatalogError("The model catalog answer has no 'models' list or no integer 'total'.")
        total = page_total
        for doc in page:
            problem = entry_problem(doc)
            model_id = doc.get("model_id") if isinstance(doc, dict) else None
            if problem:
                skipped.append({"model_id": str(model_id)[:120] if model_id else None, "reason": problem})
            elif not is_runnable(doc):
                skipped.append({"model_id": model_id, "reason": f"kind {doc.get('kind')!r} is not a runnable model"})
            else:
                models.setdefault(model_id, doc)     # a model repeated across pages counts once
        offset += len(page)
        if not page or offset >= total:
            break
    else:
        raise CatalogError(f"The model catalog did not end after {max_pages} pages (total {total}).")
    return Fetched(list(models.values()), int(total or 0), pages, skipped)


@dataclass
class Diff:
    added: list[str]
    changed: list[str]
    removed: list[str]


def diff(before: list[dict], after: list[dict]) -> Diff:
    old = {d["model_id"]: fingerprint(d) for d in before}
    new = {d["model_id"]: fingerprint(d) for d in after}
    return Diff(added=[m for m in new if m not in old],
                changed=[m for m in new if m in old and old[m] != new[m]],
                removed=[m for m in old if m not in new])


@dataclass
class SyncReport:
    ok: bool
    base_url: str
    cache_path: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    total: int = 0              # the catalog's total (every kind)
    runnable: int = 0           # entries kept as nodes
    skipped: list[dict] = field(default_factory=list)
    pages: int = 0
    seconds: float = 0.0
    error: str | None = None
    needs_token: bool = False
    anonymous: bool = False

    def public(self) -> dict:
        return {"ok": self.ok, "added": len(self.added), "changed": len(self.changed), "removed": len(self.removed),
                "total": self.total, "runnable": self.runnable, "skipped": len(self.skipped),
                "added_ids": self.added, "changed_ids": self.changed, "removed_ids": self.removed,
                "seconds": round(self.seconds, 3), "error": self.error, "needs_token": self.needs_token}

    def summary(self) -> str:
        if not self.ok:
            return f"model catalog not refreshed: {self.error}"
        return (f"model catalog: {self.runnable} runnable models of {self.total} listed; "
                f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} no longer listed "
                f"({self.pages} page(s), {self.seconds:.2f} s)")


def merge_unlisted(previous: Cache | None, listed: list[dict], now: float) -> list[dict]:
    """Models earlier syncs listed and this one did not: kept (their node stays) with the day
    they were last listed. A model that comes back leaves this list."""
    if previous is None:
        return []
    present = {d["model_id"] for d in listed}
    kept = {u["doc"]["model_id"]: u for u in previous.unlisted
            if isinstance(u["doc"].get("model_id"), str) and u["doc"]["model_id"] not in present}
    for doc in previous.models:
        if doc["model_id"] not in present:
            kept[doc["model_id"]] = {"doc": doc, "last_listed": iso_day(previous.fetched_at)}
    return list(kept.values())


def sync(config_dir: Path | str, *, token: str | None, base_url: str | None = None,
         client: RunComfyClient | None = None, clock=time.time, retry: RetryPolicy | None = None) -> SyncReport:
    """Fetch the whole catalog and replace the cache. Never raises for service or network
    trouble: the report says what happened and the old cache stays as it was."""
    base = resolve_base_url(base_url) if client is None else client.base_url
    path = cache_path(config_dir, base)
    report = SyncReport(ok=False, base_url=base, cache_path=str(path), anonymous=token is None)
    start = time.monotonic()
    own = client is None
    try:
        if own:
            # The catalog is documented as public: without a token the call goes out without one.
            client = RunComfyClient(token, base, allow_anonymous=True, retry=retry)
        fetched = fetch_catalog(client)
    except AuthError as exc:
        report.needs_token = True
        report.error = ("RunComfy wants an API token to list its models: set one in Settings › RunComfy Model API "
                        "or RUNCOMFY_API_TOKEN." if token is None else
                        f"RunComfy rejected the API token while listing models: {exc.base_message}")
        report.seconds = time.monotonic() - start
        return report
    except RunComfyError as exc:
        report.error = getattr(exc, "base_message", None) or str(exc)
        report.seconds = time.monotonic() - start
        return report
    finally:
        if own and client is not None:
            client.close()
    previous = read_cache(path)
    now = clock()
    changes = diff(previous.models if previous else [], fetched.models)
    cache = Cache(base_url=base, fetched_at=now, models=fetched.models,
                  unlisted=merge_unlisted(previous, fetched.models, now), total=fetched.total,
                  skipped=fetched.skipped)
    try:
        write_cache(path, cache)
    except OSError as exc:
        report.error = f"could not write the catalog cache {path}: {exc}"
        report.seconds = time.monotonic() - start
        return report
    report.ok = True
    report.added, report.changed, report.removed = changes.added, changes.changed, changes.removed
    report.total, report.runnable, report.skipped, report.pages = (fetched.total, len(fetched.models),
                                                                    fetched.skipped, fetched.pages)
    report.seconds = time.monotonic() - start
    return report
