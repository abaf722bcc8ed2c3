"""Batch output names are unique by construction (issue 16.4): key ``x`` with two results and key
``x_1`` keep both results; a re-run skips a job only by its own manifest (the bytes it wrote),
and outputs of the earlier naming (``KEY_1.png``) are migrated, or, where two manifests claimed
one file, fetched again by request id without a new submit."""

from __future__ import annotations

import json
from pathlib import Path

from runcomfy.batch.cli import main as batch_main
from tests.test_batch import MODEL, TOKEN, make_jobs


def _jobs(folder: Path, name: str, keys: list[str]) -> Path:
    path = folder / name
    path.write_text("".join(json.dumps({"key": k, "prompt": f"prompt of {k}", "image_urls": ["in0.png"],
                                        "seed": i}) + "\n" for i, k in enumerate(keys)))
    return path


def run_cli(emu, jobs, out, *args) -> int:
    return batch_main([MODEL, str(jobs), "--out", str(out), "--base-url", emu.base_url, *args])


def _manifest(out: Path, key: str) -> dict:
    return json.loads((out / f"{key}.json").read_text())


def test_two_results_and_a_key_ending_in_1_keep_every_result(start_emulator, tmp_path, capsys):
    two = start_emulator(TOKEN, as_env=True, processing_time=0.05, outputs_per_job=2)
    one = start_emulator(TOKEN, processing_time=0.05)
    make_jobs(tmp_path, 0, side=384)
    out = tmp_path / "out"
    jobs_a = _jobs(tmp_path, "a.jsonl", ["x", "y"])
    jobs_b = _jobs(tmp_path, "b.jsonl", ["x_1"])
    assert run_cli(two, jobs_a, out) == 0
    assert run_cli(one, jobs_b, out) == 0
    capsys.readouterr()
    mx, mx1 = _manifest(out, "x"), _manifest(out, "x_1")
    assert mx["files"] == ["x+1.png", "x+2.png"] and mx1["files"] == ["x_1.png"]
    for n, name in enumerate(mx["files"]):
        assert (out / name).read_bytes() == two.file_bytes(mx["request_id"], n)
    assert (out / "x_1.png").read_bytes() == one.file_bytes(mx1["request_id"], 0)
    # Both commands again: both skipped, nothing sent.
    before = (two.submits_accepted, one.submits_accepted)
    assert run_cli(two, jobs_a, out) == 0 and "skipped 2" in capsys.readouterr().out
    assert run_cli(one, jobs_b, out) == 0 and "skipped 1" in capsys.readouterr().out
    assert (two.submits_accepted, one.submits_accepted) == before


def test_a_file_that_is_not_what_the_job_wrote_does_not_count_as_done(start_emulator, tmp_path, capsys):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.05)
    jobs = make_jobs(tmp_path, 2, side=384)
    out = tmp_path / "out"
    assert run_cli(emu, jobs, out) == 0
    m = _manifest(out, "shot-000")
    (out / "shot-000.png").write_bytes((out / "shot-001.png").read_bytes())      # another job's bytes
    accepted = emu.submits_accepted
    assert run_cli(emu, jobs, out) == 0
    assert "skipped 1" in capsys.readouterr().out
    assert emu.submits_accepted == accepted                         # fetched again by its request id
    assert (out / "shot-000.png").read_bytes() == emu.file_bytes(m["request_id"], 0)


def _to_version_1(out: Path, key: str, names: list[str]) -> None:
    """Rewrite a job's outputs as the earlier release wrote them (KEY_1.png..., no digests)."""
    m = _manifest(out, key)
    for old, new in zip(m["files"], names):
        if old != new:
            (out / old).rename(out / new)
    m = {k: v for k, v in m.items() if k not in ("version", "sizes", "sha256", "counted")}
    m["files"] = names
    (out / f"{key}.json").write_text(json.dumps(m))


def test_version_1_outputs_are_migrated_or_fetched_again_never_paid_again(start_emulator, tmp_path, capsys):
    two = start_emulator(TOKEN, as_env=True, processing_time=0.05, outputs_per_job=2)
    one = start_emulator(TOKEN, processing_time=0.05)
    make_jobs(tmp_path, 0, side=384)
    out = tmp_path / "out"
    jobs_a = _jobs(tmp_path, "a.jsonl", ["x", "y"])
    jobs_b = _jobs(tmp_path, "b.jsonl", ["x_1"])
    assert run_cli(two, jobs_a, out) == 0 and run_cli(one, jobs_b, out) == 0
    capsys.readouterr()
    # The earlier release's layout, collision included: x_1 overwrote x's first result.
    _to_version_1(out, "y", ["y_1.png", "y_2.png"])
    _to_version_1(out, "x", ["x_1.png", "x_2.png"])      # x+1.png -> x_1.png replaces x_1's file...
    x_1_bytes = one.file_bytes(_manifest(out, "x_1")["request_id"], 0)
    (out / "x_1.png").write_bytes(x_1_bytes)              # ...which x_1 then overwrote, as it did
    _to_version_1(out, "x_1", ["x_1.png"])
    before = (two.submits_accepted, one.submits_accepted)

    assert run_cli(two, jobs_a, out) == 0
    text = capsys.readouterr().out
    assert "skipped 1" in text and "done 1" in text                 # y migrated and skipped; x fetched again
    assert "x_1.png was listed by the outputs of x, x_1: kept as x_1+contested.png" in text
    assert (out / "x_1+contested.png").read_bytes() == x_1_bytes   # nothing deleted
    my = _manifest(out, "y")
    assert my["files"] == ["y+1.png", "y+2.png"] and my["version"] == 2 and my["migrated_from"] == 1
    mx = _manifest(out, "x")
    assert mx["files"] == ["x+1.png", "x+2.png"]
    for n, name in enumerate(mx["files"]):
        assert (out / name).read_bytes() == two.file_bytes(mx["request_id"], n)
    assert run_cli(one, jobs_b, out) == 0
    capsys.readouterr()
    assert (out / "x_1.png").read_bytes() == x_1_bytes and _manifest(out, "x_1")["version"] == 2
    assert (two.submits_accepted, one.submits_accepted) == before   # no new submit anywhere
