"""How the emulator receives video and audio inputs, as the service would: each one is decoded
from its data URI (or fetched from a loopback URL), probed with PyAV, and refused (422, naming
the field) when it is not a readable file of its kind, over the per-input size, or outside the
duration limits (the emulator's own caps and the field's ``validations``).

Caps (attributes of the Emulator, settable by tests): ``max_video_bytes`` 32 MiB,
``max_audio_bytes`` 16 MiB (RunComfy's own nodes' caps; the service's own are not published),
``max_video_seconds`` 120, ``max_audio_seconds`` 600. ``strict_formats`` also requires video to
be MP4 with H.264 and audio to be WAV, MP3, FLAC, Ogg or M4A.
"""

from __future__ import annotations

import binascii

from ..media.codecs import audio as audio_codec
from ..media.codecs import video as video_codec
from .validator import Measured, ModelInputs, input_problem, media_items

MiB = 1 << 20
DEFAULTS = {"max_video_bytes": 32 * MiB, "max_audio_bytes": 16 * MiB,
            "max_video_seconds": 120.0, "max_audio_seconds": 600.0}
_STRICT_AUDIO = {"wav", "mp3", "flac", "ogg", "mov"}


class InputError(Exception):
    pass


def cap(emu, name: str):
    return getattr(emu, name, DEFAULTS[name])


def read_input(value: str, fetch, error: type[Exception], kind: str = "<type>") -> tuple[bytes, str]:
    """The bytes of one input, from its base64 data URI or ``fetch(value)``, and where they came
    from ("data URI" or the URL); a malformed data URI raises ``error``."""
    if not value.startswith("data:"):
        return fetch(value), value
    header, sep, data = value.partition(",")
    if not sep or not header.endswith(";base64"):
        raise error(f"data URI must be base64-encoded (data:{kind};base64,...)")
    try:
        try:
            return binascii.a2b_base64(data, strict_mode=True), "data URI"
        except binascii.Error:
            # Line-wrapped base64 is tolerated, as lenient servers do; the strict decode
            # comes first because stripping costs a copy of megabytes.
            return binascii.a2b_base64("".join(data.split()), strict_mode=True), "data URI"
    except (binascii.Error, ValueError):
        raise error("data URI has invalid base64") from None


def _raw(emu, value: str) -> tuple[bytes, str]:
    try:
        raw, source = read_input(value, emu._fetch, InputError)
    except InputError:
        raise
    except Exception as exc:          # the server's _InputError from fetching: same text
        raise InputError(str(exc)) from None
    return raw, source[:60]


def _within_caps(emu, kind: str, nbytes: int, duration: float | None, per: str) -> None:
    max_bytes, max_seconds = cap(emu, f"max_{kind}_bytes"), cap(emu, f"max_{kind}_seconds")
    if nbytes > max_bytes:
        raise InputError(f"the {kind} is {nbytes:,} bytes, over the {max_bytes:,}-byte "
                         f"({max_bytes / MiB:.2f} MiB) limit per {per}")
    if duration is not None and duration > max_seconds:
        raise InputError(f"the {kind} is {duration:.1f} s long, over the {max_seconds:g} s limit")


def _video(emu, raw: bytes, source: str) -> Measured:
    try:
        p = video_codec.probe(raw)
    except video_codec.VideoError as exc:
        raise InputError(f"not a decodable video ({source}): {exc}") from None
    if emu.strict_formats and p.verdict()[0] != "unchanged":
        raise InputError(f"unsupported video: {p.verdict()[1]}; send MP4 with H.264")
    _within_caps(emu, "video", len(raw), p.duration_s, "video")
    return Measured(width=p.width, height=p.height, nbytes=len(raw), duration_s=p.duration_s, fps=p.fps,
                    frames=p.frames, source=source)


def _audio(emu, raw: bytes, source: str) -> Measured:
    try:
        p = audio_codec.probe(raw)
    except audio_codec.AudioError as exc:
        raise InputError(f"not decodable audio ({source}): {exc}") from None
    if emu.strict_formats and not set(p.container.split(",")) & _STRICT_AUDIO:
        raise InputError(f"unsupported audio container {p.container}; send WAV, MP3, FLAC or Ogg")
    _within_caps(emu, "audio", len(raw), p.duration_s, "audio file")
    return Measured(nbytes=len(raw), duration_s=p.duration_s, source=source)


def inspect(emu, model: ModelInputs, payload: dict):
    """(measured files per input, [(kind, bytes)], problems as 422 detail items) for the video and
    audio inputs; the schema's rules on what was measured are checked by validator.validate."""
    measured: dict[str, list[Measured | None]] = {}
    raws: list[tuple[str, bytes]] = []
    problems: list[dict] = []
    for inp in model.media("video", "audio"):
        per_input: list[Measured | None] = []
        for path, item in media_items(inp, payload.get(inp.name)):
            if not isinstance(item, str) or not item.startswith(("data:", "http://", "https://")):
                per_input.append(None)           # the validator reports the shape
                continue
            try:
                raw, source = _raw(emu, item)
                info = (_video if inp.kind == "video" else _audio)(emu, raw, source)
            except InputError as exc:
                problems.append(input_problem(path, str(exc)))
                per_input.append(None)
                continue
            per_input.append(info)
            raws.append((inp.kind, raw))
        measured[inp.name] = per_input
    return measured, raws, problems
