"""Image bytes <-> uint8 RGB arrays: the PNG and JPEG encoders, data URIs, and safe decoding of
results and of input files. Choosing a format and encoding many images at once is
``imageformats`` (which imports this module, never the other way round).

bench_notes (1024x1024 RGB, 2-core CPU; photo content):
  Pillow PNG level 6 (its default): ~118 ms; Pillow level 1 + Z_RLE: ~100 ms in the full bench,
  most of it Pillow choosing a filter per row. Our writer (one Up filter for the whole image in
  numpy, zlib level 1 + Z_RLE, both outside the GIL): ~28 ms, files ~0.5% bigger. JPEG q95: ~4 ms.
  An image encoded alone is compressed in parallel parts on the idle CPUs (2 threads: 1024x1024
  ~28 -> ~22 ms, 2048x2048 ~150-180 -> ~98 ms), a few bytes bigger.
No torch here: this module works on numpy arrays so it can be tested and reused without it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import os
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import DownloadError
from ..schema import ImageInfo
from .errors import UnreadableInputError

DEFAULT_MAX_PIXELS = 40_000_000

# PNG writer settings (see bench_notes). The Up filter (each row minus the one above) is what
# Pillow's adaptive choice picks for most rows of photos and renders anyway; Z_RLE is zlib's
# advice for filtered PNG rows. Lossless either way: only speed and size are traded.
PNG_COMPRESS_LEVEL = 1
PNG_ZLIB_STRATEGY = zlib.Z_RLE
# A large image alone is compressed in parallel parts of at least this size: smaller parts
# would cost more in thread start-up and lost context than they save.
PNG_PART_MIN_BYTES = 1 << 20
# Quality 95 with Pillow's default 4:2:0 subsampling: visually clean for photos at a third to a
# half the size of the PNG above, ~10x faster to encode. Only used when a caller opts in.
DEFAULT_JPEG_QUALITY = 95

# Decoders we accept for results. Fewer parsers of untrusted bytes is less attack surface;
# RunComfy returns PNG/JPEG/WEBP, the rest are common enough to be worth keeping.
# (JPEG also covers MPO; names a given Pillow build lacks are skipped, as Pillow would raise.)
_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
_formats_available: tuple[str, ...] | None = None


def _formats() -> tuple[str, ...]:
    global _formats_available
    if _formats_available is None:
        Image.init()
        _formats_available = tuple(f for f in _FORMATS if f in Image.OPEN)
    return _formats_available


_DATA_URI = re.compile(r"data:(image/[a-z0-9][a-z0-9.+-]*);base64,", re.IGNORECASE)
_MIME_OK = re.compile(r"image/[a-z0-9][a-z0-9.+-]*")


# --- encoding -------------------------------------------------------------------------------

def check_rgb_u8(arr: np.ndarray) -> np.ndarray:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        desc = f"{arr.dtype} array of shape {tuple(arr.shape)}" if isinstance(arr, np.ndarray) \
            else type(arr).__name__
        raise ValueError(f"expected a uint8 HxWx3 RGB array, got {desc}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"cannot encode an empty image of shape {tuple(arr.shape)}")
    return np.ascontiguousarray(arr)


def _check_quality(quality) -> None:
    if not isinstance(quality, int) or isinstance(quality, bool) or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer from 1 to 100, got {quality!r}")


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))


def _deflate(data: memoryview, pieces: int) -> bytes:
    """A zlib stream of ``data``. With ``pieces`` > 1 the data is cut into that many parts
    compressed in parallel threads (pigz's method): each part is raw deflate ending on a byte
    boundary (Z_SYNC_FLUSH), the last one final, so their concatenation is one valid stream.
    Each part starts without the previous one's 32 KiB window, which costs well under 0.1%."""
    if pieces <= 1:
        z = zlib.compressobj(PNG_COMPRESS_LEVEL, zlib.DEFLATED, 15, 8, PNG_ZLIB_STRATEGY)
        return z.compress(data) + z.flush()
    n = len(data)
    cuts = [n * i // pieces for i in range(pieces + 1)]

    def part(i: int) -> bytes:
        z = zlib.compressobj(PNG_COMPRESS_LEVEL, zlib.DEFLATED, -15, 8, PNG_ZLIB_STRATEGY)
        out = z.compress(data[cuts[i]:cuts[i + 1]])
        return out + z.flush(zlib.Z_FINISH if i == pieces - 1 else zlib.Z_SYNC_FLUSH)

    with ThreadPoolExecutor(max_workers=pieces, thread_name_prefix="runcomfy-deflate") as pool:
        parts = list(pool.map(part, range(pieces)))
    # zlib header for deflate with a 32 KiB window at the fastest level, as compressobj(1) writes.
    return b"\x78\x01" + b"".join(parts) + struct.pack(">I", zlib.adler32(data))


def encode_png(arr: np.ndarray, threads: int = 1) -> bytes:
    """Lossless 8-bit RGB PNG of a uint8 HxWx3 array, written directly (see bench_notes).
    ``threads`` > 1 compresses a large image in that many parallel parts (at least
    PNG_PART_MIN_BYTES each); the file decodes to the same pixels either way."""
    arr = check_rgb_u8(arr)
    h, w, _ = arr.shape
    rows = arr.reshape(h, w * 3)
    filtered = np.empty((h, w * 3 + 1), np.uint8)
    filtered[:, 0] = 2  # filter type "Up" on every row
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:], dtype=np.uint8, casting="unsafe")  # mod 256
    pieces = max(1, min(int(threads), filtered.nbytes // PNG_PART_MIN_BYTES))
    idat = _deflate(memoryview(filtered).cast("B"), pieces)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit, truecolour, no interlace
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def encode_jpeg(arr: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """Lossy JPEG (baseline, 4:2:0) of a uint8 HxWx3 RGB array; ``quality`` 1..100."""
    _check_quality(quality)
    buf = io.BytesIO()
    Image.fromarray(check_rgb_u8(arr), "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class EncodedImage:
    data: bytes
    mime: str
    width: int
    height: int

    @functools.cached_property
    def sha256(self) -> str:
        """Of ``data``: a content address for caches and upload hosts (on demand: ~1 ms/MB)."""
        return hashlib.sha256(self.data).hexdigest()

    def info(self) -> ImageInfo:
        return ImageInfo(width=self.width, height=self.height, nbytes=len(self.data))


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))   # honours CPU pinning (containers, taskset)
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def same_content(a: np.ndarray, b: np.ndarray) -> bool:
    if a is b:
        return True
    if a.shape != b.shape:
        return False
    # A sparse sample first: distinct pictures almost always differ there, so the full
    # comparison (one pass over both) is only paid for likely duplicates.
    return np.array_equal(a[::61, ::59], b[::61, ::59]) and np.array_equal(a, b)


def first_copies(arrays: list[np.ndarray]) -> list[int]:
    """For each array, the index of the first array with the same shape and bytes."""
    owner: list[int] = []
    firsts: list[int] = []
    for i, a in enumerate(arrays):
        j = next((j for j in firsts if same_content(arrays[j], a)), None)
        if j is None:
            firsts.append(i)
            j = i
        owner.append(j)
    return owner


# --- data URIs ------------------------------------------------------------------------------

def to_data_uri(data: bytes, mime: str) -> str:
    if not _MIME_OK.fullmatch(mime or ""):
        raise ValueError(f"data URI media type must look like 'image/png', got {mime!r}")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def parse_data_uri(uri: str) -> tuple[str, bytes]:
    """``data:image/<type>;base64,<payload>`` -> (mime, bytes). Anything else is a ValueError:
    other media types, extra parameters, non-base64 encodings, bad or empty payloads."""
    if not isinstance(uri, str):
        raise ValueError(f"expected a data URI string, got {type(uri).__name__}")
    m = _DATA_URI.match(uri)
    if not m:
        raise ValueError(f"not a base64 image data URI (want 'data:image/...;base64,...'): {uri[:40]!r}")
    payload = uri[m.end():]
    if not payload:
        raise ValueError("image data URI has an empty payload")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"image data URI payload is not valid base64: {e}") from None
    return m.group(1).lower(), data


# --- decoding -------------------------------------------------------------------------------

class _WatchedBytes(io.BytesIO):
    """Records a read that wanted bytes and got none: the file ended early. Pillow only
    reports that when ``ImageFile.LOAD_TRUNCATED_IMAGES`` is False, and that flag is global
    (ComfyUI itself flips it), so truncation is detected here independently of it."""

    starved = False

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(size)
        if not out and size is not None and size > 0:
            self.starved = True
        return out


class _WatchedFile(io.FileIO):
    """``_WatchedBytes`` for a result streamed to a file: read from disk as Pillow asks, never
    held whole in memory."""

    starved = False

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(size)
        if not out and size is not None and size > 0:
            self.starved = True
        return out


def _bomb_error(what: str, max_pixels: int) -> DownloadError:
    return DownloadError(f"Result image is {what}, over the limit of {max_pixels:,} pixels; "
                         "refused before decoding (it could be a decompression bomb).")


def _open(data, max_pixels: int | None, path_ok: bool = False) -> tuple[Image.Image, _WatchedBytes]:
    if path_ok and isinstance(data, (str, os.PathLike)):
        fp = _WatchedFile(os.fspath(data), "r")
        data = _Head(fp)
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected image bytes, got {type(data).__name__}")
    else:
        fp = _WatchedBytes(bytes(data))
    try:
        im = Image.open(fp, formats=_formats())
    except Image.DecompressionBombError as e:
        # Pillow's own hard limit (2x MAX_IMAGE_PIXELS) fired while reading the header.
        m = re.search(r"\((\d+) pixels\)", str(e))
        what = f"{int(m.group(1)):,} pixels" if m else "too large"
        raise _bomb_error(what, max_pixels or 2 * (Image.MAX_IMAGE_PIXELS or 0)) from None
    except Exception as e:  # any parser failure on untrusted bytes means "not an image we can read"
        head = bytes(data[:16])
        hint = " (looks like a text/HTML/JSON response)" if head.lstrip()[:1] in (b"<", b"{", b"[") else ""
        fp.close()
        raise DownloadError(f"Result is not a readable image ({len(data)} bytes, starts {head!r}){hint}; "
                            f"supported: PNG, JPEG, WEBP, GIF, BMP, TIFF, AVIF. ({e})") from None
    fp.starved = False  # format sniffing may read past short headers; only loading counts
    return im, fp


class _Head:
    """A file's length and first bytes, for the error texts written for bytes."""

    def __init__(self, fp):
        self.n = os.fstat(fp.fileno()).st_size
        self.head = os.pread(fp.fileno(), 16, 0)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, s):
        return self.head[s]


