"""Videos: a file, bytes or frames in; MP4 bytes out to the service; results kept as files.

In: a ``VideoSource``. A file (or bytes) that is MP4 with H.264 4:2:0 (+AAC) is sent unchanged;
H.264 in another container is remuxed (packets copied); anything else is re-encoded; frames
(uint8 NxHxWx3) + fps (+ an AudioClip) are encoded. The rules and settings are in
``codecs.video``; every change is a note the node shows.

Out: ``VideoFile(path, info)``: the downloaded file, probed from its headers, never decoded here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from ..codecs import video as codec
from ..codecs.audio import AudioClip
from ...errors import Interrupted, Problem, ValidationError
from ...schema import Field, MediaInfo
from ...schema.validation import media_label
from . import timing
from .base import MiB, MediaKind, PrepareOptions, Prepared


@dataclass
class VideoSource:
    """One video input. Exactly one of ``path``, ``data`` or ``frames`` (with ``fps``)."""

    path: str | None = None
    data: bytes | None = None
    frames: np.ndarray | Iterable[np.ndarray] | None = None
    fps: float | None = None
    audio: AudioClip | None = None
    label: str = ""                 # where it came from, for notes ("Load Video", "IMAGE batch")
    frame_count: int | None = None  # when ``frames`` is an iterable: for the note and the limits
    should_abort: Callable[[], bool] | None = None   # Stop, asked every frame while encoding

    def __post_init__(self):
        given = [x is not None for x in (self.path, self.data, self.frames)]
        if sum(given) != 1:
            raise ValueError("a video source is exactly one of a file path, bytes, or frames + fps")
        if self.frames is not None and not self.fps:
            raise ValueError("frames need a frame rate (fps)")


@dataclass
class VideoFile:
    """A video result on disk. ``info`` is from the file's headers; ``has_audio`` too."""

    path: str
    info: MediaInfo
    has_audio: bool = False
    url: str = ""
    extra: dict = field(default_factory=dict)


def info_of(p: codec.VideoProbe, source: str = "") -> MediaInfo:
    return MediaInfo(width=p.width, height=p.height, nbytes=p.nbytes, duration_s=p.duration_s, fps=p.fps,
                     frames=p.frames, sample_rate=p.sample_rate, channels=p.channels, mime=codec.MP4_MIME
                     if p.is_mp4 else None, source=source)


