"""One remote job, end to end: claim it in the journal, submit (or resume, or wait for another
process's submit), poll, fetch its result and download its files, with Stop and every wait
bounded. ``run_job(ctx, ...)`` takes its RunContext (run/context.py); ``pipeline.Runner`` calls
it; a whole generation (inputs, variations, decoding) stays in pipeline.py."""

from .model import Hooks, JobOutcome, Update, fingerprint
from .run import run_job

__all__ = ["Hooks", "JobOutcome", "Update", "fingerprint", "run_job"]
