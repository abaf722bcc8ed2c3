"""One generation end to end, on top of runcomfy/api: ``Runner.run(GenerationRequest)``
validates, encodes, submits each variation, waits, fetches and decodes (pipeline.py); one job
(claim in the journal, submit or resume, poll, download) is ``jobs.run_job(RunContext, ...)``
(jobs/, context.py); when to poll (polling.py); how inline media are sent (hosting.py)."""

from .context import DEFAULT_TIMEOUT, GenerationRequest, RunContext
from .jobs import Hooks, JobOutcome, Update, fingerprint
from .pipeline import Generation, Runner, decode_result, preview_payload
from .polling import PollPolicy

__all__ = ["DEFAULT_TIMEOUT", "Generation", "GenerationRequest", "Hooks", "JobOutcome", "PollPolicy", "RunContext",
           "Runner", "Update", "decode_result", "fingerprint", "preview_payload"]
