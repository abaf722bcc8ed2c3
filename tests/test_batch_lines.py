"""Every line of the jobs file ends in the report (issue 16.10): done, failed with the reason,
skipped or not run, whatever happens to its job (MemoryError, RecursionError, any exception);
a line nested 5,000 levels deep fails alone; an input file that is not media is an input error
naming the line and the field, and its bytes are never quoted."""

from __future__ import annotations

import json
from pathlib import Path

from runcomfy.media import images as media
from runcomfy.batch import parse_jobs, runner
from runcomfy.batch.cli import main as batch_main
from tests.test_batch import MODEL, SCHEMA, TOKEN, make_jobs


def run_cli(emu, jobs, out, *args) -> int:
    return batch_main([MODEL, str(jobs), "--out", str(out), "--base-url", emu.base_url, *args])


def _rows(path: Path) -> dict:
    return {r["line"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_a_line_nested_5000_levels_fails_alone(start_emulator, tmp_path, capsys, monkeypatch):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.05)
    deep = '{"key": "deep", "prompt": ' + "[" * 5000 + "]" * 5000 + "}"
    jobs = make_jobs(tmp_path, 3, side=384, extra_lines=[deep, '{"prompt": "also deep", "seed": ' + '{"a": ' * 3000 + "1" + "}" * 3001])
    report = tmp_path / "r.jsonl"
    assert run_cli(emu, jobs, tmp_path / "out", "--report", str(report)) == 1
    out = capsys.readouterr().out
    assert "done 3" in out and "invalid lines 2" in out
    assert "line 5: JSON nested 5001 levels deep; at most 64" in out
    assert "line 6: JSON nested 3001 levels deep" in out
    rows = _rows(report)
    assert sorted(rows) == [2, 3, 4, 5, 6]                       # line 1 is a comment
    assert [rows[n]["state"] for n in (2, 3, 4)] == ["done"] * 3
    assert rows[5]["state"] == rows[6]["state"] == "invalid"
    # Without the depth check, the parser's own RecursionError still fails those lines alone.
    import runcomfy.batch.jobsfile as jobsfile
    monkeypatch.setattr(jobsfile, "MAX_DEPTH", 10**6)
    specs, problems = parse_jobs(jobs, SCHEMA)
    assert len(specs) == 3 and [str(p) for p in problems] == ["line 5: could not be read (RecursionError)",
                                                              "line 6: could not be read (RecursionError)"]


def test_an_input_that_is_not_media_is_an_input_error_without_its_bytes(start_emulator, tmp_path, capsys):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.05)
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\nsecret-line\n")
    (tmp_path / "noise.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"root:x:0:0:" * 50)    # a PNG that is not
    jobs = make_jobs(tmp_path, 1, side=384, extra_lines=[
        json.dumps({"key": "pw", "prompt": "p", "image_urls": ["in0.png", "passwd"]}),
        json.dumps({"key": "fake", "prompt": "p", "image_urls": ["noise.png"]}),
    ])
    report = tmp_path / "r.jsonl"
    assert run_cli(emu, jobs, tmp_path / "out", "--report", str(report)) == 1
    out = capsys.readouterr().out
    assert "root:" not in out and "secret" not in out and "root:" not in report.read_text()
    rows = _rows(report)
    assert rows[3]["state"] == "failed" and rows[3]["error"].startswith(
        "input error: line 3, field 'image_urls[2]': ") and "not a media file" in rows[3]["error"]
    assert rows[4]["state"] == "failed" and rows[4]["error"].startswith(
        "input error: line 4, field 'image_urls[1]': ") and "is not a readable image" in rows[4]["error"]
    assert rows[2]["state"] == "done" and emu.submits_accepted == 1      # nothing sent for the bad ones


def test_any_exception_in_one_job_fails_that_job_and_the_rest_run(start_emulator, tmp_path, capsys, monkeypatch):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.05, workers=4)
    jobs = make_jobs(tmp_path, 5, side=384)
    real_decode, real_manifest = media.decode_image, runner.write_manifest
    huge = (tmp_path / "in1.png").read_bytes()

    def decode(data, *a, **kw):
        if str(data) == str(tmp_path / "in1.png") or (isinstance(data, bytes) and data == huge):
            raise MemoryError()                   # a 6 GB file, as far as this job can tell
        return real_decode(data, *a, **kw)

    def manifest(out, key, record):
        if key == "shot-002":
            raise RecursionError("maximum recursion depth exceeded")
        if key == "shot-003":
            raise KeyError("a bug")
        return real_manifest(out, key, record)

    monkeypatch.setattr(media, "decode_image", decode)
    monkeypatch.setattr(runner, "write_manifest", manifest)
    report = tmp_path / "r.jsonl"
    assert run_cli(emu, jobs, tmp_path / "out", "--concurrency", "2", "--report", str(report)) == 1
    out = capsys.readouterr().out
    assert "done 1, failed 4" in out            # shot-000 done; 001 and 004 use in1.png
    rows = {r["key"]: r for r in map(json.loads, report.read_text().splitlines())}
    assert len(rows) == 5 and all(r["error"] for k, r in rows.items() if k != "shot-000")
    assert "does not fit in memory" in rows["shot-001"]["error"] and "field 'image_urls[1]'" in rows["shot-001"]["error"]
    assert rows["shot-002"]["error"].startswith("RecursionError")
    assert rows["shot-003"]["error"].startswith("KeyError")
    # The paid results of the two jobs whose saving failed are fetched by the next run, not paid again.
    monkeypatch.setattr(runner, "write_manifest", real_manifest)
    accepted = emu.submits_accepted
    assert run_cli(emu, jobs, tmp_path / "out", "--report", str(report)) == 1      # in1.png still "too big"
    assert emu.submits_accepted == accepted
    rows = {r["key"]: r for r in map(json.loads, report.read_text().splitlines())}
    assert rows["shot-002"]["state"] == rows["shot-003"]["state"] == "done"
    assert rows["shot-002"]["resumed"] and rows["shot-003"]["resumed"]


def test_a_line_that_is_not_utf8_fails_alone(tmp_path):
    make_jobs(tmp_path, 2, side=384)
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(path.read_bytes() + b'{"prompt": "caf\xe9"}\n')
    specs, problems = parse_jobs(path, SCHEMA)
    assert len(specs) == 2 and [str(p) for p in problems] == ["line 4: is not UTF-8 text (byte 16)"]
