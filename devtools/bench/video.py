"""Benchmark section 10 (``python -m runcomfy bench``): a 10 s 1080p video in and out.

In: a 10 s 1920x1080 24 fps H.264 + AAC MP4 on disk becomes the request's inline data URI
  - pack, passed through: probed, its bytes sent unchanged (what the pack does for MP4/H.264);
  - pack, re-encoded: decoded and encoded frame by frame (what the pack does for other codecs);
  - naive: every frame decoded into one float32 tensor (ComfyUI's ``get_components``), then
    encoded back to H.264 from it.
Out: the same file as a result served over loopback HTTP, kept by Save Video's path
  - pack: streamed to a file (``download_to_file``), then Save Video's stream copy into MP4;
  - naive: downloaded into memory, every frame decoded into a float32 tensor, encoded to MP4.

Each path runs in a spawned child process of its own, so its peak memory (the rise of the
child's peak RSS, C allocations of ffmpeg included) is its own. Times are wall seconds.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

FULL = {"seconds": 10.0, "width": 1920, "height": 1080, "fps": 24}
QUICK = {"seconds": 1.0, "width": 640, "height": 360, "fps": 24}
TOKEN = "bench-video-token-5c1e"


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _kib(key: str) -> int | None:
    import re
    try:
        m = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def _frames(cfg: dict):
    """Moving gradients with some texture, one frame at a time (what a generator renders)."""
    h, w, n = cfg["height"], cfg["width"], int(cfg["seconds"] * cfg["fps"])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(7)
    grain = rng.integers(0, 24, (h, w), dtype=np.uint8)
    for i in range(n):
        f = np.empty((h, w, 3), np.uint8)
        f[..., 0] = ((xx + 9 * i) * (255 / w)).astype(np.uint8) ^ grain
        f[..., 1] = ((yy + 4 * i) * (255 / h)).astype(np.uint8)
        f[..., 2] = ((xx + yy - 6 * i) % 256).astype(np.uint8)
        yield f


def make_source(cfg: dict, path: str) -> None:
    from runcomfy.media.codecs import audio, video
    clip = audio.tone(440, cfg["seconds"], 48000, 2)
    video.encode_frames(_frames(cfg), cfg["fps"], clip, dst=path)


# --- the measured paths (run in a child) -------------------------------------------------------

def _pack_pass_through(src: str, work: str, url: str) -> dict:
    from runcomfy.media.kinds.video import KIND, VideoSource
    p = KIND.prepare_one(VideoSource(path=src), "video")
    uri = "data:video/mp4;base64," + base64.b64encode(p.data).decode("ascii")
    with open(src, "rb") as fh:
        same = fh.read() == p.data
    return {"sent_mb": len(uri) / 2**20, "unchanged": same}


def _pack_re_encode(src: str, work: str, url: str) -> dict:
    from runcomfy.media.codecs import video
    out = os.path.join(work, "reencoded.mp4")
    video.transcode(src, dst=out)
    with open(out, "rb") as fh:
        uri = "data:video/mp4;base64," + base64.b64encode(fh.read()).decode("ascii")
    return {"sent_mb": len(uri) / 2**20, "unchanged": False}


def _decode_to_float_tensor(src) -> tuple[np.ndarray, float]:
    """What ComfyUI's VideoFromFile.get_components does: every frame, float32 in 0..1."""
    import io

    import av
    with av.open(io.BytesIO(src) if isinstance(src, bytes) else src) as c:
        s = c.streams.video[0]
        n = s.frames or 0
        fps = float(s.average_rate)
        frames = np.empty((n, s.codec_context.height, s.codec_context.width, 3), np.float32) if n else None
        got = []
        for i, fr in enumerate(c.decode(video=0)):
            a = fr.to_ndarray(format="rgb24")
            if frames is not None and i < n:
                np.divide(a, 255.0, out=frames[i], casting="unsafe")
            else:
                got.append(a.astype(np.float32) / 255.0)
    return (frames if frames is not None else np.stack(got)), fps


def _naive_in(src: str, work: str, url: str) -> dict:
    from runcomfy.media.codecs import video
    frames, fps = _decode_to_float_tensor(src)
    u8 = (np.clip(frames[i], 0, 1) * 255 + 0.5 for i in range(len(frames)))
    data = video.encode_frames((f.astype(np.uint8) for f in u8), fps)
    uri = "data:video/mp4;base64," + base64.b64encode(data).decode("ascii")
    return {"sent_mb": len(uri) / 2**20, "unchanged": False, "tensor_mb": frames.nbytes / 2**20}


def _client(url: str):
    from runcomfy.api import RunComfyClient
    base = url.split("/files/")[0] + "/v1"
    return RunComfyClient(TOKEN, base)


