"""Smoke test of ``python -m runcomfy bench``: every section runs and reports sane numbers.

No speed is asserted here: the goals are measured (and judged) by the benchmark itself, and
timing assertions would only make the suite flaky on a busy machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from devtools.bench import core as bench


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@pytest.fixture(scope="module")
def quick_run():
    """One quick run, through the CLI entry point, shared by every test here."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = bench.main(["--quick", "--json", "--sections", "core"])    # 7-9: test_bench_link.py
    assert rc == 0
    return json.loads(buf.getvalue())


def test_every_section_present(quick_run):
    for key in ("date", "machine", "settings", "overhead", "notice", "concurrency", "memory", "goals",
                "run_seconds"):
        assert key in quick_run, key
    assert quick_run["settings"]["quick"] is True
    assert quick_run["machine"]["cpus"] >= 1


def test_overhead_figures(quick_run):
    ov = quick_run["overhead"]
    for who in ("pack", "naive"):
        row = ov[who]
        for k in ("wall", "processing", "overhead", "encode", "submit", "notice", "download", "decode"):
            assert _positive(row[k]), (who, k, row[k])
        assert _number(row["other"])          # a remainder: measured, may be a few ms either way
        assert row["runs"] == quick_run["settings"]["repeats"]
        assert row["status_calls"] >= 1
        assert row["wall"] > row["processing"]
        # the emulator's timestamps (another process's clock readings) fit the client's own
        assert row["processing"] >= quick_run["settings"]["processing_time"] - 1e-3
        assert row["processing"] < quick_run["settings"]["processing_time"] + 1.0
        assert row["queue_wait"] >= 0
    assert _positive(ov["ratio"])
    assert ov["ratio"] == pytest.approx(ov["naive"]["overhead"] / ov["pack"]["overhead"])
    assert ov["emulator_tuning"] == {"prerendered_output": True}


def test_notice_figures(quick_run):
    no = quick_run["notice"]
    assert _positive(no["scale"])
    lengths = [r["job_s"] for r in no["lengths"]]
    assert lengths == sorted(quick_run["settings"]["lengths"])
    for r in no["lengths"]:
        assert r["jobs"] >= 1
        for k in ("median_delay_s", "p90_delay_s", "max_delay_s", "median_status_calls", "max_status_calls"):
            assert _positive(r[k]), (r["job_s"], k, r[k])
        assert r["p90_delay_s"] <= r["max_delay_s"] + 1e-9
    longest = max(no["lengths"], key=lambda r: r["job_s"])
    shortest = min(no["lengths"], key=lambda r: r["job_s"])
    assert longest["median_status_calls"] > shortest["median_status_calls"]


def test_concurrency_and_memory_figures(quick_run):
    levels = quick_run["concurrency"]["levels"]
    assert [lv["jobs"] for lv in levels] == list(quick_run["settings"]["concurrency"])
    assert levels[0]["ratio"] == pytest.approx(1.0)
    for lv in levels:
        for k in ("wall_s", "ratio", "median_job_overhead_s", "client_cpu_s_per_job", "emulator_cpu_s_per_job"):
            assert _positive(lv[k]), (lv["jobs"], k, lv[k])
        # the emulator runs in its own process: its CPU is not the client's
        assert "cpu_s_per_job" not in lv
    assert quick_run["concurrency"]["emulator_tuning"] == {"prerendered_output": True}
    mem = quick_run["memory"]
    assert _positive(mem["tracemalloc_peak_mb"])
    if "rss_peak_rise_mb" in mem:
        assert _number(mem["rss_peak_rise_mb"])


def test_goals_are_judged(quick_run):
    goals = quick_run["goals"]
    assert len(goals) >= 4
    for g in goals:
        assert isinstance(g["pass"], bool) and g["goal"] and g["measured"]


def test_text_report_renders(quick_run):
    text = bench.render_text(quick_run)
    for needle in ("1-2. Overhead", "3. Completion-notice", "4. Concurrent", "5. Memory", "Goals", "--quick",
                   "child process", "CPU s/job: client"):
        assert needle in text
    assert "in-process" not in text


def test_median_ci_and_plan():
    assert bench.median_ci([1.0, 2.0, 3.0]) is None
    lo, hi = bench.median_ci(list(range(20)))
    assert lo < 9.5 < hi
    plan = bench.notice_plan((2, 10, 60, 120), 20)
    assert {ln: (w, n) for ln, _, w, n in plan} == {120: (1, 20), 60: (1, 20), 10: (4, 10), 2: (4, 10)}
    assert all(off + w * (ln + 1) <= 125 for ln, off, w, _ in plan)
