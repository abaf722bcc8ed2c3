"""Upload formats of image inputs (PNG, JPEG, lossless WebP, ``auto (lossless)``) and the one
``encode_many`` that encodes a list of images in any of them; the encoders themselves are in
``images``.

study_notes (2-core x86_64 VM, Pillow 13.0 with libwebp; sizes in bytes per pixel, encode time
in ns per pixel, one thread; README has the table and its sources): on eight real photographs
(the sample photos shipped in the scikit-image 0.26 wheel, 0.1 to 2 Mpx) lossless WebP at
method 0 is 14 to 29% smaller than the pack's PNG (1.44 vs 1.69 B/px on "astronaut") at about
the same encode cost (35 to 70 vs 32 to 42 ns/px); method 1 saves 3 to 8% more for ~6x the
time (200 to 280 ns/px); Pillow's PNG at its default level 6 is 3 to 10% smaller than ours but
~7x slower (210 to 430 ns/px), and level 1 is both slower and often larger than ours. JPEG q95
is ~4x smaller still, but lossy: only on request.

So, for the time to send (encode + base64 bytes / uplink):
- ``webp_fast`` (lossless, method 0) wins over PNG at 5 and 20 Mbit/s on photographs and
  generated images and ties at 100 Mbit/s: it is a node choice;
- ``webp_small`` (lossless, method 1) ties with it at 5 Mbit/s and loses above, so it is not a
  node choice; only ``auto`` uses it, on uplinks slow enough for its saving to pay;
- ``auto`` picks per image: it encodes two thin bands (1/8 of the rows) with the candidates,
  predicts each one's size from them, weighs it against the encode cost measured on recent
  encodes and the uplink throughput measured on recent submits (``upload_progress.UPLINK``;
  20 Mbit/s before the first), and encodes the whole image once with the winner.

Every format here is lossless and keeps the size: nothing is resized or made lossy unless the
caller asked for JPEG (or fitting to limits). The model's page lists JPEG, PNG, BMP and WEBP as
accepted inputs; the emulator's ``strict_formats`` enforces that list.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from ..api import upload_progress
from . import images
from .images import check_rgb_u8, decode_image   # study() has a parameter named images

# Node choice label -> format key. New labels go at the END (saved workflows keep positions).
CHOICES = {
    "png (lossless)": "png",
    "jpeg (quality 95)": "jpeg",
    "webp (lossless, fast)": "webp_fast",
    "auto (lossless)": "auto",
}
LOSSLESS = ("png", "webp_fast", "webp_small")
EXTRA = ("webp_fast", "webp_small", "auto")     # beyond PNG and JPEG
FORMATS = ("png", "jpeg") + EXTRA
WEBP_MAX_SIDE = 16383
# Base64 makes every 3 bytes 4 on the wire (data URIs).
WIRE_FACTOR = 4 / 3
# Fraction of rows auto samples, in this many bands spread over the picture.
SAMPLE_BANDS, SAMPLE_FRACTION = 2, 1 / 8
# webp_small is only tried when its extra saving (~5% of webp_fast's bytes on photos) could pay
# for its extra encode time at the current uplink.
SMALL_EXPECTED_SAVING = 0.05


def format_for_choice(label: str) -> str:
    """The format key of a node choice label; unknown or empty labels mean the default, PNG."""
    label = str(label or "")
    if label in CHOICES:
        return CHOICES[label]
    for prefix, key in (("jpeg", "jpeg"), ("jpg", "jpeg")):
        if label.lower().startswith(prefix):
            return key
    return "png"


def _webp(arr: np.ndarray, method: int, quality: int) -> bytes:
    arr = images.check_rgb_u8(arr)
    h, w = arr.shape[:2]
    if max(h, w) > WEBP_MAX_SIDE:
        raise ValueError(f"WebP takes at most {WEBP_MAX_SIDE} px per side, got {w}x{h}; use png")
    buf = io.BytesIO()
    # exact=True keeps RGB exactly; lossless WebP is bit-exact RGB.
    Image.fromarray(arr, "RGB").save(buf, "WEBP", lossless=True, method=method, quality=quality, exact=True)
    return buf.getvalue()


def encode_webp_fast(arr: np.ndarray) -> bytes:
    return _webp(arr, 0, 0)


def encode_webp_small(arr: np.ndarray) -> bytes:
    return _webp(arr, 1, 25)


@dataclass(frozen=True)
class Codec:
    key: str
    mime: str
    encode: Callable[[np.ndarray], bytes]
    default_ns_per_px: float     # before this process has measured it (study_notes)


CODECS: dict[str, Codec] = {
    "png": Codec("png", "image/png", lambda a: images.encode_png(a, 1), 40.0),
    "webp_fast": Codec("webp_fast", "image/webp", encode_webp_fast, 45.0),
    "webp_small": Codec("webp_small", "image/webp", encode_webp_small, 240.0),
}


class EncodeCosts:
    """Encode time per pixel of each codec, as measured on this machine's recent encodes."""

    def __init__(self, weight: float = 0.3):
        self.weight = weight
        self._ns: dict[str, float] = {}
        self._lock = threading.Lock()

    def ns_per_px(self, key: str) -> float:
        with self._lock:
            return self._ns.get(key, CODECS[key].default_ns_per_px)

    def record(self, key: str, pixels: int, seconds: float) -> None:
        if pixels < 16_384 or seconds <= 0:
            return          # too small to time
        ns = seconds * 1e9 / pixels
        with self._lock:
            old = self._ns.get(key)
            self._ns[key] = ns if old is None else old + self.weight * (ns - old)

    def reset(self) -> None:
        with self._lock:
            self._ns.clear()


