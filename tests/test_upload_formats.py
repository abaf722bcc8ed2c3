"""Upload formats (runcomfy/media/imageformats.py): lossless round trips, the auto choice, and that the
emulator (strict about JPEG/PNG/BMP/WEBP like the model page) takes them over real sockets."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from devtools import photomodel
from runcomfy.api import upload_progress
from runcomfy.media import imageformats, images as media
from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.emulator import Emulator
from runcomfy.media.imageformats import CHOICES, EncodeCosts, choose, format_for_choice

TOKEN = "tok-formats-test"
MODEL = "wan-ai/wan-2-6/image-to-image"


@pytest.fixture(scope="module")
def photo():
    return photomodel.photo(3, 512)


@pytest.fixture(scope="module")
def generated():
    return photomodel.generated(4, 640, 480)


@pytest.mark.parametrize("fmt", ["webp_fast", "webp_small", "auto", "png"])
def test_lossless_formats_round_trip_exactly(fmt, photo, generated):
    odd = photomodel.photo(9, 97, 131)       # odd sizes: no padding or subsampling artefacts
    encs = imageformats.encode_many([photo, generated, odd, photo], fmt)
    assert encs[0] is encs[3]                 # identical inputs encoded once
    for arr, enc in zip([photo, generated, odd], encs):
        assert (enc.width, enc.height) == (arr.shape[1], arr.shape[0])
        assert np.array_equal(media.decode_image(enc.data), arr)
        assert enc.mime in ("image/png", "image/webp")
        assert media.probe(enc.data)[2] == ("PNG" if enc.mime == "image/png" else "WEBP")


def test_webp_is_smaller_than_the_pack_png_on_photo_like_content(photo, generated):
    for arr in (photo, generated):
        png = len(media.encode_png(arr))
        assert len(imageformats.encode_webp_fast(arr)) < png
        assert len(imageformats.encode_webp_small(arr)) <= len(imageformats.encode_webp_fast(arr)) * 1.02


def test_choice_labels_keep_the_existing_ones_first():
    labels = list(CHOICES)
    assert labels[:2] == ["png (lossless)", "jpeg (quality 95)"]     # saved workflows keep their values
    assert format_for_choice("png (lossless)") == "png"
    assert format_for_choice("jpeg (quality 95)") == "jpeg"
    assert format_for_choice("webp (lossless, fast)") == "webp_fast"
    assert format_for_choice("auto (lossless)") == "auto"
    assert format_for_choice("") == "png" and format_for_choice(None) == "png"


def test_unknown_format_error_names_the_choices(photo):
    with pytest.raises(ValueError, match="unknown upload format 'gif'.*webp_fast"):
        imageformats.encode_many([photo], "gif")


def test_auto_prefers_fewer_bytes_on_a_slow_uplink(photo):
    costs = EncodeCosts()
    c = choose(photo, uplink_bps=1e6 / 8, costs=costs)          # 1 Mbit/s: bytes dominate
    assert c.key in ("webp_fast", "webp_small")
    assert c.bytes_per_px[c.key] < c.bytes_per_px["png"]
    assert c.predicted_s[c.key] == min(c.predicted_s.values())


def test_auto_prefers_the_cheaper_encode_on_a_fast_link(photo):
    costs = EncodeCosts(weight=0.01)
    costs.record("webp_fast", 1_000_000, 5.0)    # as if WebP had been measured very slow here
    costs.record("png", 1_000_000, 0.03)
    c = choose(photo, uplink_bps=10e9 / 8, costs=costs)         # 10 Gbit/s: encode time dominates
    assert c.key == "png"
    assert "webp_small" not in c.predicted_s       # not even sampled: it could not pay off


def test_auto_tries_the_slow_webp_only_when_it_could_pay(photo):
    fast_link = choose(photo, uplink_bps=1e9 / 8, costs=EncodeCosts())
    slow_link = choose(photo, uplink_bps=2e6 / 8, costs=EncodeCosts())
    assert "webp_small" not in fast_link.predicted_s
    assert "webp_small" in slow_link.predicted_s


def test_uplink_estimate_starts_at_the_stated_default_then_follows_submits():
    est = upload_progress.UplinkEstimate()
    assert not est.measured and est.bytes_per_s() == pytest.approx(20e6 / 8)
    est.record(2_000_000, 2.0)
    est.record(6_000_000, 2.0)
    assert est.measured and est.bytes_per_s() == pytest.approx(2e6)      # 8 MB in 4 s
    est.record(1000, 0.001)                                              # too small to count
    assert est.bytes_per_s() == pytest.approx(2e6)


def test_auto_uses_the_observed_uplink(monkeypatch, photo):
    seen = []
    real = imageformats.choose
    monkeypatch.setattr(imageformats, "choose", lambda arr, up, costs=None: seen.append(up) or real(arr, up, costs))
    est = upload_progress.UplinkEstimate()
    monkeypatch.setattr(upload_progress, "UPLINK", est)
    notes: list[str] = []
    imageformats.encode_many([photo], "auto", notes=notes)
    est.record(1_000_000, 4.0)                   # 2 Mbit/s measured on a submit
    imageformats.encode_many([photo], "auto", notes=notes)
    assert seen == [pytest.approx(20e6 / 8), pytest.approx(250_000)]
    assert "assumed until a submit is measured" in notes[0] and "2 Mbit/s" in notes[1]


@pytest.mark.parametrize("fmt", ["webp_fast", "auto"])
def test_strict_emulator_accepts_lossless_webp_and_gets_the_same_pixels(fmt, photo):
    with Emulator(token=TOKEN, processing_time=0.05, strict_formats=True) as emu:
        client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
        try:
            enc = imageformats.encode_many([photo], fmt)[0]
            uri = media.to_data_uri(enc.data, enc.mime)
            sub = client.submit(MODEL, {"prompt": "p", "image_urls": [uri], "image_size": "1024*1024 (1:1)"})
            job = emu.jobs[sub.request_id]
            assert np.array_equal(media.decode_image(job.inputs[0]), photo)
        finally:
            client.close()
