"""When a failed call is asked again: backoff with jitter, the server's Retry-After, and which
failures are worth another attempt (a submit has its own, stricter rule in client.py)."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

import requests

from ..errors import AnswerTooLargeError, BadResponseError, RateLimitError, ServerError, TransportError


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, honouring Retry-After, within a bound."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    max_elapsed: float = 120.0
    submit_max_attempts: int = 4
    # Result files may 404 for a while after the job succeeded (storage lag): keep trying this long.
    download_window: float = 120.0
    download_min_delay: float = 0.25     # a file that 404s is not asked again sooner than this
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.base_delay * (2 ** attempt))
        wait = self.rng.uniform(backoff / 2, backoff)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def is_retryable(exc: Exception) -> bool:
    """Whether a call that changes nothing billable is worth asking again after ``exc``."""
    if isinstance(exc, AnswerTooLargeError):
        return False   # asking again would only fetch the same oversized answer
    if getattr(exc, "permanent", False):
        return False   # a proxy asking for credentials, a refused tunnel, a certificate failure
    return isinstance(exc, (RateLimitError, ServerError, BadResponseError, TransportError))


def never_connected(exc: requests.RequestException) -> bool:
    """True only when the request certainly never reached the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
        seen, cur = set(), exc
        while cur is not None and id(cur) not in seen:
            seen.add(id(cur))
            name = type(cur).__name__
            if name in ("NewConnectionError", "ConnectionRefusedError", "NameResolutionError", "gaierror"):
                return True
            cur = cur.__cause__ or cur.__context__ or (cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None)
            if hasattr(cur, "reason") and isinstance(getattr(cur, "reason"), BaseException):
                cur = cur.reason
    return False
