"""The RunComfy Model API, as the rest of the library uses it (no ComfyUI, no torch).

- client.py: ``RunComfyClient``, the calls (submit, status, result, cancel, model info, catalog,
  result downloads); hooks.py: ``ClientHooks``/``CallKind``, its extension point
- session.py: token, origin, pooled sessions, one exchange; deadlines.py: total deadlines and Stop
  for calls in flight; proxies.py: proxy routes and the CA bundle; upload_progress.py: a submit's
  body streamed with progress and the uplink it measures; jsonbody.py: the request body
- answers.py: bounded, parsed, redacted answers; records.py: job states and the typed answers;
  errormap.py: error answers -> runcomfy/errors.py; retry.py: the retry policy
- downloads.py: result files; urls.py: the base URL, ids, download hosts, token shape
"""

from .client import MAX_CATALOG_BYTES, RunComfyClient
from .downloads import MAX_DOWNLOAD_BYTES
from .errormap import error_from_response, message_of
from .hooks import Answer, CallInfo, CallKind, ClientHooks
from .records import (CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, TERMINAL, CancelOutcome, JobResult, JobStatus,
                      Submission, normalize_state, output_urls)
from .retry import RetryPolicy
from .session import CALL_DEADLINE, CANCEL_DEADLINE, DOWNLOAD_DEADLINE, SUBMIT_DEADLINE, USER_AGENT

__all__ = [
    "Answer", "CALL_DEADLINE", "CANCELLED", "CANCEL_DEADLINE", "CallInfo", "CallKind", "CancelOutcome",
    "ClientHooks", "DOWNLOAD_DEADLINE", "FAILED", "JobResult", "JobStatus", "MAX_CATALOG_BYTES",
    "MAX_DOWNLOAD_BYTES", "QUEUED", "RUNNING", "RetryPolicy", "RunComfyClient", "SUBMIT_DEADLINE", "SUCCEEDED",
    "Submission", "TERMINAL", "USER_AGENT", "error_from_response", "message_of", "normalize_state", "output_urls",
]
