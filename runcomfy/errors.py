"""Typed errors. Every message says what went wrong and what to do about it, and carries the
server's own text and the request id; where to fix it in a particular front end (ComfyUI's
settings, a CLI flag) is added by that front end (``with_hint``)."""

from __future__ import annotations

import re

# A message that already says what happened to the money ("is paid for", "is not billed").
_BILLING_STATED = re.compile(r"\b(paid|billed|charged)\b", re.I)


class RunComfyError(Exception):
    """Base of every error this library raises."""

    # True on the copy that run/jobs/run.py raises (``accepted_as``) for an error after RunComfy
    # accepted the request: the text then says it may have been billed, unless the message
    # already states what was billed.
    accepted = False

    def __init__(self, message: str, *, request_id: str | None = None,
                 server_message: str | None = None):
        self.request_id = request_id
        self.server_message = server_message
        self.base_message = message
        super().__init__(self._compose())

    def _compose(self) -> str:
        text = self.base_message
        if self.server_message and self.server_message not in text:
            text += f" Server said: {self.server_message}"
        if self.request_id and self.request_id not in text:
            text += f" (request id {self.request_id})"
        if self.accepted and self.request_id and not _BILLING_STATED.search(text):
            text += (f" RunComfy accepted request {self.request_id}, so it may have been billed: fetch its result "
                     "by that request id instead of paying again.")
        return text

    @property
    def summary(self) -> str:
        """What happened, without the request id or how to fetch it: for a front end that shows the
        id and a fetch control itself (the node's panel), so each is said once."""
        text = self.base_message
        if self.server_message and self.server_message not in text:
            text += f" Server said: {self.server_message}"
        if self.accepted and not _BILLING_STATED.search(text):
            text += " RunComfy accepted it, so it may have been billed."
        return text

    def accepted_as(self, request_id: str, note: str = "") -> "RunComfyError":
        """A copy of this error (same type and fields) for the phase after RunComfy accepted
        ``request_id``: its text names the id, says it may have been billed, and ends with ``note``.
        The raised error itself is never edited: raise the copy ``from`` it."""
        new = self._copy()
        if new.request_id is None:
            new.request_id = request_id
        if note:
            new.base_message = f"{new.base_message} {note}"
        new.accepted = True
        new.args = (new._compose(),)
        return new

    def with_hint(self, hint: str) -> "RunComfyError":
        """A copy of this error whose text ends with ``hint``: a front end (the node, a CLI) adds
        where the user fixes it, which the library cannot know. Raise the copy ``from`` this one."""
        new = self._copy()
        new.args = (f"{new.args[0] if new.args else new._compose()} {hint.strip()}",)
        new.hint_added = hint.strip()
        return new

    def retold(self, text: str) -> "RunComfyError":
        """A copy of this error (same type and fields) whose text is ``text``: a front end that says
        the same facts its own way. Raise the copy ``from`` this one."""
        new = self._copy()
        new.args = (text,)
        return new

    def _copy(self) -> "RunComfyError":
        # Not copy.copy: that re-runs __init__ with the composed text, which subclasses taking other
        # arguments (PaidResultError, ValidationError) cannot take.
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.args = self.args
        return new


class ConfigError(RunComfyError):
    """Missing token, unsafe base URL and similar set-up problems."""


class ValidationError(RunComfyError):
    """Local validation failed before anything was sent or paid for."""

    def __init__(self, problems: list["Problem"]):
        self.problems = list(problems)
        lines = [p.text() for p in self.problems]
        head = "Invalid input" if len(lines) == 1 else f"{len(lines)} invalid inputs"
        super().__init__(f"{head}: " + "; ".join(lines) + ". Nothing was sent or charged.")

    @property
    def fields(self) -> list[str]:
        return [p.field for p in self.problems]


