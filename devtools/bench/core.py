"""``python -m runcomfy bench``: what the pack costs on top of the remote model, measured.

Everything runs on this machine against the emulator on loopback, in a child process of its
own (``devtools.bench.emulator_child.ChildEmulator``) in every section: like a remote server it has its own GIL
and does not compete with the client for this process's, but unlike one it shares this machine's
CPUs. Its job timestamps use ``time.monotonic()``, one system-wide clock on Linux, so they can be
subtracted from the client's. After one warm-up job the emulator serves that job's output to every
later job instead of rendering each one: its rendering stands for remote GPU work and must not
take this machine's CPU.

Sections (every figure is measured in this run; nothing is copied from elsewhere):

1. Pack overhead per job: wall time of ``Runner(client).generate(...)`` minus the emulator's
   processing time (``finished_at - started_at``) for 3 distinct photo-like 1024x1024 inputs and
   one 1024x1024 output, split into encode, submit, completion-notice delay, download, decode
   and other (base64 data URIs, validation, the /result call, queue wait, scheduling).
2. The same for a naive client written here: Pillow's default PNG settings, sequential encode,
   submit, a fixed sleep between /status polls, one /result, sequential download, PIL decode.
3. Completion-notice delay (noticed - finished) and /status calls per job for several job
   lengths with the pack's ``PollPolicy``; the lengths run side by side in one window as long
   as the longest job (see ``notice_plan``), in real time unless ``--notice-scale`` says otherwise.
4. Wall time of 1, 4 and 8 concurrent full generations, as a ratio to one, and the CPU time
   per job of the client (this process) and of the emulator (its child process).
5. Peak memory of one generation (tracemalloc, and the rise of this process's peak RSS; the
   emulator's memory is its child's, not counted).

``--json`` prints the same figures as JSON; ``--quick`` is a smoke run of every section
(seconds, not minutes) whose figures are not meant to be compared with the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as _dt
import gc
import io
import json
import math
import os
import random
import re
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from runcomfy.api import RunComfyClient
from runcomfy.run import Runner
from runcomfy.run.polling import PollPolicy
from runcomfy.samples import sample_image
from runcomfy.schema import find_schema

from .common import (MODEL_ID, OUTPUT_SIZE, PARTS, fields, job_row, log, machine_info,
                     median, naive_job, output_shape, p90, reset_peak_rss, summarize)
from .emulator_child import ChildEmulator


# Goals (targets, not results).
GOAL_OVERHEAD_RATIO = 5.0
GOAL_NOTICE_SHORT = 0.3      # s, median, jobs <= 10 s
GOAL_NOTICE_LONG = 0.6       # s, median, jobs of 60..120 s
GOAL_STATUS_CALLS_120 = 150
GOAL_CONCURRENCY_8 = 1.5


@dataclass
class Settings:
    quick: bool = False
    repeats: int = 7                    # sequential jobs per client in sections 1-2
    processing_time: float = 2.0        # s, emulated model time in sections 1, 2, 4
    naive_poll: float = 5.0             # s, the naive client's fixed sleep between polls
    inputs: int = 3
    side: int = 1024
    lengths: tuple[float, ...] = (2.0, 10.0, 60.0, 120.0)
    notice_repeats: int = 60            # jobs per long length in section 3 (twice that per short one)
    notice_scale: float = 1.0           # 1 = real time; <1 shrinks emulated time and the poll policy
    length_spread: float = 0.05         # section 1-3 jobs last nominal x U(1 - spread, 1 + spread)
    concurrency: tuple[int, ...] = (1, 4, 8)
    concurrency_repeats: int = 5
    memory_processing_time: float = 0.5

    @classmethod
    def make(cls, quick: bool, repeats: int | None) -> "Settings":
        if quick:
            s = cls(quick=True, repeats=2, processing_time=0.2, naive_poll=0.5, side=512, notice_repeats=2,
                    notice_scale=0.05, concurrency=(1, 2), concurrency_repeats=1, memory_processing_time=0.2)
        else:
            s = cls()
        if repeats is not None:
            s.repeats = max(1, repeats)
            s.notice_repeats = max(1, 8 * repeats)
            s.concurrency_repeats = max(1, (repeats + 1) // 2)
        return s


# --- inputs --------------------------------------------------------------------------------

_BASES: dict[tuple[int, int], np.ndarray] = {}


def photo_like(seed: int, side: int) -> np.ndarray:
    """A deterministic uint8 RGB picture that compresses like a photo (PNG ~1.8 bytes/pixel):
    the shipped sample's gradients and disc, a smooth random colour field, and sensor-like noise."""
    kind = 1 + seed % 2
    base = _BASES.get((kind, side))
    if base is None:
        base = _BASES[(kind, side)] = sample_image(kind, side, side).astype(np.float32) * 0.7 + 30
    rng = np.random.default_rng(seed)
    cells = side // 64 + 2
    lo = np.clip(rng.standard_normal((cells, cells, 3), dtype=np.float32) * 40 + 128, 0, 255).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(lo, "RGB").resize((side, side), Image.Resampling.BICUBIC), np.float32)
    out = base + (smooth - 128)
    out += rng.standard_normal((side, side, 3), dtype=np.float32) * 4.0
    return np.clip(out, 0, 255).astype(np.uint8)


