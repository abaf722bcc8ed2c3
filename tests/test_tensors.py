"""nodes/tensors.py: IMAGE tensors <-> uint8 arrays, clamping, rounding and mixed-size batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from runcomfy.media import imageformats, images as media
from tensors_module import tensors


def test_clamps_before_scaling_never_wraps():
    t = torch.tensor([1.5, -0.2, 0.0, 1.0, 0.5, 1e9, -1e9, float("nan"), float("inf"), float("-inf")],
                     dtype=torch.float32)
    img = t.reshape(1, 1, -1, 1).expand(1, 1, 10, 3)
    [a] = tensors.tensor_to_arrays(img)
    assert a[0, :, 0].tolist() == [255, 0, 0, 255, 128, 255, 0, 0, 255, 0]


def test_rounds_to_nearest_not_truncates():
    vals = torch.tensor([100.4, 100.6, 254.7, 0.49, 0.51]) / 255
    [a] = tensors.tensor_to_arrays(vals.reshape(1, 5, 1))
    assert a[0, :, 0].tolist() == [100, 101, 255, 0, 1]


def test_every_uint8_value_survives_float_and_back():
    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    t = tensors.arrays_to_tensor([u8])
    assert t.dtype == torch.float32 and t.device.type == "cpu" and tuple(t.shape) == (1, 16, 16, 3)
    assert torch.equal(t[0], torch.from_numpy(u8).float() / 255)
    [back] = tensors.tensor_to_arrays(t)
    assert np.array_equal(back, u8)


def test_tensor_png_tensor_round_trip_is_exact():
    g = torch.Generator().manual_seed(0)
    t = torch.rand(3, 21, 34, 3, generator=g) * 1.4 - 0.2  # includes out-of-range values
    expected = (t.clamp(0, 1) * 255).round() / 255
    arrays = tensors.tensor_to_arrays(t)
    decoded = [media.decode_image(e.data) for e in imageformats.encode_many(arrays)]
    back = tensors.arrays_to_tensor(decoded)
    assert torch.equal(back, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes(dtype):
    t = torch.tensor([0.0, 0.5, 1.0, 2.0]).to(dtype).reshape(1, 1, 4, 1).expand(1, 1, 4, 3)
    [a] = tensors.tensor_to_arrays(t)
    assert a[0, :, 0].tolist() == [0, 128, 255, 255]


def test_input_tensor_is_not_modified_and_grad_is_fine():
    t = torch.tensor([[[[1.5, -0.5, 0.25]]]], requires_grad=True)
    before = t.detach().clone()
    tensors.tensor_to_arrays(t)
    assert torch.equal(t.detach(), before)


def test_batch_items_are_separate_contiguous_rgb_arrays():
    t = torch.zeros(3, 4, 5, 3)
    for i in range(3):
        t[i] = i / 2
    arrays = tensors.tensor_to_arrays(t)
    assert len(arrays) == 3
    for i, a in enumerate(arrays):
        assert a.shape == (4, 5, 3) and a.dtype == np.uint8 and a.flags.c_contiguous
        assert (a == round(i / 2 * 255)).all()


def test_single_hwc_image_accepted():
    arrays = tensors.tensor_to_arrays(torch.full((6, 7, 3), 0.2))
    assert len(arrays) == 1 and arrays[0].shape == (6, 7, 3) and (arrays[0] == 51).all()


def test_gray_becomes_rgb_and_alpha_is_dropped():
    gray = torch.tensor([0.0, 0.2, 1.0]).reshape(1, 1, 3, 1)
    [a] = tensors.tensor_to_arrays(gray)
    assert a.shape == (1, 3, 3) and a.tolist() == [[[0] * 3, [51] * 3, [255] * 3]]
    rgba = torch.tensor([[[[1.0, 0.5, 0.0, 0.0], [0.2, 0.4, 0.6, 1.0]]]])
    [b] = tensors.tensor_to_arrays(rgba)
    assert b.shape == (1, 2, 3) and b.tolist() == [[[255, 128, 0], [51, 102, 153]]]


def test_numpy_float_input_accepted():
    [a] = tensors.tensor_to_arrays(np.full((2, 2, 3), 0.6, np.float32))
    assert (a == 153).all()


@pytest.mark.parametrize("shape", [(4, 4), (1, 4, 4, 2), (4, 4, 5), (1, 1, 4, 4, 3), (0, 4, 4, 3), (1, 0, 4, 3)])
def test_bad_shapes_rejected_with_the_shape(shape):
    with pytest.raises(ValueError) as e:
        tensors.tensor_to_arrays(torch.zeros(shape))
    assert str(list(shape)) in str(e.value)


def test_integer_tensor_and_non_tensor_rejected():
    with pytest.raises(ValueError) as e:
        tensors.tensor_to_arrays(torch.zeros((1, 2, 2, 3), dtype=torch.uint8))
    assert "uint8" in str(e.value) and "[1, 2, 2, 3]" in str(e.value)
    with pytest.raises(TypeError):
        tensors.tensor_to_arrays([[0.0]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensor():
    [a] = tensors.tensor_to_arrays(torch.full((1, 2, 2, 3), 1.5, device="cuda"))
    assert (a == 255).all()


# --- arrays_to_tensor -------------------------------------------------------------------------

def test_same_size_batch():
    a = np.full((3, 4, 3), 10, np.uint8)
    b = np.full((3, 4, 3), 200, np.uint8)
    t = tensors.arrays_to_tensor([a, b])
    assert tuple(t.shape) == (2, 3, 4, 3) and t.dtype == torch.float32
    assert torch.equal(t[1], torch.full((3, 4, 3), 200 / 255))
    assert tensors.describe_fit([a, b]) is None
    assert tensors.describe_fit([a]) is None


def test_mixed_sizes_padded_centred_on_black_exactly():
    wide = np.full((2, 6, 3), 255, np.uint8)     # 6 wide, 2 high
    tall = np.full((5, 3, 3), 128, np.uint8)     # 3 wide, 5 high
    t = tensors.arrays_to_tensor([wide, tall])
    assert tuple(t.shape) == (2, 5, 6, 3)        # largest height x largest width, no resampling
    u8 = (t * 255).round().to(torch.uint8).numpy()
    exp0 = np.zeros((5, 6, 3), np.uint8)
    exp0[1:3, 0:6] = 255                         # top = (5 - 2) // 2 = 1
    exp1 = np.zeros((5, 6, 3), np.uint8)
    exp1[0:5, 1:4] = 128                         # left = (6 - 3) // 2 = 1, leftover column on the right
    assert np.array_equal(u8[0], exp0)
    assert np.array_equal(u8[1], exp1)


def test_padding_keeps_every_source_pixel():
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((7, 9), (10, 4), (3, 3))]
    t = tensors.arrays_to_tensor(arrays)
    assert tuple(t.shape) == (3, 10, 9, 3)
    back = tensors.tensor_to_arrays(t)
    for a, b in zip(arrays, back):
        h, w = a.shape[:2]
        top, left = (10 - h) // 2, (9 - w) // 2
        assert np.array_equal(b[top:top + h, left:left + w], a)
        mask = np.ones((10, 9), bool)
        mask[top:top + h, left:left + w] = False
        assert (b[mask] == 0).all()


def test_describe_fit():
    arrays = [np.zeros((50, 100, 3), np.uint8), np.zeros((80, 60, 3), np.uint8), np.zeros((50, 100, 3), np.uint8)]
    note = tensors.describe_fit(arrays)
    assert note is not None and note.startswith("3 result images of different sizes were padded to 100x80")


def test_arrays_to_tensor_rejects_empty_and_bad_arrays():
    with pytest.raises(ValueError):
        tensors.arrays_to_tensor([])
    with pytest.raises(ValueError) as e:
        tensors.arrays_to_tensor([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 4), np.uint8)])
    assert "(4, 4, 4)" in str(e.value) and "image 2" in str(e.value)
    with pytest.raises(ValueError):
        tensors.arrays_to_tensor([np.zeros((4, 4, 3), np.float32)])