class VideoKind(MediaKind):
    name = "video"

    def prepare(self, values: list, field: Field, options: PrepareOptions) -> list[Prepared]:
        return [self.prepare_one(v, media_label(field, i), field, i) for i, v in enumerate(values)]

    def prepare_one(self, src, label: str, field: Field | None = None, index: int = 0) -> Prepared:
        """Limits first, work after: with a ``field``, its size, duration, frame-rate and frame
        rules are checked from the file's size and header (or the frame count and rate) before
        anything is read, remuxed or encoded; encoding stops once its output passes the byte cap
        and on Stop (``src.should_abort``) within a frame."""
        if isinstance(src, (str, os.PathLike, bytes, bytearray)):
            src = VideoSource(path=os.fspath(src)) if not isinstance(src, (bytes, bytearray)) \
                else VideoSource(data=bytes(src))
        if not isinstance(src, VideoSource):
            raise ValueError(f"'{label}': expected a video (file, bytes or frames), got {type(src).__name__}")
        cap = self.byte_cap(field) if field is not None else None

        def first(info: MediaInfo, final_size: bool) -> None:
            if field is None:
                return
            if not final_size:
                info.nbytes = None        # the size sent is known only after encoding: capped there
            problems = self.check(info, field, index)
            if problems:
                raise ValidationError(problems)
        try:
            if src.frames is not None:
                n = src.frame_count if src.frame_count is not None else (
                    len(src.frames) if hasattr(src.frames, "__len__") else None)
                if n is not None:
                    first(MediaInfo(frames=n, fps=float(src.fps), duration_s=n / float(src.fps),
                                    source=f"{n} frames at {float(src.fps):g} fps"), False)
                data = codec.encode_frames(src.frames, src.fps, src.audio, should_abort=src.should_abort,
                                           max_bytes=cap, total=n)
                p = codec.probe(data)
                settings = (f"H.264 CRF {codec.H264_SETTINGS['crf']} {codec.H264_SETTINGS['preset']} yuv420p"
                            + (", AAC 192 kbit/s" if src.audio is not None else ""))
                what = f"{src.label or 'frames'}: {p.frames} frames {p.width}x{p.height} at {src.fps:g} fps"
                notes = [f"{label}: {what} encoded to MP4 ({settings})"]
                return Prepared(data, codec.MP4_MIME, info_of(p), notes)
            sendable = codec.to_sendable(
                src.path if src.path is not None else src.data, should_abort=src.should_abort, max_bytes=cap,
                check=lambda p, verdict: first(info_of(p), verdict == "unchanged"))
        except codec.EncodeStopped:
            raise Interrupted(f"Stopped while preparing the video for '{label}'; nothing was submitted or "
                              "charged.") from None
        except codec.EncodeTooLarge as exc:
            raise ValidationError([Problem(label, "", message=(
                f"the video to send would be over this input's {cap / MiB:g} MiB limit: {exc}. Nothing was "
                "sent or charged; shorten it, lower its resolution, or pass it as an https URL"))]) from None
        except (codec.VideoError, ValueError) as exc:
            raise ValueError(f"'{label}': {exc}") from None
        notes = [f"{label}: {n}" for n in sendable.notes]
        if sendable.action == "unchanged":
            notes.append(f"{label}: sent unchanged ({sendable.probe.video_codec} in MP4, "
                         f"{len(sendable.data) / MiB:.1f} MiB)")
        return Prepared(sendable.data, codec.MP4_MIME, info_of(sendable.probe), notes)

    def measure(self, data: bytes, mime: str) -> MediaInfo:
        try:
            p = codec.probe(data)
        except codec.VideoError as exc:
            raise ValueError(f"could not be read as a video ({len(data)} bytes: {exc})") from None
        info = info_of(p)
        info.mime = mime
        return info

    def check(self, info: MediaInfo, field: Field, index: int = 0) -> list[Problem]:
        return super().check(info, field, index) + timing.check(field, info, media_label(field, index))

    def load_input(self, path: str, label: str) -> VideoSource:
        """Probed when it is prepared (sent unchanged, remuxed or re-encoded), like a VIDEO input."""
        return VideoSource(path=str(path), label=str(path))

    def decode_output(self, data, limits: dict | None = None) -> VideoFile:
        """``data``: the downloaded file's path (or bytes, then written to ``limits['dir']`` or a
        temp dir). Probed, not decoded: a file that is not a video is refused here."""
        limits = limits or {}
        if isinstance(data, (bytes, bytearray, memoryview)):
            folder = limits.get("dir") or tempfile.mkdtemp(prefix="runcomfy-video-")
            path = os.path.join(folder, limits.get("name") or "result.mp4")
            with open(path, "wb") as fh:
                fh.write(data)
        else:
            path = os.fspath(data)
        try:
            p = codec.probe(path)
            codec.check_complete(path)
        except codec.VideoTruncatedError as exc:
            exc.args = (f"the video result {os.path.basename(path)} is not usable: {exc}",)
            raise
        except codec.VideoError as exc:
            raise ValueError(f"the result is not a playable video: {exc}") from None
        return VideoFile(path=path, info=info_of(p, source=os.path.basename(path)), has_audio=p.has_audio,
                         url=limits.get("url", ""))

    def sniff(self, head: bytes) -> bool:
        if head[4:8] == b"ftyp":
            return head[8:12] not in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"M4A ")
        return head.startswith(b"\x1a\x45\xdf\xa3")      # Matroska / WebM


def copy_to(video: VideoFile, folder: str, name: str) -> str:
    """The result file copied under ``folder`` (e.g. ComfyUI's output area); returns the path."""
    os.makedirs(folder, exist_ok=True)
    dst = os.path.join(folder, name)
    shutil.copyfile(video.path, dst)
    return dst


KIND = VideoKind()
