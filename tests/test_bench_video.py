"""Smoke test of benchmark section 10 (video in and out): every path runs in its child process
and reports figures; what is checked is what the paths did, never how fast."""

from __future__ import annotations

import math

from devtools.bench import video as bench_video


def test_quick_video_section_runs_every_path_and_renders():
    res = bench_video.section_video(quick=True)
    paths = res["paths"]
    assert set(paths) == set(bench_video.PATHS)
    for name, row in paths.items():
        assert math.isfinite(row["seconds"]) and row["seconds"] > 0, name
        assert row["peak_rss_rise_mb"] is None or math.isfinite(row["peak_rss_rise_mb"]), name
    assert paths["pass_through"]["unchanged"] is True           # the file's own bytes were sent
    assert paths["re_encode"]["unchanged"] is False
    frames = int(res["video"]["seconds"] * res["video"]["fps"])
    assert paths["pack_out"]["frames"] == paths["naive_out"]["frames"] == frames
    # The naive paths really held every frame as float32.
    v = res["video"]
    assert paths["naive_in"]["tensor_mb"] == frames * v["width"] * v["height"] * 3 * 4 / 2**20
    text = bench_video.render(res)
    assert "10. Video" in text and "pass through" in text and "naive out" in text
