"""What the pack's server routes do, as plain functions (testable without ComfyUI/aiohttp).

The browser may learn whether a token is set and where it comes from, never the token.
"""

from __future__ import annotations

import threading
import time

from ..runcomfy import credentials
from ..runcomfy.client import RunComfyClient
from ..runcomfy.errors import AuthError, RunComfyError
from ..runcomfy.config import resolve_base_url
from .model_node import config_dir, format_price, shared_client

PRICE_TTL = 300.0
_price_cache: dict = {}
_price_lock = threading.Lock()


def token_status() -> dict:
    return credentials.resolve_token(config_dir()).public()


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
    try:
        _probe(token)
    except AuthError:
        return 400, {"ok": False, "error": "RunComfy rejected this token; it was not saved. "
                                           "Copy it again from your RunComfy profile page."}
    except RunComfyError as exc:
        return 502, {"ok": False, "error": f"Could not check the token with RunComfy, so it was not saved: "
                                           f"{exc.base_message}"}
    try:
        credentials.save_token(config_dir(), token)
    except (ValueError, OSError) as exc:
        return 400, {"ok": False, "error": str(exc)}
    with _price_lock:
        _price_cache.clear()
    return 200, {"ok": True, **token_status()}


def check_token() -> tuple[int, dict]:
    info = credentials.resolve_token(config_dir())
    if info.token is None:
        return 200, {"ok": False, **info.public(), "error": credentials.missing_token_message()}
    try:
        _probe(info.token)
    except AuthError:
        return 200, {"ok": False, **info.public(), "error": "RunComfy rejected the configured token."}
    except RunComfyError as exc:
        return 200, {"ok": False, **info.public(), "error": f"Could not reach RunComfy: {exc.base_message}"}
    return 200, {"ok": True, **info.public()}


def clear_token() -> tuple[int, dict]:
    credentials.clear_token(config_dir())
    return 200, {"ok": True, **token_status()}


def price(model_id: str) -> dict:
    """The model's unit price from GET /models/{id}; never a made-up number."""
    now = time.monotonic()
    with _price_lock:
        hit = _price_cache.get(model_id)
        if hit and now - hit[0] < PRICE_TTL:
            return hit[1]
    info = credentials.resolve_token(config_dir())
    answer = {"model_id": model_id, "available": False, "text": "price unavailable"}
    if info.token is not None:
        try:
            doc = shared_client(info.token).model_info(model_id)
            amount, unit = doc.get("base_price_usd"), doc.get("price_unit")
            if isinstance(amount, (int, float)) and not isinstance(amount, bool):
                answer = {"model_id": model_id, "available": True, "base_price_usd": float(amount),
                          "price_unit": unit, "text": format_price(amount, unit)}
        except RunComfyError:
            pass
    with _price_lock:
        # Failures are cached briefly too, so a broken network is not hammered by every redraw.
        _price_cache[model_id] = (now if answer["available"] else now - PRICE_TTL + 30, answer)
    return answer
