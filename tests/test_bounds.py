"""Every wait and every byte bounded, and clear errors for odd answers (issue 9, points 3, 8,
9, 10, 11), over real sockets against the emulator's hostile faults."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
import torch

from runcomfy.media import images as media
from tensors_module import tensors
from runcomfy.media.kinds import budget
from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.errors import (AnswerTooLargeError, AuthError, BadResponseError, DownloadError, EarlierSubmitUncertainError,
                             Interrupted, JobFailedError, JobTimeoutError, ResultLimitError, SubmitOutcomeUnknownError)
from runcomfy.run.jobs import run as jobs_run
from runcomfy.journal import SUBMIT_UNKNOWN, SUCCEEDED, Journal
from runcomfy.run import Hooks, Runner
from runcomfy.run.polling import PollPolicy
from runcomfy.samples import sample_image

TOKEN = "tok-bounds-SECRET-7f3a9c"
MODEL = "wan-ai/wan-2-6/image-to-image"


@pytest.fixture(scope="module")
def uri():
    return media.to_data_uri(media.encode_png(sample_image(1, 400, 400)), "image/png")


def payload(uri, prompt="bounded", seed=1):
    return {"prompt": prompt, "image_urls": [uri], "seed": seed, "image_size": "1344*576 (21:9)",
            "prompt_extend": False}


def client(emu, **kw):
    kw.setdefault("retry", RetryPolicy(base_delay=0.01, max_delay=0.05))
    return RunComfyClient(TOKEN, emu.base_url, **kw)


def runner(emu, journal=None, timeout=30, **kw):
    return Runner(client(emu, **kw), journal=journal, poll=PollPolicy(first=0.05, cap=0.1), timeout=timeout)


def hung_up(emu, kind, limit=20.0):
    """The emulator's faulty sends of ``kind`` once it noticed the client hanging up (bounded)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        sends = [s for s in emu.hostile_sends if s[1] == kind]
        if sends:
            return sends
        time.sleep(0.05)
    return []


def bounded(coro, limit=60):
    """Every test loop is bounded; a client without total deadlines fails here instead of hanging."""
    async def go():
        return await asyncio.wait_for(coro, limit)
    return asyncio.run(go())


# --- point 9: slow drip, total deadlines, Stop in flight ------------------------------------

def test_slow_drip_status_ends_by_the_job_deadline(start_emulator, uri):
    emu = start_emulator(TOKEN, processing_time=30)
    emu.faults.add("status", "slow_drip", times=None, interval=1.5)   # a byte every 1.5 s, forever
    with pytest.raises(JobTimeoutError) as ei:
        bounded(runner(emu, timeout=4).run_job(MODEL, payload(uri)), limit=40)
    assert ei.value.request_id in emu.jobs
    sends = hung_up(emu, "slow_drip")
    assert sends and all(sent < total for _, _, sent, total in sends)   # the client hung up mid-answer


def test_slow_drip_read_has_a_total_deadline(start_emulator):
    emu = start_emulator(TOKEN)
    emu.faults.add("model", "slow_drip", times=None, interval=0.5)
    c = client(emu, call_deadline=2.0, retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05))
    with pytest.raises(Exception) as ei:
        bounded(asyncio.to_thread(c.model_info, MODEL), limit=30)
    assert "total deadline" in str(ei.value)


def test_stop_ends_a_dripping_call_and_still_cancels_the_queued_job(start_emulator, uri):
    emu = start_emulator(TOKEN, processing_time=30, workers=1)
    c = client(emu)
    c.submit(MODEL, payload(uri, "blocker"))              # takes the only worker: ours stays queued
    emu.faults.add("status", "slow_drip", times=None, interval=1.5)
    stop = threading.Event()
    c.should_abort = stop.is_set
    r = Runner(c, poll=PollPolicy(first=0.05, cap=0.1), timeout=600)

    def on_update(u):
        if u.state == "submitted":
            threading.Timer(1.0, stop.set).start()        # Stop lands while /status drips
    with pytest.raises(Interrupted) as ei:
        bounded(r.run_job(MODEL, payload(uri, "ours"), Hooks(on_update=on_update, is_interrupted=stop.is_set)),
                limit=30)
    assert ei.value.cancel_outcome == "cancelled" and "not billed" in str(ei.value)
    assert emu.jobs[ei.value.request_id].state == "cancelled" and emu.count("cancel") == 1
    sends = hung_up(emu, "slow_drip")
    assert sends and sends[0][2] < sends[0][3]


def test_slow_drip_submit_answer_is_outcome_unknown(start_emulator, tmp_path, uri):
    emu = start_emulator(TOKEN, processing_time=0.1)
    emu.faults.add("submit", "slow_drip", times=1, interval=0.5)
    journal = Journal(tmp_path / "j.json")
    with pytest.raises(SubmitOutcomeUnknownError, match="NOT re-sent"):
        bounded(Runner(client(emu, submit_deadline=2.0), journal=journal).run_job(MODEL, payload(uri)), limit=30)
    assert emu.submits_accepted == 1 and [e["state"] for e in journal.entries()] == [SUBMIT_UNKNOWN]
    with pytest.raises(EarlierSubmitUncertainError):
        bounded(Runner(client(emu), journal=journal).run_job(MODEL, payload(uri)))
    assert emu.count("submit") == 1


