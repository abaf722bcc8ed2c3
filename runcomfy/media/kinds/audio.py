"""Audio: ``AudioClip`` in, WAV 16-bit PCM out to the service (why WAV: ``codecs.audio``);
results decoded with PyAV from WAV / MP3 / Ogg-Opus / FLAC into an AudioClip, capped."""

from __future__ import annotations

import os

from ..codecs import audio as codec
from ...errors import Problem, ValidationError
from ...schema import Field, MediaInfo
from ...schema.validation import media_label
from ..errors import UnreadableInputError
from . import budget, timing
from .base import MiB, MediaKind, PrepareOptions, Prepared


def info_of(p: codec.AudioProbe, mime: str | None = None) -> MediaInfo:
    return MediaInfo(nbytes=p.nbytes, duration_s=p.duration_s, sample_rate=p.sample_rate, channels=p.channels,
                     mime=mime or codec.mime_for(p.container, p.codec))


class AudioKind(MediaKind):
    name = "audio"

    def prepare(self, values: list, field: Field, options: PrepareOptions) -> list[Prepared]:
        """Size and duration rules checked from the clip's shape (the WAV's size is known
        exactly) before anything is encoded: a 1-hour AUDIO input is refused without a copy."""
        problems = []
        for i, clip in enumerate(values):
            if not isinstance(clip, codec.AudioClip):
                raise ValueError(f"'{media_label(field, i)}': expected an audio clip, got {type(clip).__name__}")
            problems += self.check(self._info(clip), field, i)
        if problems:
            raise ValidationError(problems)
        out = []
        for i, clip in enumerate(values):
            label = media_label(field, i)
            data = codec.encode_wav(clip)
            notes = []
            peak = codec.peak(clip) if clip.frames else 0.0
            if peak > 1.0:
                notes.append(f"{label}: samples above full scale (peak {peak:.2f}) were clamped to -1..1")
            out.append(Prepared(data, codec.WAV_MIME, self._info(clip), notes))
        return out

    @staticmethod
    def _info(clip: codec.AudioClip) -> MediaInfo:
        return MediaInfo(nbytes=codec.wav_size(clip.channels, clip.frames), duration_s=clip.duration_s,
                         sample_rate=clip.sample_rate, channels=clip.channels, mime=codec.WAV_MIME)

    def measure(self, data: bytes, mime: str) -> MediaInfo:
        try:
            p = codec.probe(data)
        except codec.AudioError as exc:
            raise ValueError(f"could not be read as audio ({len(data)} bytes: {exc})") from None
        return info_of(p, mime)

    def check(self, info: MediaInfo, field: Field, index: int = 0) -> list[Problem]:
        return super().check(info, field, index) + timing.check(field, info, media_label(field, index))

    def load_input(self, path: str, label: str) -> codec.AudioClip:
        try:
            return codec.decode(str(path))
        except codec.AudioLimitError as exc:     # the limit and the value: no file content
            raise UnreadableInputError(label, str(path), f"cannot be used: {exc}") from None
        except codec.AudioError as exc:          # a decoder's text may quote the file: not shown
            raise UnreadableInputError(label, str(path), f"is not a readable audio file "
                                                         f"({type(exc).__name__})") from None

    def decode_output(self, data, limits: dict | None = None) -> codec.AudioClip:
        """Decoded against the open job's budget (``budget.job_decoding``): samples are counted
        from the header before they are allocated, with every other result of the job, and the
        decode holds its bytes in the process-wide budget while it runs."""
        limits = limits or {}
        src = data if isinstance(data, (bytes, bytearray, memoryview)) else os.fspath(data)
        what = "the audio result" + ("" if isinstance(src, (bytes, bytearray, memoryview))
                                     else f" {os.path.basename(src)}")
        job = budget.current()
        taken = [0, 0]          # samples taken from the job, bytes held in the process budget

        def reserve(n: int) -> None:
            job.take_audio(n, what)
            taken[0] += n
            taken[1] += budget.PROCESS.acquire(n * budget.AUDIO_PEAK_BYTES_PER_SAMPLE, what)

        max_samples = min(int(limits.get("max_samples", codec.MAX_DECODE_SAMPLES)), max(0, job.audio_left()))
        kw = {"max_seconds": limits["max_seconds"]} if "max_seconds" in limits else {}
        try:
            clip = codec.decode(src, max_samples=max_samples, reserve=reserve, **kw)
        except codec.AudioLimitError as exc:
            if exc.limit == "samples" and max_samples < int(limits.get("max_samples", codec.MAX_DECODE_SAMPLES)):
                raise budget.DecodeLimitError("per-job audio samples", job.audio_samples + int(exc.value or 0),
                                              job.max_audio_samples, "samples (all channels)", what) from None
            exc.args = (f"{what} could not be used: {exc}",)
            raise
        except budget.DecodeLimitError:
            raise
        except codec.AudioError as exc:
            exc.args = (f"{what} could not be used: {exc}",)
            raise
        finally:
            budget.PROCESS.release(taken[1])
        job.give_back_audio(taken[0] - clip.samples.size)
        return clip

    def sniff(self, head: bytes) -> bool:
        return ((head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head.startswith((b"ID3", b"OggS", b"fLaC"))
                or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
                or (head[4:8] == b"ftyp" and head[8:12] == b"M4A "))


KIND = AudioKind()
