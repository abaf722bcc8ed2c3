"""The catalog at ComfyUI's start: which models get nodes, and the bounded refresh.

With a cache that is missing or older than 24 hours the catalog is fetched, waiting at most
``STARTUP_WAIT_S``; past that ComfyUI starts with what it has and the sync finishes in a background
thread (its cache serves the next start, and its new nodes are registered on the running server).
No token, no network: one log line, never a traceback. The refresh runs only inside ComfyUI (its
PromptServer exists) unless ``RUNCOMFY_CATALOG_REFRESH`` says otherwise (1 = always, 0 = never),
so importing the pack in scripts and tests makes no network call.
"""

from __future__ import annotations

import logging
import threading
import time

from ..runcomfy import catalog, credentials, settings
from ..runcomfy.api import RetryPolicy
from ..runcomfy.api.urls import resolve_base_url
from ..runcomfy.errors import ConfigError
from . import comfy
from .model_node import config_dir

log = logging.getLogger("runcomfy")

STARTUP_WAIT_S = 5.0
# The catalog is not precious: a few quick retries, and the next start (or the Settings action)
# tries again, instead of the long backoff that protects paid results.
CATALOG_RETRY = dict(max_attempts=3, base_delay=0.5, max_delay=2.0, max_elapsed=20.0)
REFRESH_ENV = settings.CATALOG_REFRESH_ENV

sync_lock = threading.Lock()        # one sync at a time: start-up, Settings action
_said: set[str] = set()


def say_once(key: str, level: int, message: str, *args) -> None:
    if key in _said:
        return
    _said.add(key)
    log.log(level, message, *args)


def machine_class_names(cfg=None):
    """The id -> node class name assignment of this machine, kept beside the catalog caches
    (runcomfy.catalog.classnames); in memory only when the config directory is unknown."""
    from ..runcomfy.catalog.classnames import ClassNames, class_names
    try:
        return class_names(config_dir() if cfg is None else cfg)
    except Exception as exc:     # never a traceback at start-up
        say_once("class-names", logging.WARNING, "RunComfy: node class names are not kept (%s: %s).",
                 type(exc).__name__, exc)
        return ClassNames()


def refresh_enabled() -> bool:
    chosen = settings.catalog_refresh()
    return comfy.prompt_server() is not None if chosen is None else chosen


def token_or_none(cfg) -> str | None:
    try:
        return credentials.resolve_token(cfg).token
    except ConfigError as exc:          # an unusable saved/env token: the catalog is public anyway
        say_once("bad-token", logging.WARNING, "RunComfy: %s; reading the model catalog without a token.", exc)
        return None


def run_sync(cfg, base_url: str) -> catalog.SyncReport:
    """One sync under the lock, reported in one log line."""
    token = token_or_none(cfg)
    with sync_lock:
        report = catalog.sync(cfg, token=token, base_url=base_url, retry=RetryPolicy(**CATALOG_RETRY))
    if report.ok:
        log.info("RunComfy: %s", report.summary())
    elif report.needs_token and token is None:
        say_once("needs-token", logging.WARNING, "RunComfy: %s", report.error)
    else:
        say_once("sync-failed:" + (report.error or ""), logging.WARNING,
                 "RunComfy: model catalog not refreshed (%s); the nodes come from the %s.", report.error,
                 "last cache" if catalog.read_cache(catalog.cache_path(cfg, base_url)) else "models shipped in the pack")
    return report


def load_for_startup(cfg=None, *, wait: float = STARTUP_WAIT_S, enabled: bool | None = None,
                     on_late_sync=None) -> list[catalog.CatalogEntry]:
    """The entries to build nodes from at import time. ``on_late_sync(report)`` runs in the
    background thread when the sync outlived ``wait``."""
    cfg = config_dir() if cfg is None else cfg
    try:
        base = resolve_base_url()
    except ConfigError as exc:
        say_once("base-url", logging.WARNING, "RunComfy: %s Using the models shipped in the pack.", exc)
        return catalog.bundled_entries()
    cache = catalog.read_cache(catalog.cache_path(cfg, base))
    if (refresh_enabled() if enabled is None else enabled) and (cache is None or cache.stale()):
        done = threading.Event()
        state = {"late": False}
        state_lock = threading.Lock()

        def work():
            try:
                report = run_sync(cfg, base)
            except Exception as exc:     # a bug here must not stop ComfyUI: one line, no traceback
                say_once("sync-crash", logging.WARNING, "RunComfy: model catalog not refreshed (%s: %s).",
                         type(exc).__name__, exc)
                return
            finally:
                done.set()
            with state_lock:
                late = state["late"]
            if late and on_late_sync is not None:
                try:
                    on_late_sync(report)
                except Exception as exc:
                    log.warning("RunComfy: could not add the late catalog's nodes (%s); restart ComfyUI.", exc)

        started = time.monotonic()
        threading.Thread(target=work, name="runcomfy-catalog-sync", daemon=True).start()
        if not done.wait(wait):
            with state_lock:
                state["late"] = not done.is_set()
            if state["late"]:
                log.info("RunComfy: the model catalog is still loading after %.0f s; starting with the %s, "
                         "the rest follows in the background.", time.monotonic() - started,
                         "cached models" if cache else "models shipped in the pack")
    return catalog.load_entries(cfg, base)
