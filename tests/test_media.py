"""runcomfy.media.images + imageformats.encode_many: encoding, data URIs, safe decoding, parallel de-duplicated encoding."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from runcomfy.media import imageformats, images as media, kinds as media_kinds
from runcomfy.errors import DownloadError, RunComfyError
from runcomfy.run.hosting import DataUriHost, ImageHost
from runcomfy.schema import ImageInfo


def rand_rgb(h=17, w=23, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` but whose body is a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat or zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


# --- encoding ---------------------------------------------------------------------------------

def test_png_round_trip_is_lossless():
    arr = rand_rgb(64, 48)
    data = media.encode_png(arr)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out = media.decode_image(data)
    assert out.dtype == np.uint8 and out.shape == (64, 48, 3)
    assert np.array_equal(out, arr)


def test_png_uses_fast_compression_not_pillow_default():
    # A compressible image: level 1 + RLE must stay far from the slow default's output size
    # being reproduced exactly, and remain lossless. Guard the chosen constants.
    assert media.PNG_COMPRESS_LEVEL == 1
    y, x = np.mgrid[0:256, 0:256]
    arr = np.stack([x, y, (x + y) // 2], -1).astype(np.uint8)
    fast = media.encode_png(arr)
    default = save(Image.fromarray(arr), "PNG")  # Pillow default level 6
    assert fast != default
    assert np.array_equal(media.decode_image(fast), arr)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8),
                                 np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)])
def test_encoders_reject_non_rgb_uint8(bad):
    for enc in (media.encode_png, media.encode_jpeg):
        with pytest.raises(ValueError) as e:
            enc(bad)
        assert str(tuple(bad.shape)) in str(e.value)


def test_jpeg_quality_option():
    y, x = np.mgrid[0:128, 0:128]
    arr = np.stack([x * 2, y * 2, 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)], -1).astype(np.uint8)
    hi, lo = media.encode_jpeg(arr), media.encode_jpeg(arr, quality=30)
    assert hi[:2] == b"\xff\xd8" and len(lo) < len(hi)
    assert media.DEFAULT_JPEG_QUALITY == 95
    # quality 95 leaves small errors, quality 30 visibly larger ones
    err_hi = np.abs(media.decode_image(hi).astype(int) - arr).mean()
    err_lo = np.abs(media.decode_image(lo).astype(int) - arr).mean()
    assert err_hi < 1.5 and err_lo > 2 * err_hi, (err_hi, err_lo)
    # the quantisation tables really are the ones for the requested quality
    reference = save(Image.fromarray(arr), "JPEG", quality=95)
    assert Image.open(io.BytesIO(hi)).quantization == Image.open(io.BytesIO(reference)).quantization
    for q in (0, 101, 9.5, True):
        with pytest.raises(ValueError):
            media.encode_jpeg(arr, quality=q)


# --- data URIs --------------------------------------------------------------------------------

def test_data_uri_round_trip():
    data = media.encode_png(rand_rgb())
    uri = media.to_data_uri(data, "image/png")
    assert uri.startswith("data:image/png;base64,")
    assert media.parse_data_uri(uri) == ("image/png", data)
    assert media.parse_data_uri("DATA:Image/JPEG;BASE64,AAEC") == ("image/jpeg", b"\0\1\2")


@pytest.mark.parametrize("uri", [
    "https://example.com/a.png",
    "data:text/plain;base64,aGVsbG8=",
    "data:image/png,rawbytes",
    "data:image/png;charset=utf-8;base64,aGVsbG8=",
    "data:;base64,aGVsbG8=",
    "data:image/png;base64,",
    "data:image/png;base64,@@@@",
    "data:image/png;base64,aGVsbG8",        # bad padding
    "data:image/png;base64,aGVs\nbG8=",     # whitespace is not base64
    " data:image/png;base64,aGVsbG8=",
])
def test_parse_data_uri_is_strict(uri):
    with pytest.raises(ValueError):
        media.parse_data_uri(uri)


def test_parse_data_uri_rejects_non_string_and_to_data_uri_bad_mime():
    with pytest.raises(ValueError):
        media.parse_data_uri(b"data:image/png;base64,aGVsbG8=")
    for mime in ("text/plain", "image/png;x=1", "", "image/"):
        with pytest.raises(ValueError):
            media.to_data_uri(b"x", mime)


# --- probe ------------------------------------------------------------------------------------

def test_probe_formats():
    im = Image.fromarray(rand_rgb(30, 40))
    assert media.probe(save(im, "PNG")) == (40, 30, "PNG")
    assert media.probe(save(im, "JPEG")) == (40, 30, "JPEG")
    assert media.probe(save(im, "WEBP")) == (40, 30, "WEBP")


def test_probe_reads_header_only():
    # 6000x5000 claimed, ~100 bytes of data: decoding would fail, probing must not.
    assert media.probe(png_header_only(6000, 5000)) == (6000, 5000, "PNG")


def test_probe_rejects_garbage():
    with pytest.raises(DownloadError) as e:
        media.probe(b"<html><body>502 Bad Gateway</body></html>")
    assert "not a readable image" in str(e.value) and "HTML" in str(e.value)


# --- decoding: modes --------------------------------------------------------------------------

def test_decode_rgba_composites_over_black():
    rgba = np.array([[[200, 100, 50, 128], [10, 20, 30, 0], [1, 2, 3, 255]]], dtype=np.uint8)
    out = media.decode_image(save(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out.shape == (1, 3, 3)
    assert out.tolist() == [[[100, 50, 25], [0, 0, 0], [1, 2, 3]]]


def test_decode_la_and_gray():
    la = np.array([[[200, 255], [200, 0]]], dtype=np.uint8)
    assert media.decode_image(save(Image.fromarray(la, "LA"), "PNG")).tolist() == [[[200] * 3, [0] * 3]]
    g = np.array([[0, 77, 255]], dtype=np.uint8)
    out = media.decode_image(save(Image.fromarray(g, "L"), "PNG"))
    assert out.shape == (1, 3, 3) and out.tolist() == [[[0] * 3, [77] * 3, [255] * 3]]
    one = Image.new("1", (2, 1))
    one.putpixel((1, 0), 1)
    assert media.decode_image(save(one, "PNG")).tolist() == [[[0] * 3, [255] * 3]]


def test_decode_palette_with_and_without_transparency():
    p = Image.new("P", (3, 1))
    p.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (253 * 3))
    for x in range(3):
        p.putpixel((x, 0), x)
    assert media.decode_image(save(p, "PNG")).tolist() == [[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]
    out = media.decode_image(save(p, "PNG", transparency=1))  # green index transparent
    assert out.tolist() == [[[255, 0, 0], [0, 0, 0], [0, 0, 255]]]
    gif = media.decode_image(save(p, "GIF", transparency=1))
    assert gif.tolist() == [[[255, 0, 0], [0, 0, 0], [0, 0, 255]]]


def test_decode_16bit_gray_is_scaled_not_clipped():
    a = np.array([[0, 257 * 128, 65535, 1000]], dtype=np.uint16)
    data = save(Image.fromarray(a), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = media.decode_image(data)
    assert out.shape == (1, 4, 3)
    assert out[..., 0].tolist() == [[0, 128, 255, 4]]  # 1000/257 = 3.9 -> 4
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_decode_cmyk():
    cmyk = Image.new("CMYK", (2, 1))
    cmyk.putpixel((0, 0), (0, 255, 255, 0))   # red
    cmyk.putpixel((1, 0), (0, 0, 0, 0))       # white
    assert media.decode_image(save(cmyk, "TIFF")).tolist() == [[[255, 0, 0], [255, 255, 255]]]
    big = cmyk.resize((32, 16), Image.NEAREST)
    out = media.decode_image(save(big, "JPEG", quality=100))
    assert out.shape == (16, 32, 3)
    assert np.abs(out[8, 4].astype(int) - [255, 0, 0]).max() < 40
    assert np.abs(out[8, 28].astype(int) - [255, 255, 255]).max() < 20


def _exif(orientation: int) -> Image.Exif:
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex


@pytest.mark.parametrize("orientation", range(1, 9))
def test_decode_applies_exif_orientation(orientation):
    arr = rand_rgb(3, 5, seed=orientation)
    im = Image.fromarray(arr)
    data = save(im, "PNG", exif=_exif(orientation))
    out = media.decode_image(data)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert np.array_equal(out, expected)
    independent = {1: arr, 2: arr[:, ::-1], 3: arr[::-1, ::-1], 4: arr[::-1],
                   6: np.rot90(arr, -1), 8: np.rot90(arr, 1)}  # EXIF spec, no Pillow involved
    if orientation in independent:
        assert np.array_equal(out, independent[orientation])
    if orientation >= 5:
        assert out.shape == (5, 3, 3)


def test_decode_exif_orientation_in_jpeg():
    arr = np.zeros((16, 32, 3), np.uint8)
    arr[:, :16] = (255, 0, 0)  # left half red, right half blue
    arr[:, 16:] = (0, 0, 255)
    out = media.decode_image(save(Image.fromarray(arr), "JPEG", quality=100, exif=_exif(6)))
    assert out.shape == (32, 16, 3)  # rotated 90 degrees clockwise: red on top
    assert out[4, 8, 0] > 200 and out[4, 8, 2] < 60
    assert out[28, 8, 2] > 200 and out[28, 8, 0] < 60


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_decode_multiframe_takes_first_frame(fmt):
    frames = [Image.new("RGB", (8, 6), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    kw = {"lossless": True} if fmt == "WEBP" else {}
    data = save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **kw)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    out = media.decode_image(data)
    assert out.shape == (6, 8, 3)
    assert (out == [255, 0, 0]).all()


def test_decode_returns_writable_contiguous_array():
    out = media.decode_image(save(Image.fromarray(rand_rgb()), "JPEG"))
    assert out.flags.writeable and out.flags.c_contiguous


# --- decoding: safety -------------------------------------------------------------------------

def test_bomb_refused_before_decoding(monkeypatch):
    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1))
    with pytest.raises(DownloadError) as e:
        media.decode_image(png_header_only(8000, 6000))  # 48 Mpx claimed, ~100 bytes
    msg = str(e.value)
    assert "40,000,000" in msg and "8000x6000" in msg and "48,000,000" in msg
    assert loads == []


def test_real_small_file_bomb_refused():
    data = save(Image.new("L", (7000, 6000)), "PNG")  # 42 Mpx of zeros in a small file
    assert len(data) < 200_000
    with pytest.raises(DownloadError) as e:
        media.decode_image(data)
    assert "7000x6000" in str(e.value) and "40,000,000" in str(e.value)


def test_huge_header_beyond_pillows_own_limit_is_a_download_error():
    with pytest.raises(DownloadError) as e:
        media.decode_image(png_header_only(100_000, 100_000))
    assert "40,000,000" in str(e.value) and "10,000,000,000" in str(e.value)


def test_max_pixels_boundary():
    data = media.encode_png(rand_rgb(10, 10))
    assert media.decode_image(data, max_pixels=100).shape == (10, 10, 3)
    with pytest.raises(DownloadError):
        media.decode_image(data, max_pixels=99)


def _photo(h=120, w=160) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x ^ y) % 256], -1)
    return np.clip(base + np.random.default_rng(3).integers(0, 30, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("truncated_flag", [False, True])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_file_refused(monkeypatch, fmt, truncated_flag):
    # Pillow accepts truncated files silently when this global is True (ComfyUI flips it).
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", truncated_flag)
    data = save(Image.fromarray(_photo()), fmt)
    assert media.decode_image(data).shape == (120, 160, 3)
    for frac in (0.5, 0.9):
        with pytest.raises(DownloadError) as e:
            media.decode_image(data[: int(len(data) * frac)])
        assert any(w in str(e.value) for w in ("truncated", "corrupt", "not a readable image"))


def test_truncated_jpeg_message(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = save(Image.fromarray(_photo()), "JPEG")
    with pytest.raises(DownloadError) as e:
        media.decode_image(data[: len(data) * 2 // 3])
    assert "truncated" in str(e.value) and "JPEG" in str(e.value)


def test_corrupt_data_refused():
    data = bytearray(media.encode_png(_photo()))
    data[200:260] = b"\x00" * 60  # inside IDAT: CRC and zlib stream broken
    with pytest.raises(DownloadError):
        media.decode_image(bytes(data))
    with pytest.raises(DownloadError):
        media.decode_image(b"")
    with pytest.raises(DownloadError):
        media.decode_image(b'{"error": "expired"}')
    assert issubclass(DownloadError, RunComfyError)


# --- EncodedImage / encode_many ---------------------------------------------------------------

def test_encoded_image_info_and_hash():
    [e] = imageformats.encode_many([rand_rgb(9, 11)])
    assert (e.mime, e.width, e.height) == ("image/png", 11, 9)
    assert e.sha256 == hashlib.sha256(e.data).hexdigest()
    assert e.info() == ImageInfo(width=11, height=9, nbytes=len(e.data))


def test_encode_many_dedupes_identical_arrays(monkeypatch):
    calls = []
    real = media.encode_png

    def counting(arr, **kw):
        calls.append(arr.shape)
        return real(arr, **kw)

    monkeypatch.setattr(media, "encode_png", counting)
    a, b = rand_rgb(seed=1), rand_rgb(seed=2)
    same_bytes_other_shape = a.reshape(23, 17, 3)
    out = imageformats.encode_many([a, b, a.copy(), same_bytes_other_shape, b])
    assert len(calls) == 3
    assert out[0] is out[2] and out[1] is out[4]
    assert out[0].data != out[3].data and (out[3].width, out[3].height) == (17, 23)
    assert np.array_equal(media.decode_image(out[2].data), a)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_png_in_parallel_parts_decodes_to_the_same_pixels(threads):
    rng = np.random.default_rng(threads)
    smooth = np.linspace(0, 255, 1500 * 1000 * 3).reshape(1500, 1000, 3).astype(np.uint8)
    arr = (smooth + rng.integers(0, 6, smooth.shape, dtype=np.uint8)).astype(np.uint8)
    whole = media.encode_png(arr)
    parts = media.encode_png(arr, threads=threads)
    assert parts != whole                                   # really written in parts
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(parts)).convert("RGB")), arr)
    assert len(parts) < len(whole) * 1.002                  # the lost context costs almost nothing
    # A strict reader of the zlib stream (checksum included) agrees with Pillow.
    idat = parts[parts.index(b"IDAT") + 4:parts.index(b"IEND") - 8]
    raw = zlib.decompress(idat)
    assert len(raw) == 1500 * (1000 * 3 + 1) and raw[0] == 2


def test_png_parts_only_for_large_images(monkeypatch):
    seen = []
    real = media._deflate
    monkeypatch.setattr(media, "_deflate", lambda data, pieces: seen.append(pieces) or real(data, pieces))
    media.encode_png(rand_rgb(64, 64), threads=8)           # 12 KB: one part
    media.encode_png(rand_rgb(1024, 1024), threads=8)       # 3 MB: at most 3 parts of >= 1 MiB
    media.encode_png(rand_rgb(1024, 1024), threads=1)
    assert seen == [1, 3, 1]


def test_encode_many_splits_a_lone_large_image_across_cpus(monkeypatch):
    seen = []
    real = media.encode_png
    monkeypatch.setattr(media, "usable_cpus", lambda: 4)
    monkeypatch.setattr(media, "encode_png", lambda arr, **kw: seen.append(kw.get("threads")) or real(arr, **kw))
    imageformats.encode_many([rand_rgb(64, 64)])
    imageformats.encode_many([rand_rgb(64, 64, seed=1), rand_rgb(64, 64, seed=2)])
    imageformats.encode_many([rand_rgb(8, 8, seed=s) for s in range(5)])
    assert seen == [4, 2, 2, 1, 1, 1, 1, 1]


def test_encode_many_tells_apart_arrays_that_differ_in_one_pixel(monkeypatch):
    calls = []
    real = media.encode_png
    monkeypatch.setattr(media, "encode_png", lambda arr, **kw: calls.append(1) or real(arr, **kw))
    a = rand_rgb(130, 130, seed=3)
    b = a.copy()
    b[1, 1, 2] ^= 1          # off the sparse sample grid: only the full comparison sees it
    out = imageformats.encode_many([a, b, a.copy()])
    assert len(calls) == 2
    assert out[0] is out[2] and out[1] is not out[0]
    assert np.array_equal(media.decode_image(out[1].data), b)


def test_encode_many_parallel_preserves_order(monkeypatch):
    real = media.encode_png
    threads = set()

    def slow(arr, **kw):
        threads.add(threading.get_ident())
        time.sleep(random.uniform(0.0, 0.03))  # finish out of order
        return real(arr, **kw)

    monkeypatch.setattr(media, "encode_png", slow)
    arrays = [np.full((4, 5, 3), i * 10, np.uint8) for i in range(12)]
    out = imageformats.encode_many(arrays, max_workers=4)
    assert len(threads) > 1
    assert [int(media.decode_image(e.data)[0, 0, 0]) for e in out] == [i * 10 for i in range(12)]


def test_encode_many_jpeg_and_bad_format(monkeypatch):
    qualities = []
    real = media.encode_jpeg
    monkeypatch.setattr(media, "encode_jpeg", lambda arr, q=95: qualities.append(q) or real(arr, q))
    out = imageformats.encode_many([rand_rgb(), rand_rgb(seed=5)], fmt="JPEG", jpeg_quality=70)
    assert [e.mime for e in out] == ["image/jpeg"] * 2 and qualities == [70, 70]
    assert imageformats.encode_many([rand_rgb()], fmt="jpg")[0].data[:2] == b"\xff\xd8"
    with pytest.raises(ValueError):
        imageformats.encode_many([rand_rgb()], fmt="gif")
    with pytest.raises(ValueError):
        imageformats.encode_many([rand_rgb()], fmt="jpeg", jpeg_quality=0)
    assert imageformats.encode_many([]) == []


def test_encode_many_runs_encoders_concurrently(monkeypatch):
    # Two distinct encodes with two workers must overlap in time, not run one after the
    # other. (That Pillow releases the GIL while compressing, so the overlap is real speed,
    # was measured separately: see encode_many's docstring; timing asserts would be flaky.)
    spans = []
    real = media.encode_png

    def timed(arr, **kw):
        t0 = time.perf_counter()
        data = real(arr, **kw)
        spans.append((t0, time.perf_counter()))
        return data

    monkeypatch.setattr(media, "encode_png", timed)
    imageformats.encode_many([_photo(600, 800), _photo(600, 800)[::-1].copy()], max_workers=2)
    (s1, e1), (s2, e2) = sorted(spans)
    assert s2 < e1  # the second started before the first finished


# --- hosting ----------------------------------------------------------------------------------

def test_data_uri_host():
    host = DataUriHost()
    assert isinstance(host, ImageHost) and host.name
    encs = imageformats.encode_many([rand_rgb(seed=1), rand_rgb(seed=2)])
    urls = host.host(encs)
    assert [media.parse_data_uri(u) for u in urls] == [("image/png", e.data) for e in encs]
    assert urls[0] == "data:image/png;base64," + base64.b64encode(encs[0].data).decode()
    assert host.host([]) == []


@pytest.mark.parametrize("h,w", [(1, 1), (1, 7), (5, 1), (3, 4), (257, 129)])
def test_png_writer_is_valid_and_lossless_for_any_shape(h, w):
    arr = np.random.default_rng(h * 1000 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    data = media.encode_png(arr)
    with Image.open(io.BytesIO(data)) as im:
        im.verify()  # checksums and chunk structure
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGB" and im.size == (w, h)
        assert np.array_equal(np.asarray(im), arr)


# --- input files: their own error, naming the input and the file, never their bytes ---------

def test_an_unreadable_input_file_names_the_input_and_the_file_not_its_bytes(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"root:x:0:0:secret-line\n" * 4)
    with pytest.raises(media.UnreadableInputError) as e:
        media.decode_input_image(bad, "image_urls[2]")
    text = str(e.value)
    assert text.startswith(f"input 'image_urls[2]': {bad} (92 bytes) is not a readable image")
    assert "x:0:0" not in text and "secret" not in text and "Result" not in text
    assert e.value.label == "image_urls[2]" and e.value.source == str(bad)


def test_a_truncated_or_missing_input_file_is_an_input_error(tmp_path):
    whole = media.encode_png(rand_rgb(64, 64))
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(media.UnreadableInputError, match=r"^input 'image': .*cut\.png \([\d,]+ bytes\) is "
                                                          r"(truncated|a damaged image)"):
        media.decode_input_image(cut, "image")
    with pytest.raises(media.UnreadableInputError, match=r"^input 'image': .*gone\.png cannot be read"):
        media.decode_input_image(tmp_path / "gone.png", "image")
    good = tmp_path / "good.png"
    good.write_bytes(whole)
    assert media.decode_input_image(good, "image").shape == (64, 64, 3)


# Each kind loads an input FILE (the batch runner) with the same input error.

@pytest.mark.parametrize("kind", ["image", "audio"])
def test_an_unreadable_input_file_is_an_input_error_naming_field_and_file(kind, tmp_path):
    from runcomfy.media.errors import UnreadableInputError
    bad = tmp_path / f"notes.{'png' if kind == 'image' else 'wav'}"
    bad.write_bytes(b"RIFF....WAVEfmt secret-line\n" * 8 if kind == "audio" else b"secret-line\n" * 8)
    with pytest.raises(UnreadableInputError) as e:
        media_kinds.get(kind).load_input(str(bad), "clip_urls[2]")
    assert str(e.value).startswith(f"input 'clip_urls[2]': {bad} ") and "readable" in e.value.reason
    assert "secret" not in str(e.value) and "Result" not in str(e.value)


def test_an_input_file_of_a_streamed_kind_is_handed_on_as_its_path(tmp_path):
    src = media_kinds.get("video").load_input(str(tmp_path / "clip.mp4"), "video_url")
    assert src.path == str(tmp_path / "clip.mp4")
