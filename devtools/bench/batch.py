"""Benchmark section 9: the batch runner at scale.

Three kinds of run of ``batch.run_batch`` against the emulator in its own child process, each run
in a fresh Python process (so one run's heap and malloc arenas do not hide the next one's growth;
``MALLOC_ARENA_MAX=2`` in it, so the number of arenas is not what is measured):

- **1,000 jobs, real time** (``--batch-jobs``, ``--batch-concurrency`` 64, ``--batch-workers`` 16,
  ``--batch-job-seconds`` 1): on a calm service, and with a seeded 429 storm (from 20% of the
  ideal time on, for 30% of it, half of all submit/status/result calls answered 429 with
  Retry-After: 1). Wall time against the ideal (jobs x job time / workers).
- **Scaled, 1,000 and 100,000 jobs** (``--batch-large``): time scaled down to 0 s jobs (the
  emulator answers as fast as it can, workers = concurrency = 256) on a calm service. A job's
  client cost (its HTTP calls, journal records, output file) does not depend on how long the
  remote job runs, so this measures the per-job overhead and whether it, and memory, stay flat
  as the batch grows; wall/ideal has no meaning at 0 s (ideal 0): jobs per second instead.

Jobs are text-only by default (``--batch-media text``: the emulator's sample text-to-image model,
prompt + seed, one small PNG result), written to the jobs file line by line and read by the run
as the jobs start (jobsfile.JobStream, inside the measured part); ``--batch-media image`` sends a
384x384 input file inline to the Wan image-to-image model and gets a 1024x1024 result.

Figures per run: client CPU per job (rusage of the client process, user + sys, everything the
run does incl. reading the jobs file), the emulator's CPU per job (its child process, apart),
voluntary context switches per job, peak RSS rise (VmHWM after the run minus VmRSS before it,
peak reset with /proc/self/clear_refs), HTTP calls per job by endpoint, 429s, duplicate submits
(prompts the emulator accepted more than once: must be 0), and the machine's load (/proc/stat
busy and steal share over the run), because the machine's 2 cores are shared.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

GOAL_BATCH_IDEAL_RATIO = 1.15
GOAL_CPU_MS = 10.0                  # client CPU per text job at concurrency 256 (issue 21)
GOAL_RSS_RATIO = 1.2                # peak RSS rise, large vs 1,000 jobs
STORM = {"start": 0.2, "duration": 0.3, "rate": 0.5, "seed": 4242, "retry_after": 1.0}
IMAGE_MODEL = "wan-ai/wan-2-6/image-to-image"
TEXT_MODEL = "emulator-samples/image-gen/text-to-image"
SCALED_CONCURRENCY = 256
ROOT = Path(__file__).resolve().parents[2]


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _cpu_stat() -> list[int]:
    with open("/proc/stat") as fh:
        return [int(x) for x in fh.readline().split()[1:]]


def _thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of each live thread of this process, by native id (name from threading)."""
    import threading
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for t in threading.enumerate():
        try:
            with open(f"/proc/self/task/{t.native_id}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            out[t.native_id] = (t.name, (int(f[11]) + int(f[12])) / tick)
        except (OSError, TypeError):
            pass
    return out


def _group(name: str) -> str:
    if name == "MainThread":
        return "event loop (main thread)"
    if name.startswith("runcomfy-batch-journal"):
        return "journal writer"
    if name.startswith("runcomfy-batch"):
        return "worker threads (HTTP, files)"
    return "other threads"


def _load(before: list[int], after: list[int]) -> dict:
    d = [b - a for a, b in zip(before, after)]
    total = sum(d) or 1
    idle = d[3] + (d[4] if len(d) > 4 else 0)
    steal = d[7] if len(d) > 7 else 0
    return {"busy": round(1 - idle / total, 3), "steal": round(steal / total, 3)}


def _text_schema_dir(tmp: Path) -> Path:
    from runcomfy.emulator.catalog import SAMPLE_CATALOG
    doc = next(m for m in json.loads(SAMPLE_CATALOG.read_text(encoding="utf-8"))["models"]
               if m.get("model_id") == TEXT_MODEL)
    d = tmp / "schemas"
    d.mkdir()
    (d / (TEXT_MODEL.replace("/", "__") + ".schema.json")).write_text(json.dumps(doc), encoding="utf-8")
    return d


def _write_jobs(folder: Path, n: int, media: str) -> Path:
    if media == "image":
        from PIL import Image
        from .. import photomodel
        Image.fromarray(photomodel.photo(301, 384)).save(folder / "input.png")
    path = folder / "jobs.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            rec = {"key": f"job-{i:06d}", "prompt": f"batch job {i}", "seed": i}
            if media == "image":
                rec.update(image_urls=["input.png"], image_size="1024*1024 (1:1)")
            fh.write(json.dumps(rec) + "\n")
    return path


async def _run_once(n: int, concurrency: int, workers: int, job_s: float, storm: bool, media: str,
                    spend: bool = True) -> dict:
    from runcomfy.api import RunComfyClient
    try:
        from runcomfy.batch.jobsfile import JobStream
    except ImportError:                 # a tree before issue 21 (to measure "before"): the whole list
        from runcomfy.batch.jobsfile import parse_jobs

        def JobStream(path, schema):
            return parse_jobs(path, schema)[0]
    from runcomfy.batch.runner import BatchOptions, load_media, run_batch
    from runcomfy.run import Runner
    from runcomfy.schema import find_schema
    from .emulator_child import ChildEmulator

    token = "bench-batch-" + uuid.uuid4().hex
    ideal = n * job_s / workers
    with tempfile.TemporaryDirectory(prefix="runcomfy-bench-batch-") as tmp:
        tmp = Path(tmp)
        if media == "text":
            sdir = _text_schema_dir(tmp)
            schema, emu_kw = find_schema(TEXT_MODEL, sdir), {"schema_dir": str(sdir)}
            warm = {"prompt": "warm-up"}
        else:
            schema, emu_kw = find_schema(IMAGE_MODEL), {}
            warm = {"prompt": "warm-up", "image_size": "1024*1024 (1:1)"}
        emu = ChildEmulator(token=token, processing_time=job_s, workers=workers, **emu_kw)
        client = RunComfyClient(token, emu.base_url, pool_size=max(32, concurrency + 8))
        try:
            jobs = _write_jobs(tmp, n, media)
            # Warm-up (not measured): one job renders the output that the emulator then serves to every job.
            emu.queue_processing_times([0.05])
            first = next(iter(JobStream(jobs, schema)))
            gen = await Runner(client).generate(schema, warm, media=load_media(schema, first) if first.files else None)
            emu.reuse_output(gen.request_ids[0])
            before = emu.batch_stats()
            if storm:
                emu.storm(STORM["start"] * ideal, STORM["duration"] * ideal, STORM["rate"], STORM["seed"],
                          STORM["retry_after"])
            gc.collect()
            try:
                Path("/proc/self/clear_refs").write_text("5")      # peak RSS from here on
            except OSError:
                pass
            rss0 = _status_kib("VmRSS")
            load0 = os.getloadavg()
            stat0 = _cpu_stat()
            emu_cpu0 = emu.cpu_seconds()
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            tc0 = _thread_cpu()
            t0 = time.monotonic()
            # As `python -m runcomfy batch` runs: with a config folder, so every request also goes
            # into its spend history and the spending limits (off here) are checked.
            spend_kw = {"spend_dir": tmp / "config"} if spend else {}
            res = await run_batch(client, schema, JobStream(jobs, schema), BatchOptions(
                out=tmp / "out", concurrency=concurrency, progress_stream=io.StringIO(),
                install_signal_handlers=False, **spend_kw))
            wall = time.monotonic() - t0
            pool = getattr(asyncio.get_running_loop(), "_default_executor", None)
            threads_peak = getattr(pool, "peak_allowed", None)      # the batch's thread pool (threads.py)
            tc1 = _thread_cpu()
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            emu_cpu = emu.cpu_seconds() - emu_cpu0
            stat1 = _cpu_stat()
            load1 = os.getloadavg()
            peak = _status_kib("VmHWM") - rss0
            after = emu.batch_stats()
            errors = emu.internal_errors()
            if errors:
                raise RuntimeError("emulator internal error:\n" + errors[0])
        finally:
            client.close()
            emu.close()
    calls = {k: after["calls"].get(k, 0) - before["calls"].get(k, 0) for k in after["calls"]}
    per_endpoint: dict[str, float] = {}
    for k, v in calls.items():
        ep = k.split(":")[0]
        per_endpoint[ep] = per_endpoint.get(ep, 0) + v / n
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    by_thread: dict[str, float] = {}
    for tid, (name, c) in tc1.items():
        g = _group(name)
        by_thread[g] = by_thread.get(g, 0.0) + (c - tc0.get(tid, (name, 0.0))[1]) * 1000 / n
    # The journal's writer thread has ended (joined when the run closes its journal): the rest.
    by_thread["threads ended by the run's end (journal writer)"] = max(0.0, cpu * 1000 / n - sum(by_thread.values()))
    return {"jobs": n, "concurrency": concurrency, "workers": workers, "job_seconds": job_s, "media": media,
            "storm": storm, "done": res.count("done"), "failed": res.count("failed"),
            "failures": [r.error for r in (getattr(res, "failures", None)
                                           or [r for r in res.reports if r.state == "failed"])][:3],
            "wall": wall, "ideal": ideal, "wall_vs_ideal": wall / ideal if ideal else None,
            "jobs_per_s": n / wall if wall else None,
            "cpu_per_job": cpu / n, "thread_cpu_ms_per_job": {k: round(v, 2) for k, v in sorted(by_thread.items())}, "user_per_job": (ru1.ru_utime - ru0.ru_utime) / n,
            "sys_per_job": (ru1.ru_stime - ru0.ru_stime) / n,
            "vol_ctx_per_job": (ru1.ru_nvcsw - ru0.ru_nvcsw) / n,
            "emulator_cpu_per_job": emu_cpu / n,
            "peak_rss_rise_mib": peak / 1024,
            "calls_per_job": {k: round(v, 2) for k, v in sorted(per_endpoint.items())},
            "status_calls_per_job": per_endpoint.get("status", 0.0),
            "http_429": sum(v for k, v in calls.items() if k.endswith(":429")),
            "submit_posts": sum(v for k, v in calls.items() if k.startswith("submit:")),
            "accepted": after["accepted"] - before["accepted"],
            "duplicate_submits": after["duplicates"] - before["duplicates"],
            "threads_peak": threads_peak, "peak_concurrency": res.peak_concurrency, "limit_cuts": res.limit_cuts, "cost": res.cost,
            "machine_load": _load(stat0, stat1),
            "load_average": [round(load0[0], 2), round(load1[0], 2)]}


def _in_fresh_process(**cfg) -> dict:
    """One run in a new interpreter (its own heap: the peak RSS rise of this run alone)."""
    env = dict(os.environ, MALLOC_ARENA_MAX="2", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "devtools.bench.batch", json.dumps(cfg)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"batch benchmark run {cfg} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def section_batch(args, quick: bool = False) -> dict:
    from .common import log
    media = getattr(args, "batch_media", "text")
    n = 40 if quick else max(1, args.batch_jobs)
    job_s = 0.3 if quick else float(args.batch_job_seconds)
    conc, workers = (8, 4) if quick else (args.batch_concurrency, args.batch_workers)
    large = 400 if quick else max(1, int(getattr(args, "batch_large", 100_000)))
    small = 40 if quick else 1000
    scaled_conc = 16 if quick else SCALED_CONCURRENCY
    out = {"settings": {"jobs": n, "concurrency": conc, "workers": workers, "job_seconds": job_s, "media": media,
                        "storm": dict(STORM), "large": large, "small": small, "scaled_concurrency": scaled_conc}}
    for name, storm in (("calm", False), ("storm", True)):
        r = _in_fresh_process(n=n, concurrency=conc, workers=workers, job_s=job_s, storm=storm, media=media)
        log(f"batch {name}: {r['done']}/{n} done in {r['wall']:.1f}s ({r['wall_vs_ideal']:.2f}x ideal), "
            f"client {r['cpu_per_job'] * 1000:.1f} ms CPU/job, {r['http_429']} x 429, "
            f"{r['duplicate_submits']} duplicate submits")
        out[name] = r
    for name, size in (("scaled_small", small), ("scaled_large", large)):
        r = _in_fresh_process(n=size, concurrency=scaled_conc, workers=scaled_conc, job_s=0.0, storm=False,
                              media=media)
        log(f"batch scaled {size:,} jobs (0 s jobs): {r['done']}/{size} done in {r['wall']:.1f}s, client "
            f"{r['cpu_per_job'] * 1000:.2f} ms CPU/job, emulator {r['emulator_cpu_per_job'] * 1000:.2f} ms/job, "
            f"peak RSS rise {r['peak_rss_rise_mib']:.1f} MiB, {r['duplicate_submits']} duplicate submits")
        out[name] = r
    return out


def render_batch(res: dict) -> str:
    s = res["settings"]
    st = s["storm"]
    c, w, a, b = res["calm"], res["storm"], res["scaled_small"], res["scaled_large"]
    lines = [f"9. Batch runner at scale ({s['media']} jobs). Real time: {s['jobs']:,} jobs, concurrency "
             f"{s['concurrency']}, emulator with {s['workers']} workers and {s['job_seconds']:g} s jobs; storm: "
             f"from {st['start']:.0%} of the ideal time, for {st['duration']:.0%} of it, {st['rate']:.0%} of "
             f"submit/status/result calls answered 429 with Retry-After {st['retry_after']:g} s (seed {st['seed']}). "
             f"Scaled: {s['small']:,} and {s['large']:,} jobs of 0 s (the per-job overhead), concurrency and "
             f"emulator workers {s['scaled_concurrency']}, calm. Each run in a fresh process, the jobs file "
             "streamed.",
             "",
             f"| | calm | 429 storm | scaled {s['small']:,} | scaled {s['large']:,} |",
             "|---|---:|---:|---:|---:|"]
    runs = (c, w, a, b)

    def row(name, fmt):
        lines.append(f"| {name} | " + " | ".join(fmt(r) for r in runs) + " |")
    row("jobs done / failed", lambda r: f"{r['done']:,} / {r['failed']}")
    row("wall time", lambda r: f"{r['wall']:.1f} s")
    row("**wall / ideal**", lambda r: f"**{r['wall_vs_ideal']:.3f}x**" if r["wall_vs_ideal"] else "n/a (0 s jobs)")
    row("jobs per second", lambda r: f"{r['jobs_per_s']:.0f}")
    row("**client CPU per job** (user + sys)", lambda r: f"**{r['cpu_per_job'] * 1000:.2f} ms** "
                                                      f"({r['user_per_job'] * 1000:.1f} + {r['sys_per_job'] * 1000:.1f})")
    row("emulator CPU per job (apart)", lambda r: f"{r['emulator_cpu_per_job'] * 1000:.2f} ms")
    row("voluntary context switches per job", lambda r: f"{r['vol_ctx_per_job']:.0f}")
    row("**peak RSS rise**", lambda r: f"**{r['peak_rss_rise_mib']:.1f} MiB**")
    row("HTTP calls per job", lambda r: ", ".join(f"{k} {v:g}" for k, v in r["calls_per_job"].items()))
    row("HTTP 429 answers", lambda r: f"{r['http_429']}")
    row("submit POSTs / accepted", lambda r: f"{r['submit_posts']:,} / {r['accepted']:,}")
    row("**duplicate submits**", lambda r: f"**{r['duplicate_submits']}**")
    row("peak jobs in flight / limit halvings", lambda r: f"{r['peak_concurrency']} / {r['limit_cuts']}")
    row("machine busy / steal during the run", lambda r: f"{r['machine_load']['busy']:.0%} / "
                                                          f"{r['machine_load']['steal']:.0%}")
    row("load average (1 min) at start / end", lambda r: " / ".join(f"{x:.1f}" for x in r.get("load_average") or ()))
    row("batch threads (peak of the adaptive pool)", lambda r: f"{r.get('threads_peak')}")
    ratio = b["peak_rss_rise_mib"] / a["peak_rss_rise_mib"] if a["peak_rss_rise_mib"] > 0 else float("inf")
    dup = sum(r["duplicate_submits"] for r in runs)
    lines += ["",
              f"goals: calm wall within {GOAL_BATCH_IDEAL_RATIO}x of ideal: "
              f"{'met' if c['wall_vs_ideal'] <= GOAL_BATCH_IDEAL_RATIO else 'NOT met'} ({c['wall_vs_ideal']:.3f}x); "
              f"peak RSS rise {s['large']:,} vs {s['small']:,} jobs within {GOAL_RSS_RATIO}x: "
              f"{'met' if ratio <= GOAL_RSS_RATIO else 'NOT met'} ({ratio:.2f}x); client CPU per job at most "
              f"{GOAL_CPU_MS:g} ms at concurrency {s['scaled_concurrency']}: "
              f"{'met' if max(a['cpu_per_job'], b['cpu_per_job']) * 1000 <= GOAL_CPU_MS else 'NOT met'}; "
              f"duplicate submits 0: {'met' if dup == 0 else 'NOT met'}"]
    for name, r in (("calm", c), ("storm", w), ("scaled small", a), ("scaled large", b)):
        if r["failures"]:
            lines.append(f"{name} failures (first {len(r['failures'])}): " + " | ".join(r["failures"]))
    return "\n".join(lines)


if __name__ == "__main__":          # one run, in its own process (see _in_fresh_process)
    cfg = json.loads(sys.argv[1])
    print(json.dumps(asyncio.run(_run_once(**cfg)), default=float))
