"""Video files and frames, with PyAV.

What a video input becomes (``to_sendable``), cheapest first:
- **unchanged**: an MP4 (ISO base media, not a QuickTime brand) whose video is H.264 in 8-bit
  4:2:0 (``yuv420p``/``yuvj420p``) and whose audio, if any, is AAC. Every H.264 decoder plays
  that, so its bytes are sent as they are: no decode, no re-encode, no quality loss.
- **remuxed**: H.264 4:2:0 in another container (QuickTime .mov, Matroska...). The compressed
  video packets are copied into a fresh MP4 (lossless, no decode); audio is copied when AAC,
  else re-encoded to AAC.
- **re-encoded**: anything else (VP9/AV1/ProRes, 10-bit, 4:4:4...), decoded frame by frame and
  encoded with ``H264_SETTINGS`` (never holding more than one frame in memory).

Encoding settings (``H264_SETTINGS``, ``AAC_SETTINGS``): libx264, High profile, yuv420p, CRF 18
(visually transparent for generated content), preset ``veryfast`` (1080p at a few times real time
on 2 cores; slower presets gain ~10% size, not quality), constant frame rate, ``+faststart`` (index
first, so a fetching server can stream it); AAC-LC 192 kbit/s at the clip's own sample rate and
channel layout (no resampling: a rate AAC cannot carry is refused). Odd frame sizes are padded by
one edge pixel to even (4:2:0 needs even sides), and the caller is told.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Iterator

import numpy as np

from . import containers
from .audio import AudioClip

MP4_MIME = "video/mp4"
H264_SETTINGS = {"codec": "libx264", "pix_fmt": "yuv420p", "crf": "18", "preset": "veryfast",
                 "profile": "high"}
AAC_SETTINGS = {"codec": "aac", "bit_rate": 192_000}
MP4_OPTIONS = {"movflags": "+faststart"}
PASS_PIX_FMTS = ("yuv420p", "yuvj420p")
# Sample rates the AAC encoder can carry (ISO 14496-3 sampling frequency index).
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
# Refuse to decode more than this many frames to arrays (the naive path, tests, previews).
MAX_DECODE_FRAMES = 20_000


class VideoError(ValueError):
    """A video value or file that cannot be used; the text says why, with the value."""


@dataclass
class VideoProbe:
    """What a container holds, read from its headers (nothing decoded)."""

    container: str                 # ffmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    brand: str | None              # ISO-BMFF major brand ("isom", "mp42", "qt  "), if any
    video_codec: str | None
    pix_fmt: str | None
    width: int
    height: int
    duration_s: float | None
    fps: float | None
    frames: int | None             # from the header when it says; else estimated from fps x duration
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    nbytes: int | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def is_mp4(self) -> bool:
        return "mp4" in self.container.split(",") and self.brand != "qt"

    @property
    def h264_420(self) -> bool:
        return self.video_codec == "h264" and self.pix_fmt in PASS_PIX_FMTS

    def verdict(self) -> tuple[str, str]:
        """("unchanged" | "remux" | "reencode", why)."""
        if not self.h264_420:
            return "reencode", (f"video is {self.video_codec or 'missing'}"
                                f"{' ' + self.pix_fmt if self.pix_fmt else ''}, not H.264 4:2:0")
        if not self.is_mp4:
            return "remux", f"H.264 in {self.brand == 'qt' and 'QuickTime' or self.container.split(',')[0]}, not MP4"
        if self.audio_codec not in (None, "aac"):
            return "remux", f"audio is {self.audio_codec}, not AAC"
        return "unchanged", "MP4 with H.264 4:2:0" + (" and AAC" if self.has_audio else "")


def _open(source):
    return containers.open_input(source, VideoError, "video")


def _brand(source) -> str | None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:12])
    else:
        try:
            with open(source, "rb") as fh:
                head = fh.read(12)
        except OSError:
            return None
    if len(head) == 12 and head[4:8] == b"ftyp":
        return head[8:12].decode("latin-1").strip() or None
    return None


def probe(source) -> VideoProbe:
    """``source``: a path or bytes."""
    with _open(source) as c:
        if not c.streams.video:
            raise VideoError("the file has no video stream")
        v = c.streams.video[0]
        cc = v.codec_context
        duration = containers.header_duration(v, c)
        rate = v.average_rate or v.guessed_rate or v.base_rate
        fps = float(rate) if rate else None
        frames = int(v.frames) if v.frames else (int(round(duration * fps)) if duration and fps else None)
        a = c.streams.audio[0] if c.streams.audio else None
        nbytes = len(source) if isinstance(source, (bytes, bytearray, memoryview)) else os.path.getsize(source)
        return VideoProbe(
            container=c.format.name, brand=_brand(source), video_codec=cc.name,
            pix_fmt=getattr(cc, "pix_fmt", None) or (v.format.name if v.format else None),
            width=int(cc.width or 0), height=int(cc.height or 0), duration_s=duration, fps=fps,
            frames=frames, audio_codec=a.codec_context.name if a is not None else None,
            sample_rate=int(a.codec_context.sample_rate) if a is not None else None,
            channels=int(a.codec_context.channels) if a is not None else None, nbytes=nbytes)


class EncodeStopped(VideoError):
    """``should_abort`` said stop (ComfyUI's Stop) while a video was being encoded."""


class EncodeTooLarge(VideoError):
    """The encoded output passed ``max_bytes`` before the end: stopped there, not finished."""

    def __init__(self, nbytes: int, max_bytes: int, frames_done: int, frames_total: int | None):
        self.nbytes, self.max_bytes, self.frames_done, self.frames_total = nbytes, max_bytes, frames_done, frames_total
        of = f" of {frames_total}" if frames_total else ""
        super().__init__(f"the encoded video passed {max_bytes / (1 << 20):.1f} MiB ({nbytes / (1 << 20):.1f} MiB after "
                         f"{frames_done}{of} frames); encoding was stopped there")


class _Watch:
    """Stop and the output's size, checked while encoding: Stop every frame, the size every
    ``SIZE_EVERY`` frames (the file grows as the muxer writes)."""

    SIZE_EVERY = 8

    def __init__(self, dst: str, should_abort=None, max_bytes: int | None = None, total: int | None = None):
        self.dst, self.should_abort, self.max_bytes, self.total = dst, should_abort, max_bytes, total
        self.n = 0

    def frame(self) -> None:
        self.n += 1
        if self.should_abort is not None and self.should_abort():
            raise EncodeStopped(f"stopped by the user after {self.n} frames")
        if self.max_bytes and self.n % self.SIZE_EVERY == 0:
            size = os.path.getsize(self.dst) if os.path.exists(self.dst) else 0
            if size > self.max_bytes:
                raise EncodeTooLarge(size, self.max_bytes, self.n, self.total)

    def done(self) -> None:
        if self.max_bytes and os.path.exists(self.dst) and os.path.getsize(self.dst) > self.max_bytes:
            raise EncodeTooLarge(os.path.getsize(self.dst), self.max_bytes, self.n, self.total)


def _frame_total(v, c, rate) -> int | None:
    """Frames the header states, else duration x rate; None when neither is known."""
    if v.frames:
        return int(v.frames)
    duration = containers.header_duration(v, c)
    return int(round(duration * float(rate))) if duration and rate else None


class VideoLimitError(VideoError, containers.DecodeLimitError):
    """Decoding the frames would pass a frame or byte limit (refused from the header, never cut)."""


class VideoTruncatedError(VideoError, containers.TruncatedMediaError):
    """The file ends before the packets its index lists (a cut-off download or a broken file)."""


def check_complete(source, should_abort=None) -> int:
    """Every packet the index lists is in the file, read without decoding (a truncated MP4 whose
    index is intact probes fine and plays to the cut). Returns the video packet count; raises
    VideoTruncatedError naming what is missing."""
    with _open(source) as c:
        if not c.streams.video:
            raise VideoError("the file has no video stream")
        v = c.streams.video[0]
        stated = int(v.frames or 0)
        got = 0
        try:
            for i, packet in enumerate(c.demux(v)):
                if packet.size == 0:
                    continue
                if packet.is_corrupt:
                    raise VideoTruncatedError(f"the video is truncated: packet {got + 1} of {stated or '?'} is cut "
                                              "short (a cut-off download or a broken file)")
                got += 1
                if should_abort is not None and i % 256 == 0 and should_abort():
                    raise VideoError("checking the video was stopped by the user")
        except av_error() as exc:
            raise VideoTruncatedError(f"the video could not be read to its end ({exc})") from None
        if stated and got < stated:
            raise VideoTruncatedError(f"the video is truncated: its index lists {stated} frames, the file holds "
                                      f"{got} (a cut-off download or a broken file)")
        return got


def av_error():
    import av
    return av.FFmpegError


def _fps_fraction(fps) -> Fraction:
    f = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
    if not 0 < f <= 240:
        raise VideoError(f"frame rate must be above 0 and at most 240 fps, got {float(f):g}")
    return f


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _add_video_stream(out, fps: Fraction, width: int, height: int):
    s = out.add_stream(H264_SETTINGS["codec"], rate=fps)
    s.width, s.height = width + width % 2, height + height % 2
    s.pix_fmt = H264_SETTINGS["pix_fmt"]
    s.options = {"crf": H264_SETTINGS["crf"], "preset": H264_SETTINGS["preset"]}
    s.codec_context.profile = "High"
    return s


def _add_audio_stream(out, rate: int, layout: str):
    if rate not in AAC_RATES:
        raise VideoError(f"the audio's sample rate {rate} Hz cannot be carried by AAC "
                         f"(one of {', '.join(str(r) for r in AAC_RATES)}); it is not resampled silently")
    s = out.add_stream(AAC_SETTINGS["codec"], rate=rate)
    s.layout = layout
    s.bit_rate = AAC_SETTINGS["bit_rate"]
    return s


def _audio_frames(clip: AudioClip, start: int, stop: int, pts: int):
    import av
    chunk = np.ascontiguousarray(np.clip(np.nan_to_num(clip.samples[:, start:stop], nan=0.0), -1.0, 1.0))
    frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=clip.layout_name)
    frame.sample_rate = clip.sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, clip.sample_rate)
    return frame


