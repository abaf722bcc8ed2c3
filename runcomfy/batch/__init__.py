"""``python -m runcomfy batch MODEL_ID JOBS.jsonl --out DIR``: many jobs outside ComfyUI, through
the same pipeline as the node (``pipeline.Runner``), with the same money rules.

- jobsfile.py: one job per JSON line (node field values; media as file paths or URLs; ``key``)
- limiter.py:  adaptive concurrency (halves on 429 / Retry-After, grows on success)
- ledger.py:   the journal keyed by job, so a re-run resumes instead of paying again
- outputs.py:  output files (names unique by construction) and the per-job manifest that marks a job finished
- spend.py:    what the --out folder has spent across runs: the --max-cost budget (estimates: ../estimate.py)
- progress.py: the progress bar and the final summary
- runner.py:   the batch itself; cli.py: the command line
"""

from .jobsfile import JobSpec, parse_jobs
from .runner import BatchOptions, BatchResult, run_batch

__all__ = ["JobSpec", "parse_jobs", "BatchOptions", "BatchResult", "run_batch"]
