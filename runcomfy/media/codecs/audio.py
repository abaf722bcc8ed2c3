"""Audio clips <-> bytes.

Inputs are sent as WAV, 16-bit PCM, little-endian, interleaved, at the clip's own sample rate
and channel count. Why WAV and not FLAC: RunComfy's own nodes send ``data:audio/wav`` and that is
the one format known to reach every audio-taking model; which backends accept FLAC is not
published, and a format refused only after the job is queued could cost money. FLAC would save
about 40-50% on music, but at the 16 MiB per-input cap WAV already holds ~87 s of 48 kHz stereo,
longer than any audio input a catalog schema allows today. An over-cap clip is refused with its
size, never silently shortened or resampled.

Results are decoded with PyAV (WAV, MP3, Ogg/Opus, Ogg/Vorbis, FLAC, AAC) to float32 planar at
the file's own sample rate and channel layout, capped in duration and total samples so a hostile
or broken file cannot exhaust memory. Nothing here resamples: only the sample *format* changes.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass

import numpy as np

from . import containers

WAV_MIME = "audio/wav"
# A result longer than this (or with more samples in total) is refused, not truncated.
MAX_DECODE_SECONDS = 30 * 60.0
MAX_DECODE_SAMPLES = 48_000 * 2 * 30 * 60      # 30 min of 48 kHz stereo, ~690 MB as float32
MAX_CHANNELS = 8

# Speaker masks for WAVE_FORMAT_EXTENSIBLE, by channel count (Microsoft's default layouts,
# the same ffmpeg assumes): without one a >2-channel WAV's layout is a guess for the reader.
_CHANNEL_MASKS = {1: 0x4, 2: 0x3, 3: 0x7, 4: 0x33, 5: 0x37, 6: 0x3F, 7: 0x13F, 8: 0x63F}
_KSDATAFORMAT_SUBTYPE_PCM = b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
# PyAV layout names for a channel count when a file does not say (same defaults as ffmpeg).
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


class AudioError(ValueError):
    """An audio value or file that cannot be used; the text says which limit and what value."""


@dataclass
class AudioClip:
    """float32 ``[channels, samples]``, nominally in -1..1, at ``sample_rate`` Hz.
    ``layout`` is the channel layout name when known (``"stereo"``, ``"5.1"``...)."""

    samples: np.ndarray
    sample_rate: int
    layout: str | None = None

    def __post_init__(self):
        a = self.samples
        if not isinstance(a, np.ndarray) or a.ndim != 2:
            shape = getattr(a, "shape", None)
            raise AudioError(f"audio samples must be a [channels, samples] array, got shape {shape}")
        if not 1 <= a.shape[0] <= MAX_CHANNELS:
            raise AudioError(f"audio must have 1 to {MAX_CHANNELS} channels, got {a.shape[0]}")
        if not isinstance(self.sample_rate, (int, np.integer)) or not 1000 <= int(self.sample_rate) <= 384_000:
            raise AudioError(f"sample rate must be an integer 1000..384000 Hz, got {self.sample_rate!r}")
        self.sample_rate = int(self.sample_rate)
        if a.dtype != np.float32:
            self.samples = a.astype(np.float32)

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        """Samples per channel."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def layout_name(self) -> str:
        return self.layout or _DEFAULT_LAYOUTS.get(self.channels, f"{self.channels} channels")


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Clamp to -1..1 (NaN -> 0), scale by 32767 and round: full scale never wraps around."""
    x = np.nan_to_num(np.asarray(samples, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.rint(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")


def wav_size(channels: int, frames: int) -> int:
    """Bytes of the WAV ``encode_wav`` writes, without encoding it (for limit checks)."""
    header = 68 if channels > 2 else 44
    return header + 2 * channels * frames


def encode_wav(clip: AudioClip, chunk_frames: int = 1 << 16) -> bytes:
    """WAV, 16-bit PCM at the clip's rate; mono/stereo as plain PCM, more channels as
    WAVE_FORMAT_EXTENSIBLE with the default speaker mask so the layout survives. Written into one
    buffer of the file's size, ``chunk_frames`` at a time: the peak is the WAV plus one chunk."""
    ch, rate = clip.channels, clip.sample_rate
    block = 2 * ch
    if ch <= 2:
        fmt = struct.pack("<HHIIHH", 1, ch, rate, rate * block, block, 16)
    else:
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, ch, rate, rate * block, block, 16, 22, 16,
                          _CHANNEL_MASKS.get(ch, 0)) + _KSDATAFORMAT_SUBTYPE_PCM
    pcm_len = block * clip.frames
    head = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", pcm_len)
    head = b"RIFF" + struct.pack("<I", len(head) + pcm_len) + head
    out = bytearray(len(head) + pcm_len)
    out[:len(head)] = head
    pcm = np.frombuffer(memoryview(out)[len(head):], dtype="<i2").reshape(clip.frames, ch)
    for start in range(0, clip.frames, chunk_frames):
        pcm[start:start + chunk_frames] = to_int16(clip.samples[:, start:start + chunk_frames]).T  # interleave
    del pcm
    return bytes(out)