class Problem:
    """One validation problem: the field, the rule with its limit, and the actual value."""

    __slots__ = ("field", "rule", "limit", "actual", "message")

    def __init__(self, field: str, rule: str, limit=None, actual=None, message: str | None = None):
        self.field, self.rule, self.limit, self.actual, self.message = field, rule, limit, actual, message

    def text(self) -> str:
        if self.message:
            return f"'{self.field}': {self.message}"
        actual = self.actual
        if isinstance(actual, str) and len(actual) > 60:
            actual = actual[:57] + "..."
        return f"'{self.field}' {self.rule} {self.limit!r} (got {actual!r})" if self.limit is not None \
            else f"'{self.field}' {self.rule} (got {actual!r})"

    def __repr__(self) -> str:
        return f"Problem({self.text()})"


class ApiError(RunComfyError):
    """The service answered with an error (an HTTP error status, or HTTP 200 carrying
    an ``error_code``)."""

    hint = ""

    def __init__(self, message: str, *, http_status: int | None = None, error_code: int | None = None,
                 server_message: str | None = None, detail=None, request_id: str | None = None):
        self.http_status = http_status
        self.error_code = error_code
        self.detail = detail
        parts = [message]
        if self.hint:
            parts.append(self.hint)
        tag = []
        if http_status is not None:
            tag.append(f"HTTP {http_status}")
        if error_code is not None:
            tag.append(f"error_code {error_code}")
        if tag:
            parts.append(f"[{', '.join(tag)}]")
        super().__init__(" ".join(parts), request_id=request_id, server_message=server_message)


class AuthError(ApiError):
    # Where the token is set is the front end's to say (nodes/where_to_fix.py, batch/hints.py).
    hint = "Check the RunComfy API token: copy it again from your RunComfy profile page."


class PermissionDeniedError(ApiError):
    hint = "The request belongs to another account, or the token may not use this model."


class InsufficientBalanceError(ApiError):
    hint = "Top up your RunComfy balance, then run again."


class NotFoundError(ApiError):
    hint = "The model id or request id is unknown, or the request has expired."


class RemoteValidationError(ApiError):
    hint = "The service rejected the inputs."


class RequestTooLargeError(ApiError):
    """HTTP 413: the service refused the request body for its size (nothing was accepted)."""

    hint = ("Nothing was accepted or charged. Send large videos or audio as https URLs (a pre-signed "
            "link works) instead of inline, or shorten them.")

    @staticmethod
    def parts(payload: dict) -> str:
        """"2.4 MiB in total: videos[1] 1.9 MiB, image 0.5 MiB, other fields 0.0 MiB", largest first."""
        sizes, rest = [], 0
        for key, value in payload.items():
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if isinstance(item, str) and item.startswith("data:"):
                    sizes.append((f"{key}[{i + 1}]" if isinstance(value, list) else key, len(item)))
                else:
                    rest += len(str(item))
        sizes.sort(key=lambda s: -s[1])
        total = sum(n for _, n in sizes) + rest
        text = ", ".join(f"{k} {n / 1048576:.1f} MiB" for k, n in sizes)
        return f"{total / 1048576:.1f} MiB in total" + (f": {text}, other fields {rest / 1048576:.1f} MiB"
                                                         if sizes else "")