def probe(data: bytes) -> tuple[int, int, str]:
    """(width, height, format) from the header alone, e.g. ``(1024, 768, "PNG")``. Sizes are as
    stored, before any EXIF rotation. Unreadable data raises DownloadError."""
    im, _ = _open(data, None)
    with im:
        return int(im.size[0]), int(im.size[1]), str(im.format)


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # broken EXIF must not lose an otherwise good image
        return 1


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey: scale to 8 bits. Pillow's own convert("L") clips at 255 instead,
        # which would turn almost every 16-bit image white.
        g = np.asarray(im).astype(np.int64).clip(0, 65535)
        g = ((g * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        # Composite over black (colour x alpha, rounded): the colour under fully transparent
        # pixels is often garbage, so it must not show; black matches ComfyUI's empty mask.
        rgba = np.asarray(im.convert("RGBA"))
        a = rgba[..., 3:4].astype(np.uint16)
        return ((rgba[..., :3].astype(np.uint16) * a + 127) // 255).astype(np.uint8)
    if mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, CMYK (no ICC colour management), YCbCr, F (clipped)
    return np.array(im, dtype=np.uint8)


def decode_image(data, *, max_pixels: int = DEFAULT_MAX_PIXELS, reserve=None) -> np.ndarray:
    """Decode PNG/JPEG/WEBP/... bytes to a uint8 HxWx3 RGB array (a new, writable array).

    The header's size is checked against ``max_pixels`` before any pixel is decoded. Alpha is
    composited over black, 16-bit grey is scaled to 8 bits, EXIF orientation is applied, and
    only the first frame of an animation is kept. Colour profiles are not applied (values are
    taken as sRGB). Corrupt or truncated data raises DownloadError, whatever Pillow's global
    ``LOAD_TRUNCATED_IMAGES`` says. Pillow's own cap (2 x ``Image.MAX_IMAGE_PIXELS``, ~179 Mpx)
    still applies above a larger ``max_pixels``.

    ``data`` may be a file's path (read as Pillow needs it, not whole). ``reserve(width,
    height, mode)`` is called after the header is read and before any pixel is decoded; it may
    raise to refuse (a job's pixel budget, the process's decode budget).
    """
    im, fp = _open(data, max_pixels, path_ok=True)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = _Head(fp)
    with fp, im:
        w, h = im.size
        fmt = im.format
        if w * h > max_pixels:
            raise _bomb_error(f"{w}x{h} ({w * h:,} pixels)", max_pixels)
        if reserve is not None:
            reserve(w, h, im.mode)
        try:
            im.load()
        except Exception as e:
            raise DownloadError(f"Result image ({fmt}, {w}x{h}, {len(data)} bytes) is corrupt or "
                                f"incomplete and could not be decoded: {e}") from None
        if fp.starved:
            raise DownloadError(f"Result image ({fmt}, {w}x{h}, {len(data)} bytes) is truncated: "
                                "the data ends before the picture does. The download may have been cut off.")
        try:
            arr = _to_rgb_array(im)
        except Exception as e:
            raise DownloadError(f"Result image ({fmt} {im.mode}, {w}x{h}) could not be converted "
                                f"to RGB: {e}") from None
        turn = _TRANSPOSE.get(_orientation(im))
    if turn is not None:
        arr = np.array(Image.fromarray(arr, "RGB").transpose(turn))
    return arr


# --- input files ----------------------------------------------------------------------------

def decode_input_image(path, label: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An input image file decoded like a result (same guards), but an unusable one is an
    ``UnreadableInputError`` naming the input ``label`` and the file, not a result error."""
    source = os.fspath(path)
    try:
        size = os.path.getsize(source)
        return decode_image(source, max_pixels=max_pixels)
    except OSError as exc:
        raise UnreadableInputError(label, source, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    except DownloadError as exc:
        text = str(exc)
        if "pixels; refused before decoding" in text:
            m = re.search(r"is (.*?), over the limit of ([\d,]+) pixels", text)
            reason = (f"is {m.group(1)}, over the limit of {m.group(2)} pixels" if m
                      else f"is over the limit of {max_pixels:,} pixels")
        elif "is truncated" in text:
            reason = f"({size:,} bytes) is truncated: the file ends before the picture does"
        elif "corrupt or incomplete" in text or "could not be converted" in text:
            reason = f"({size:,} bytes) is a damaged image that could not be decoded"
        else:
            reason = (f"({size:,} bytes) is not a readable image; supported: "
                      f"{', '.join(_FORMATS)}")
        raise UnreadableInputError(label, source, reason) from None
