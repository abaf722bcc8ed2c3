"""Audio: ``AudioClip`` in, WAV 16-bit PCM out to the service (why WAV: ``codecs.audio``);
results decoded with PyAV from WAV / MP3 / Ogg-Opus / FLAC into an AudioClip, capped."""

from __future__ import annotations

import os

from ..codecs import audio as codec
from ..errors import Problem
from ..schema import Field, MediaInfo
from ..schema.validation import media_label
from . import timing
from .base import MiB, MediaKind, PrepareOptions, Prepared

OUTPUT_CAP_BYTES = 200 * MiB


def info_of(p: codec.AudioProbe, mime: str | None = None) -> MediaInfo:
    return MediaInfo(nbytes=p.nbytes, duration_s=p.duration_s, sample_rate=p.sample_rate, channels=p.channels,
                     mime=mime or codec.mime_for(p.container, p.codec))


class AudioKind(MediaKind):
    name = "audio"
    single_format = "audio_uri"
    list_format = "audio_uris"
    mime_prefix = "audio/"
    socket_type = "AUDIO"
    output_keys = ("audio", "audios")
    inline_cap_bytes = 16 * MiB
    max_sockets = 3
    default_sockets = 3
    output_cap_bytes = OUTPUT_CAP_BYTES

    def prepare(self, values: list, field: Field, options: PrepareOptions) -> list[Prepared]:
        out = []
        for i, clip in enumerate(values):
            label = media_label(field, i)
            if not isinstance(clip, codec.AudioClip):
                raise ValueError(f"'{label}': expected an audio clip, got {type(clip).__name__}")
            data = codec.encode_wav(clip)
            info = MediaInfo(nbytes=len(data), duration_s=clip.duration_s, sample_rate=clip.sample_rate,
                             channels=clip.channels, mime=codec.WAV_MIME)
            notes = []
            peak = float(abs(clip.samples).max()) if clip.frames else 0.0
            if peak > 1.0:
                notes.append(f"{label}: samples above full scale (peak {peak:.2f}) were clamped to -1..1")
            out.append(Prepared(data, codec.WAV_MIME, info, notes))
        return out

    def measure(self, data: bytes, mime: str) -> MediaInfo:
        try:
            p = codec.probe(data)
        except codec.AudioError as exc:
            raise ValueError(f"could not be read as audio ({len(data)} bytes: {exc})") from None
        return info_of(p, mime)

    def check(self, info: MediaInfo, field: Field, index: int = 0) -> list[Problem]:
        return super().check(info, field, index) + timing.check(field, info, media_label(field, index))

    def decode_output(self, data, limits: dict | None = None) -> codec.AudioClip:
        limits = limits or {}
        kw = {k: limits[k] for k in ("max_seconds", "max_samples") if k in limits}
        src = data if isinstance(data, (bytes, bytearray, memoryview)) else os.fspath(data)
        try:
            return codec.decode(src, **kw)
        except codec.AudioError as exc:
            raise ValueError(f"the audio result could not be used: {exc}") from None

    def sniff(self, head: bytes) -> bool:
        return ((head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head.startswith((b"ID3", b"OggS", b"fLaC"))
                or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
                or (head[4:8] == b"ftyp" and head[8:12] == b"M4A "))


KIND = AudioKind()
