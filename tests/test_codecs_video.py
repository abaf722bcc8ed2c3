"""runcomfy.media.codecs.video: probing, the unchanged / remuxed / re-encoded decision, encoding frames
with audio, and the limits of decoding. Real PyAV, real files; no ComfyUI, no torch."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
import pytest

from runcomfy.media.codecs import audio, video


def gradient_frames(n=12, h=96, w=128, seed=0):
    """Smooth moving content (what H.264 is made for), so lossy round trips can be compared."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 80)
    for i in range(n):
        out[i, ..., 0] = (xx * 2 + i * 7 + base) % 256
        out[i, ..., 1] = (yy * 2 + i * 3) % 256
        out[i, ..., 2] = 128
    return out


def write_with(fmt, codec, frames, fps=24, pix_fmt="yuv420p", audio_clip=None, audio_codec="aac"):
    """A fixture file written directly with PyAV (not with the code under test)."""
    buf = io.BytesIO()
    out = av.open(buf, "w", format=fmt)
    s = out.add_stream(codec, rate=fps)
    s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
    a = None
    if audio_clip is not None:
        a = out.add_stream(audio_codec, rate=audio_clip.sample_rate)
        a.layout = audio_clip.layout_name
    for i, fr in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(fr, format="rgb24")
        vf.pts = i
        for p in s.encode(vf):
            out.mux(p)
    for p in s.encode(None):
        out.mux(p)
    if a is not None:
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio_clip.samples), format="fltp",
                                        layout=audio_clip.layout_name)
        af.sample_rate, af.pts = audio_clip.sample_rate, 0
        for p in a.encode(af):
            out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    out.close()
    return buf.getvalue()


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def peak_hz(clip: audio.AudioClip) -> float:
    spec = np.abs(np.fft.rfft(clip.samples[0]))
    return float(np.argmax(spec) * clip.sample_rate / clip.samples.shape[1])


def test_encode_frames_makes_mp4_h264_with_the_stated_settings_and_keeps_the_audio():
    frames = gradient_frames(24)
    clip = audio.tone(660, 1.0, 48000, 2)
    data = video.encode_frames(frames, 24, clip)
    p = video.probe(data)
    assert (p.video_codec, p.pix_fmt, p.width, p.height) == ("h264", "yuv420p", 128, 96)
    assert p.is_mp4 and p.frames == 24 and p.fps == pytest.approx(24) and p.duration_s == pytest.approx(1.0, abs=0.05)
    assert (p.audio_codec, p.sample_rate, p.channels) == ("aac", 48000, 2)
    assert p.verdict()[0] == "unchanged"
    with av.open(io.BytesIO(data)) as c:
        cc = c.streams.video[0].codec_context
        assert cc.profile == "High"
        # +faststart: the index (moov) comes before the media data (mdat).
    assert data.find(b"moov") < data.find(b"mdat")
    back = video.decode_frames(data)
    assert back.shape == frames.shape and psnr(back, frames) > 28
    track = video.decode_audio_track(data)
    assert track.sample_rate == 48000 and track.channels == 2 and track.layout == "stereo"
    assert peak_hz(track) == pytest.approx(660, abs=3)


def test_an_iterable_of_frames_and_fractional_frame_rates_work():
    frames = gradient_frames(10)
    data = video.encode_frames((f for f in frames), 30000 / 1001)
    p = video.probe(data)
    assert p.frames == 10 and p.fps == pytest.approx(29.97, abs=0.01) and not p.has_audio


def test_mp4_h264_is_sent_byte_for_byte_unchanged():
    src = write_with("mp4", "libx264", gradient_frames(8), audio_clip=audio.tone(440, 0.4, 44100, 1))
    s = video.to_sendable(src)
    assert s.action == "unchanged" and s.data == src and s.notes == []
    assert s.probe.has_audio and s.probe.channels == 1


def test_mp4_h264_from_a_file_path_is_read_unchanged(tmp_path):
    src = write_with("mp4", "libx264", gradient_frames(8))
    path = tmp_path / "in.mp4"
    path.write_bytes(src)
    s = video.to_sendable(str(path))
    assert s.action == "unchanged" and s.data == src and s.probe.nbytes == len(src)


def test_h264_in_matroska_is_remuxed_without_touching_the_picture():
    frames = gradient_frames(10)
    src = write_with("matroska", "libx264", frames)
    assert video.probe(src).verdict()[0] == "remux"
    s = video.to_sendable(src)
    assert s.action == "remuxed" and "matroska" in s.notes[0]
    assert s.probe.is_mp4 and s.probe.video_codec == "h264" and s.probe.frames == 10
    # Packets copied, not re-encoded: decoded pictures are identical.
    assert np.array_equal(video.decode_frames(s.data), video.decode_frames(src))


