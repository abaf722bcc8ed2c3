"""Two sample reference images, generated so the pack ships no binary test data."""

from __future__ import annotations

import numpy as np


def sample_image(kind: int, width: int = 768, height: int = 768) -> np.ndarray:
    """A deterministic RGB uint8 picture: a gradient with a bright disc ("monster" 1 or 2)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / max(1, width - 1), y / max(1, height - 1)
    if kind == 1:
        r, g, b = 0.2 + 0.6 * u, 0.3 + 0.4 * v, 0.8 - 0.5 * u
        cx, cy, color = 0.35, 0.55, (0.95, 0.45, 0.2)
    else:
        r, g, b = 0.7 - 0.4 * v, 0.2 + 0.5 * u, 0.3 + 0.5 * v
        cx, cy, color = 0.65, 0.45, (0.3, 0.9, 0.4)
    img = np.stack([r, g, b], axis=-1)
    disc = ((u - cx) ** 2 + (v - cy) ** 2) < 0.06
    img[disc] = color
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