def input_sets(n_sets: int, per_set: int, side: int) -> list[list[np.ndarray]]:
    return [[photo_like(1000 + s * per_set + i, side) for i in range(per_set)] for s in range(n_sets)]


# --- small statistics helpers -----------------------------------------------------------------

def median_ci(xs, level: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free confidence interval of the median (binomial order statistics);
    None when there are too few samples for one."""
    v = sorted(xs)
    n = len(v)
    tail = (1 - level) / 2
    j = 0      # largest j with P(Binomial(n, 1/2) < j) <= tail
    cum = 0.0
    for k in range(n + 1):
        cum += math.comb(n, k) / 2 ** n
        if cum > tail:
            j = k
            break
    if j < 1:
        return None
    return float(v[j - 1]), float(v[n - j])


class _Seeds:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


# --- one job, the pack's way ----------------------------------------------------------------------

async def pack_generate(runner: Runner, schema, arrays: list[np.ndarray], seed: int):
    """One generation, timed; (wall seconds, Generation). Nothing else runs in its window."""
    t0 = time.monotonic()
    gen = await runner.generate(schema, fields(seed), images={"image_urls": arrays})
    wall = time.monotonic() - t0
    if len(gen.images) != 1 or gen.images[0].shape[:2] != output_shape():
        raise RuntimeError(f"unexpected result shape {[a.shape for a in gen.images]}")
    return wall, gen


def pack_row(emu: ChildEmulator, wall: float, gen) -> dict:
    """The figures of one pack generation; asks the emulator (a blocking pipe round trip), so it
    is called outside the timed windows."""
    job = emu.job(gen.request_ids[0])
    tm = gen.timings
    return job_row(job, wall, tm["noticed_at"], job["status_calls"], encode=tm["encode"], submit=tm["submit"],
                    download=tm["download"], decode=tm["decode"])


async def pack_job(runner: Runner, emu: ChildEmulator, schema, arrays: list[np.ndarray], seed: int) -> dict:
    wall, gen = await pack_generate(runner, schema, arrays, seed)
    return pack_row(emu, wall, gen)


# --- one job, the naive way ---------------------------------------------------------------------

# --- emulator helpers ----------------------------------------------------------------------------

def _new_emulator(token: str, processing_time: float, workers: int) -> ChildEmulator:
    return ChildEmulator(token=token, processing_time=processing_time, workers=workers)


def _check_emulator(emu: ChildEmulator) -> None:
    errors = emu.internal_errors()
    if errors:
        raise RuntimeError("emulator internal error:\n" + errors[0])


async def _warm_up(runner: Runner, emu: ChildEmulator, schema, arrays: list[np.ndarray], seed: int) -> dict:
    """One short unmeasured job (imports, codecs, thread pools, keep-alive connections); then
    the emulator answers every later job with that job's output, rendered once from these real
    inputs. Its per-job rendering stands for the remote GPU's work: left in, it would compete with
    the client for this machine's CPU, which the real service never does. Returns the emulator's
    tuning: whether that was possible (it relies on the emulator's internal ``_render``)."""
    emu.queue_processing_times([0.05])
    gen = await runner.generate(schema, fields(seed), images={"image_urls": arrays})
    return {"prerendered_output": bool(emu.reuse_output(gen.request_ids[0]))}


# --- sections ------------------------------------------------------------------------------------

async def section_overhead(cfg: Settings, schema, arrays: list[np.ndarray], seeds: _Seeds) -> dict:
    token = "bench-" + uuid.uuid4().hex
    emu = _new_emulator(token, cfg.processing_time, workers=4)
    client = RunComfyClient(token, emu.base_url)
    session = requests.Session()
    session.trust_env = False     # loopback only: no proxy from the environment
    try:
        runner = Runner(client)
        tuning = await _warm_up(runner, emu, schema, arrays, seeds())
        buf = io.BytesIO()                                    # the naive client's warm-up
        Image.fromarray(arrays[0]).save(buf, "PNG")
        np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        session.get(f"{emu.base_url}/models", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        pack_rows, naive_rows = [], []
        # Each pair of jobs lasts processing_time +/- length_spread (the same for both): with one
        # exact length every job would end at the same point of the pack's poll schedule, and its
        # notice delay would be that one phase's, lucky or not.
        rng = random.Random(20261124)
        for i in range(cfg.repeats):      # interleaved, so drift hits both alike
            seed_pack, seed_naive = seeds(), seeds()
            length = cfg.processing_time * rng.uniform(1 - cfg.length_spread, 1 + cfg.length_spread)
            emu.set_lengths({seed_pack: length, seed_naive: length})
            pack_rows.append(await pack_job(runner, emu, schema, arrays, seed_pack))
            naive_rows.append(await asyncio.to_thread(naive_job, session, emu, token, arrays, seed_naive,
                                                      cfg.naive_poll))
            log(f"overhead run {i + 1}/{cfg.repeats}: pack {pack_rows[-1]['overhead']:.3f}s, "
                 f"naive {naive_rows[-1]['overhead']:.3f}s")
        _check_emulator(emu)
    finally:
        session.close()
        client.close()
        emu.close()
    pack, naive = summarize(pack_rows), summarize(naive_rows)
    return {"pack": pack, "naive": naive, "ratio": naive["overhead"] / pack["overhead"],
            "input_png_kib": [media_png_size(a) for a in arrays], "emulator_tuning": tuning,
            "pack_runs": pack_rows, "naive_runs": naive_rows}


def media_png_size(a: np.ndarray) -> dict:
    from runcomfy.media import images as media
    naive = io.BytesIO()
    Image.fromarray(a).save(naive, "PNG")
    return {"pack": round(len(media.encode_png(a)) / 1024, 1), "naive": round(len(naive.getvalue()) / 1024, 1)}


def scaled_policy(scale: float) -> PollPolicy:
    """The pack's default policy, with every time constant multiplied by ``scale`` (growth is
    seconds per second, so it stays): polling at scale s on a job s times as long."""
    d = PollPolicy()
    if scale == 1.0:
        return d
    timed = {"first", "cap", "knee", "queued_cap", "per_queue_position"}
    changes = {f.name: getattr(d, f.name) * scale for f in dataclasses.fields(d)
               if f.name in timed and isinstance(getattr(d, f.name), (int, float))}
    return dataclasses.replace(d, **changes)


def notice_plan(lengths, per_length: int) -> list[tuple[float, float, int, int]]:
    """(length, start offset, waves, jobs per wave) for each length, in unscaled seconds.

    The window is the longest job. Lengths of at least half of it run as one wave of ``per_length``
    jobs from the start. Shorter ones get twice the jobs (they fit, and their medians sit closer
    to the goals) in up to 4 consecutive waves, one length after the other, once the long jobs'
    fast early polling is over (so the many jobs do not all poll fast at once, which would
    measure this machine's HTTP throughput, not the policy)."""
    window = max(lengths)
    d = PollPolicy()
    ramp = d.ramp_seconds()
    plan, short = [], []
    for i, length in enumerate(sorted(lengths, reverse=True)):
        if 2 * length >= window:
            plan.append((length, 0.0, 1, per_length))
        else:
            waves = min(4, max(1, int(window // (length + 1))), 2 * per_length)
            short.append((length, waves, math.ceil(2 * per_length / waves)))
    busy = sum(w * (length + 1) for length, w, _ in short)
    t = max(0.0, min(ramp + 5, window - busy - 5))
    for length, waves, size in short:
        plan.append((length, t, waves, size))
        t += waves * (length + 1)
    return plan


class _TimedClient(RunComfyClient):
    """Records how long each /status call takes in its worker thread (a diagnostic of section 3)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status_seconds: list[float] = []

    def status(self, request_id, **kwargs):
        t = time.monotonic()
        try:
            return super().status(request_id, **kwargs)
        finally:
            self.status_seconds.append(time.monotonic() - t)


async def _loop_lag(samples: list[float], stop: asyncio.Event, tick: float = 0.05) -> None:
    """How late the event loop wakes a sleeper: the pack's waits depend on it."""
    for _ in range(10**7):
        if stop.is_set():
            return
        t = time.monotonic()
        await asyncio.sleep(tick)
        samples.append(time.monotonic() - t - tick)


async def section_notice(cfg: Settings, schema, seeds: _Seeds) -> dict:
    token = "bench-" + uuid.uuid4().hex
    s = cfg.notice_scale
    plan = notice_plan(cfg.lengths, cfg.notice_repeats)
    workers = sum(size for _, _, _, size in plan) + 4      # every job of the busiest moment runs at once
    emu = _new_emulator(token, 0.05 * s, workers=workers)
    client = _TimedClient(token, emu.base_url)
    small = [sample_image(1, 512, 512), sample_image(2, 512, 512)]
    runner = Runner(client, poll=scaled_policy(s), timeout=max(cfg.lengths) * s * (1 + cfg.length_spread) + 300)
    finished: list[tuple[float, str, float]] = []           # (nominal length, request id, noticed_at)

    async def one(length: float, seed: int) -> None:
        gen = await runner.generate(schema, fields(seed), images={"image_urls": small})
        finished.append((length, gen.request_ids[0], gen.timings["noticed_at"]))

    async def group(length: float, offset: float, waves: list[list[int]]) -> None:
        await asyncio.sleep(offset * s)
        for wave in waves:
            await asyncio.gather(*(one(length, seed) for seed in wave))

    try:
        await _warm_up(runner, emu, schema, small, seeds())
        # Real jobs do not last exactly N s. With one exact length every job of a group would end at
        # nearly the same point of the (almost deterministic) poll schedule, and the group's delays
        # would measure that one phase, not the policy: so each job's length varies a little. Every
        # job's seed and length is drawn here, before any starts, and handed to the emulator at once.
        rng = random.Random(20261123)
        length_of: dict[int, float] = {}
        groups = []
        for length, offset, n_waves, size in plan:
            waves = [[seeds() for _ in range(size)] for _ in range(n_waves)]
            for seed in (x for wave in waves for x in wave):
                length_of[seed] = length * s * rng.uniform(1 - cfg.length_spread, 1 + cfg.length_spread)
            groups.append((length, offset, waves))
        emu.set_lengths(length_of)
        log(f"notice: {len(length_of)} jobs, {max(cfg.lengths) * s:.1f}s of real time at least")
        client.status_seconds.clear()
        lag: list[float] = []
        stop = asyncio.Event()
        monitor = asyncio.ensure_future(_loop_lag(lag, stop))
        try:
            await asyncio.gather(*(group(*g) for g in groups))
        finally:
            stop.set()
            await monitor
        # Asked only now, so no pipe round trip runs among the polling jobs; no job polls any more.
        results: list[tuple[float, float, int]] = []
        for length, rid, noticed_at in finished:
            job = emu.job(rid)
            results.append((length, (noticed_at - job["finished_at"]) / s, job["status_calls"]))
        _check_emulator(emu)
    finally:
        client.close()
        emu.close()
    rows = []
    for length in sorted(cfg.lengths):
        delays = [d for ln, d, _ in results if ln == length]
        calls = [c for ln, _, c in results if ln == length]
        ci = median_ci(delays)
        rows.append({"job_s": length, "jobs": len(delays), "median_delay_s": median(delays),
                     "median_ci95_s": list(ci) if ci else None,
                     "p90_delay_s": p90(delays), "max_delay_s": max(delays),
                     "median_status_calls": median(calls), "max_status_calls": max(calls),
                     "delays_s": [round(d, 4) for d in delays]})
    return {"scale": s, "policy": PollPolicy().describe(),
            "plan": [{"job_s": ln, "start_s": off, "waves": w, "jobs_per_wave": n} for ln, off, w, n in plan],
            "status_call_ms": {"median": 1000 * median(client.status_seconds),
                               "p90": 1000 * p90(client.status_seconds), "calls": len(client.status_seconds)},
            "loop_lag_ms": {"median": 1000 * median(lag), "p99": 1000 * float(np.percentile(lag, 99))}
            if lag else None,
            "lengths": rows}


async def section_concurrency(cfg: Settings, schema, sets: list[list[np.ndarray]], seeds: _Seeds) -> dict:
    token = "bench-" + uuid.uuid4().hex
    emu = _new_emulator(token, cfg.processing_time, workers=max(8, max(cfg.concurrency)))
    client = RunComfyClient(token, emu.base_url)
    runner = Runner(client)
    walls: dict[int, list[float]] = {k: [] for k in cfg.concurrency}
    cpus: dict[int, list[float]] = {k: [] for k in cfg.concurrency}       # this process (the client)
    emu_cpus: dict[int, list[float]] = {k: [] for k in cfg.concurrency}   # the emulator's child process
    overheads: dict[int, list[float]] = {k: [] for k in cfg.concurrency}

    async def round_(k: int) -> None:
        e0 = emu.cpu_seconds()
        t0, c0 = time.monotonic(), time.process_time()
        done = await asyncio.gather(*(pack_generate(runner, schema, sets[j % len(sets)], seeds())
                                      for j in range(k)))
        walls[k].append(time.monotonic() - t0)
        cpus[k].append(time.process_time() - c0)
        emu_cpus[k].append(emu.cpu_seconds() - e0)
        overheads[k].extend(pack_row(emu, wall, gen)["overhead"] for wall, gen in done)

    try:
        tuning = await _warm_up(runner, emu, schema, sets[0], seeds())
        for r in range(cfg.concurrency_repeats):
            for k in cfg.concurrency:
                await round_(k)
            log(f"concurrency round {r + 1}/{cfg.concurrency_repeats}: "
                 + ", ".join(f"{k} jobs {walls[k][-1]:.2f}s" for k in cfg.concurrency))
        _check_emulator(emu)
    finally:
        client.close()
        emu.close()
    one = median(walls[min(cfg.concurrency)])
    return {"processing_time_s": cfg.processing_time, "emulator_tuning": tuning,
            "levels": [{"jobs": k, "wall_s": median(walls[k]), "ratio": median(walls[k]) / one,
                        "median_job_overhead_s": median(overheads[k]),
                        "client_cpu_s_per_job": median(cpus[k]) / k,
                        "emulator_cpu_s_per_job": median(emu_cpus[k]) / k, "rounds": len(walls[k])}
                       for k in cfg.concurrency]}


def _proc_status_kib(key: str) -> int | None:
    try:
        m = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def _trim_heap() -> None:
    """Hand freed heap back to the OS (glibc), so a later peak-RSS reading is not hidden by
    memory that earlier work freed and this job merely reuses."""
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


async def section_memory(cfg: Settings, schema, arrays: list[np.ndarray], seeds: _Seeds) -> dict:
    token = "bench-" + uuid.uuid4().hex
    child = ChildEmulator(token=token, processing_time=cfg.memory_processing_time, workers=2)
    client = RunComfyClient(token, child.base_url)
    runner = Runner(client)
    out: dict = {"inputs_mb": sum(a.nbytes for a in arrays) / 2**20, "inputs": len(arrays)}
    try:
        await runner.generate(schema, fields(seeds()), images={"image_urls": arrays})   # warm-up
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            gen = await runner.generate(schema, fields(seeds()), images={"image_urls": arrays})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        out["tracemalloc_peak_mb"] = (peak - base) / 2**20
        out["output_mb"] = sum(a.nbytes for a in gen.images) / 2**20
        del gen
        _trim_heap()
        if reset_peak_rss():
            before = _proc_status_kib("VmRSS")
            await runner.generate(schema, fields(seeds()), images={"image_urls": arrays})
            hwm = _proc_status_kib("VmHWM")
            if before is not None and hwm is not None:
                out["rss_peak_rise_mb"] = (hwm - before) / 1024
    finally:
        client.close()
        child.close()
    return out


# --- goals ---------------------------------------------------------------------------------------

def evaluate_goals(res: dict) -> list[dict]:
    goals = []
    ratio = res["overhead"]["ratio"]
    goals.append({"goal": f"pack overhead >= {GOAL_OVERHEAD_RATIO:g}x lower than naive",
                  "measured": f"{ratio:.1f}x", "pass": ratio >= GOAL_OVERHEAD_RATIO})
    rows = res["notice"]["lengths"]
    short = [r for r in rows if r["job_s"] <= 10]
    long_ = [r for r in rows if 60 <= r["job_s"] <= 120]
    if short:
        goals.append({"goal": f"median notice delay < {GOAL_NOTICE_SHORT:g} s for jobs <= 10 s",
                      "measured": ", ".join(f"{r['job_s']:g}s jobs {r['median_delay_s']:.3f}s"
                                            + (f" (95% CI {r['median_ci95_s'][0]:.3f}..{r['median_ci95_s'][1]:.3f})"
                                               if r["median_ci95_s"] else "") for r in short),
                      "pass": all(r["median_delay_s"] < GOAL_NOTICE_SHORT for r in short)})
    if long_:
        # Past ~21 s the policy polls at its cap whatever the length, so 60 s and 120 s jobs share
        # one delay distribution: their pooled median is the better estimate (narrower interval).
        pooled = [d for r in long_ for d in r["delays_s"]]
        ci = median_ci(pooled)
        goals.append({"goal": f"median notice delay < {GOAL_NOTICE_LONG:g} s for 60-120 s jobs",
                      "measured": f"{median(pooled):.3f}s over {len(pooled)} jobs"
                                  + (f" (95% CI {ci[0]:.3f}..{ci[1]:.3f})" if ci else "") + "; "
                                  + ", ".join(f"{r['job_s']:g}s jobs {r['median_delay_s']:.3f}s" for r in long_),
                      "pass": median(pooled) < GOAL_NOTICE_LONG})
    r120 = next((r for r in rows if r["job_s"] == 120), None)
    if r120:
        goals.append({"goal": f"120 s job <= ~{GOAL_STATUS_CALLS_120} status calls",
                      "measured": f"median {r120['median_status_calls']:g}, max {r120['max_status_calls']:g}",
                      "pass": r120["median_status_calls"] <= GOAL_STATUS_CALLS_120})
    levels = res["concurrency"]["levels"]
    top = max(levels, key=lambda lv: lv["jobs"])
    goals.append({"goal": f"{top['jobs']} concurrent jobs < {GOAL_CONCURRENCY_8:g}x the wall time of one",
                  "measured": f"{top['ratio']:.2f}x", "pass": top["ratio"] < GOAL_CONCURRENCY_8})
    return goals


# --- report --------------------------------------------------------------------------------------

def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def render_text(res: dict) -> str:
    m, st = res["machine"], res["settings"]
    ov, no, co, me = res["overhead"], res["notice"], res["concurrency"], res["memory"]
    p, n = ov["pack"], ov["naive"]
    L: list[str] = []
    add = L.append
    add("RunComfy pack benchmark (python -m runcomfy bench" + (" --quick" if st["quick"] else "") + ")")
    add(f"date       {res['date']}")
    add(f"machine    {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, Pillow {m['pillow']}, "
        f"numpy {m['numpy']}")
    la0, la1 = res.get("loadavg_start"), res.get("loadavg_end")
    if la0 and la1:
        add(f"load       1-min load average {la0[0]:.2f} at start, {la1[0]:.2f} at end "
            "(other processes on this machine share its CPUs)")
    add(f"emulator   on 127.0.0.1 in a child process of its own in every section (its own GIL, but it shares "
        f"this machine's CPUs); processing time {st['processing_time']:g} s per job in sections 1, 2, 4")
    tuning = ov.get("emulator_tuning") or {}
    tuned = ([("output rendered once and served to every job (its render CPU is the remote GPU's, not ours)")]
             if tuning.get("prerendered_output") else []) + \
            ["TCP_NODELAY on its sockets"]
    if tuned:
        add("           set up like a remote server: " + "; ".join(tuned))
    kib = ov["input_png_kib"]
    add(f"inputs     {st['inputs']} distinct photo-like {st['side']}x{st['side']} RGB images per job "
        f"(PNG {', '.join(str(round(k['pack'])) for k in kib)} KiB with the pack's settings, "
        f"{', '.join(str(round(k['naive'])) for k in kib)} KiB with Pillow's default); one {OUTPUT_SIZE} output")
    if st["quick"]:
        add("NOTE       --quick smoke run: tiny times and repeats; its figures are not comparable to the goals.")
    add("")
    add(f"1-2. Overhead per job = wall - emulator processing time; median of {p['runs']} runs each, "
        "pack and naive interleaved;")
    add(f"     each pair of jobs lasts {st['processing_time']:g} s +/-{100 * st.get('length_spread', 0):g}% "
        "(uniform; the same for both), so jobs end at random points of the poll schedule")
    add(f"     naive = Pillow default PNG, sequential, /status every {st['naive_poll']:g} s, one /result, "
        "sequential download, PIL decode")
    add(f"     {'':<24}{'pack':>10}{'naive':>10}{'naive/pack':>12}")
    labels = {"encode": f"encode ({st['inputs']} PNGs)", "submit": "submit", "notice": "completion notice",
              "download": "download", "decode": "decode", "other": "other"}
    for k in PARTS:
        rat = f"{n[k] / p[k]:.1f}x" if p[k] > 0 and n[k] > 0 else "-"
        add(f"     {labels[k]:<24}{p[k]:>9.3f}s{n[k]:>9.3f}s{rat:>12}")
    add(f"     {'OVERHEAD':<24}{p['overhead']:>9.3f}s{n['overhead']:>9.3f}s{ov['ratio']:>11.1f}x")
    add(f"     {'  min..max':<24}{p['overhead_min']:>5.2f}..{p['overhead_max']:<4.2f}"
        f"{n['overhead_min']:>5.2f}..{n['overhead_max']:.2f}")
    add(f"     {'processing (emulator)':<24}{p['processing']:>9.3f}s{n['processing']:>9.3f}s")
    add(f"     {'wall':<24}{p['wall']:>9.3f}s{n['wall']:>9.3f}s")
    add(f"     {'status calls':<24}{p['status_calls']:>10g}{n['status_calls']:>10g}")
    add("     (every row is its own median, so the rows need not add up to the overhead median;")
    add("      other = base64 data URIs, validation, the /result call, queue wait, scheduling)")
    add("")
    pol = no["policy"]
    scale_note = "real time" if no["scale"] == 1.0 else (
        f"SCALED x{no['scale']:g}: emulated job lengths and the poll policy's time constants multiplied by "
        f"{no['scale']:g}, delays divided by {no['scale']:g} back to unscaled seconds")
    add(f"3. Completion-notice delay = noticed - finished, pack's PollPolicy ({pol}); {scale_note}")
    plan = ", ".join(f"{g['job_s']:g}s: {g['waves']}x{g['jobs_per_wave']} from t={g['start_s']:g}s"
                     for g in no["plan"])
    add(f"   concurrent groups on one emulator (waves x jobs): {plan}; each job lasts its nominal length "
        f"+/-{100 * st.get('length_spread', 0):g}% (uniform)")
    sc, lag = no.get("status_call_ms"), no.get("loop_lag_ms")
    if sc:
        add(f"   one /status call (in its worker thread, not scaled): median {sc['median']:.1f} ms, "
            f"p90 {sc['p90']:.1f} ms over {sc['calls']} calls"
            + (f"; event-loop wake-up lag median {lag['median']:.1f} ms, p99 {lag['p99']:.1f} ms" if lag else ""))
    add(f"     {'job':>6}{'jobs':>6}{'median':>9}{'95% CI of median':>19}{'p90':>8}{'max':>8}"
        f"{'status calls median/max':>26}")
    for r in no["lengths"]:
        ci = r["median_ci95_s"]
        cis = f"{ci[0]:.3f}..{ci[1]:.3f}" if ci else "-"
        add(f"     {r['job_s']:>5g}s{r['jobs']:>6}{r['median_delay_s']:>8.3f}s{cis:>19}{r['p90_delay_s']:>7.3f}s"
            f"{r['max_delay_s']:>7.3f}s{r['median_status_calls']:>18g} / {r['max_status_calls']:g}")
    add("")
    add(f"4. Concurrent generations: full generate path each, own {st['inputs']} inputs each, processing "
        f"{co['processing_time_s']:g} s, emulator workers >= 8")
    add(f"     {'jobs':>5}{'wall (median)':>15}{'vs 1 job':>10}{'job overhead':>14}"
        f"{'CPU s/job: client':>19}{'emulator':>10}{'rounds':>8}")
    for lv in co["levels"]:
        add(f"     {lv['jobs']:>5}{lv['wall_s']:>14.3f}s{lv['ratio']:>9.2f}x{lv['median_job_overhead_s']:>13.3f}s"
            f"{lv['client_cpu_s_per_job']:>18.3f}s{lv['emulator_cpu_s_per_job']:>9.3f}s{lv['rounds']:>8}")
    add(f"     (CPU s/job, medians over rounds: client = this process; emulator = its child process, its side "
        f"of every request with the output prerendered; both share this machine's {m['cpus']} CPUs)")
    add("")
    add(f"5. Memory of one generation ({me['inputs']} inputs of {me['inputs_mb'] / me['inputs']:.1f} MB each "
        "already in memory; the emulator's memory is its child process's, not counted)")
    add(f"     tracemalloc peak     {me['tracemalloc_peak_mb']:>6.1f} MB  (Python objects and numpy arrays; "
        "Pillow's internal image buffers are not traced)")
    if "rss_peak_rise_mb" in me:
        add(f"     peak RSS rise        {me['rss_peak_rise_mb']:>6.1f} MB  (all memory, another run of the "
            "same job after malloc_trim)")
    add("")
    add("Goals")
    for g in res["goals"]:
        add(f"  [{'PASS' if g['pass'] else 'FAIL'}] {g['goal']}: {g['measured']}")
    add("")
    add(f"total run time {res['run_seconds']:.0f} s")
    return "\n".join(L)


# --- entry point ---------------------------------------------------------------------------------

def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


async def run_all(cfg: Settings) -> dict:
    started = time.monotonic()
    schema = find_schema(MODEL_ID)
    seeds = _Seeds()
    n_sets = max(max(cfg.concurrency), 1)
    log(f"making {n_sets * cfg.inputs} photo-like {cfg.side}x{cfg.side} inputs")
    sets = input_sets(n_sets, cfg.inputs, cfg.side)
    res: dict = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "machine": machine_info(), "settings": dataclasses.asdict(cfg), "loadavg_start": _loadavg()}
    log(f"sections 1-2: overhead, pack vs naive, {cfg.repeats} runs each")
    res["overhead"] = await section_overhead(cfg, schema, sets[0], seeds)
    log("section 3: completion-notice delay")
    res["notice"] = await section_notice(cfg, schema, seeds)
    log("section 4: concurrency")
    res["concurrency"] = await section_concurrency(cfg, schema, sets, seeds)
    log("section 5: memory")
    res["memory"] = await section_memory(cfg, schema, sets[0], seeds)
    res["loadavg_end"] = _loadavg()
    res["goals"] = evaluate_goals(res)
    res["run_seconds"] = time.monotonic() - started
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runcomfy bench",
                                 description="Measure the pack's overhead against a naive client, "
                                             "on a local emulator (loopback only).")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run of every section (seconds)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="runs per client in sections 1-2 (default 7); section 3 then runs 8N jobs per "
                         "length of at least half the longest and 16N per shorter length, section 4 "
                         "(N+1)//2 rounds per level")
    ap.add_argument("--processing-time", type=float, default=None, help="emulated seconds per job (default 2)")
    ap.add_argument("--naive-poll", type=float, default=None, help="naive client's poll interval (default 5 s)")
    ap.add_argument("--lengths", type=_floats, default=None, help="job lengths of section 3 (default 2,10,60,120)")
    ap.add_argument("--notice-scale", type=float, default=None,
                    help="shrink section 3's emulated time and poll policy by this factor (default 1 = real time)")
    ap.add_argument("--concurrency", type=_ints, default=None, help="concurrency levels (default 1,4,8)")
    from . import link as bench_link      # sections 7-9: upload formats, a shaped link, the batch at scale
    bench_link.add_arguments(ap)
    args = ap.parse_args(argv)
    if "core" not in bench_link.sections_of(args):
        return bench_link.main_only(args)
    cfg = Settings.make(args.quick, args.repeats)
    for name in ("processing_time", "naive_poll", "lengths", "notice_scale", "concurrency"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    if cfg.notice_scale <= 0 or cfg.processing_time <= 0 or cfg.naive_poll <= 0 or not cfg.lengths \
            or not cfg.concurrency or min(cfg.concurrency) < 1:
        ap.error("times and scales must be positive, lengths and concurrency non-empty")
    res = asyncio.run(run_all(cfg))
    from .catalog import render as render_catalog, section_catalog   # section 6: catalog scale
    log("section 6: catalog scale")
    res["catalog"] = section_catalog(cfg.quick)
    res.update(bench_link.run_sections(args, cfg.quick))
    from .video import render as render_video, section_video   # section 10: video in and out
    res["video"] = section_video(cfg.quick)
    if args.json:
        print(json.dumps(res, indent=2, default=float))
    else:
        print(render_text(res) + "\n\n" + render_catalog(res["catalog"]) + bench_link.render(res)
              + "\n\n" + render_video(res["video"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
