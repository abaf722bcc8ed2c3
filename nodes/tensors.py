"""ComfyUI IMAGE tensors <-> uint8 RGB arrays. IMAGE tensors belong to the ComfyUI adapter: the
library never imports torch and works on numpy arrays (``runcomfy.media.images``).

An IMAGE is float32 ``[batch, height, width, channels]``, RGB, nominally in 0..1.
"""

from __future__ import annotations

import numpy as np
import torch


def tensor_to_arrays(images, label: str | None = None) -> list[np.ndarray]:
    """One contiguous uint8 HxWx3 RGB array per batch item of ``images``.

    Accepts ``[B,H,W,C]`` or a single ``[H,W,C]`` floating-point tensor on any device.
    C=3 is RGB, C=1 grey (copied to R, G and B), C=4 RGBA (alpha dropped). Values are clamped
    to 0..1 *before* scaling, so 1.5 becomes 255 and -0.2 becomes 0 rather than wrapping
    around; NaN becomes 0. Scaled values are rounded to nearest, so uint8 -> float -> uint8
    is exact. ``label`` (the socket's name) starts every error message.
    """
    where = f"'{label}': " if label else ""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{where}expected an IMAGE tensor, got {type(images).__name__}")
    shape = tuple(images.shape)
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{where}expected an IMAGE tensor shaped [batch, height, width, 1|3|4] or "
                         f"[height, width, 1|3|4], got shape {list(shape)}")
    if 0 in images.shape:
        raise ValueError(f"{where}the IMAGE tensor is empty: shape {list(shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{where}expected a floating-point IMAGE tensor (values 0..1), got {images.dtype} "
                         f"with shape {list(shape)}")
    x = images.detach()
    if x.shape[-1] == 4:
        x = x[..., :3]
    # Scale on the tensor's own device and move uint8 (a quarter of the bytes) to the CPU.
    # nan_to_num returns a new tensor, so the in-place ops below never touch the caller's.
    x = torch.nan_to_num(x.to(torch.float32), nan=0.0)
    u8 = x.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).cpu()
    if u8.shape[-1] == 1:
        u8 = u8.expand(*u8.shape[:-1], 3)
    return [np.ascontiguousarray(a) for a in u8.numpy()]


# A float32 IMAGE batch takes 12 bytes per pixel: 100 MP is 1.2 GB, as far as a batch may go.
MAX_BATCH_PIXELS = 100_000_000


def _check_array(i: int, a) -> None:
    if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 \
            or a.shape[0] == 0 or a.shape[1] == 0:
        desc = f"{a.dtype} array of shape {tuple(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"image {i + 1}: expected a non-empty uint8 HxWx3 RGB array, got {desc}")


def arrays_to_tensor(arrays: list[np.ndarray]) -> torch.Tensor:
    """Stack uint8 HxWx3 arrays into a float32 ``[B,H,W,3]`` IMAGE in 0..1 on the CPU.

    Images of different sizes are padded, never resampled: the batch takes the largest width
    and the largest height among them, and each image is placed centred on black, at row
    ``(H - h) // 2`` and column ``(W - w) // 2`` (an odd leftover pixel goes below/right).
    Nothing is cropped or blurred; ``describe_fit`` says when this happened.
    """
    arrays = list(arrays)
    if not arrays:
        raise ValueError("no images to stack: the list is empty")
    for i, a in enumerate(arrays):
        _check_array(i, a)
    H = max(a.shape[0] for a in arrays)
    W = max(a.shape[1] for a in arrays)
    if len(arrays) * H * W > MAX_BATCH_PIXELS:
        raise ValueError(f"the result batch would be {len(arrays)} x {W}x{H} = {len(arrays) * H * W:,} pixels "
                         f"(padded to the largest image), over the limit of {MAX_BATCH_PIXELS:,} pixels per "
                         "IMAGE batch (about 1.2 GB); it was not built")
    # The float batch is allocated once and each image converted into its place: the peak is the
    # arrays plus the IMAGE, without a uint8 copy of the whole batch in between.
    batch = torch.zeros((len(arrays), H, W, 3), dtype=torch.float32)
    for out, a in zip(batch, arrays):
        h, w = a.shape[:2]
        top, left = (H - h) // 2, (W - w) // 2
        out[top:top + h, left:left + w].copy_(torch.from_numpy(a))
    return batch.div_(255.0)


def empty_image(side: int = 64) -> torch.Tensor:
    """A black IMAGE: what an image output gives when there is no result to show."""
    return torch.zeros((1, side, side, 3), dtype=torch.float32)


def describe_fit(arrays: list[np.ndarray]) -> str | None:
    """A short note for the user when ``arrays_to_tensor`` had to pad, else None."""
    sizes = {(a.shape[1], a.shape[0]) for a in arrays}
    if len(sizes) <= 1:
        return None
    W = max(w for w, _ in sizes)
    H = max(h for _, h in sizes)
    return (f"{len(arrays)} result images of different sizes were padded to {W}x{H} "
            "(centred on black, not resized)")
