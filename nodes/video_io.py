"""ComfyUI VIDEO values <-> the library's ``VideoSource`` (in) and ``VideoFile`` (out).

In: a VIDEO backed by a file (what Load Video and every video result give: ``VideoFromFile``)
goes to the library as that file's path, untouched, so an MP4/H.264 is sent byte for byte. A
VIDEO made of frames in memory (``VideoFromComponents``, e.g. Create Video), or a trimmed file,
goes as its frames (converted to uint8 in chunks, never all at once as float) and audio, and is
encoded there. An IMAGE batch plus a frame rate works too (``frames_source``): on a ComfyUI
without a VIDEO type each video socket takes an IMAGE batch and a ``<socket>_fps`` widget
(nodes/layout.py), checked here before anything is encoded.

Out: ``VideoFromFile(path)`` over the downloaded file: nothing is decoded until a downstream
node asks, and Save Video copies the file's streams (no re-encode) when it keeps MP4/H.264. On a
ComfyUI without ``comfy_api`` VIDEO classes the node still loads and returns a ``RunComfyVideo``
(the file's path, its URL, sizes, and ``save_to``), which custom nodes can read; the file itself
is in ComfyUI's output folder under ``runcomfy/``.
"""

from __future__ import annotations

import math
import os
import shutil
from fractions import Fraction

from ..runcomfy.media.kinds.video import VideoFile, VideoSource
from . import audio_io, comfy
from .layout import FPS_RANGE, FramesInput

FRAME_CHUNK = 16          # frames converted from float to uint8 at a time


class RunComfyVideo:
    """The VIDEO value where ComfyUI has no VIDEO type: a file-backed result with the same
    read-only methods as comfy_api's VideoInput that need no decoding."""

    def __init__(self, video: VideoFile):
        self.path = video.path
        self.url = video.url
        self.info = video.info
        self.has_audio = video.has_audio

    def get_stream_source(self) -> str:
        return self.path

    def get_dimensions(self) -> tuple[int, int]:
        return int(self.info.width or 0), int(self.info.height or 0)

    def get_duration(self) -> float:
        return float(self.info.duration_s or 0.0)

    def get_frame_rate(self) -> Fraction:
        return Fraction(self.info.fps or 0).limit_denominator(1001)

    def get_container_format(self) -> str:
        return "mp4"

    def save_to(self, path, *args, **kwargs) -> None:
        shutil.copyfile(self.path, path)

    def __repr__(self) -> str:
        return f"RunComfyVideo({self.path!r}, {self.info.width}x{self.info.height}, {self.info.duration_s} s)"


def to_comfy(video: VideoFile):
    api = comfy.video_api()
    if api is None:
        return RunComfyVideo(video)
    return api.VideoFromFile(video.path)


def _uint8_frames(images):
    """float IMAGE [N,H,W,C] -> uint8 HxWx3 arrays, FRAME_CHUNK frames at a time."""
    from . import tensors
    n = int(images.shape[0]) if images.ndim == 4 else 1
    if images.ndim == 3:
        images = images.unsqueeze(0)
    for start in range(0, n, FRAME_CHUNK):
        yield from tensors.tensor_to_arrays(images[start:start + FRAME_CHUNK])


def frames_source(images, fps: float, audio=None, label: str = "IMAGE batch") -> VideoSource:
    """An IMAGE batch (one frame per image) at ``fps``, with an optional AUDIO track."""
    clip = audio_io.to_clips(audio)[0] if audio is not None else None
    n = int(images.shape[0]) if getattr(images, "ndim", 0) == 4 else 1
    return VideoSource(frames=_uint8_frames(images), fps=float(fps), audio=clip, label=label, frame_count=n,
                       should_abort=comfy.processing_interrupted)