COSTS = EncodeCosts()


def timed_encode(key: str, arr: np.ndarray, costs: EncodeCosts | None = None) -> bytes:
    t0 = time.perf_counter()
    data = CODECS[key].encode(arr)
    (costs or COSTS).record(key, arr.shape[0] * arr.shape[1], time.perf_counter() - t0)
    return data


@dataclass
class Choice:
    key: str
    predicted_s: dict[str, float]       # codec -> predicted encode + send seconds
    bytes_per_px: dict[str, float] = field(default_factory=dict)
    uplink_bps: float = 0.0

    def note(self) -> str:
        return f"auto chose {self.key} (uplink {self.uplink_bps * 8 / 1e6:.0f} Mbit/s)"


def _bands(arr: np.ndarray) -> list[np.ndarray]:
    h = arr.shape[0]
    rows = max(8, int(h * SAMPLE_FRACTION / SAMPLE_BANDS))
    if rows * SAMPLE_BANDS >= h:
        return [arr]
    starts = [int((i + 0.5) * h / SAMPLE_BANDS - rows / 2) for i in range(SAMPLE_BANDS)]
    return [arr[s:s + rows] for s in starts]


def choose(arr: np.ndarray, uplink_bps: float | None = None, costs: EncodeCosts | None = None) -> Choice:
    """The lossless codec with the least predicted encode + send time for this picture."""
    costs = costs or COSTS
    uplink = float(uplink_bps or upload_progress.UPLINK.bytes_per_s())
    arr = images.check_rgb_u8(arr)
    px = arr.shape[0] * arr.shape[1]
    if max(arr.shape[:2]) > WEBP_MAX_SIDE:
        return Choice("png", {"png": 0.0}, uplink_bps=uplink)
    bands = _bands(arr)
    band_px = sum(b.shape[0] * b.shape[1] for b in bands)
    bpp: dict[str, float] = {}
    predicted: dict[str, float] = {}

    def weigh(key: str) -> None:
        # The sample bands are encoded with their codec's real encoder, and timed.
        bpp[key] = sum(len(timed_encode(key, b, costs)) for b in bands) / band_px
        predicted[key] = px * costs.ns_per_px(key) * 1e-9 + px * bpp[key] * WIRE_FACTOR / uplink

    weigh("png")
    weigh("webp_fast")
    # The slow WebP is sampled only if, saving what it usually saves, it could beat the best so far.
    guess_small = (px * costs.ns_per_px("webp_small") * 1e-9
                   + px * bpp["webp_fast"] * (1 - SMALL_EXPECTED_SAVING) * WIRE_FACTOR / uplink)
    if guess_small < min(predicted.values()):
        weigh("webp_small")
    best = min(predicted, key=predicted.get)
    return Choice(best, predicted, bpp, uplink)


def _format_key(fmt: str) -> str:
    key = str(fmt).lower()
    key = "jpeg" if key == "jpg" else key
    if key not in FORMATS:
        raise ValueError(f"unknown upload format {fmt!r}; use one of {', '.join(FORMATS)}")
    return key


