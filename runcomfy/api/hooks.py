"""The client's extension point: observers told about every API call, instead of subclasses of
its private methods. A front end or the batch runner passes ``ClientHooks`` to the client (or
attaches them for a while with ``client.observed(hooks)``) to count rate limits, see accepted
submits, keep the raw answers it needs, or log.

Hooks run in the thread that makes the call (often a worker thread, not the event loop) and
must return quickly; an exception in a hook is logged and never changes the call's outcome: an
observer must not lose a paid result or turn a sent submit into an unknown one.
"""

from __future__ import annotations

import enum
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger("runcomfy")


class CallKind(enum.Enum):
    """Which API call an event is about. ``label`` is how messages name it."""

    SUBMIT = "Submit"
    STATUS = "Status"
    RESULT = "Result"
    CANCEL = "Cancel"
    MODEL_INFO = "Model info"
    CATALOG = "Model catalog"

    @property
    def label(self) -> str:
        return self.value


@dataclass(frozen=True)
class CallInfo:
    """One attempt of one API call (a retried call makes several)."""

    kind: CallKind
    method: str
    url: str
    request_id: str | None = None


@dataclass(frozen=True)
class Answer:
    """A JSON object the service answered with success (HTTP 2xx without an ``error_code``).
    ``body`` has the token scrubbed out; treat it as read-only."""

    call: CallInfo
    http_status: int
    body: dict


@dataclass
class ClientHooks:
    """Observers of the client's API calls; leave out what you do not need.

    - ``on_request(CallInfo)``: an attempt is about to be sent.
    - ``on_response(Answer)``: the attempt was answered with success.
    - ``on_error(CallInfo, RunComfyError)``: the attempt failed (it may still be retried: a 429
      is a ``RateLimitError`` with ``retry_after``).
    - ``on_submit_sent(Submission)``: RunComfy accepted a submit and gave its request id.
    """

    on_request: Callable[[CallInfo], None] | None = None
    on_response: Callable[[Answer], None] | None = None
    on_error: Callable[[CallInfo, Exception], None] | None = None
    on_submit_sent: Callable[[object], None] | None = None


class HookSet:
    """The hooks attached to one client; emitting calls each of them, shielded."""

    def __init__(self, initial: ClientHooks | None = None):
        self._lock = threading.Lock()
        self._hooks: tuple[ClientHooks, ...] = (initial,) if initial is not None else ()

    def add(self, hooks: ClientHooks) -> None:
        with self._lock:
            self._hooks = self._hooks + (hooks,)

    def remove(self, hooks: ClientHooks) -> None:
        with self._lock:
            self._hooks = tuple(h for h in self._hooks if h is not hooks)

    @contextmanager
    def attached(self, hooks: ClientHooks):
        self.add(hooks)
        try:
            yield hooks
        finally:
            self.remove(hooks)

    def emit(self, name: str, *args) -> None:
        for h in self._hooks:
            fn = getattr(h, name, None)
            if fn is None:
                continue
            try:
                fn(*args)
            except Exception:
                log.exception("runcomfy: client hook %s failed (ignored)", name)
