"""Smoke test of the benchmark's sections 7-9 (upload formats, shaped link, batch at scale) in
their quick form: every figure is there and consistent. No speed is asserted (see test_bench.py)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from devtools.bench import core as bench
from devtools.bench.link import LINK_FORMATS


@pytest.fixture(scope="module")
def run():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = bench.main(["--sections", "formats,link,batch", "--quick", "--json", "--link", "40/80/20"])
    assert rc == 0
    return json.loads(buf.getvalue())


def test_formats_section(run):
    fm = run["formats"]
    names = set(fm["summary"])
    assert {"pack png (zlib 1, Up filter)", "webp lossless method 0", "jpeg quality 95 (lossy)"} <= names
    for name, s in fm["summary"].items():
        assert s["bytes_per_px"] > 0 and s["ns_per_px"] > 0
        # send time = encode + base64 bytes over the uplink: slower links take longer
        assert s["send_s_per_mpx"]["5"] > s["send_s_per_mpx"]["20"] > s["send_s_per_mpx"]["100"]
    # every lossless row was checked bit-exact by the study itself; JPEG is the smallest
    assert min(names, key=lambda n: fm["summary"][n]["bytes_per_px"]).startswith("jpeg")


def test_link_section(run):
    ln = run["link"]
    assert ln["link"] == {"uplink_mbps": 40.0, "downlink_mbps": 80.0, "rtt_ms": 20.0}
    f = ln["floor"]
    assert f["total"] == pytest.approx(f["send"] + f["download"] + f["round_trips"])
    assert f["round_trips"] == pytest.approx(5.5 * 0.020)
    assert f["send"] == pytest.approx(f["upload_bytes"] * 8 / 40e6)
    for fmt in LINK_FORMATS + ("naive",):
        row = ln["summary"][fmt]
        assert row["runs"] == ln["repeats"]
        # shaped: nothing can send faster than the link allows
        assert row["submit"] >= 0.8 * f["send"]
    for r in ln["runs"]["png"]:
        parts = sum(r[k] for k in ("encode", "submit", "notice", "download", "decode", "other"))
        assert parts == pytest.approx(r["overhead"])
    assert ln["best"] in LINK_FORMATS
    assert ln["best_vs_floor"] == pytest.approx(ln["summary"][ln["best"]]["overhead"] / f["total"])


def test_batch_section(run):
    b = run["batch"]
    n = b["settings"]["jobs"]
    for name in ("calm", "storm"):
        r = b[name]
        assert r["done"] == n and r["failed"] == 0
        assert r["duplicate_submits"] == 0 and r["accepted"] == n
        # the batch watches a job through /result (issue 21): every job was read there at least once
        assert r["calls_per_job"].get("result", 0) >= 1
        assert r["wall"] > 0 and r["ideal"] == pytest.approx(n * b["settings"]["job_seconds"] / b["settings"]["workers"])
    assert b["calm"]["http_429"] == 0
    assert b["storm"]["http_429"] > 0