def peak(clip: AudioClip, chunk_frames: int = 1 << 16) -> float:
    """Largest absolute sample, a chunk at a time (no full-size temporary)."""
    best = 0.0
    for start in range(0, clip.frames, chunk_frames):
        part = clip.samples[:, start:start + chunk_frames]
        if part.size:
            best = max(best, float(np.nanmax(np.abs(part))))
    return best


@dataclass
class AudioProbe:
    container: str
    codec: str
    sample_rate: int
    channels: int
    layout: str | None
    duration_s: float | None
    nbytes: int | None = None


def _open(source):
    return containers.open_input(source, AudioError, "audio")


def _nbytes(source) -> int | None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    try:
        return os.path.getsize(source)
    except OSError:
        return None


def probe(source) -> AudioProbe:
    """Container, codec, rate, channels and duration of the first audio stream, from headers
    (nothing decoded). ``source``: bytes or a path."""
    with _open(source) as container:
        if not container.streams.audio:
            raise AudioError("the file has no audio stream")
        st = container.streams.audio[0]
        cc = st.codec_context
        duration = containers.header_duration(st, container)
        layout = getattr(cc.layout, "name", None) if cc.layout is not None else None
        return AudioProbe(container.format.name, cc.name, int(cc.sample_rate or 0), int(cc.channels or 0),
                          layout, duration, _nbytes(source))


class AudioLimitError(AudioError, containers.DecodeLimitError):
    """Decoding the audio would pass a duration or sample limit (refused, never cut)."""


class AudioTruncatedError(AudioError, containers.TruncatedMediaError):
    """The audio ends well before its header says it does."""


# Codecs whose header states the exact length (FLAC STREAMINFO, a WAV data chunk): a file that
# decodes to less is cut off. MP3/AAC/Ogg lengths are often estimates, so they are not judged.
_EXACT_LENGTH = ("flac", "pcm_")


def decode(source, *, max_seconds: float = MAX_DECODE_SECONDS, max_samples: int = MAX_DECODE_SAMPLES,
           reserve=None, should_abort=None) -> AudioClip:
    """The first audio stream as an AudioClip at its own rate and layout.

    Bounded by what it becomes: the header's duration x rate x channels is checked against
    ``max_seconds`` and ``max_samples`` (all channels) before anything is decoded, the output is
    allocated once at that size and filled in place, and decoding stops with AudioLimitError the
    moment it would pass a limit (headers can lie). ``reserve(n)`` is called before ``n`` more
    samples are allocated and may raise to refuse them (a job's or the process's budget).
    A FLAC or WAV that decodes to clearly less than its header states is AudioTruncatedError."""
    import av
    with _open(source) as container:
        if not container.streams.audio:
            raise AudioError("the file has no audio stream")
        st = container.streams.audio[0]
        cc = st.codec_context
        rate = int(cc.sample_rate or 0)
        if rate <= 0:
            raise AudioError("the audio stream does not state its sample rate")
        channels = max(1, int(cc.channels or 1))
        declared = containers.header_duration(st, container)
        if declared is not None and declared > max_seconds:
            raise AudioLimitError("duration", round(declared, 1), max_seconds, "s", text=(
                f"the audio is {declared:.1f} s long, over the {max_seconds:.0f} s limit; refused before decoding"))
        expected = int(round(declared * rate)) if declared is not None else None
        if expected is not None and expected * channels > max_samples:
            raise AudioLimitError("samples", expected * channels, max_samples, "samples", text=(
                f"the audio holds more than {max_samples} samples ({expected * channels:,}: {declared:.1f} s x "
                f"{rate} Hz x {channels} ch); refused before decoding"))
        layout = getattr(cc.layout, "name", None)
        resampler = None
        buf: np.ndarray | None = None
        n = 0

        def grow(need: int, ch: int) -> np.ndarray:
            """Room for ``need`` frames: the header's length first, then +50% steps, each step
            reserved before it is allocated."""
            cap = 0 if buf is None else buf.shape[1]
            new = max(need, expected + 1 if (buf is None and expected) else int(cap * 1.5) + rate)
            new = min(new, max_samples // ch, int(max_seconds * rate) + 1)
            if new < need:
                raise AudioLimitError("samples", need * ch, max_samples, "samples", text=(
                    f"the audio holds more than {max_samples} samples or {max_seconds:.0f} s; refused rather "
                    f"than cut (decoding stopped at {n / rate:.1f} s)"))
            if reserve is not None:
                reserve((new - cap) * ch)
            out = np.empty((ch, new), np.float32)
            if buf is not None:
                out[:, :n] = buf[:, :n]
            return out

        try:
            frames_iter = container.decode(st)
            while True:
                if should_abort is not None and should_abort():
                    raise AudioError("decoding stopped by the user")
                try:
                    frame = next(frames_iter)
                except StopIteration:
                    frame = None
                if frame is not None and resampler is None:
                    layout = frame.layout.name
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=frame.sample_rate)
                    rate = frame.sample_rate
                if resampler is None:
                    break
                for out in resampler.resample(frame):
                    arr = out.to_ndarray()
                    k = arr.shape[1]
                    if buf is None or n + k > buf.shape[1]:
                        buf = grow(n + k, arr.shape[0])
                    buf[:, n:n + k] = arr
                    n += k
                if frame is None:
                    break
        except av.FFmpegError as exc:
            if expected and n and n < expected * 0.99:
                raise AudioTruncatedError(f"the audio is truncated: its header states {expected / rate:.2f} s, "
                                          f"decoding broke off at {n / rate:.2f} s ({exc})") from None
            raise AudioError(f"the audio could not be decoded ({exc})") from None
        codec_name = cc.name or ""
    if buf is None or n == 0:
        raise AudioError("the audio stream holds no samples")
    if expected and codec_name.startswith(_EXACT_LENGTH) and n < expected * 0.99 - rate * 0.05:
        raise AudioTruncatedError(f"the audio is truncated: its header states {expected / rate:.2f} s, the file "
                                  f"holds {n / rate:.2f} s (a cut-off download or a broken file)")
    samples = _compact(buf, n)
    del buf
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(samples, -1.0, 1.0, out=samples)
    return AudioClip(samples, rate, _named_layout(layout, samples.shape[0]))


