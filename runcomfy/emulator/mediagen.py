"""Deterministic stand-ins for video and audio results, built from the job's inputs.

A video result is a real MP4 (H.264 + AAC, see codecs.video) whose frames are the image
emulator's picture for the same inputs (reference images as strips, a tint and a barcode from
the prompt and seed), the digest written on it, and a bar along the top that grows frame by
frame; its audio is a tone whose pitch comes from the digest of every input. An audio result
is that tone alone, as WAV or MP3. The digest is also stored as the file's ``comment`` tag, so
a test can see that inputs travelled without decoding pixels.

Durations and aspect ratios follow the request's ``duration`` / ``aspect_ratio`` style fields;
frame sizes stay small (short side 256 px by default) so tests run quickly.
"""

from __future__ import annotations

import hashlib
import io
import json
import re

import numpy as np
from PIL import Image, ImageDraw

from ..media.codecs import audio as audio_codec
from ..media.codecs import video as video_codec
from .imagegen import render_output

DEFAULT_DURATION_S = 5.0
MAX_DURATION_S = 120.0
DEFAULT_FPS = 24
SHORT_SIDE = 256
TONE_RATE = 44_100
DURATION_FIELDS = ("duration", "duration_seconds", "duration_s", "video_duration", "audio_duration",
                   "seconds", "length")
ASPECT_FIELDS = ("aspect_ratio", "ratio", "aspect")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:/x*]\s*(\d+(?:\.\d+)?)")


def digest(prompt: str, seed: int, inputs: list[bytes]) -> bytes:
    """One hash of everything the job was given, inputs in order."""
    h = hashlib.sha256(f"{prompt}\x00{int(seed)}".encode("utf-8"))
    for raw in inputs:
        h.update(hashlib.sha256(raw).digest())
    return h.digest()


def tag(prompt: str, seed: int, inputs: list[bytes]) -> dict:
    """What the result says about its inputs (its ``comment`` metadata, as JSON)."""
    return {"digest": digest(prompt, seed, inputs).hex()[:16], "seed": int(seed),
            "inputs": [hashlib.sha256(r).hexdigest()[:16] for r in inputs]}


def tone_hz(prompt: str, seed: int, inputs: list[bytes]) -> float:
    """220..880 Hz in whole hertz, from the digest: other inputs, another pitch."""
    d = digest(prompt, seed, inputs)
    return 220.0 + int.from_bytes(d[8:10], "big") % 661


def duration_of(payload: dict, default: float = DEFAULT_DURATION_S) -> float:
    for name in DURATION_FIELDS:
        value = payload.get(name)
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue                     # "auto", missing
        if seconds > 0:
            return min(seconds, MAX_DURATION_S)
    return default


def size_of(payload: dict, refs: list[Image.Image], short_side: int = SHORT_SIDE) -> tuple[int, int]:
    """(width, height), even, from the aspect ratio field, else the first reference image, else 16:9."""
    ratio = None
    for name in ASPECT_FIELDS:
        m = _RATIO.match(str(payload.get(name) or ""))
        if m and float(m.group(2)) > 0:
            ratio = float(m.group(1)) / float(m.group(2))
            break
    if ratio is None and refs:
        ratio = refs[0].width / refs[0].height
    ratio = ratio or 16 / 9
    if ratio >= 1:
        w, h = short_side * ratio, short_side
    else:
        w, h = short_side, short_side / ratio
    return int(round(w / 2)) * 2, int(round(h / 2)) * 2


def _label(img: Image.Image, text: str) -> None:
    draw = ImageDraw.Draw(img)
    box = draw.textbbox((6, 14), text)
    draw.rectangle((box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3), fill=(0, 0, 0))
    draw.text((6, 14), text, fill=(255, 255, 255))


def render_video(prompt: str, seed: int, refs: list[Image.Image], inputs: list[bytes], *,
                 duration_s: float, size: tuple[int, int], fps: int = DEFAULT_FPS,
                 with_audio: bool = True) -> bytes:
    meta = tag(prompt, seed, inputs)
    base = render_output(refs, prompt, seed, size)
    _label(base, f"{meta['digest']} seed {int(seed)}")
    still = np.asarray(base, dtype=np.uint8)
    n = max(1, int(round(duration_s * fps)))
    bar_h = max(2, size[1] // 40)

    def frames():
        for i in range(n):
            f = still.copy()
            f[:bar_h, : max(1, (i + 1) * size[0] // n)] = (255, 255, 255)
            yield f
    clip = None
    if with_audio:
        clip = audio_codec.tone(tone_hz(prompt, seed, inputs), n / fps, TONE_RATE, 2)
    return video_codec.encode_frames(frames(), fps, clip, metadata={"comment": json.dumps(meta)})


def render_audio(prompt: str, seed: int, inputs: list[bytes], *, duration_s: float, fmt: str = "wav") -> bytes:
    clip = audio_codec.tone(tone_hz(prompt, seed, inputs), duration_s, TONE_RATE, 2)
    if fmt == "wav":
        return audio_codec.encode_wav(clip)
    return audio_codec.encode_compressed(clip, fmt)


def first_frame(raw: bytes) -> Image.Image | None:
    """A video input's first picture, so it shows up in the result like an image input does."""
    try:
        import av
        with av.open(io.BytesIO(raw)) as c:
            for frame in c.decode(video=0):
                return frame.to_image()
    except Exception:
        return None
    return None


# Result files: extension and content type by their first bytes (the emulator serves them as
# object storage does, with the type of the file).
CONTENT_TYPES = {"png": "image/png", "mp4": "video/mp4", "wav": "audio/wav", "mp3": "audio/mpeg"}
OUTPUT_KINDS = {"png": "image", "mp4": "video", "wav": "audio", "mp3": "audio"}


def extension(data: bytes) -> str:
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return "png"


def output_kind(urls: list[str]) -> str:
    """"image" | "video" | "audio" from the result URLs' extensions (first URL)."""
    ext = urls[0].rsplit(".", 1)[-1] if urls else "png"
    return OUTPUT_KINDS.get(ext, "image")


def render_media(kind: str, payload: dict, prompt: str, seed: int, refs: list[Image.Image],
                 image_inputs: list[bytes], media: list[tuple[str, bytes]], count: int = 1) -> list[bytes]:
    """``count`` results of ``kind`` ("video" | "audio") for one job, seeds ``seed``, ``seed+1``..."""
    inputs = list(image_inputs) + [raw for _, raw in media]
    frames = [f for f in (first_frame(raw) for k, raw in media if k == "video") if f is not None]
    refs = list(refs) + frames
    duration = duration_of(payload)
    out = []
    for k in range(count):
        if kind == "video":
            out.append(render_video(prompt, seed + k, refs, inputs, duration_s=duration,
                                    size=size_of(payload, refs),
                                    with_audio=payload.get("generate_audio", True) is not False))
        else:
            fmt = str(payload.get("output_format") or "wav").lower()
            out.append(render_audio(prompt, seed + k, inputs, duration_s=duration,
                                    fmt="mp3" if fmt == "mp3" else "wav"))
    return out
