"""Benchmark section 9: the batch runner at scale.

``--batch-jobs`` jobs (default 1,000) through ``batch.run_batch`` in this process at
``--batch-concurrency`` (64) against the emulator in its own child process with
``--batch-workers`` (16) workers and ``--batch-job-seconds`` (2 s) per job, twice: on a calm
service, and with a seeded 429 storm (from 20% of the ideal time on, for 30% of it, half of all
submit/status/result calls answered 429 with Retry-After: 1). Each job is one 384x384 input
file (decoded, encoded as PNG, sent inline) and one 1024x1024 result written to disk, with the
journal and manifests as in a real run.

Figures: wall time against the ideal (jobs x job time / workers: the emulator's workers busy
all the time), client CPU per job (this process: encode, HTTP, journal, decode, files), peak
RSS rise of this process, /status calls per job, 429s seen, and duplicate submits (prompts the
emulator accepted more than once; must be 0).
"""

from __future__ import annotations

import asyncio
import io
import json
import resource
import tempfile
import time
import uuid
from pathlib import Path

from PIL import Image

from .. import photomodel

GOAL_BATCH_IDEAL_RATIO = 1.15
STORM = {"start": 0.2, "duration": 0.3, "rate": 0.5, "seed": 4242, "retry_after": 1.0}
MODEL_ID = "wan-ai/wan-2-6/image-to-image"


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _write_jobs(folder: Path, n: int) -> Path:
    Image.fromarray(photomodel.photo(301, 384)).save(folder / "input.png")
    path = folder / "jobs.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"key": f"job-{i:05d}", "prompt": f"batch job {i}", "image_urls": ["input.png"],
                                 "seed": i, "image_size": "1024*1024 (1:1)"}) + "\n")
    return path


async def _run_once(n: int, concurrency: int, workers: int, job_s: float, storm: bool, quick: bool) -> dict:
    from runcomfy.batch.jobsfile import parse_jobs
    from runcomfy.api import RunComfyClient
    from runcomfy.batch.runner import BatchOptions, run_batch
    from .common import reset_peak_rss
    from .emulator_child import ChildEmulator
    from runcomfy.run import Runner
    from runcomfy.schema import find_schema

    schema = find_schema(MODEL_ID)
    token = "bench-batch-" + uuid.uuid4().hex
    ideal = n * job_s / workers
    emu = ChildEmulator(token=token, processing_time=job_s, workers=workers)
    client = RunComfyClient(token, emu.base_url, pool_size=max(32, concurrency + 8))
    with tempfile.TemporaryDirectory(prefix="runcomfy-bench-batch-") as tmp:
        tmp = Path(tmp)
        try:
            jobs = _write_jobs(tmp, n)
            specs, problems = parse_jobs(jobs, schema)
            assert not problems, problems
            # Warm-up (not measured): one job renders the output that the emulator then serves to every job.
            emu.queue_processing_times([0.05])
            from runcomfy.batch.runner import load_media
            gen = await Runner(client).generate(schema, {"prompt": "warm-up", "image_size": "1024*1024 (1:1)"},
                                                media=load_media(schema, specs[0]))
            emu.reuse_output(gen.request_ids[0])
            before = emu.batch_stats()
            if storm:
                emu.storm(STORM["start"] * ideal, STORM["duration"] * ideal, STORM["rate"], STORM["seed"],
                          STORM["retry_after"])
            reset = reset_peak_rss()
            rss0 = _rss_kib()
            cpu0 = time.process_time()
            t0 = time.monotonic()
            res = await run_batch(client, schema, specs, BatchOptions(
                out=tmp / "out", concurrency=concurrency, progress_stream=io.StringIO(),
                install_signal_handlers=False))
            wall = time.monotonic() - t0
            cpu = time.process_time() - cpu0
            rss = _rss_kib() - rss0
            after = emu.batch_stats()
            errors = emu.internal_errors()
            if errors:
                raise RuntimeError("emulator internal error:\n" + errors[0])
        finally:
            client.close()
            emu.close()
    calls = {k: after["calls"].get(k, 0) - before["calls"].get(k, 0) for k in after["calls"]}
    status_calls = sum(v for k, v in calls.items() if k.startswith("status:"))
    return {"jobs": n, "done": res.count("done"), "failed": res.count("failed"),
            "failures": [r.error for r in res.reports if r.state == "failed"][:3],
            "wall": wall, "ideal": ideal, "wall_vs_ideal": wall / ideal,
            "cpu_per_job": cpu / n, "peak_rss_rise_mib": rss / 1024 if reset else None,
            "status_calls_per_job": status_calls / n,
            "http_429": sum(v for k, v in calls.items() if k.endswith(":429")),
            "submit_posts": sum(v for k, v in calls.items() if k.startswith("submit:")),
            "accepted": after["accepted"] - before["accepted"],
            "duplicate_submits": after["duplicates"] - before["duplicates"],
            "peak_concurrency": res.peak_concurrency, "limit_cuts": res.limit_cuts, "cost": res.cost}


