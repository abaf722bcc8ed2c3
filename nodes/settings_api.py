"""What the pack's server routes do, as plain functions (testable without ComfyUI/aiohttp).

The browser may learn whether a token is set and where it comes from, never the token.
Every function answers a JSON-able body: configuration problems (a bad RUNCOMFY_MODEL_API_BASE,
an unusable token, an unwritable config folder) come back as a clear "error" text.
"""

from __future__ import annotations

import threading
import time

from ..runcomfy import credentials, pricing
from ..runcomfy.api import RunComfyClient
from ..runcomfy.errors import AuthError, ConfigError, RunComfyError, UnsafeUrlError
from ..runcomfy.api.urls import check_model_id, resolve_base_url, token_problem
from ..runcomfy.api import proxies
from .model_node import config_dir, shared_client

PRICE_TTL = 300.0
# What the POST routes take (nodes/http_json.py answers a wrong body with these).
TOKEN_EXAMPLE = {"token": "<your RunComfy API token>"}
PROXY_EXAMPLE = {"proxy": "http://host:port"}
_price_cache: dict = {}
_price_lock = threading.Lock()


def token_status() -> dict:
    try:
        return credentials.resolve_token(config_dir()).public()
    except ConfigError as exc:
        # The token that would be used is unusable: say so instead of "not set".
        return {"configured": False, "source": _failing_source(), "error": str(exc)}


def _failing_source() -> str:
    return credentials.SAVED if credentials.credentials_path(config_dir()).exists() else credentials.ENVIRONMENT


def _write_failed(action: str, exc: OSError) -> dict:
    path = credentials.credentials_path(config_dir())
    return {"ok": False, "error": f"Could not {action} {path}: {exc.strerror or exc}. The folder must be "
                                  f"writable by ComfyUI (or set {credentials.TOKEN_ENV} instead)."}


def _probe(token: str) -> None:
    """A read-only call that only a valid token passes."""
    client = RunComfyClient(token, resolve_base_url())
    try:
        client.list_models(limit=1)
    finally:
        client.close()


def save_token(token: str) -> tuple[int, dict]:
    token = (token or "").strip()
    if not token:
        return 400, {"ok": False, "error": "Paste a token first."}
    problem = token_problem(token)
    if problem:
        # Before any network call: requests would refuse the header and the read would be retried.
        return 400, {"ok": False, "error": problem + " It was not saved."}
    try:
        _probe(token)
    except ConfigError as exc:
        return 400, {"ok": False, "error": f"The token was not saved: {exc.base_message}"}
    except AuthError:
        return 400, {"ok": False, "error": "RunComfy rejected this token; it was not saved. "
                                           "Copy it again from your RunComfy profile page."}
    except RunComfyError as exc:
        return 502, {"ok": False, "error": f"Could not check the token with RunComfy, so it was not saved: "
                                           f"{exc.base_message}"}
    try:
        credentials.save_token(config_dir(), token)
    except ValueError as exc:
        return 400, {"ok": False, "error": str(exc)}
    except OSError as exc:
        return 400, _write_failed("save the token in", exc)
    with _price_lock:
        _price_cache.clear()
    return 200, {"ok": True, **token_status()}


def check_token() -> tuple[int, dict]:
    try:
        info = credentials.resolve_token(config_dir())
    except ConfigError as exc:
        return 200, {"ok": False, "configured": False, "source": _failing_source(), "error": str(exc)}
    if info.token is None:
        return 200, {"ok": False, **info.public(), "error": credentials.missing_token_message()}
    try:
        _probe(info.token)
    except ConfigError as exc:
        return 200, {"ok": False, **info.public(), "error": exc.base_message}
    except AuthError:
        return 200, {"ok": False, **info.public(), "error": "RunComfy rejected the configured token."}
    except RunComfyError as exc:
        return 200, {"ok": False, **info.public(), "error": f"Could not reach RunComfy: {exc.base_message}"}
    return 200, {"ok": True, **info.public()}


def clear_token() -> tuple[int, dict]:
    try:
        credentials.clear_token(config_dir())
    except OSError as exc:
        return 400, _write_failed("remove", exc)
    return 200, {"ok": True, **token_status()}