# --- point 10: memory caps -------------------------------------------------------------------

def test_oversized_status_answer_is_refused_not_read(start_emulator, uri):
    emu = start_emulator(TOKEN)
    c = client(emu)
    rid = c.submit(MODEL, payload(uri)).request_id
    emu.faults.add("status", "oversized", times=None, bytes=64 * 1024 * 1024)
    with pytest.raises(AnswerTooLargeError) as ei:
        c.status(rid)
    assert "4 MB" in str(ei.value) and rid in str(ei.value)
    assert emu.count("status") == 1                                   # not asked again for the same
    _, _, sent, total = hung_up(emu, "oversized")[-1]
    assert total >= 64 * 1024 * 1024 and sent < total


def test_too_many_result_files_are_refused_and_their_urls_kept(start_emulator, tmp_path, uri):
    emu = start_emulator(TOKEN, processing_time=0.05, outputs_per_job=jobs_run.MAX_RESULT_FILES + 1,
                         output_field="images")
    journal = Journal(tmp_path / "j.json")
    with pytest.raises(ResultLimitError) as ei:
        bounded(runner(emu, journal).run_job(MODEL, payload(uri)))
    err = ei.value
    assert f"at most {jobs_run.MAX_RESULT_FILES}" in str(err) and len(err.urls) == jobs_run.MAX_RESULT_FILES + 1
    assert all(u in str(err) for u in err.urls) and emu.count("file") == 0
    entry = journal.find_request(err.request_id)
    assert entry["state"] == SUCCEEDED and entry["urls"] == err.urls


def test_result_pixels_over_the_budget_are_refused_before_decoding(start_emulator, tmp_path, uri, monkeypatch):
    # two 1344x576 results are 1,548,288 pixels: over a budget of 1.5 MP, from their headers alone
    monkeypatch.setattr(budget, "MAX_JOB_PIXELS", 1_500_000)
    emu = start_emulator(TOKEN, processing_time=0.05, outputs_per_job=2, output_field="images")
    journal = Journal(tmp_path / "j.json")
    with pytest.raises(ResultLimitError) as ei:
        bounded(runner(emu, journal).run_job(MODEL, payload(uri)))
    assert "1,548,288 pixels" in str(ei.value) and "1,500,000" in str(ei.value)
    assert len(ei.value.urls) == 2 and journal.find_request(ei.value.request_id)["urls"] == ei.value.urls


def test_padded_batch_over_the_pixel_cap_is_refused(monkeypatch):
    monkeypatch.setattr(tensors, "MAX_BATCH_PIXELS", 1000)
    arrays = [np.zeros((20, 30, 3), np.uint8), np.zeros((30, 20, 3), np.uint8)]
    with pytest.raises(ValueError, match="2 x 30x30 = 1,800 pixels"):
        tensors.arrays_to_tensor(arrays)


def test_download_to_file_streams_with_the_same_rules(start_emulator, tmp_path, uri):
    emu = start_emulator(TOKEN, processing_time=0.05)
    c = client(emu)
    rid = c.submit(MODEL, payload(uri)).request_id
    assert bounded(asyncio.to_thread(lambda: _wait_done(c, rid)))
    url = c.result(rid).output_urls[0]
    target = tmp_path / "out" / "result.png"
    emu.faults.add("file", "truncated", times=1)
    emu.faults.add("file", "not_found", times=1)
    n = c.download_to_file(url, target)
    assert target.read_bytes() == emu.file_bytes(rid, 0) and n == target.stat().st_size
    with pytest.raises(DownloadError, match="limit"):
        c.download_to_file(url, tmp_path / "small.png", max_bytes=100)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "result.png"]     # no temp file left
    assert all(not call.auth_header_present for call in emu.calls if call.endpoint == "file")


def _wait_done(c, rid):
    for _ in range(200):
        if c.status(rid).state == "succeeded":
            return True
        time.sleep(0.05)
    return False


# --- point 3: storage lag after success --------------------------------------------------------

def test_storage_lag_after_success_is_waited_out_not_paid_again(start_emulator, tmp_path, uri):
    emu = start_emulator(TOKEN, processing_time=0.05)
    emu.faults.add("file", "storage_lag", times=None, seconds=1.5)
    journal = Journal(tmp_path / "j.json")
    out = bounded(runner(emu, journal).run_job(MODEL, payload(uri)))
    assert out.files[0] == emu.file_bytes(out.request_id, 0) and emu.submits_accepted == 1