def encode_many(arrays: list[np.ndarray], fmt: str = "png", jpeg_quality: int = images.DEFAULT_JPEG_QUALITY,
                max_workers: int | None = None, notes: list[str] | None = None) -> list[images.EncodedImage]:
    """Encode every array, in order, as ``fmt`` (``FORMATS``; "jpg" means jpeg). Identical arrays
    (same shape and bytes) are encoded once and share one result. Distinct images are encoded in
    parallel threads: zlib, libjpeg and libwebp work without the GIL (4 PNGs of 1024x1024 on 2
    cores: 210 ms serial, 122-151 ms threaded); fewer distinct images than CPUs: each PNG is
    itself compressed in parallel parts. ``auto`` picks a lossless codec per image (``choose``)
    and appends what it chose to ``notes``."""
    from concurrent.futures import ThreadPoolExecutor

    fmt = _format_key(fmt)
    arrays = [images.check_rgb_u8(a) for a in arrays]
    if fmt == "jpeg":
        images._check_quality(jpeg_quality)  # fail before spending time on any encode
    owner = images.first_copies(arrays)
    todo = sorted(set(owner))
    cpus = images.usable_cpus()
    png_threads = max(1, cpus // max(1, len(todo)))
    uplink = upload_progress.UPLINK.bytes_per_s() if fmt == "auto" else 0.0
    chosen: dict[int, str] = {}

    def work(i: int) -> images.EncodedImage:
        arr = arrays[i]
        key, mime = fmt, None
        # The PNG and JPEG encoders are looked up at call time so tests can count their calls.
        if fmt == "png":
            data, mime = images.encode_png(arr, threads=png_threads), "image/png"
        elif fmt == "jpeg":
            data, mime = images.encode_jpeg(arr, jpeg_quality), "image/jpeg"
        else:
            if fmt == "auto":
                key = choose(arr, uplink).key
                chosen[i] = key
            data, mime = timed_encode(key, arr), CODECS[key].mime
        return images.EncodedImage(data=data, mime=mime, width=int(arr.shape[1]), height=int(arr.shape[0]))

    workers = max_workers or min(len(todo), cpus, 8)
    if len(todo) <= 1 or workers <= 1:
        done = [work(i) for i in todo]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="runcomfy-encode") as pool:
            done = list(pool.map(work, todo))
    if notes is not None and chosen:
        counts: dict[str, int] = {}
        for k in chosen.values():
            counts[k] = counts.get(k, 0) + 1
        notes.append("auto (lossless): " + ", ".join(f"{n} x {k}" for k, n in sorted(counts.items()))
                     + f" for an uplink of {uplink * 8 / 1e6:.0f} Mbit/s"
                     + ("" if upload_progress.UPLINK.measured else " (assumed until a submit is measured)"))
    by_index = dict(zip(todo, done))
    return [by_index[j] for j in owner]


# --- the study ------------------------------------------------------------------------------

def _pil_png(level: int) -> Callable[[np.ndarray], bytes]:
    def enc(arr: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(arr, "RGB").save(buf, "PNG", compress_level=level)
        return buf.getvalue()
    return enc


def _jpeg(q: int) -> Callable[[np.ndarray], bytes]:
    return lambda arr: images.encode_jpeg(arr, q)


STUDY_ENCODERS: dict[str, tuple[bool, Callable[[np.ndarray], bytes]]] = {
    "pack png (zlib 1, Up filter)": (True, lambda a: images.encode_png(a, 1)),
    "pillow png level 1": (True, _pil_png(1)),
    "pillow png level 6 (default)": (True, _pil_png(6)),
    "pillow png level 9": (True, _pil_png(9)),
    "webp lossless method 0": (True, encode_webp_fast),
    "webp lossless method 1": (True, encode_webp_small),
    "webp lossless method 2": (True, lambda a: _webp(a, 2, 50)),
    "jpeg quality 95 (lossy)": (False, _jpeg(95)),
    "jpeg quality 90 (lossy)": (False, _jpeg(90)),
}


def study(images: dict[str, np.ndarray], uplinks_mbps=(5, 20, 100), repeats: int = 3,
          encoders: dict | None = None, check_lossless: bool = True) -> dict:
    """Size and single-thread encode time of every encoder on every image, and the time to send
    each (encode + base64 bytes at each uplink). Lossless encoders are checked bit-exact."""
    encoders = encoders or STUDY_ENCODERS
    rows = []
    for img_name, arr in images.items():
        arr = check_rgb_u8(arr)
        px = arr.shape[0] * arr.shape[1]
        for enc_name, (lossless, fn) in encoders.items():
            data = fn(arr)
            times = []
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                fn(arr)
                times.append(time.perf_counter() - t0)
            if lossless and check_lossless and not np.array_equal(decode_image(data), arr):
                raise AssertionError(f"{enc_name} is not lossless on {img_name}")
            enc_s = min(times)
            rows.append({"image": img_name, "encoder": enc_name, "lossless": lossless, "pixels": px,
                         "bytes": len(data), "bytes_per_px": len(data) / px, "encode_s": enc_s,
                         "send_s": {str(u): enc_s + len(data) * WIRE_FACTOR * 8 / (u * 1e6) for u in uplinks_mbps}})
    summary = {}
    for enc_name in encoders:
        mine = [r for r in rows if r["encoder"] == enc_name]
        summary[enc_name] = {
            "bytes_per_px": float(np.mean([r["bytes_per_px"] for r in mine])),
            "ns_per_px": float(np.mean([r["encode_s"] * 1e9 / r["pixels"] for r in mine])),
            "send_s_per_mpx": {u: float(np.mean([r["send_s"][u] * 1e6 / r["pixels"] for r in mine]))
                               for u in map(str, uplinks_mbps)},
            "lossless": mine[0]["lossless"] if mine else None,
        }
    return {"rows": rows, "summary": summary, "uplinks_mbps": list(uplinks_mbps)}
