"""What the benchmark's sections share: the model and prompt, one job's figures and their summary,
the naive client, the log line, the machine. Every section module imports this one; none imports
another section's private names (they used to import each other in a cycle)."""

from __future__ import annotations

import base64
import io
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import PIL
import requests
from PIL import Image

if TYPE_CHECKING:
    from .emulator_child import ChildEmulator

MODEL_ID = "wan-ai/wan-2-6/image-to-image"
OUTPUT_SIZE = "1024*1024 (1:1)"
PROMPT = "Put the subject of image 1 into the scene of image 2, lit like image 3."
PARTS = ("encode", "submit", "notice", "download", "decode", "other")
NAIVE_DONE = ("completed", "succeeded", "failed", "cancelled", "canceled", "error")


def median(xs) -> float:
    return float(statistics.median(xs))


def p90(xs) -> float:
    return float(np.percentile(np.asarray(xs, dtype=float), 90))


def fields(seed: int) -> dict:
    return {"prompt": PROMPT, "image_size": OUTPUT_SIZE, "seed": seed, "prompt_extend": False}


def output_shape() -> tuple[int, int]:
    w, h = (int(x) for x in OUTPUT_SIZE.split()[0].split("*"))
    return h, w


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def job_row(job: dict, wall: float, noticed_at: float, status_calls: int, *, encode: float,
             submit: float, download: float, decode: float) -> dict:
    """One job's figures, either client's: the emulator's processing and queue wait (from its
    timestamps, ``emu.job``), and the overhead around them split into PARTS."""
    processing = job["finished_at"] - job["started_at"]
    row = {"wall": wall, "processing": processing, "overhead": wall - processing, "encode": encode,
           "submit": submit, "notice": noticed_at - job["finished_at"], "download": download, "decode": decode,
           "queue_wait": job["started_at"] - job["accepted_at"], "status_calls": status_calls}
    row["other"] = row["overhead"] - sum(row[k] for k in PARTS if k != "other")
    return row


def naive_job(session: requests.Session, emu: ChildEmulator, token: str, arrays: list[np.ndarray], seed: int,
              poll: float, timeout: float = 300.0) -> dict:
    """What a straightforward client does: default PNG, one thing after another, fixed sleeps."""
    base = emu.base_url
    auth = {"Authorization": f"Bearer {token}"}
    t_start = time.monotonic()
    pngs = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "PNG")
        pngs.append(buf.getvalue())
    encode = time.monotonic() - t_start
    payload = fields(seed)
    payload["image_urls"] = ["data:image/png;base64," + base64.b64encode(p).decode("ascii") for p in pngs]
    t = time.monotonic()
    r = session.post(f"{base}/models/{MODEL_ID}", json=payload, headers=auth, timeout=60)
    r.raise_for_status()
    rid = r.json()["request_id"]
    submit = time.monotonic() - t
    noticed = None
    calls = 0
    for _ in range(int(timeout / poll) + 2):
        st = session.get(f"{base}/requests/{rid}/status", headers=auth, timeout=60)
        st.raise_for_status()
        calls += 1
        if str(st.json().get("status")).lower() in NAIVE_DONE:
            noticed = time.monotonic()
            break
        time.sleep(poll)
    if noticed is None:
        raise RuntimeError(f"naive client: job {rid} did not finish within {timeout:.0f}s")
    res = session.get(f"{base}/requests/{rid}/result", headers=auth, timeout=60)
    res.raise_for_status()
    out = res.json().get("output") or {}
    urls = [out["image"]] if isinstance(out.get("image"), str) else list(out.get("images") or [])
    t = time.monotonic()
    files = []
    for u in urls:
        d = session.get(u, timeout=60)
        d.raise_for_status()
        files.append(d.content)
    download = time.monotonic() - t
    t = time.monotonic()
    images = [np.array(Image.open(io.BytesIO(f)).convert("RGB")) for f in files]
    decode = time.monotonic() - t
    wall = time.monotonic() - t_start
    if len(images) != 1 or images[0].shape[:2] != output_shape():
        raise RuntimeError(f"naive client: unexpected result shape {[a.shape for a in images]}")
    return job_row(emu.job(rid), wall, noticed, calls, encode=encode, submit=submit, download=download,
                    decode=decode)


def summarize(rows: list[dict]) -> dict:
    keys = ("wall", "processing", "overhead") + PARTS + ("queue_wait", "status_calls")
    out = {k: median([r[k] for r in rows]) for k in keys}
    out["runs"] = len(rows)
    out["overhead_min"] = min(r["overhead"] for r in rows)
    out["overhead_max"] = max(r["overhead"] for r in rows)
    return out


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def machine_info() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "pillow": PIL.__version__, "numpy": np.__version__, "requests": requests.__version__}
