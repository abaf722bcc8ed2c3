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

import base64
import binascii

from ..codecs import audio as audio_codec
from ..codecs import video as video_codec
from ..kinds import timing
from ..schema import MediaInfo, ModelSchema

MiB = 1 << 20
DEFAULTS = {"max_video_bytes": 32 * MiB, "max_audio_bytes": 16 * MiB,
            "max_video_seconds": 120.0, "max_audio_seconds": 600.0}
_STRICT_AUDIO = {"wav", "mp3", "flac", "ogg", "mov"}


class InputError(Exception):
    pass


def cap(emu, name: str):
    return getattr(emu, name, DEFAULTS[name])


def _raw(emu, value: str) -> tuple[bytes, str]:
    if value.startswith("data:"):
        header, sep, data = value.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InputError("data URI must be base64-encoded (data:<type>;base64,...)")
        try:
            return base64.b64decode(data, validate=True), "data URI"
        except (binascii.Error, ValueError):
            try:
                return base64.b64decode("".join(data.split()), validate=True), "data URI"
            except (binascii.Error, ValueError):
                raise InputError("data URI has invalid base64") from None
    try:
        return emu._fetch(value), value[:60]
    except Exception as exc:          # the server's _InputError: same text
        raise InputError(str(exc)) from None


def _video(emu, raw: bytes, source: str) -> MediaInfo:
    try:
        p = video_codec.probe(raw)
    except video_codec.VideoError as exc:
        raise InputError(f"not a decodable video ({source}): {exc}") from None
    if emu.strict_formats and p.verdict()[0] != "unchanged":
        raise InputError(f"unsupported video: {p.verdict()[1]}; send MP4 with H.264")
    if len(raw) > cap(emu, "max_video_bytes"):
        raise InputError(f"the video is {len(raw):,} bytes, over the {cap(emu, 'max_video_bytes'):,}-byte "
                         f"({cap(emu, 'max_video_bytes') / MiB:.2f} MiB) limit per video")
    if p.duration_s is not None and p.duration_s > cap(emu, "max_video_seconds"):
        raise InputError(f"the video is {p.duration_s:.1f} s long, over the {cap(emu, 'max_video_seconds'):g} s limit")
    return MediaInfo(width=p.width, height=p.height, nbytes=len(raw), duration_s=p.duration_s, fps=p.fps,
                     frames=p.frames, mime="video/mp4", source=source)


def _audio(emu, raw: bytes, source: str) -> MediaInfo:
    try:
        p = audio_codec.probe(raw)
    except audio_codec.AudioError as exc:
        raise InputError(f"not decodable audio ({source}): {exc}") from None
    if emu.strict_formats and not set(p.container.split(",")) & _STRICT_AUDIO:
        raise InputError(f"unsupported audio container {p.container}; send WAV, MP3, FLAC or Ogg")
    if len(raw) > cap(emu, "max_audio_bytes"):
        raise InputError(f"the audio is {len(raw):,} bytes, over the {cap(emu, 'max_audio_bytes'):,}-byte "
                         f"({cap(emu, 'max_audio_bytes') / MiB:.2f} MiB) limit per audio file")
    if p.duration_s is not None and p.duration_s > cap(emu, "max_audio_seconds"):
        raise InputError(f"the audio is {p.duration_s:.1f} s long, over the {cap(emu, 'max_audio_seconds'):g} s limit")
    return MediaInfo(nbytes=len(raw), duration_s=p.duration_s, sample_rate=p.sample_rate, channels=p.channels,
                     mime=audio_codec.mime_for(p.container, p.codec), source=source)


def inspect(emu, schema: ModelSchema, payload: dict, detail):
    """(infos per field, [(kind, bytes)], problems as 422 detail items) for video/audio fields."""
    infos: dict[str, list[MediaInfo]] = {}
    raws: list[tuple[str, bytes]] = []
    problems: list[dict] = []
    for f in schema.fields:
        if f.kind not in ("video", "audio"):
            continue
        value = payload.get(f.name)
        items = value if f.is_list and isinstance(value, list) else [value] if isinstance(value, str) else []
        per_field = []
        for i, item in enumerate(items):
            label = f"{f.name}[{i + 1}]" if f.is_list else f.name
            if not isinstance(item, str) or not item.startswith(("data:", "http://", "https://")):
                per_field.append(MediaInfo())        # validate_payload reports the type problem
                continue
            try:
                raw, source = _raw(emu, item)
                info = (_video if f.kind == "video" else _audio)(emu, raw, source)
            except InputError as exc:
                problems.append(detail(label, f"'{label}': {exc}"))
                per_field.append(MediaInfo())
                continue
            problems.extend(detail(p.field, p.text()) for p in timing.check(f, info, label))
            per_field.append(info)
            raws.append((f.kind, raw))
        infos[f.name] = per_field
    return infos, raws, problems
