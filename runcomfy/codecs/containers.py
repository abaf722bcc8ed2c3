"""What the video and audio codecs do alike with PyAV containers: open bytes or a path for
reading, read a stream's duration from the headers, and flush encoders into the output."""

from __future__ import annotations

import io
import os


def open_input(source, error: type[Exception], what: str):
    """``source`` (bytes or a path) opened for reading; an unreadable one raises ``error``
    saying it is not a readable ``what`` file."""
    import av
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            return av.open(io.BytesIO(bytes(source)), mode="r")
        return av.open(os.fspath(source), mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise error(f"not a readable {what} file ({exc})") from None


def header_duration(stream, container) -> float | None:
    """Seconds, as the stream's header states them, else the container's; None if neither does."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def flush(out, *streams) -> None:
    """The packets each encoder still holds, muxed into ``out`` (None streams skipped)."""
    for st in streams:
        if st is not None:
            for p in st.encode(None):
                out.mux(p)
