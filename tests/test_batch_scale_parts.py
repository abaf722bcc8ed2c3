"""Parts made cheaper for batches of 100,000 jobs (issue 21), each checked for the behaviour it
must keep:

- the emulator's queue position (what /status reports while a job waits) without a search of
  the line, checked against the plain order of the line through cancels and a worker;
- every submit still goes out on a connection of its own (never a pooled keep-alive one that the
  server may have closed meanwhile), now from one session instead of a new one per submit;
- a batch job's result streamed straight into the output folder: the output's bytes, size and
  SHA-256 in the manifest are the service's, no temp file is left, and a run killed while
  results were downloading leaves nothing the next run would take for an output.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import threading

import pytest

from runcomfy.api import RunComfyClient
from runcomfy.emulator.jobs import CANCELLED, IN_QUEUE, Job, JobQueue


def _job(i: int, stuck: bool = False) -> Job:
    j = Job(request_id=f"r{i}", model_id="m", owner="t", payload={}, processing_time=0.0)
    j.stuck = stuck
    return j


def _expected(q: JobQueue, job: Job):
    line = list(q._pending) + list(q._stuck)
    return line.index(job) if job.state == IN_QUEUE and job in line else None


def test_position_follows_the_line_through_cancels_and_workers():
    lock, stop = threading.RLock(), threading.Event()
    release = threading.Event()
    taken: list[Job] = []

    def run(job: Job) -> None:
        taken.append(job)
        release.wait(5)
        with lock:
            job.state = "completed"

    q = JobQueue(0, run, lock, stop)        # no worker started yet: the line only grows
    jobs = [_job(i) for i in range(40)]
    stuck = _job(99, stuck=True)
    for j in jobs[:20]:
        q.put(j)
    q.put(stuck)
    for j in jobs[20:]:
        q.put(j)
    for j in jobs + [stuck]:
        assert q.position(j) == _expected(q, j)
    assert q.position(jobs[7]) == 7 and q.position(stuck) == 40
    for k in (0, 13, 14, 39, 25):           # head, middle (two in a row), tail, middle
        assert q.cancel(jobs[k])
        assert jobs[k].state == CANCELLED and q.position(jobs[k]) is None
        for j in jobs + [stuck]:
            assert q.position(j) == _expected(q, j), (k, j.request_id)
    assert q.position(jobs[15]) == 12        # 0, 13 and 14 were ahead of it and left
    q.put(late := _job(40))                  # after a cancelled tail
    assert q.position(late) == _expected(q, late) == 35
    # A worker takes jobs from the head: everyone behind moves up, the taken job has no place.
    worker = threading.Thread(target=q._loop, daemon=True)
    worker.start()
    try:
        for _ in range(200):
            if taken:
                break
            release.wait(0.01)
        assert taken == [jobs[1]]
        assert q.position(jobs[1]) is None
        for j in jobs + [stuck, late]:
            assert q.position(j) == _expected(q, j)
        assert q.position(jobs[2]) == 0
    finally:
        stop.set()
        release.set()
        q.wake_all()
        worker.join(5)


TOKEN = "tok-batch-scale"
TEXT_MODEL = "emulator-samples/image-gen/text-to-image"


def test_every_submit_has_a_connection_of_its_own_and_reads_reuse_one(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.0, workers=4, schema_dir=_text_schema(tmp_path)[1])
    client = RunComfyClient(TOKEN, emu.base_url)
    try:
        rids = [client.submit(TEXT_MODEL, {"prompt": f"p{i}"}).request_id for i in range(6)]
        for rid in rids:
            client.status(rid)
    finally:
        client.close()
    with emu._lock:
        submits = [c for c in emu.calls if c.endpoint == "submit"]
        reads = [c for c in emu.calls if c.endpoint == "status"]
    assert len(submits) == 6 and len({c.client_port for c in submits}) == 6
    assert len(reads) == 6 and len({c.client_port for c in reads}) == 1       # keep-alive where it is safe
    assert not {c.client_port for c in submits} & {c.client_port for c in reads}


def _text_schema(tmp_path, model: str = TEXT_MODEL):
    from runcomfy.emulator.catalog import SAMPLE_CATALOG
    from runcomfy.schema import find_schema
    doc = next(m for m in json.loads(SAMPLE_CATALOG.read_text(encoding="utf-8"))["models"]
               if m.get("model_id") == model)
    d = tmp_path / "schemas"
    d.mkdir(exist_ok=True)
    (d / (model.replace("/", "__") + ".schema.json")).write_text(json.dumps(doc), encoding="utf-8")
    return find_schema(model, d), str(d)


def _run_batch(emu, schema, jobs, out, *, concurrency: int):
    """One batch run over the jobs file against the emulator, as the CLI would start it."""
    from runcomfy.batch.jobsfile import JobStream
    from runcomfy.batch.runner import BatchOptions, run_batch
    client = RunComfyClient(TOKEN, emu.base_url)
    try:
        return asyncio.run(run_batch(client, schema, JobStream(jobs, schema), BatchOptions(
            out=out, concurrency=concurrency, progress_stream=io.StringIO(), install_signal_handlers=False)))
    finally:
        client.close()


def test_results_stream_straight_into_the_output_folder(start_emulator, tmp_path):
    from runcomfy.batch.runner import INCOMING, STATE_DIR
    schema, sdir = _text_schema(tmp_path)
    emu = start_emulator(TOKEN, processing_time=0.0, workers=4, schema_dir=sdir)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"key": f"k{i}", "prompt": f"streamed {i}", "seed": i}) + "\n"
                            for i in range(5)), encoding="utf-8")
    out = tmp_path / "out"
    # Leftovers of a run killed mid-download: a part file; the next run must not take it for anything.
    (out / STATE_DIR / INCOMING).mkdir(parents=True)
    (out / STATE_DIR / INCOMING / "k0+1.part").write_bytes(b"\x89PNG half a file")
    res = _run_batch(emu, schema, jobs, out, concurrency=3)
    assert res.count("done") == 5, [r.error for r in res.failures]
    assert list((out / STATE_DIR / INCOMING).iterdir()) == []
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(
        [f"k{i}.png" for i in range(5)] + [f"k{i}.json" for i in range(5)])
    for i in range(5):
        m = json.loads((out / f"k{i}.json").read_text())
        data = (out / f"k{i}.png").read_bytes()
        assert data == emu.file_bytes(m["request_id"], 0) and data.startswith(b"\x89PNG")
        assert m["files"] == [f"k{i}.png"] and m["sizes"] == [len(data)]
        assert m["sha256"] == [hashlib.sha256(data).hexdigest()]
        assert (out / f"k{i}.png").stat().st_mode & 0o777 == 0o644
    # A second run skips every job: the manifests' sizes and digests match the files as written.
    again = _run_batch(emu, schema, jobs, out, concurrency=3)
    assert again.count("skipped") == 5 and emu.submits_accepted == 5


def test_a_streamed_result_has_the_same_size_cap_as_the_nodes_download():
    from runcomfy.batch.outputs import _cap
    from runcomfy.media.kinds import KINDS
    client = RunComfyClient(TOKEN, "http://127.0.0.1:9")
    try:
        assert _cap(client, "https://cdn.example/r/1.mp4", None) == KINDS["video"].output_cap_bytes
        assert _cap(client, "https://cdn.example/r/1", "video") == KINDS["video"].output_cap_bytes
        assert _cap(client, "https://cdn.example/r/1.wav", "image") == KINDS["audio"].output_cap_bytes
        assert _cap(client, "https://cdn.example/r/1.png", "image") == client.max_download_bytes
        assert KINDS["video"].output_cap_bytes != client.max_download_bytes      # the case that mattered
    finally:
        client.close()



@pytest.mark.parametrize("model,ext", [("emulator-samples/video-gen/text-to-video", "mp4"),
                                       ("emulator-samples/audio-gen/text-to-audio", None)])
def test_video_and_audio_results_stream_into_the_output_folder_too(start_emulator, tmp_path, model, ext):
    from runcomfy.batch.runner import INCOMING, STATE_DIR
    schema, sdir = _text_schema(tmp_path, model)
    emu = start_emulator(TOKEN, processing_time=0.0, workers=2, schema_dir=sdir)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"key": f"m{i}", "prompt": f"media {i}"}) + "\n" for i in range(2)),
                    encoding="utf-8")
    out = tmp_path / "out"
    res = _run_batch(emu, schema, jobs, out, concurrency=2)
    assert res.count("done") == 2, [r.error for r in res.failures]
    assert list((out / STATE_DIR / INCOMING).iterdir()) == []
    for i in range(2):
        m = json.loads((out / f"m{i}.json").read_text())
        for n, name in enumerate(m["files"]):
            data = (out / name).read_bytes()
            assert data == emu.file_bytes(m["request_id"], n)
            assert m["sizes"][n] == len(data) and m["sha256"][n] == hashlib.sha256(data).hexdigest()
            if ext:
                assert name.endswith("." + ext)