def test_quicktime_mov_is_remuxed_to_mp4_and_its_pcm_audio_becomes_aac():
    src = write_with("mov", "libx264", gradient_frames(6), audio_clip=audio.tone(500, 0.3, 44100, 2),
                     audio_codec="pcm_s16le")
    p = video.probe(src)
    assert p.brand == "qt" and not p.is_mp4 and p.verdict()[0] == "remux"
    s = video.to_sendable(src)
    assert s.action == "remuxed" and s.probe.is_mp4 and s.probe.audio_codec == "aac"
    assert np.array_equal(video.decode_frames(s.data), video.decode_frames(src))
    assert peak_hz(video.decode_audio_track(s.data)) == pytest.approx(500, abs=5)


def test_vp9_webm_is_re_encoded_with_the_settings_named_in_the_note():
    frames = gradient_frames(10)
    src = write_with("webm", "libvpx-vp9", frames)
    s = video.to_sendable(src)
    assert s.action == "re-encoded" and "vp9" in s.notes[0] and "CRF 18" in s.notes[0]
    assert s.probe.video_codec == "h264" and s.probe.frames == 10 and s.probe.verdict()[0] == "unchanged"
    assert psnr(video.decode_frames(s.data), frames) > 28


def test_yuv444_h264_is_re_encoded_to_420():
    src = write_with("mp4", "libx264", gradient_frames(6), pix_fmt="yuv444p")
    assert video.probe(src).verdict()[0] == "reencode"
    s = video.to_sendable(src)
    assert s.action == "re-encoded" and s.probe.pix_fmt == "yuv420p"


def test_odd_frame_sizes_are_padded_by_one_edge_pixel_and_said():
    frames = gradient_frames(4, h=81, w=101)
    data = video.encode_frames(frames, 12)
    p = video.probe(data)
    assert (p.width, p.height) == (102, 82)
    back = video.decode_frames(data)
    assert psnr(back[:, :81, :101], frames) > 28
    src = write_with("webm", "libvpx-vp9", gradient_frames(4, h=81, w=101))
    note = video.to_sendable(src).notes[0]
    assert "101x81 -> 102x82" in note


def test_bad_frames_and_rates_are_refused_with_the_value():
    with pytest.raises(video.VideoError, match="no frames"):
        video.encode_frames(np.zeros((0, 8, 8, 3), np.uint8), 24)
    with pytest.raises(video.VideoError, match=r"float32 array of shape \(8, 8, 3\)"):
        video.encode_frames(np.zeros((2, 8, 8, 3), np.float32), 24)
    with pytest.raises(video.VideoError, match="at most 240 fps, got 500"):
        video.encode_frames(gradient_frames(2), 500)
    mixed = [np.zeros((16, 16, 3), np.uint8), np.zeros((16, 18, 3), np.uint8)]
    with pytest.raises(video.VideoError, match="frame 2 is 18x16, frame 1 is 16x16"):
        video.encode_frames(mixed, 24)
    odd_rate = audio.AudioClip(np.zeros((1, 1000), np.float32), 12345)
    with pytest.raises(video.VideoError, match="12345 Hz cannot be carried by AAC.*not resampled"):
        video.encode_frames(gradient_frames(2), 24, odd_rate)


def test_not_a_video_and_audio_only_files_are_refused():
    with pytest.raises(video.VideoError, match="not a readable video"):
        video.probe(b"this is not a video at all" * 10)
    with pytest.raises(video.VideoError, match="no video stream"):
        video.probe(audio.encode_wav(audio.tone(440, 0.2)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 800)
    assert video.decode_audio_track(video.encode_frames(gradient_frames(2), 24)) is None


def test_decoding_every_frame_is_capped():
    data = video.encode_frames(gradient_frames(12), 24)
    assert video.decode_frames(data, max_frames=12).shape[0] == 12
    with pytest.raises(video.VideoError, match="more than 5 frames"):
        video.decode_frames(data, max_frames=5)


def test_encoding_to_a_file_writes_it_and_returns_nothing(tmp_path):
    out = tmp_path / "o.mp4"
    assert video.encode_frames(gradient_frames(3), 24, dst=out) is None
    assert video.probe(str(out)).frames == 3
