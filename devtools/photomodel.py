"""Procedural test pictures with the statistics of photographs and of generated images.

No photographs ship with the pack, and the benchmark machine has no internet. Flat gradients or
white noise would mislead a codec comparison both ways (gradients flatter every codec, i.i.d.
noise defeats all of them), so the benchmark and tests use two classic models instead:

- ``photo``: the "dead leaves" model of natural images (occluding shapes with log-uniform sizes,
  a scale-invariant 1/f texture inside, a slight lens blur, luminance-heavy sensor noise). On
  1024x1024 it compresses like the real photographs measured for the README (pack PNG ~1.75
  bytes/pixel); lossless WebP gains ~10% on it, less than on the real photos (15-25%), so
  figures from it understate WebP's advantage.
- ``generated``: a smooth 1/f^2 field with weak chroma, like diffusion-model output (smooth,
  little sensor noise); it compresses further than photos.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _pink_field(rng: np.random.Generator, h: int, w: int, exponent: float) -> np.ndarray:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fy ** 2 + fx ** 2)
    f[0, 0] = 1.0
    amp = 1.0 / f ** exponent
    amp[0, 0] = 0.0
    x = np.fft.irfft2(amp * np.exp(2j * np.pi * rng.random(amp.shape)), s=(h, w)).astype(np.float32)
    return x / (x.std() or 1.0)


def generated(seed: int, h: int, w: int | None = None, noise: float = 1.0) -> np.ndarray:
    """A smooth, generated-looking picture: uint8 HxWx3."""
    w = w or h
    rng = np.random.default_rng(seed)
    y = _pink_field(rng, h, w, 2.0) * 45 + 120 + rng.standard_normal((h, w), dtype=np.float32) * noise
    cb, cr = _pink_field(rng, h, w, 2.4) * 16, _pink_field(rng, h, w, 2.4) * 16
    rgb = np.stack([y + 1.402 * cr, y - 0.344 * cb - 0.714 * cr, y + 1.772 * cb], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def photo(seed: int, h: int, w: int | None = None, leaves: int = 2500, noise: float = 2.5) -> np.ndarray:
    """A dead-leaves picture with photo-like statistics: uint8 HxWx3."""
    w = w or h
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (w, h), tuple(int(x) for x in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(im)
    scale = min(h, w) / 1024
    rmin, rmax = 4 * scale, max(h, w) / 4
    radii = np.sort(rmin * (rmax / rmin) ** rng.random(int(leaves)))[::-1]   # big ones first, behind
    for r in radii:
        cx, cy = rng.random() * w, rng.random() * h
        c = np.clip(rng.normal(120, 60, 3) * 0.5 + rng.normal(120, 50) * 0.5, 0, 255)
        draw.ellipse((cx - r, cy - r * rng.uniform(0.5, 1.5), cx + r, cy + r), fill=tuple(int(v) for v in c))
    im = im.filter(ImageFilter.GaussianBlur(0.9 * max(scale, 0.5)))
    out = np.asarray(im, np.float32) + (generated(seed + 7, h, w, 0.0).astype(np.float32) - 120) * 0.35
    out += rng.standard_normal((h, w, 1), dtype=np.float32) * noise
    out += rng.standard_normal((h, w, 3), dtype=np.float32) * (noise * 0.4)
    return np.clip(out, 0, 255).astype(np.uint8)
