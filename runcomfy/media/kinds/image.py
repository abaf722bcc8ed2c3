"""Images: uint8 HxWx3 RGB arrays in, lossless PNG (or JPEG on request) data out; PNG/JPEG/WEBP
results decoded with the bomb and truncation guards of ``media``."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from .. import fitting, imageformats, images
from ...errors import DownloadError, ValidationError
from ...schema import Field, MediaInfo
from . import budget, results
from .base import MiB, MediaKind, PrepareOptions, Prepared


class ImageKind(MediaKind):
    name = "image"

    def prepare(self, values: list, field: Field, options: PrepareOptions) -> list[Prepared]:
        return self.prepare_fields([(field, values)], options)[0]

    def prepare_fields(self, groups, options: PrepareOptions) -> list[list[Prepared]]:
        if options.fit:
            return [self._fit(f, values, options) for f, values in groups]
        # Side and aspect rules from the arrays' shapes first: a refused image is never encoded.
        problems = [p for f, values in groups for i, a in enumerate(values)
                    if getattr(a, "ndim", 0) == 3 for p in self.check(_shape_info(a), f, i)]
        if problems:
            raise ValidationError(problems)
        # One encode_many over every field: identical images are encoded once, distinct ones in
        # parallel, a lone large one in parallel parts.
        flat = [a for _, values in groups for a in values]
        encoded = imageformats.encode_many(flat, options.image_format, options.jpeg_quality) if flat else []
        out, i = [], 0
        for _, values in groups:
            out.append([_prepared(e) for e in encoded[i:i + len(values)]])
            i += len(values)
        return out

    def _fit(self, f: Field, values: list, options: PrepareOptions) -> list[Prepared]:
        lim = fitting.limits_of(f, default_max_bytes=self.inline_cap_bytes)

        def one(item):
            i, arr = item
            label = f"{f.name}[{i + 1}]" if f.is_list else f.name
            arr, geo_note = fitting.fit_geometry(arr, lim, label)
            enc, size_note = fitting.fit_bytes(arr, lim, label, options.image_format)
            return _prepared(enc, [n for n in (geo_note, size_note) if n])
        if len(values) <= 1:
            return [one(x) for x in enumerate(values)]
        with ThreadPoolExecutor(max_workers=min(len(values), 4), thread_name_prefix="runcomfy-fit") as pool:
            return list(pool.map(one, enumerate(values)))

    def measure(self, data: bytes, mime: str) -> MediaInfo:
        try:
            w, h, _fmt = images.probe(data)
        except DownloadError:
            raise ValueError(f"could not be read as an image ({len(data)} bytes; "
                             "supported: PNG, JPEG, WEBP, GIF, BMP, TIFF, AVIF)") from None
        return MediaInfo(width=w, height=h, nbytes=len(data), mime=mime)

    def load_input(self, path: str, label: str):
        return images.decode_input_image(path, label)

    def decode_output(self, data, limits: dict | None = None):
        """``data``: bytes, or the path of a large result streamed to a file (read as Pillow needs
        it; removed once decoded when it is in the results' spill folder). The header's pixels
        count against the open job's budget and the process's decode budget before any decode."""
        max_pixels = (limits or {}).get("max_pixels", images.DEFAULT_MAX_PIXELS)
        job = budget.current()
        held = [0]
        what = "the image result" + ("" if isinstance(data, (bytes, bytearray, memoryview))
                                     else f" {os.path.basename(os.fspath(data))}")

        def reserve(w: int, h: int, mode: str) -> None:
            job.take_pixels(w * h, f"{what} ({w}x{h})")
            per_px = budget.IMAGE_PEAK_BYTES_PER_PX.get(mode, budget.IMAGE_PEAK_DEFAULT)
            held[0] = budget.PROCESS.acquire(w * h * per_px, what)
        try:
            arr = images.decode_image(data, max_pixels=max_pixels, reserve=reserve)
        finally:
            budget.PROCESS.release(held[0])
        if not isinstance(data, (bytes, bytearray, memoryview)):
            path = os.path.abspath(os.fspath(data))
            if os.path.dirname(path) == os.path.abspath(results.spill_folder()):
                try:
                    os.remove(path)
                except OSError:
                    pass
        return arr

    def check_results(self, files: list) -> None:
        """Refuse, from the headers alone, in-memory image results whose pixels together pass the
        per-job budget (``budget.MAX_JOB_PIXELS``), before any is decoded. Files of other kinds,
        and large images handed on as paths, are left to their decode (which counts them too)."""
        total, count = 0, 0
        for data in files:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                continue
            try:
                w, h, _fmt = images.probe(data)
            except DownloadError:
                continue      # not an image: decoding reports it, with its own limits
            total += w * h
            count += 1
        limit = budget.MAX_JOB_PIXELS
        if total > limit:
            raise budget.DecodeLimitError(
                "per-job result pixels", total, limit, "pixels",
                text=f"its {count} result images hold {total:,} pixels in total, over the limit of {limit:,} per "
                     f"job (about {limit * 12 // 10**9} GB as an IMAGE batch), so they were not decoded")

    def sniff(self, head: bytes) -> bool:
        return (head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*"))
                or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
                or (head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis", b"heic", b"heix", b"mif1")))


def _shape_info(arr) -> MediaInfo:
    return MediaInfo(width=int(arr.shape[1]), height=int(arr.shape[0]))


def _prepared(enc: images.EncodedImage, notes: list[str] | None = None) -> Prepared:
    return Prepared(data=enc.data, mime=enc.mime,
                    info=MediaInfo(width=enc.width, height=enc.height, nbytes=len(enc.data), mime=enc.mime),
                    notes=list(notes or []))


KIND = ImageKind()