class RateLimitError(ApiError):
    def __init__(self, *args, retry_after: float | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class ServerError(ApiError):
    """5xx or error_code 500001: transient on the service side."""


class BadResponseError(ApiError):
    """The service answered something that is not the documented JSON."""


class TransportError(RunComfyError):
    """The HTTP exchange itself failed. ``maybe_received`` tells whether the server
    may have received (and, for a submit, accepted and billed) the request."""

    def __init__(self, message: str, *, maybe_received: bool, request_id: str | None = None):
        self.maybe_received = maybe_received
        super().__init__(message, request_id=request_id)


class SubmitOutcomeUnknownError(RunComfyError):
    """A submit may have been accepted but its answer was lost. It is never re-sent."""


class JobFailedError(RunComfyError):
    """The remote job ended in ``failed``; carries the service's error text."""


class JobCancelledError(RunComfyError):
    """The remote job ended in ``cancelled``."""


class JobTimeoutError(RunComfyError):
    """The overall wait limit passed; the job may still finish and can be resumed."""


class Interrupted(RunComfyError):
    """The user pressed Stop. ``cancel_outcome`` says what happened to the remote job."""

    def __init__(self, message: str, *, request_id: str | None = None, cancel_outcome: str | None = None,
                 nothing_sent: bool = False):
        self.cancel_outcome = cancel_outcome
        self.nothing_sent = nothing_sent     # Stop came while still connecting: the request never left
        super().__init__(message, request_id=request_id)


class DownloadError(RunComfyError):
    """A result file could not be fetched, or broke a safety limit. ``transient``: another
    attempt may succeed (a 404 while storage catches up, a broken connection)."""

    def __init__(self, message: str, *, request_id: str | None = None, transient: bool = False,
                 http_status: int | None = None):
        self.transient = transient
        self.http_status = http_status
        super().__init__(message, request_id=request_id)


class UnsafeUrlError(RunComfyError):
    """A URL was refused: wrong scheme, host not allowed, or a malformed request id."""


class AnswerTooLargeError(BadResponseError):
    """An API answer was larger than the client accepts; it was not read to the end."""


class EarlierSubmitUncertainError(RunComfyError):
    """An earlier submit of exactly these inputs may have been accepted and billed, and its
    answer never arrived: nothing is sent until the user says how to proceed."""

    def __init__(self, message: str, *, resubmit_code: str | None = None, submitted_at: float | None = None):
        self.resubmit_code = resubmit_code
        self.submitted_at = submitted_at
        super().__init__(message)


class JournalError(RunComfyError):
    """The journal cannot be read or written. Raised before a submit: nothing was sent."""


class JournalWriteError(RunComfyError):
    """A journal write failed after the server accepted a submit; the request id is kept in
    this process's memory and carried by this error."""


class PaidResultError(RunComfyError):
    """A request RunComfy accepted and finished (so it is paid for) whose result could not be
    delivered: download, size, count, length or decode failure. Whatever the ``cause`` (an error
    of this library, a codec's, an OSError, a MemoryError), the text names the request id, says
    it was paid for, lists the result URLs and says how to get it without paying again: the
    journal keeps the request ``succeeded`` with its URLs, so the next run with the same inputs
    downloads it again instead of submitting."""

    def __init__(self, request_id: str, cause, *, urls: list[str] | None = None):
        self.cause = cause
        self.urls = list(urls or [])
        what = cause.base_message if isinstance(cause, RunComfyError) else (
            cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}")
        what = str(what).strip().rstrip(".") or type(cause).__name__
        self._what = what
        files = (" Files: " + " ".join(self.urls)) if self.urls else ""
        super().__init__(
            f"Request {request_id} succeeded and is paid for, but its result could not be delivered: {what}. "
            "It stays recorded as succeeded with its result URLs: fetching that request id (or exactly the same "
            f"inputs, seed included) downloads it again with no new charge; {self._BAD_FILE}" + files,
            request_id=request_id)

    _BAD_FILE = "if the file itself is bad that fetches the same file, and only a new paid run gives another."

    @property
    def summary(self) -> str:
        # The panel shows the id, the billed line and a Fetch button: this says the rest, once.
        return (f"It succeeded and is paid for, but its result could not be delivered: {self._what}. It is kept "
                f"with its result URLs, so fetching it costs nothing new; {self._BAD_FILE}")


class PaidDownloadError(PaidResultError, DownloadError):
    """A paid result's files could not be downloaded (also a DownloadError)."""


class ResultLimitError(PaidResultError):
    """A finished job's results break a memory limit (file count, decoded pixels). The job was
    paid for: ``urls`` lists every result file so nothing is lost."""

    def __init__(self, message: str, *, urls: list[str] | None = None, request_id: str | None = None):
        super().__init__(request_id or "(unknown)", message, urls=urls)