def _frames_problems(value: FramesInput, label: str) -> list:
    """The socket's IMAGE batch and its fps widget, checked before any frame is converted."""
    from . import tensors
    from ..runcomfy.errors import Problem
    problems = []
    lo, hi = FPS_RANGE
    try:
        fps = float(value.fps)
    except (TypeError, ValueError):
        fps = None
    if fps is None or not math.isfinite(fps) or not lo <= fps <= hi:
        problems.append(Problem(value.fps_input, "", message=f"the frame rate of '{label}' must be from {lo:g} to "
                                                           f"{hi:g} fps (got {value.fps!r})"))
    images = value.images
    shape = list(getattr(images, "shape", ()))
    why = None
    if not hasattr(images, "ndim") or not hasattr(images, "shape"):
        why = f"expected an IMAGE batch (one image per frame), got {type(images).__name__}"
    elif images.ndim not in (3, 4) or shape[-1] not in (1, 3, 4):
        why = f"expected an IMAGE batch shaped [frames, height, width, 3], got shape {shape}"
    elif 0 in shape:
        why = f"the IMAGE batch is empty: shape {shape}"
    else:
        try:     # dtype and the rest, on the first frame only
            tensors.tensor_to_arrays(images[:1] if images.ndim == 4 else images)
        except (TypeError, ValueError) as exc:
            why = str(exc)
    if why:
        problems.append(Problem(label, "", message=f"is not usable as video frames: {why}"))
    return problems


def _trimmed(value) -> bool:
    window = getattr(value, "get_active_trim_window", None)
    if window is None:
        return False
    try:
        start, duration = window()
    except Exception:
        return True
    return bool(start) or bool(duration)


def to_source(value, label: str = "video") -> VideoSource:
    """Any ComfyUI VIDEO (or a file path, or this pack's RunComfyVideo) -> VideoSource."""
    stop = comfy.processing_interrupted       # re-encoding asks it every frame
    if isinstance(value, (str, os.PathLike)):
        return VideoSource(path=os.fspath(value), label=label, should_abort=stop)
    if isinstance(value, RunComfyVideo):
        return VideoSource(path=value.path, label=label, should_abort=stop)
    source = getattr(value, "get_stream_source", None)
    if source is not None and not _trimmed(value):
        try:
            src = source()
        except Exception:
            src = None
        if isinstance(src, (str, os.PathLike)) and os.path.isfile(src):
            return VideoSource(path=os.fspath(src), label=label, should_abort=stop)
        if hasattr(src, "getvalue"):
            return VideoSource(data=src.getvalue(), label=label, should_abort=stop)
    components = getattr(value, "get_components", None)
    if components is None:
        raise TypeError(f"'{label}': expected a VIDEO, got {type(value).__name__}")
    c = components()
    return frames_source(c.images, float(c.frame_rate), getattr(c, "audio", None),
                         label=f"{label} (frames in memory)")


def _empty_video_path() -> str:
    """A one-frame black MP4 (64x64) for a dry run with no video to pass through."""
    import tempfile

    import numpy as np

    from ..runcomfy.media.codecs import video as codec
    path = os.path.join(tempfile.gettempdir(), "runcomfy-empty-64x64.mp4")
    if not os.path.isfile(path):
        codec.encode_frames(np.zeros((1, 64, 64, 3), np.uint8), 1, dst=path)
    return path


class VideoSockets:
    """The VIDEO adapter of nodes/media_io.py."""

    kind = "video"

    def to_values(self, value, label: str) -> list:
        from ..runcomfy.errors import Problem, ValidationError
        if isinstance(value, FramesInput):          # a ComfyUI without VIDEO: IMAGE batch + fps widget
            problems = _frames_problems(value, label)
            if problems:
                raise ValidationError(problems)
            return [frames_source(value.images, float(value.fps), label=f"frames on {label}")]
        try:
            return [to_source(value, label)]
        except (TypeError, ValueError) as exc:
            raise ValidationError([Problem(label, "is not a usable VIDEO",
                                           message=f"is not a usable VIDEO: {exc}")]) from None

    def to_socket(self, values: list):
        if not values:
            return self.empty()
        first = values[0]
        if isinstance(first, VideoFile):
            return to_comfy(first)
        if isinstance(first, VideoSource) and first.path:      # dry run: the input passes through
            from ..runcomfy.media.kinds.video import KIND
            return to_comfy(KIND.decode_output(first.path))
        return self.empty()

    def describe(self, values: list) -> str | None:
        files = [v for v in values if isinstance(v, VideoFile)]
        if len(files) <= 1:
            return None
        return (f"{len(files)} videos returned: the first is on the video output, all {len(files)} URLs are on "
                f"urls, files: " + ", ".join(os.path.basename(f.path) for f in files))

    def empty(self):
        from ..runcomfy.media.kinds.video import KIND
        return to_comfy(KIND.decode_output(_empty_video_path()))


ADAPTER = VideoSockets()
