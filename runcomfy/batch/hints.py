"""Where a batch user fixes what a library error names: the library says what is wrong; the
batch command adds its own way to fix it (environment variables, flags), never a ComfyUI page."""

from __future__ import annotations

from ..api.proxies import ProxyFailure
from ..errors import AuthError, EarlierSubmitUncertainError, RunComfyError

TOKEN = ("Set RUNCOMFY_API_TOKEN to a valid token, or fix the token saved in the config folder "
         "(--config-dir).")
PROXY = "The proxy comes from RUNCOMFY_PROXY, else HTTPS_PROXY; NO_PROXY exempts a host."


def hint_for(exc: BaseException) -> str:
    if isinstance(exc, EarlierSubmitUncertainError):
        return f"To pay for it anyway, run the same command with --submit-anyway {exc.resubmit_code}."
    if isinstance(exc, AuthError):
        return TOKEN
    if isinstance(exc, ProxyFailure):
        return PROXY
    return ""


def shown(exc: BaseException) -> str:
    """The error's text, with where to fix it when the batch knows."""
    hint = hint_for(exc)
    if not hint or not isinstance(exc, RunComfyError):
        return str(exc)
    return str(exc.with_hint(hint))
