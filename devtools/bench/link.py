"""Benchmark sections 7-9 (``python -m runcomfy bench``): upload formats, a shaped link, batch scale.

7. Upload formats: size and single-thread encode time of every lossless encoder within our
   dependencies (the pack's PNG, Pillow's PNG levels, lossless WebP methods 0-2) and of JPEG at
   the offered quality, on 1024x1024 pictures from ``photomodel`` (a dead-leaves photo model and a
   smooth generated-looking image; ``--photos DIR`` adds real photographs from a folder), with the
   time to send each at 5, 20 and 100 Mbit/s (encode + base64 bytes / uplink).
8. A shaped link (``--link UP/DOWN/RTT``, default 20/100/60: Mbit/s, Mbit/s, ms) between the
   client and the emulator (emulator/shaping.py): per-job overhead of the pack for each upload
   format and of the naive client, split into encode, send (the submit), notice, download,
   decode and other, against the link's floor: the smallest lossless encoding's base64 bytes over
   the uplink, the result file over the downlink, and the round trips the protocol needs (a
   submit on a fresh connection: 2 for TCP + TLS and 1 for the request; half of one for the
   answer that tells the job is done; 1 for /result; 1 for the download on a kept connection).
9. The batch runner at scale (batch.py).

``--sections`` picks sections: ``core`` (1-6 of bench.py), ``formats``, ``link``, ``batch``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

import numpy as np
import requests

from runcomfy.api import upload_progress
from runcomfy.media import imageformats, images as media
from runcomfy.emulator.shaping import parse_link

from .. import photomodel
from .common import PARTS, fields, job_row, log, machine_info, naive_job, summarize

SECTIONS = ("core", "formats", "link", "batch")
LINK_FORMATS = ("png", "webp_fast", "webp_small", "auto")
GOAL_LINK_FLOOR_RATIO = 1.3
GOAL_LINK_NAIVE_RATIO = 5.0
# Round trips the protocol needs per job on top of the bytes (see the module docstring).
FLOOR_RTTS = 2 + 1 + 0.5 + 1 + 1




def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"comma list of sections to run: {', '.join(SECTIONS)} (default all; 'core' = 1-6)")
    ap.add_argument("--link", default="20/100/60", metavar="UP/DOWN/RTT",
                    help="shaped link of section 8: uplink Mbit/s / downlink Mbit/s / RTT ms (default 20/100/60)")
    ap.add_argument("--link-repeats", type=int, default=3, help="jobs per client and format in section 8 (default 3)")
    ap.add_argument("--photos", default=None, metavar="DIR",
                    help="also measure section 7 on the pictures in DIR (PNG/JPEG/WebP, e.g. real photographs)")
    ap.add_argument("--batch-jobs", type=int, default=1000, help="jobs in section 9 (default 1000)")
    ap.add_argument("--batch-concurrency", type=int, default=64, help="batch concurrency in section 9 (default 64)")
    ap.add_argument("--batch-workers", type=int, default=16, help="emulator workers in section 9 (default 16)")
    ap.add_argument("--batch-job-seconds", type=float, default=1.0,
                    help="emulated seconds per job in section 9's real-time runs (default 1)")
    ap.add_argument("--batch-large", type=int, default=100_000,
                    help="jobs in section 9's large scaled run (0 s jobs; default 100000)")
    ap.add_argument("--batch-media", choices=("text", "image"), default="text",
                    help="section 9's jobs: text-only (default) or one 384x384 input image each")


def sections_of(args) -> set[str]:
    chosen = {s.strip() for s in str(args.sections).split(",") if s.strip()}
    bad = chosen - set(SECTIONS)
    if bad:
        raise SystemExit(f"bench: unknown section(s) {', '.join(sorted(bad))}; choose from {', '.join(SECTIONS)}")
    return chosen


# --- section 7: formats ------------------------------------------------------------------------

def study_images(side: int, photos_dir: str | None) -> dict[str, np.ndarray]:
    imgs = {"photo model (dead leaves) #1": photomodel.photo(101, side),
            "photo model (dead leaves) #2": photomodel.photo(102, side),
            "generated-like (smooth 1/f)": photomodel.generated(103, side)}
    if photos_dir:
        for p in sorted(Path(photos_dir).iterdir()):
            if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
                imgs[p.name] = media.decode_image(p.read_bytes())
    return imgs


def section_formats(quick: bool, photos_dir: str | None) -> dict:
    side = 256 if quick else 1024
    imgs = study_images(side, photos_dir)
    encoders = dict(imageformats.STUDY_ENCODERS)
    # The slowest settings never win on time to send (README has them on real photos); leaving
    # them out keeps the whole benchmark under ten minutes on a busy 2-core machine.
    encoders.pop("pillow png level 9", None)
    encoders.pop("webp lossless method 2", None)
    res = imageformats.study(imgs, repeats=1, encoders=encoders)
    res["images"] = {k: list(v.shape[:2]) for k, v in imgs.items()}
    return res


def render_formats(res: dict) -> str:
    ups = res["uplinks_mbps"]
    lines = [f"7. Upload formats on {len(res['images'])} pictures ({', '.join(res['images'])}); "
             "single-thread encode; send = encode + base64 bytes / uplink, per megapixel",
             "",
             "| encoder | lossless | bytes/px | encode ns/px | " + " | ".join(f"send @ {u} Mbit/s" for u in ups) + " |",
             "|---|---|---:|---:|" + "---:|" * len(ups)]
    for name, s in res["summary"].items():
        lines.append(f"| {name} | {'yes' if s['lossless'] else 'no'} | {s['bytes_per_px']:.2f} | {s['ns_per_px']:.0f} | "
                     + " | ".join(f"{s['send_s_per_mpx'][str(u)]:.2f} s" for u in ups) + " |")
    best = {}
    for u in map(str, ups):
        lossless = {n: s for n, s in res["summary"].items() if s["lossless"]}
        best[u] = min(lossless, key=lambda n: lossless[n]["send_s_per_mpx"][u])
    lines.append("")
    lines.append("fastest lossless to send: " + ", ".join(f"{u} Mbit/s: {n}" for u, n in best.items()))
    return "\n".join(lines)


# --- section 8: shaped link --------------------------------------------------------------------



def link_inputs(side: int) -> list[np.ndarray]:
    return [photomodel.photo(201, side), photomodel.photo(202, side), photomodel.generated(203, side)]


def _floor(arrays: list[np.ndarray], output_bytes: int, up: float | None, down: float | None, rtt_ms: float) -> dict:
    per_image = []
    for a in arrays:
        sizes = {name: len(fn(a)) for name, (lossless, fn) in imageformats.STUDY_ENCODERS.items() if lossless}
        best = min(sizes, key=sizes.get)
        per_image.append((best, sizes[best]))
    wire = sum(n for _, n in per_image) * imageformats.WIRE_FACTOR
    send = wire * 8 / (up * 1e6) if up else 0.0
    recv = output_bytes * 8 / (down * 1e6) if down else 0.0
    rtts = FLOOR_RTTS * rtt_ms / 1000
    return {"total": send + recv + rtts, "send": send, "download": recv, "round_trips": rtts,
            "upload_bytes": wire, "output_bytes": output_bytes, "smallest": [b for b, _ in per_image]}


async def section_link(args, quick: bool) -> dict:
    from .emulator_child import ChildEmulator
    from runcomfy.api import RunComfyClient
    from runcomfy.run import Runner
    from runcomfy.schema import find_schema

    up, down, rtt = parse_link(args.link)
    side = 384 if quick else 1024
    repeats = 1 if quick else max(1, args.link_repeats)
    processing = 0.3 if quick else 2.0
    naive_poll = 0.5 if quick else 5.0
    schema = find_schema("wan-ai/wan-2-6/image-to-image")
    arrays = link_inputs(side)
    token = "bench-link-" + uuid.uuid4().hex
    emu = ChildEmulator(token=token, processing_time=processing, workers=4,
                        uplink_mbps=up, downlink_mbps=down, rtt_ms=rtt)
    client = RunComfyClient(token, emu.base_url)
    session = requests.Session()
    session.trust_env = False
    upload_progress.UPLINK.reset()          # auto starts from the stated default, as a fresh process does
    rows: dict[str, list[dict]] = {f: [] for f in LINK_FORMATS}
    rows["naive"] = []
    seed = [5000]

    def next_seed() -> int:
        seed[0] += 1
        return seed[0]

    try:
        runner = Runner(client)
        emu.queue_processing_times([0.05])
        gen = await runner.generate(schema, fields(next_seed()), media={"image_urls": arrays})
        emu.reuse_output(gen.request_ids[0])
        output_bytes = len(session.get(gen.urls[0], timeout=60).content)
        session.get(f"{emu.base_url}/models", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        for i in range(repeats):
            for fmt in LINK_FORMATS + ("naive",):
                s = next_seed()
                emu.set_lengths({s: processing})
                if fmt == "naive":
                    row = await asyncio.to_thread(naive_job, session, emu, token, arrays, s, naive_poll)
                else:
                    t0 = time.monotonic()
                    gen = await runner.generate(schema, fields(s), media={"image_urls": arrays}, image_format=fmt)
                    wall = time.monotonic() - t0
                    job = emu.job(gen.request_ids[0])
                    tm = gen.timings
                    row = job_row(job, wall, tm["noticed_at"], job["status_calls"], encode=tm["encode"],
                                   submit=tm["submit"], download=tm["download"], decode=tm["decode"])
                    row["notes"] = [n for n in gen.notes if n.startswith("auto")]
                rows[fmt].append(row)
                log(f"link run {i + 1}/{repeats} {fmt}: overhead {row['overhead']:.2f}s "
                     f"(send {row['submit']:.2f}s)")
        errors = emu.internal_errors()
        if errors:
            raise RuntimeError("emulator internal error:\n" + errors[0])
    finally:
        session.close()
        client.close()
        emu.close()
    floor = _floor(arrays, output_bytes, up, down, rtt)
    summary = {k: summarize(v) for k, v in rows.items()}
    lossless = [f for f in LINK_FORMATS if f in summary]
    best = min(lossless, key=lambda f: summary[f]["overhead"])
    naive = summary["naive"]["overhead"]
    return {"link": {"uplink_mbps": up, "downlink_mbps": down, "rtt_ms": rtt}, "side": side,
            "processing_s": processing, "repeats": repeats, "floor": floor, "summary": summary, "best": best,
            "best_vs_floor": summary[best]["overhead"] / floor["total"],
            "naive_vs_best": naive / summary[best]["overhead"],
            "naive_excess_vs_best_excess": (naive - floor["total"]) / max(1e-9, summary[best]["overhead"] - floor["total"]),
            "auto_notes": sorted({n for r in rows["auto"] for n in r.get("notes", [])}),
            "parts": list(PARTS), "runs": rows}


def render_link(res: dict) -> str:
    L, f = res["link"], res["floor"]
    cols = list(LINK_FORMATS) + ["naive"]
    head = {"png": "pack png", "webp_fast": "pack webp fast", "webp_small": "pack webp small",
            "auto": "pack auto", "naive": "naive client"}
    lines = [f"8. Shaped link {L['uplink_mbps']:g} Mbit/s up / {L['downlink_mbps']:g} Mbit/s down / "
             f"{L['rtt_ms']:g} ms RTT: 3 inputs {res['side']}x{res['side']} (2 photo model, 1 generated-like), "
             f"one {res['side']}x{res['side']} output, {res['processing_s']:g} s processing; median of "
             f"{res['repeats']} jobs each",
             "",
             "| per job | " + " | ".join(head[c] for c in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for part in ("encode", "submit", "notice", "download", "decode", "other", "overhead"):
        name = {"submit": "send (submit)", "overhead": "**overhead**"}.get(part, part)
        lines.append(f"| {name} | " + " | ".join(f"{res['summary'][c][part]:.2f} s" for c in cols) + " |")
    lines.append("| vs floor | " + " | ".join(f"{res['summary'][c]['overhead'] / f['total']:.2f}x" for c in cols) + " |")
    lines += ["",
              f"floor {f['total']:.2f} s = smallest lossless upload {f['upload_bytes'] / 1e6:.2f} MB base64 "
              f"/ uplink {f['send']:.2f} s + result {f['output_bytes'] / 1e6:.2f} MB / downlink {f['download']:.2f} s "
              f"+ {FLOOR_RTTS:g} round trips {f['round_trips']:.2f} s (smallest per input: {', '.join(f['smallest'])})",
              f"best pack format: {res['best']}, {res['best_vs_floor']:.2f}x the floor "
              f"(goal <= {GOAL_LINK_FLOOR_RATIO}x: {'met' if res['best_vs_floor'] <= GOAL_LINK_FLOOR_RATIO else 'NOT met'}); "
              f"naive overhead {res['naive_vs_best']:.1f}x the pack's (goal >= {GOAL_LINK_NAIVE_RATIO:g}x: "
              f"{'met' if res['naive_vs_best'] >= GOAL_LINK_NAIVE_RATIO else 'NOT met'}); above the floor "
              f"the naive client adds {res['naive_excess_vs_best_excess']:.1f}x what the pack adds"]
    if res["auto_notes"]:
        lines.append("auto: " + "; ".join(res["auto_notes"]))
    return "\n".join(lines)


# --- glue ------------------------------------------------------------------------------------

def run_sections(args, quick: bool = False) -> dict:
    chosen = sections_of(args)
    out: dict = {}
    if "formats" in chosen:
        log("section 7: upload formats")
        out["formats"] = section_formats(quick, args.photos)
    if "link" in chosen:
        log(f"section 8: shaped link {args.link}")
        out["link"] = asyncio.run(section_link(args, quick))
    if "batch" in chosen:
        from .batch import section_batch
        log("section 9: batch at scale")
        out["batch"] = section_batch(args, quick)
    return out


def render(res: dict) -> str:
    parts = []
    if "formats" in res:
        parts.append(render_formats(res["formats"]))
    if "link" in res:
        parts.append(render_link(res["link"]))
    if "batch" in res:
        from .batch import render_batch
        parts.append(render_batch(res["batch"]))
    return "".join("\n\n" + p for p in parts)


def main_only(args) -> int:
    """Only the sections of this module (``--sections`` without ``core``)."""
    import datetime as _dt
    import json

    started = time.monotonic()
    res = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine_info()}
    res.update(run_sections(args, bool(getattr(args, "quick", False))))
    res["run_seconds"] = time.monotonic() - started
    if getattr(args, "json", False):
        print(json.dumps(res, indent=2, default=float))
    else:
        print(f"python -m runcomfy bench --sections {args.sections} · {res['date']} · "
              f"{res['machine']['cpus']} CPUs, {res['machine']['platform']}, Python {res['machine']['python']}"
              + render(res) + f"\n\n(run took {res['run_seconds']:.0f} s)")
    return 0
