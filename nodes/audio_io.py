"""ComfyUI AUDIO values <-> the library's ``AudioClip``.

AUDIO is ``{"waveform": float tensor [batch, channels, samples], "sample_rate": int}``. In: each
batch item is one clip at the same rate and channel count (nothing is resampled or mixed down).
Out: clips that share a rate and channel count become one batch, shorter ones padded with
silence at the end (and the node says so); otherwise only the first is on the AUDIO socket and
the note says where the others are (their URLs are on the ``urls`` output).
"""

from __future__ import annotations

import numpy as np

from ..runcomfy.media.codecs.audio import AudioClip


def to_clips(audio) -> list[AudioClip]:
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise TypeError(f"expected an AUDIO value ({{'waveform', 'sample_rate'}}), got {type(audio).__name__}")
    wave = audio["waveform"]
    if hasattr(wave, "detach"):
        wave = wave.detach().to("cpu").float().numpy()
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave[None]
    if wave.ndim != 3 or 0 in wave.shape[:2]:
        raise ValueError(f"AUDIO waveform must be [batch, channels, samples], got shape {list(wave.shape)}")
    return [AudioClip(np.ascontiguousarray(item), int(audio["sample_rate"])) for item in wave]


def to_comfy(clips: list[AudioClip]) -> tuple[dict, str | None]:
    """(AUDIO, note or None) from result clips: one batch when they share rate and channels
    (shorter ones padded with silence at the end), else the first alone; the note says which."""
    import torch
    if not clips:
        raise ValueError("no audio to return")
    first = clips[0]
    if any(c.sample_rate != first.sample_rate or c.channels != first.channels for c in clips):
        clips = [first]
    if len(clips) == 1 and clips[0].samples.flags.c_contiguous:
        # One clip: the AUDIO shares its memory (no second copy of a long result).
        return {"waveform": torch.from_numpy(clips[0].samples[None]), "sample_rate": first.sample_rate}, None
    longest = max(c.frames for c in clips)
    batch = np.zeros((len(clips), first.channels, longest), np.float32)
    for i, c in enumerate(clips):
        batch[i, :, :c.frames] = c.samples
    return {"waveform": torch.from_numpy(batch), "sample_rate": first.sample_rate}, ADAPTER.describe(clips)


class AudioSockets:
    """The AUDIO adapter of nodes/media_io.py."""

    kind = "audio"

    def to_values(self, value, label: str) -> list:
        from ..runcomfy.errors import Problem, ValidationError
        try:
            return to_clips(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError([Problem(label, "is not a usable AUDIO",
                                           message=f"is not a usable AUDIO: {exc}")]) from None

    def to_socket(self, values: list):
        clips = [v for v in values if isinstance(v, AudioClip)]
        return to_comfy(clips)[0] if clips else self.empty()

    def describe(self, values: list) -> str | None:
        clips = [v for v in values if isinstance(v, AudioClip)]
        if len(clips) <= 1:
            return None
        first = clips[0]
        if any(c.sample_rate != first.sample_rate or c.channels != first.channels for c in clips):
            return (f"{len(clips)} audio results differ in sample rate or channels; the first "
                    f"({first.sample_rate} Hz, {first.channels} ch) is on the audio output, all {len(clips)} "
                    "are on the urls output")
        longest = max(c.frames for c in clips)
        if any(c.frames != longest for c in clips):
            return (f"{len(clips)} audio results of different lengths batched; shorter ones are padded with "
                    f"silence to {longest / first.sample_rate:.2f} s")
        return f"{len(clips)} audio results as one batch"

    def empty(self):
        import torch
        return {"waveform": torch.zeros((1, 1, 4410), dtype=torch.float32), "sample_rate": 44100}


ADAPTER = AudioSockets()
