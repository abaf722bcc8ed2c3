"""runcomfy.media.codecs.audio: WAV 16-bit encoding (clamped, layout kept, never resampled) and capped
decoding of WAV, MP3, Ogg/Opus and FLAC with PyAV."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from runcomfy.media.codecs import audio


def test_wav_is_16_bit_pcm_at_the_clips_own_rate_and_channels():
    clip = audio.tone(300, 0.5, 22050, 2)
    data = audio.encode_wav(clip)
    assert len(data) == audio.wav_size(2, clip.frames)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, 22050, clip.frames)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2).T
    assert np.array_equal(pcm, np.rint(clip.samples * 32767).astype(np.int16))


def test_out_of_range_values_are_clamped_never_wrapped():
    x = np.array([[1.5, -2.0, np.nan, 1.0, -1.0, 0.5, np.inf, -np.inf]], np.float32)
    data = audio.encode_wav(audio.AudioClip(x, 8000))
    pcm = np.frombuffer(data[44:], "<i2")
    assert pcm.tolist() == [32767, -32767, 0, 32767, -32767, 16384, 32767, -32767]


def test_a_six_channel_clip_keeps_its_layout_through_wav():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((6, 4800)) * 0.2).astype(np.float32)
    data = audio.encode_wav(audio.AudioClip(x, 48000))
    fmt_tag, channels = struct.unpack("<HH", data[20:24])
    mask = struct.unpack("<I", data[40:44])[0]
    assert fmt_tag == 0xFFFE and channels == 6 and mask == 0x3F      # 5.1: FL FR FC LFE BL BR
    back = audio.decode(data)
    assert back.channels == 6 and back.layout == "5.1" and back.sample_rate == 48000
    # Channel order kept: each channel comes back as itself (16-bit quantisation only).
    assert np.max(np.abs(back.samples - np.clip(x, -1, 1))) < 2 / 32767


@pytest.mark.parametrize("fmt,rate,channels", [("mp3", 44100, 2), ("flac", 22050, 1), ("opus", 48000, 2),
                                               ("flac", 96000, 2), ("mp3", 16000, 1)])
def test_compressed_formats_decode_at_their_own_rate_and_channel_count(fmt, rate, channels):
    clip = audio.tone(440, 1.0, rate, channels)
    data = audio.encode_compressed(clip, fmt)
    p = audio.probe(data)
    assert p.sample_rate == rate and p.channels == channels
    back = audio.decode(data)
    assert back.sample_rate == rate and back.channels == channels      # never resampled
    assert back.layout == ("mono" if channels == 1 else "stereo")
    assert back.duration_s == pytest.approx(1.0, abs=0.03)
    spec = np.abs(np.fft.rfft(back.samples[0]))
    assert np.argmax(spec) * rate / back.frames == pytest.approx(440, abs=3)
    if fmt == "flac":
        assert np.max(np.abs(back.samples - clip.samples)) < 1 / 32767 + 1e-6   # lossless
    assert back.samples.dtype == np.float32 and back.samples.min() >= -1 and back.samples.max() <= 1
    assert audio.mime_for(p.container, p.codec) == {"mp3": "audio/mpeg", "flac": "audio/flac",
                                                     "opus": "audio/ogg"}[fmt]


def test_decoding_is_capped_in_duration_and_samples():
    data = audio.encode_wav(audio.tone(440, 2.0, 8000, 2))
    assert audio.decode(data, max_seconds=2.5).frames == 16000
    with pytest.raises(audio.AudioError, match=r"2\.0 s long, over the 1 s limit"):
        audio.decode(data, max_seconds=1)
    with pytest.raises(audio.AudioError, match="more than 10000 samples"):
        audio.decode(data, max_samples=10_000)


def test_a_streaming_wav_with_no_stated_length_is_still_capped():
    data = bytearray(audio.encode_wav(audio.tone(440, 3.0, 8000, 1)))
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)   # "until the end", as live recorders write
    with pytest.raises(audio.AudioError, match=r"3\.0 s long, over the 1 s limit"):
        audio.decode(bytes(data), max_seconds=1.0)
    assert audio.decode(bytes(data)).frames == 24000


def test_garbage_and_bad_clips_are_refused_with_the_value():
    with pytest.raises(audio.AudioError, match="not a readable audio file"):
        audio.decode(b"\x00garbage" * 50)
    with pytest.raises(audio.AudioError, match=r"\[channels, samples\].*shape \(10,\)"):
        audio.AudioClip(np.zeros(10, np.float32), 44100)
    with pytest.raises(audio.AudioError, match="1 to 8 channels, got 9"):
        audio.AudioClip(np.zeros((9, 10), np.float32), 44100)
    with pytest.raises(audio.AudioError, match="got 44100.5"):
        audio.AudioClip(np.zeros((1, 10), np.float32), 44100.5)
    with pytest.raises(audio.AudioError, match="Opus carries .* not 44100 Hz"):
        audio.encode_compressed(audio.tone(440, 0.1, 44100), "opus")


def test_decoding_from_a_path(tmp_path):
    p = tmp_path / "a.flac"
    p.write_bytes(audio.encode_compressed(audio.tone(220, 0.5, 32000, 1), "flac"))
    back = audio.decode(str(p))
    assert back.sample_rate == 32000 and back.frames == 16000
    assert audio.probe(str(p)).nbytes == p.stat().st_size
