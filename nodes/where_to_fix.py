"""Where a ComfyUI user fixes what a library error names. The library (runcomfy/) says what is
wrong and knows nothing of ComfyUI; this adds the settings page, the node input or the restart
that fixes it, as a copy of the same error type (``RunComfyError.with_hint``)."""

from __future__ import annotations

from ..runcomfy.api.proxies import CertificateFailure, ProxyFailure
from ..runcomfy.errors import AuthError, EarlierSubmitUncertainError, RunComfyError, SubmitOutcomeUnknownError
from .inputs import PACK_LABELS, RESUME_INPUT, SUBMIT_ANYWAY_INPUT

TOKEN = ("Set the token in ComfyUI Settings > RunComfy Model API > API token, or in the RUNCOMFY_API_TOKEN environment "
         "variable before starting ComfyUI.")
PROXY = ("The proxy comes from ComfyUI Settings > RunComfy Model API > Proxy, else RUNCOMFY_PROXY or HTTPS_PROXY; change it "
         "there (NO_PROXY exempts a host).")
CERTIFICATE = "Restart ComfyUI after setting REQUESTS_CA_BUNDLE or SSL_CERT_FILE."
UNKNOWN_SUBMIT = (f"If it is in your RunComfy request history, put its request id into "
                  f"\"{PACK_LABELS[RESUME_INPUT]}\" ({RESUME_INPUT}) to fetch the result without a new charge.")


def hint_for(exc: BaseException) -> str:
    if isinstance(exc, EarlierSubmitUncertainError):
        return (f"In ComfyUI: the request id goes into \"{PACK_LABELS[RESUME_INPUT]}\" ({RESUME_INPUT}); the one-time "
                f"code {exc.resubmit_code} into \"{PACK_LABELS[SUBMIT_ANYWAY_INPUT]}\" ({SUBMIT_ANYWAY_INPUT}).")
    if isinstance(exc, AuthError):
        return TOKEN
    if isinstance(exc, CertificateFailure):
        return CERTIFICATE
    if isinstance(exc, ProxyFailure):
        return PROXY
    if isinstance(exc, SubmitOutcomeUnknownError):
        return UNKNOWN_SUBMIT
    return ""


def add(exc: BaseException) -> BaseException:
    """``exc``, or a copy of it that ends with where to fix it in ComfyUI."""
    hint = hint_for(exc)
    if not hint or not isinstance(exc, RunComfyError) or getattr(exc, "hint_added", None):
        return exc
    return exc.with_hint(hint)