def _writes_to_file(fn):
    """``+faststart`` rewrites the file in a second pass that ffmpeg opens by name, so output
    always goes to a file; with no ``dst`` a temporary one, whose bytes are returned."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, dst=None, **kwargs):
        if dst is not None:
            fn(*args, dst=os.fspath(dst), **kwargs)
            return None
        with tempfile.TemporaryDirectory(prefix="runcomfy-video-") as tmp:
            path = os.path.join(tmp, "out.mp4")
            fn(*args, dst=path, **kwargs)
            with open(path, "rb") as fh:
                return fh.read()
    return wrapper


@_writes_to_file
def encode_frames(frames: np.ndarray | Iterable[np.ndarray], fps, audio: AudioClip | None = None, *,
                  dst: str | os.PathLike | None = None, metadata: dict | None = None,
                  should_abort=None, max_bytes: int | None = None, total: int | None = None) -> bytes | None:
    """uint8 ``NxHxWx3`` RGB frames (an array, or an iterable of ``HxWx3`` arrays, so a caller can
    convert in chunks) at ``fps`` -> MP4 with ``H264_SETTINGS``, plus the audio clip as AAC
    (kept whole, even when longer or shorter than the frames: nothing of it is cut).
    Returns the bytes, or writes ``dst`` and returns None. ``should_abort()`` is asked every
    frame (EncodeStopped); past ``max_bytes`` of output it stops (EncodeTooLarge)."""
    import av
    rate = _fps_fraction(fps)
    it: Iterator[np.ndarray] = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise VideoError("no frames to encode") from None
    _check_frame(first, 0)
    h, w = first.shape[:2]
    watch = _Watch(dst, should_abort, max_bytes, total)
    out = av.open(dst, mode="w", format="mp4", options=dict(MP4_OPTIONS))
    try:
        out.metadata.update({str(k): str(v) for k, v in (metadata or {}).items()})
        vs = _add_video_stream(out, rate, w, h)
        as_ = _add_audio_stream(out, audio.sample_rate, audio.layout_name) if audio is not None else None
        sent = 0          # audio samples muxed so far
        i = 0

        def push_audio(until: int):
            nonlocal sent
            until = min(until, audio.frames)
            while sent < until:
                stop = min(until, sent + 8192)
                for p in as_.encode(_audio_frames(audio, sent, stop, sent)):
                    out.mux(p)
                sent = stop

        frame = first
        while True:
            if frame.shape[:2] != (h, w):
                raise VideoError(f"frame {i + 1} is {frame.shape[1]}x{frame.shape[0]}, "
                                 f"frame 1 is {w}x{h}: a video has one frame size")
            vf = av.VideoFrame.from_ndarray(_even(np.ascontiguousarray(frame)), format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
            i += 1
            watch.frame()
            if as_ is not None:   # interleave: audio up to the end of this frame
                push_audio(int(i * audio.sample_rate / rate))
            try:
                frame = next(it)
            except StopIteration:
                break
            _check_frame(frame, i)
        if as_ is not None:
            push_audio(audio.frames)
        containers.flush(out, as_, vs)
    finally:
        out.close()
    watch.done()
    return None


def _check_frame(frame, i: int) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 \
            or frame.shape[0] < 2 or frame.shape[1] < 2:
        desc = f"{frame.dtype} array of shape {tuple(frame.shape)}" if isinstance(frame, np.ndarray) \
            else type(frame).__name__
        raise VideoError(f"frame {i + 1}: expected a uint8 HxWx3 RGB array of at least 2x2, got {desc}")


@_writes_to_file
def transcode(src, *, dst: str | os.PathLike | None = None, should_abort=None,
              max_bytes: int | None = None) -> bytes | None:
    """Any readable video -> MP4 H.264 (+AAC), decoding one frame at a time. The frame rate is the
    source's average rate (constant from then on); audio keeps its rate and layout. Stop
    (``should_abort``) is asked every frame; past ``max_bytes`` of output it stops."""
    import av
    with _open(src) as c:
        if not c.streams.video:
            raise VideoError("the file has no video stream")
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        rate = _fps_fraction(v.average_rate or v.guessed_rate or 25)
        watch = _Watch(dst, should_abort, max_bytes, _frame_total(v, c, rate))
        out = av.open(dst, mode="w", format="mp4", options=dict(MP4_OPTIONS))
        try:
            vs = _add_video_stream(out, rate, v.codec_context.width, v.codec_context.height)
            as_ = None
            if a is not None:
                layout = a.codec_context.layout.name if a.codec_context.layout else "stereo"
                as_ = _add_audio_stream(out, int(a.codec_context.sample_rate), layout)
            n = 0
            for packet in c.demux(*( [v] + ([a] if a is not None else []) )):
                for frame in packet.decode():
                    if packet.stream.type == "video":
                        if frame.width % 2 or frame.height % 2:
                            frame = av.VideoFrame.from_ndarray(_even(frame.to_ndarray(format="rgb24")),
                                                               format="rgb24")
                        frame.pts = n
                        frame.time_base = 1 / rate
                        n += 1
                        for p in vs.encode(frame):
                            out.mux(p)
                        watch.frame()
                    else:
                        frame.pts = None
                        for p in as_.encode(frame):
                            out.mux(p)
            containers.flush(out, as_, vs)
        finally:
            out.close()
    watch.done()
    return None


@_writes_to_file
def remux(src, *, dst: str | os.PathLike | None = None, should_abort=None,
          max_bytes: int | None = None) -> bytes | None:
    """H.264 video packets copied into a new MP4 without decoding; audio copied when AAC, else
    re-encoded to AAC at its own rate and layout. Stop and ``max_bytes`` as in ``transcode``."""
    import av
    with _open(src) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        watch = _Watch(dst, should_abort, max_bytes, _frame_total(v, c, v.average_rate or v.guessed_rate))
        out = av.open(dst, mode="w", format="mp4", options=dict(MP4_OPTIONS))
        try:
            vs = out.add_stream_from_template(template=v, opaque=True)
            copy_audio = a is not None and a.codec_context.name == "aac"
            as_ = None
            if a is not None:
                as_ = out.add_stream_from_template(template=a, opaque=True) if copy_audio else _add_audio_stream(
                    out, int(a.codec_context.sample_rate),
                    a.codec_context.layout.name if a.codec_context.layout else "stereo")
            dts = iter(_decode_timestamps(src))
            for packet in c.demux(*([v] + ([a] if a is not None else []))):
                if packet.pts is None and packet.dts is None:
                    continue              # the demuxer's empty end-of-stream packet
                if packet.stream is v:
                    packet.dts = next(dts)
                    packet.stream = vs
                    out.mux(packet)
                    watch.frame()
                elif packet.dts is None:
                    packet.dts = packet.pts   # audio is never reordered
                elif copy_audio:
                    packet.stream = as_
                    out.mux(packet)
                else:
                    for frame in packet.decode():
                        frame.pts = None
                        for p in as_.encode(frame):
                            out.mux(p)
            if not copy_audio:
                containers.flush(out, as_)
        finally:
            out.close()
    watch.done()
    return None


def _decode_timestamps(src) -> list[int]:
    """Decode timestamps for the video packets, in demux order. Matroska stores none for some
    packets, and MP4 needs one on each: the sorted presentation times, shifted back just enough
    that no packet is decoded after it is shown (what ffmpeg's own remuxer computes)."""
    with _open(src) as c:
        pts = [p.pts for p in c.demux(video=0) if p.pts is not None or p.dts is not None]
    if any(p is None for p in pts):
        raise VideoError("the video's packets carry no presentation times; it cannot be copied")
    ordered = sorted(pts)
    shift = max(s - p for s, p in zip(ordered, pts))
    return [s - shift for s in ordered]


@dataclass
class Sendable:
    """The bytes to send for one video input, and what was done to get them."""

    data: bytes
    action: str                      # "unchanged" | "remuxed" | "re-encoded" | "encoded"
    probe: VideoProbe
    notes: list[str] = field(default_factory=list)


def to_sendable(source, *, check=None, should_abort=None, max_bytes: int | None = None) -> Sendable:
    """A file path or bytes -> what goes over the wire (see the module text for the rules).

    Limits first, work after: ``check(probe, verdict)`` runs on the header alone (and may raise)
    before the file is read, remuxed or re-encoded; an unchanged file over ``max_bytes`` is
    refused from its size, a remux or re-encode stops once its output passes ``max_bytes``
    (EncodeTooLarge), and ``should_abort()`` is asked every frame (EncodeStopped)."""
    p = probe(source)
    verdict, why = p.verdict()
    if check is not None:
        check(p, verdict)
    if verdict == "unchanged":
        if max_bytes and p.nbytes and p.nbytes > max_bytes:
            raise EncodeTooLarge(p.nbytes, max_bytes, 0, p.frames)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            with open(source, "rb") as fh:
                data = fh.read()
        return Sendable(data, "unchanged", p)
    fn, action = (remux, "remuxed") if verdict == "remux" else (transcode, "re-encoded")
    with tempfile.TemporaryDirectory(prefix="runcomfy-video-") as tmp:
        out = os.path.join(tmp, "input.mp4")
        fn(source, dst=out, should_abort=should_abort, max_bytes=max_bytes)
        with open(out, "rb") as fh:
            data = fh.read()
    q = probe(data)
    settings = "" if action == "remuxed" else (
        f" (H.264 CRF {H264_SETTINGS['crf']} {H264_SETTINGS['preset']} yuv420p"
        + (", AAC 192 kbit/s" if q.has_audio else "") + ")")
    note = f"{action} to MP4 because {why}{settings}"
    if action == "re-encoded" and (p.width % 2 or p.height % 2):
        note += f"; padded {p.width}x{p.height} -> {q.width}x{q.height} px (4:2:0 needs even sides)"
    return Sendable(data, action, q, [note])


# Refuse to decode more than this many bytes of RGB frames to one array.
MAX_DECODE_BYTES = 1 << 30


def decode_frames(source, max_frames: int = MAX_DECODE_FRAMES, max_bytes: int = MAX_DECODE_BYTES) -> np.ndarray:
    """Every frame as one uint8 ``NxHxWx3`` RGB array (what the naive path does; tests). The
    header's frames x size is checked against ``max_frames`` and ``max_bytes`` before decoding,
    the array is allocated once, and decoding stops at either limit (headers can lie)."""
    with _open(source) as c:
        if not c.streams.video:
            raise VideoError("the file has no video stream")
        v = c.streams.video[0]
        w, h = int(v.codec_context.width or 0), int(v.codec_context.height or 0)
        per = max(1, w * h * 3)
        cap = min(max_frames, max_bytes // per)
        stated = _frame_total(v, c, v.average_rate or v.guessed_rate)
        if stated is not None and stated > cap:
            raise VideoLimitError("frames", stated, cap, "frames", text=(
                f"the video has more than {cap} frames ({stated} of {w}x{h}: over {max_frames} frames or "
                f"{max_bytes >> 20} MiB as RGB); refused rather than cut"))
        out = np.empty(((stated or 0) + 1 if stated else min(cap, 256), h, w, 3), np.uint8)
        n = 0
        for frame in c.decode(video=0):
            if n >= cap:
                raise VideoError(f"the video has more than {cap} frames; refused rather than cut")
            if n >= out.shape[0]:
                grown = np.empty((min(cap, out.shape[0] * 2), h, w, 3), np.uint8)
                grown[:n] = out[:n]
                out = grown
            rgb = frame.to_ndarray(format="rgb24")
            if rgb.shape != (h, w, 3):
                raise VideoError(f"frame {n + 1} is {rgb.shape[1]}x{rgb.shape[0]}, the stream states {w}x{h}")
            out[n] = rgb
            n += 1
    if n == 0:
        raise VideoError("the video holds no frames")
    return out[:n]


def decode_audio_track(source, max_seconds: float | None = None) -> AudioClip | None:
    """The first audio stream of a video file as an AudioClip, or None when it has none."""
    from . import audio as audio_codec
    with _open(source) as c:
        if not c.streams.audio:
            return None
    kw = {} if max_seconds is None else {"max_seconds": max_seconds}
    return audio_codec.decode(source, **kw)