def _pack_out(src: str, work: str, url: str) -> dict:
    from runcomfy.media.codecs import video
    from runcomfy.media.kinds.video import KIND
    client = _client(url)
    path = os.path.join(work, "result.mp4")
    client.download_to_file(url, path, max_bytes=KIND.output_cap_bytes)
    vf = KIND.decode_output(path)          # the VIDEO value: probed, not decoded
    saved = os.path.join(work, "saved.mp4")
    video.remux(vf.path, dst=saved)        # Save Video's stream copy of an MP4/H.264 source
    return {"saved_mb": os.path.getsize(saved) / 2**20, "frames": video.probe(saved).frames}


def _naive_out(src: str, work: str, url: str) -> dict:
    from runcomfy.media.codecs import video
    client = _client(url)
    data = client.download(url, max_bytes=1 << 30)
    frames, fps = _decode_to_float_tensor(data)
    saved = os.path.join(work, "saved_naive.mp4")
    u8 = ((np.clip(frames[i], 0, 1) * 255 + 0.5).astype(np.uint8) for i in range(len(frames)))
    video.encode_frames(u8, fps, dst=saved)
    return {"saved_mb": os.path.getsize(saved) / 2**20, "frames": video.probe(saved).frames,
            "tensor_mb": frames.nbytes / 2**20}


PATHS = {"pass_through": _pack_pass_through, "re_encode": _pack_re_encode, "naive_in": _naive_in,
         "pack_out": _pack_out, "naive_out": _naive_out}


def _child(name: str, src: str, work: str, url: str, conn) -> None:
    try:
        # Imports are not part of the path being measured (ComfyUI has them loaded already).
        import av  # noqa: F401

        from runcomfy import api  # noqa: F401
        from runcomfy.media import kinds  # noqa: F401
        from runcomfy.media.codecs import audio, video  # noqa: F401
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        before = _kib("VmRSS")
        t0 = time.perf_counter()
        out = PATHS[name](src, work, url)
        out["seconds"] = time.perf_counter() - t0
        hwm = _kib("VmHWM")
        out["peak_rss_rise_mb"] = (hwm - before) / 1024 if hwm is not None and before is not None else None
        conn.send(("ok", out))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        import traceback
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def _measure(name: str, src: str, work: str, url: str, timeout: float = 900.0) -> dict:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(name, src, work, url, child), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise RuntimeError(f"bench video path {name} took longer than {timeout:.0f} s")
        status, value = parent.recv()
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=10)
    if status != "ok":
        raise RuntimeError(f"bench video path {name} failed: {value}")
    return value


class _Files(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def section_video(quick: bool = False) -> dict:
    cfg = QUICK if quick else FULL
    work = tempfile.mkdtemp(prefix="runcomfy-bench-video-")
    try:
        src = os.path.join(work, "source.mp4")
        _log(f"section 10: making a {cfg['seconds']:g} s {cfg['width']}x{cfg['height']} H.264+AAC source")
        make_source(cfg, src)
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Files, directory=work))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/files/source.mp4"
        os.makedirs(os.path.join(work, "files"), exist_ok=True)
        shutil.copyfile(src, os.path.join(work, "files", "source.mp4"))
        try:
            rows = {}
            for name in PATHS:
                _log(f"section 10: {name}")
                rows[name] = _measure(name, src, work, url)
        finally:
            server.shutdown()
            server.server_close()
        return {"video": {**cfg, "mb": os.path.getsize(src) / 2**20}, "paths": rows}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(res: dict) -> str:
    v, p = res["video"], res["paths"]
    lines = [f"10. Video: a {v['seconds']:g} s {v['width']}x{v['height']} {v['fps']} fps H.264+AAC MP4 "
             f"({v['mb']:.1f} MB); each path in a child process of its own (peak = rise of its peak RSS)",
             "",
             "| path | what it does | time | peak memory |",
             "|---|---|---:|---:|"]
    what = {"pass_through": "input, pack: MP4/H.264 sent unchanged",
            "re_encode": "input, pack: re-encoded frame by frame",
            "naive_in": "input, naive: all frames to a float32 tensor, then encoded",
            "pack_out": "output, pack: streamed to a file, Save Video stream copy",
            "naive_out": "output, naive: into memory, all frames to a tensor, encoded"}
    for name, row in p.items():
        peak = row.get("peak_rss_rise_mb")
        lines.append(f"| {name.replace('_', ' ')} | {what[name]} | {row['seconds']:.2f} s | "
                     + (f"{peak:.0f} MB" if peak is not None else "n/a") + " |")
    lines.append("")
    if p["pass_through"]["seconds"] > 0 and p["pack_out"]["seconds"] > 0:
        lines.append(f"Input: pass-through {p['naive_in']['seconds'] / p['pass_through']['seconds']:.0f}x faster "
                     f"than naive; bytes unchanged: {p['pass_through']['unchanged']}. Output: "
                     f"{p['naive_out']['seconds'] / p['pack_out']['seconds']:.0f}x faster than naive, "
                     f"{p['pack_out']['frames']} frames kept.")
    return "\n".join(lines)


if __name__ == "__main__":
    r = section_video("--quick" in sys.argv)
    print(json.dumps(r, indent=2) if "--json" in sys.argv else render(r))
