"""What the video and audio codecs do alike with PyAV containers: open bytes or a path for
reading, read a stream's duration from the headers, and flush encoders into the output."""

from __future__ import annotations

import io
import os


class DecodeLimitError(ValueError):
    """Decoding would pass a limit; ``limit`` names it ("per-job audio samples"...), ``value``
    and ``maximum`` are in ``unit``. Raised before the memory is allocated."""

    def __init__(self, limit: str, value, maximum, unit: str, what: str = "", text: str | None = None):
        self.limit, self.value, self.maximum, self.unit = limit, value, maximum, unit
        lead = f"{what} " if what else ""
        super().__init__(text or f"{lead}would decode to {_fmt(value)} {unit}, over the {limit} limit of "
                                 f"{_fmt(maximum)} {unit}; refused before decoding (memory)")


class TruncatedMediaError(ValueError):
    """A file that ends before the media its header announces does (a cut-off download or a
    broken file): an error, never a shorter success."""


def _fmt(x) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:,.1f}"


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