def price_answer(model_id: str, doc: dict | None = None) -> tuple[int, dict]:
    """(HTTP status, body) for GET /runcomfy-model-api/price: 400 for a model id that may not go into a URL.
    ``doc`` is the node's catalog document: its stated price answers without any network call;
    only a model whose catalog entry states no price is asked live (GET /models/{id})."""
    try:
        check_model_id(model_id)
    except UnsafeUrlError as exc:
        return 400, {"model_id": None, "available": False, "text": "price unavailable", "error": str(exc)}
    if pricing.price_of(doc) is not None:
        return 200, {"model_id": model_id, **pricing.describe(doc), "source": "catalog"}
    return 200, price(model_id, doc)


def price(model_id: str, doc: dict | None = None) -> dict:
    """The model's unit price from GET /models/{id}; never a made-up number. ``doc`` (the
    catalog document, if any) supplies the input schema for a per-second estimate."""
    try:
        check_model_id(model_id)
    except UnsafeUrlError as exc:
        return {"model_id": None, "available": False, "text": "price unavailable", "error": str(exc)}
    now = time.monotonic()
    with _price_lock:
        hit = _price_cache.get(model_id)
        if hit and now - hit[0] < PRICE_TTL:
            return hit[1]
    answer = {"model_id": model_id, "available": False, "text": "price unavailable"}
    try:
        info = credentials.resolve_token(config_dir())
        if info.token is not None:
            live = shared_client(info.token).model_info(model_id)
            merged = {**(doc or {}), **{k: live.get(k) for k in ("base_price_usd", "price_unit", "pricing_note")}}
            if "input_schema" in live and not (doc or {}).get("input_schema"):
                merged["input_schema"] = live["input_schema"]
            # pricing.price_of refuses NaN, infinities and negatives (NaN would break JSON.parse).
            if pricing.price_of(merged) is not None:
                answer = {"model_id": model_id, **pricing.describe(merged), "source": "live"}
    except ConfigError as exc:
        answer["error"] = exc.base_message
    except RunComfyError:
        pass
    with _price_lock:
        # Failures are cached briefly too, so a broken network is not hammered by every redraw.
        _price_cache[model_id] = (now if answer["available"] else now - PRICE_TTL + 30, answer)
    return answer


# --- network: the proxy setting and what the API calls use ------------------------------------

def load_network_settings() -> None:
    """Hands the saved proxy setting to the client's transport (at start and after a change)."""
    try:
        proxies.set_saved_proxy(credentials.read_saved_proxy(config_dir()))
    except OSError:
        proxies.set_saved_proxy(None)


def network_status() -> dict:
    """The proxy and CA bundle the API calls use, and where they come from; a proxy's password
    is never shown."""
    saved = proxies.saved_proxy()
    body: dict = {"saved_proxy": (proxies.DIRECT if saved and saved.lower() in (proxies.DIRECT, "none")
                                  else proxies.shown_proxy(saved) if saved else None),
                  "env": proxies.PROXY_ENV}
    try:
        route = proxies.route_for(resolve_base_url() + "/")
        body["proxy"] = {"used": route.proxy is not None, "shown": route.shown if route.proxy else None,
                         "source": route.source or None}
    except ConfigError as exc:
        body["proxy"] = {"used": False, "shown": None, "source": None}
        body["error"] = exc.base_message
    try:
        verify, name = proxies.ca_bundle()
        body["ca_bundle"] = {"source": name or "default", "path": verify if name else None}
    except ConfigError as exc:
        body["ca_bundle"] = {"source": None, "path": None}
        body["error"] = exc.base_message
    return body


def save_proxy(value: str) -> tuple[int, dict]:
    """Saves the proxy setting ("" clears it; "direct" means no proxy whatever the environment)."""
    value = (value or "").strip()
    try:
        if value:
            credentials.save_proxy(config_dir(), value)
        else:
            credentials.clear_proxy(config_dir())
    except ConfigError as exc:
        return 400, {"ok": False, "error": f"{exc.base_message} It was not saved."}
    except OSError as exc:
        path = credentials.network_path(config_dir())
        return 400, {"ok": False, "error": f"Could not write {path}: {exc.strerror or exc}."}
    load_network_settings()
    with _price_lock:
        _price_cache.clear()
    return 200, {"ok": True, **network_status()}
