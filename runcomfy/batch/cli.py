"""``python -m runcomfy batch MODEL_ID JOBS.jsonl --out DIR [options]``"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..api import RetryPolicy, RunComfyClient
from ..errors import ConfigError
from ..media.imageformats import CHOICES
from .jobsfile import JobStream
from .runner import DEFAULT_CONCURRENCY, BatchOptions, run_batch, summary_text

FORMATS = sorted({v for v in CHOICES.values()})


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= v <= 256:
        raise argparse.ArgumentTypeError(f"must be 1 to 256, got {v}")
    return v


def _usd(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an amount in USD, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 USD, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m runcomfy batch",
        description="Run one RunComfy job per line of a JSONL file, resumably (run the same command "
                    "again after an interruption: nothing is paid twice, finished jobs are skipped).")
    p.add_argument("model_id", help="e.g. wan-ai/wan-2-6/image-to-image")
    p.add_argument("jobs", help="JSONL file: one JSON object of field values per line; media as file "
                                "paths (relative to the file) or URLs; optional 'key' names the outputs")
    p.add_argument("--out", required=True, help="folder for the outputs (KEY.png, or KEY+1.png, KEY+2.png... for "
                                                "several), their manifests, the journal and the spend ledger")
    p.add_argument("--concurrency", type=_positive_int, default=DEFAULT_CONCURRENCY,
                   help=f"most jobs in flight at once (default {DEFAULT_CONCURRENCY}); halves on HTTP 429 and "
                        "grows back as submits succeed")
    p.add_argument("--upload-format", choices=FORMATS, default="png",
                   help="how local images are sent (default png; webp_fast and auto are lossless too)")
    p.add_argument("--max-cost", type=_usd, default=None, metavar="USD",
                   help="submit a job only while everything spent in this --out folder (all runs: reported costs, "
                        "estimates for jobs in flight or without a numeric cost) plus the job's estimate stays "
                        "within USD")
    p.add_argument("--max-cost-unknown", type=_usd, default=None, metavar="USD",
                   help="with --max-cost: the amount to assume for a job whose cost cannot be estimated (a price "
                        "unit the inputs cannot measure, duration 'auto'...); without it such jobs are not run")
    p.add_argument("--dry-run", action="store_true",
                   help="check every line and price the whole batch; nothing is submitted")
    p.add_argument("--report", default=None, metavar="FILE", help="write one JSON line per job to FILE")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for one job (default 1800)")
    p.add_argument("--submit-anyway", default="", metavar="CODES",
                   help="one-time resubmit-... codes (comma-separated) from 'an earlier submit may have been "
                        "billed' reports: pay again for exactly those jobs")
    p.add_argument("--base-url", default=None, help="API base URL (default $RUNCOMFY_MODEL_API_BASE or RunComfy's)")
    p.add_argument("--config-dir", default=None,
                   help="the pack's config folder for a saved token and the model catalog "
                        "(default: the one `models sync` uses); else $RUNCOMFY_API_TOKEN is used")
    return p


def _schema(model_id: str, config_dir: str | None, base_url: str | None):
    from ..schema import find_schema
    try:
        return find_schema(model_id)
    except KeyError:
        pass
    try:
        from ..catalog import load_entries
        from ..schema import parse_schema
        for entry in load_entries(config_dir, base_url):
            if entry.model_id == model_id:
                return parse_schema(entry.doc, entry.overlay)
    except Exception as exc:   # the catalog is optional here; say why the model is unknown
        raise SystemExit(f"runcomfy batch: unknown model {model_id!r} (catalog unreadable: {exc})") from None
    raise SystemExit(f"runcomfy batch: unknown model {model_id!r}: not shipped and not in the synced catalog "
                     f"of {config_dir} (run `python -m runcomfy models sync` first)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The folder `models sync` writes its cache to ($RUNCOMFY_CONFIG_DIR, ComfyUI's user folder, ~/.config/runcomfy).
    from ..catalog.cli import default_config_dir
    config_dir = args.config_dir or str(default_config_dir()[0])
    schema = _schema(args.model_id, config_dir, args.base_url)
    jobs_path = Path(args.jobs)
    if not jobs_path.is_file():
        print(f"runcomfy batch: jobs file not found: {jobs_path}", file=sys.stderr)
        return 2
    try:
        # Read as the jobs start (a first pass counts the lines and finds duplicated keys).
        specs = JobStream(jobs_path, schema)
    except (OSError, MemoryError) as exc:
        print(f"runcomfy batch: cannot read the jobs file {jobs_path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    from ..credentials import resolve_token
    try:
        token = resolve_token(config_dir).token
    except ConfigError as exc:
        print(f"runcomfy batch: {exc}", file=sys.stderr)
        return 2
    if not token and not args.dry_run:
        print("runcomfy batch: no API token: set RUNCOMFY_API_TOKEN (or save one in the config folder, --config-dir)",
              file=sys.stderr)
        return 2
    try:
        # Without a token a dry run still prices the batch where the model info is public.
        client = RunComfyClient(token, args.base_url, retry=RetryPolicy(), allow_anonymous=not token)
    except ConfigError as exc:
        print(f"runcomfy batch: {exc}", file=sys.stderr)
        return 2
    opts = BatchOptions(out=Path(args.out), concurrency=args.concurrency, upload_format=args.upload_format,
                        max_cost=args.max_cost, max_cost_unknown=args.max_cost_unknown, dry_run=args.dry_run,
                        report=Path(args.report) if args.report else None, timeout=args.timeout,
                        submit_anyway=args.submit_anyway, spend_dir=Path(config_dir))
    try:
        res = asyncio.run(run_batch(client, schema, specs, opts))
    finally:
        client.close()
    print(summary_text(res, dry_run=args.dry_run))
    return res.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