def test_storage_lag_longer_than_the_window_keeps_the_job_succeeded(start_emulator, tmp_path, uri):
    emu = start_emulator(TOKEN, processing_time=0.05)
    emu.faults.add("file", "storage_lag", times=None, seconds=2.0)
    journal = Journal(tmp_path / "j.json")
    r = runner(emu, journal)
    r.client.retry.download_window = 0.5
    with pytest.raises(DownloadError) as ei:
        bounded(r.run_job(MODEL, payload(uri)))
    assert "paid for" in str(ei.value) and "no new charge" in str(ei.value)
    entry = journal.find_request(ei.value.request_id)
    assert entry["state"] == SUCCEEDED and entry["urls"]                # never "expired" by a download
    out = bounded(runner(emu, journal).run_job(MODEL, payload(uri)))    # the next run downloads again
    assert out.resumed and out.request_id == ei.value.request_id and emu.submits_accepted == 1


# --- point 8: the token echoed back ------------------------------------------------------------

def test_token_echoed_in_error_text_is_redacted(start_emulator, uri):
    emu = start_emulator(TOKEN)
    c = client(emu)
    emu.faults.add("model", "echo_token", times=1, status=401)
    with pytest.raises(AuthError) as ei:
        c.model_info(MODEL)
    err = ei.value
    assert "Invalid credentials" in str(err) and "[redacted]" in str(err)
    assert TOKEN not in str(err) and TOKEN not in repr(err.detail) and TOKEN not in (err.server_message or "")
    emu.fail_next_jobs(1, message=f"Moderation failed for request with key {TOKEN}")
    with pytest.raises(JobFailedError) as ei:
        bounded(runner(emu).run_job(MODEL, payload(uri)))
    assert "Moderation failed" in str(ei.value) and TOKEN not in str(ei.value)


# --- point 11: clear errors for odd answers --------------------------------------------------------

def test_http_200_with_error_code_shows_the_real_status(start_emulator):
    emu = start_emulator(TOKEN)
    emu.faults.add("model", "error_200", times=1, error_code=400004, message="token expired")
    with pytest.raises(AuthError) as ei:
        client(emu).model_info(MODEL)
    assert "[HTTP 200, error_code 400004]" in str(ei.value) and "HTTP 0" not in str(ei.value)


def test_non_finite_numbers_in_answers_read_as_not_reported(start_emulator, uri):
    emu = start_emulator(TOKEN, processing_time=0.3, workers=1)
    c = client(emu)
    rid = c.submit(MODEL, payload(uri)).request_id
    emu.faults.add("status", "non_finite", times=1, field="queue_position", value="Infinity")
    assert c.status(rid).queue_position is None
    emu.faults.add("status", "non_finite", times=1, field="queue_position", value="1e400")
    assert c.status(rid).queue_position is None
    emu.faults.add("status", "non_finite", times=None, field="status", value="NaN")
    with pytest.raises(BadResponseError, match="Unknown job status"):
        c.status(rid)
    emu.faults.clear()
    assert bounded(asyncio.to_thread(lambda: _wait_done(c, rid)))
    emu.faults.add("result", "non_finite", times=1, field="cost", value="NaN")
    res = c.result(rid)
    assert res.cost is None and res.output_urls


def test_nested_json_answer_is_a_clear_error(start_emulator, uri):
    emu = start_emulator(TOKEN)
    c = client(emu)
    rid = c.submit(MODEL, payload(uri)).request_id
    emu.faults.add("status", "nested_json", times=None, depth=100000)
    with pytest.raises(BadResponseError, match="nested more than 64 levels"):
        c.status(rid)


@pytest.mark.parametrize("value,what", [
    (torch.zeros((0, 64, 64, 3)), "empty"),
    (torch.zeros((1, 64, 64, 3), dtype=torch.uint8), "floating-point"),
    (torch.zeros((64, 64)), "shaped"),
    (torch.zeros((1, 2, 64, 64, 3)), "shaped"),
])
def test_unusable_image_tensors_name_the_socket(value, what):
    with pytest.raises(ValueError) as ei:
        tensors.tensor_to_arrays(value, label="image_2")
    assert str(ei.value).startswith("'image_2': ") and what in str(ei.value)


def test_the_retry_window_never_cuts_a_download_in_progress(start_emulator, uri):
    # the window bounds when a new attempt may start; a slow but steady download completes
    emu = start_emulator(TOKEN, processing_time=0.05)
    c = client(emu)
    rid = c.submit(MODEL, payload(uri)).request_id
    assert bounded(asyncio.to_thread(lambda: _wait_done(c, rid)))
    url = c.result(rid).output_urls[0]
    size = len(emu.file_bytes(rid, 0))
    from runcomfy.emulator.shaping import Link
    emu.link = Link(None, size * 8 / 1e6 / 1.0)                       # the file takes about 1 s
    assert c.download(url, window=0.2) == emu.file_bytes(rid, 0)


def test_the_stop_flag_ends_job_calls_but_not_the_price_and_catalog_reads(start_emulator, uri):
    # ComfyUI keeps its Stop flag set until the next prompt starts; the price badge still works
    emu = start_emulator(TOKEN)
    c = client(emu)
    rid = c.submit(MODEL, payload(uri)).request_id
    c.should_abort = lambda: True
    assert c.model_info(MODEL)["model_id"] == MODEL and c.list_models(limit=1)["models"]
    with pytest.raises(Interrupted):
        c.status(rid)
