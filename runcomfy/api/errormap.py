"""An error answer of the service (HTTP status, ``error_code``, the body's own text) mapped onto
the one exception tree of runcomfy/errors.py. The messages say what went wrong; where to fix it
(a settings page, an environment variable, a CLI flag) is for the front end to add."""

from __future__ import annotations

import json
from typing import Any

from ..errors import (ApiError, AuthError, InsufficientBalanceError, NotFoundError, PermissionDeniedError,
                      RateLimitError, RemoteValidationError, RequestTooLargeError, ServerError)

_MESSAGE_KEYS = ("error_message", "message", "error", "detail", "msg")


def message_of(body: Any) -> str | None:
    """The server's own text, whichever key this service used."""
    if isinstance(body, str):
        return body.strip() or None
    if not isinstance(body, dict):
        return None
    for key in _MESSAGE_KEYS:
        val = body.get(key)
        if isinstance(val, str) and val.strip():
            return val.strip()
        if isinstance(val, dict):
            inner = message_of(val)
            if inner:
                return inner
        if isinstance(val, list) and val:
            return _format_detail_list(val)
    return None


def _format_detail_list(items: list) -> str:
    parts = []
    for item in items:
        if isinstance(item, dict):
            loc = item.get("loc")
            where = ".".join(str(x) for x in loc if x != "body") if isinstance(loc, (list, tuple)) else ""
            msg = item.get("msg") or item.get("message") or json.dumps(item)
            parts.append(f"{where}: {msg}" if where else str(msg))
        else:
            parts.append(str(item))
    return "; ".join(parts)


def error_from_response(http_status: int, body: Any, *, request_id: str | None = None,
                        retry_after: float | None = None, context: str = "") -> ApiError:
    code = body.get("error_code") if isinstance(body, dict) else None
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    server = message_of(body)
    detail = body.get("detail") if isinstance(body, dict) else None
    kw = dict(http_status=http_status, error_code=code, server_message=server, detail=detail,
              request_id=request_id)
    what = context or "The RunComfy API"
    if code == 400002 or http_status == 402:
        return InsufficientBalanceError(f"{what}: insufficient balance.", **kw)
    if code == 400004 or http_status == 401:
        return AuthError(f"{what}: the API token was rejected.", **kw)
    if code == 403001:
        return PermissionDeniedError(f"{what}: access denied.", **kw)
    if http_status == 403:
        return AuthError(f"{what}: access denied.", **kw)
    if code == 400001:
        return NotFoundError(f"{what}: unknown model id.", **kw)
    if code == 404001 or http_status == 404:
        return NotFoundError(f"{what}: not found.", **kw)
    if code == 422001 or http_status == 422:
        return RemoteValidationError(f"{what}: the inputs were rejected.", **kw)
    if http_status == 413:
        return RequestTooLargeError(f"{what}: the request is too large for the service.", **kw)
    if http_status == 429:
        return RateLimitError(f"{what}: rate limited.", retry_after=retry_after, **kw)
    if code == 500001 or http_status >= 500:
        return ServerError(f"{what}: server error.", **kw)
    return ApiError(f"{what}: request failed.", **kw)