def section_batch(args, quick: bool = False) -> dict:
    n = 40 if quick else max(1, args.batch_jobs)
    job_s = 0.3 if quick else float(args.batch_job_seconds)
    conc, workers = (8, 4) if quick else (args.batch_concurrency, args.batch_workers)
    out = {"settings": {"jobs": n, "concurrency": conc, "workers": workers, "job_seconds": job_s,
                        "storm": dict(STORM)}}
    for name, storm in (("calm", False), ("storm", True)):
        r = asyncio.run(_run_once(n, conc, workers, job_s, storm, quick))
        from .common import log
        log(f"batch {name}: {r['done']}/{n} done in {r['wall']:.1f}s ({r['wall_vs_ideal']:.2f}x ideal), "
             f"{r['http_429']} x 429, {r['duplicate_submits']} duplicate submits")
        out[name] = r
    return out


def render_batch(res: dict) -> str:
    s = res["settings"]
    st = s["storm"]
    lines = [f"9. Batch runner at scale: {s['jobs']} jobs, concurrency {s['concurrency']}, emulator with "
             f"{s['workers']} workers and {s['job_seconds']:g} s jobs; storm: from {st['start']:.0%} of the ideal "
             f"time, for {st['duration']:.0%} of it, {st['rate']:.0%} of submit/status/result calls answered 429 "
             f"with Retry-After {st['retry_after']:g} s (seed {st['seed']})",
             "",
             "| | calm | 429 storm |", "|---|---:|---:|"]
    c, w = res["calm"], res["storm"]

    def row(name, fmt, key):
        lines.append(f"| {name} | {fmt(c[key])} | {fmt(w[key])} |")
    row("jobs done / failed", lambda v: v, "done")
    lines[-1] = f"| jobs done / failed | {c['done']} / {c['failed']} | {w['done']} / {w['failed']} |"
    row("wall time", lambda v: f"{v:.1f} s", "wall")
    row("ideal (jobs x job time / workers)", lambda v: f"{v:.1f} s", "ideal")
    row("**wall / ideal**", lambda v: f"**{v:.3f}x**", "wall_vs_ideal")
    row("client CPU per job", lambda v: f"{v * 1000:.1f} ms", "cpu_per_job")
    row("peak RSS rise", lambda v: "n/a" if v is None else f"{v:.0f} MiB", "peak_rss_rise_mib")
    row("/status calls per job", lambda v: f"{v:.1f}", "status_calls_per_job")
    row("HTTP 429 answers", lambda v: v, "http_429")
    row("submit POSTs / accepted", lambda v: v, "submit_posts")
    lines[-1] = (f"| submit POSTs / accepted | {c['submit_posts']} / {c['accepted']} | "
                 f"{w['submit_posts']} / {w['accepted']} |")
    row("**duplicate submits**", lambda v: f"**{v}**", "duplicate_submits")
    row("peak jobs in flight / limit halvings", lambda v: v, "peak_concurrency")
    lines[-1] = (f"| peak jobs in flight / limit halvings | {c['peak_concurrency']} / {c['limit_cuts']} | "
                 f"{w['peak_concurrency']} / {w['limit_cuts']} |")
    met = c["wall_vs_ideal"] <= GOAL_BATCH_IDEAL_RATIO
    lines += ["", f"goal: calm wall within {GOAL_BATCH_IDEAL_RATIO}x of ideal: {'met' if met else 'NOT met'} "
                  f"({c['wall_vs_ideal']:.3f}x); duplicate submits 0: "
                  f"{'met' if c['duplicate_submits'] == 0 and w['duplicate_submits'] == 0 else 'NOT met'}"]
    for name, r in (("calm", c), ("storm", w)):
        if r["failures"]:
            lines.append(f"{name} failures (first {len(r['failures'])}): " + " | ".join(r["failures"]))
    return "\n".join(lines)
