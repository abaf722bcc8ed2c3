"""Deterministic stand-in for the model's output image.

The picture is built so a test can see that every input travelled: the reference images
appear as vertical strips in order, the prompt and seed pick a tint and a 32-cell barcode
along the bottom. Same inputs -> same bytes; any change of seed/prompt/reference -> other pixels.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw

DEFAULT_SIZE = (512, 512)
_TINT_ALPHA = 0.25
_BARCODE_CELLS = 32


def _digest(prompt: str, seed: int) -> bytes:
    return hashlib.sha256(f"{prompt}\x00{int(seed)}".encode("utf-8")).digest()


def render_output(payload_images: list[Image.Image], prompt: str, seed: int,
                  size: tuple[int, int]) -> Image.Image:
    """The emulator's output for these inputs, as an RGB image of exactly ``size`` (w, h)."""
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"bad output size {size!r}")
    digest = _digest(prompt, seed)
    tint = tuple(digest[:3])
    if payload_images:
        base = Image.new("RGB", (w, h))
        n = len(payload_images)
        x = 0
        for i, ref in enumerate(payload_images):
            strip_w = w // n if i < n - 1 else w - x
            if strip_w > 0:
                strip = ref.convert("RGB").resize((strip_w, h), Image.Resampling.BILINEAR)
                base.paste(strip, (x, 0))
            x += strip_w
    else:
        # No references: a gradient, so the tint alone does not make a flat image.
        ramp = Image.linear_gradient("L").resize((w, h))
        base = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), ramp))
    out = Image.blend(base, Image.new("RGB", (w, h), tint), _TINT_ALPHA)
    _barcode(out, digest)
    return out


def _barcode(img: Image.Image, digest: bytes) -> None:
    # Black/white cells from the hash bits: a seed change flips about half of them,
    # which no rounding in the tint blend can hide.
    w, h = img.size
    bar_h = max(1, h // 16)
    draw = ImageDraw.Draw(img)
    bits = int.from_bytes(digest[4:8], "big")
    for c in range(_BARCODE_CELLS):
        x0 = c * w // _BARCODE_CELLS
        x1 = (c + 1) * w // _BARCODE_CELLS - 1
        if x1 < x0:
            continue
        color = (255, 255, 255) if (bits >> c) & 1 else (0, 0, 0)
        draw.rectangle((x0, h - bar_h, x1, h - 1), fill=color)


def encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