def _compact(buf: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` frames of ``buf`` as a C-contiguous array, in place: rows moved down one
    at a time and the buffer shrunk, so a slack at the end never costs a full copy."""
    ch, cap = buf.shape
    if n == cap:
        return buf
    flat = buf.reshape(-1)
    for c in range(1, ch):
        flat[c * n:(c + 1) * n] = flat[c * cap:c * cap + n].copy()    # one row at a time
    del flat
    if buf.base is not None or not buf.flags.owndata:
        return np.ascontiguousarray(buf.reshape(-1)[:ch * n]).reshape(ch, n)
    buf.resize(ch * n, refcheck=False)          # shrinks in place (realloc), no copy
    return buf.reshape(ch, n)


def _named_layout(name: str | None, channels: int) -> str | None:
    """ffmpeg calls a layout it only knows by count "2 channels" (plain PCM WAV): that is the
    default layout for the count, which is what a WAV reader assumes too."""
    if not name or name.endswith("channels"):
        return _DEFAULT_LAYOUTS.get(channels)
    return name


def mime_for(container: str, codec: str) -> str:
    """The MIME type a file of this container/codec is sent or stored as."""
    names = set(container.split(","))
    if "wav" in names:
        return "audio/wav"
    if "mp3" in names or codec == "mp3":
        return "audio/mpeg"
    if "ogg" in names:
        return "audio/ogg"
    if "flac" in names:
        return "audio/flac"
    if names & {"mov", "mp4", "m4a"}:
        return "audio/mp4"
    return "application/octet-stream"


def tone(freq_hz: float, seconds: float, sample_rate: int = 44_100, channels: int = 2,
         amplitude: float = 0.3) -> AudioClip:
    """A sine test tone (tests, emulator, benchmark)."""
    n = int(round(seconds * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    wave = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return AudioClip(np.repeat(wave[None, :], channels, axis=0), sample_rate)


# Container and encoder per compressed format (the emulator's MP3 results, tests' fixtures).
_COMPRESSED = {"mp3": ("mp3", "libmp3lame"), "flac": ("flac", "flac"),
               "opus": ("ogg", "libopus"), "vorbis": ("ogg", "libvorbis")}


def encode_compressed(clip: AudioClip, fmt: str, bit_rate: int = 192_000) -> bytes:
    """The clip as MP3, FLAC, Ogg/Opus or Ogg/Vorbis bytes at its own rate and layout (Opus
    only exists at 48 kHz and lower standard rates: another rate is refused, not resampled)."""
    import av
    if fmt not in _COMPRESSED:
        raise AudioError(f"unknown audio format {fmt!r}; one of {', '.join(_COMPRESSED)}")
    container_fmt, codec = _COMPRESSED[fmt]
    if fmt == "opus" and clip.sample_rate not in (8000, 12000, 16000, 24000, 48000):
        raise AudioError(f"Opus carries 8/12/16/24/48 kHz, not {clip.sample_rate} Hz")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container_fmt) as out:
        st = out.add_stream(codec, rate=clip.sample_rate)
        st.layout = clip.layout_name
        if fmt != "flac":
            st.bit_rate = bit_rate
        samples = np.clip(np.nan_to_num(clip.samples, nan=0.0), -1.0, 1.0).astype(np.float32)
        step = 4096
        for start in range(0, clip.frames, step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + step]),
                                               format="fltp", layout=clip.layout_name)
            frame.sample_rate = clip.sample_rate
            frame.pts = start
            for p in st.encode(frame):
                out.mux(p)
        containers.flush(out, st)
    return buf.getvalue()
