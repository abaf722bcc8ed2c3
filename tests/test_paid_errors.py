"""Issue 16 point 6, over real sockets against the emulator: every error after RunComfy accepted a
submit names the request id and says it was paid (or may have been), including a result file
that does not decode, an audio result over the length limit and a result that cannot be written;
the journal keeps such a request ``succeeded`` with its URLs, so the next run downloads it again
instead of paying for a new one."""

from __future__ import annotations

import asyncio
import importlib
import io

import av
import numpy as np
import pytest

from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.emulator import catalog
from runcomfy.errors import DownloadError, JobFailedError, PaidResultError, RunComfyError
from runcomfy.journal import SUCCEEDED, Journal
from runcomfy.run import Runner
from runcomfy.run.polling import PollPolicy
from runcomfy.samples import sample_image
from runcomfy.schema import find_schema, parse_schema

TOKEN = "tok-paid-errors-5e1d0a"
IMAGE_MODEL = "wan-ai/wan-2-6/image-to-image"
IMAGE_FIELDS = {"prompt": "a paid result", "image_size": "1280*720 (16:9)", "seed": 3, "prompt_extend": False}
T2A = "emulator-samples/audio-gen/text-to-audio"
T2V = "emulator-samples/video-gen/text-to-video"


@pytest.fixture
def emu(start_emulator):
    e = start_emulator(TOKEN, processing_time=0.05, workers=2)
    e.serve_catalog(catalog.sample_entries(), replace=False)
    return e


def sample_schema(model_id):
    return parse_schema(next(d for d in catalog.sample_entries() if d["model_id"] == model_id))


def make_runner(emu, journal, media_dir):
    client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
    client.retry.download_window = 0.5
    r = Runner(client, journal=journal, poll=PollPolicy(first=0.05, cap=0.1), timeout=30)
    r.output_folder = str(media_dir)
    return r


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def long_silence_flac(seconds: float, rate: int = 8000) -> bytes:
    """A real FLAC file of ``seconds`` of mono silence: a few hundred KB for half an hour."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as c:
        st = c.add_stream("flac", rate=rate, layout="mono")
        chunk = np.zeros((1, rate * 10), np.int16)
        for i in range(int(seconds // 10)):
            f = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            f.sample_rate, f.pts = rate, i * rate * 10
            for p in st.encode(f):
                c.mux(p)
        for p in st.encode(None):
            c.mux(p)
    return buf.getvalue()


def assert_paid_error(err, emu, journal):
    """The error names the (one) accepted request and says it is paid; the journal keeps it
    succeeded with the URLs the error lists, not delivered."""
    rid = next(iter(emu.jobs))
    text = str(err)
    assert isinstance(err, PaidResultError) and err.request_id == rid
    assert f"Request {rid} succeeded and is paid for" in text and "no new charge" in text
    assert err.urls and all(u in text for u in err.urls)
    entry = journal.find_request(rid)
    assert entry["state"] == SUCCEEDED and entry["urls"] == err.urls and not entry.get("delivered")
    return rid


def test_a_bad_image_result_is_a_paid_error_and_the_next_run_downloads_it_again(emu, tmp_path):
    journal = Journal(tmp_path / "journal.json")
    schema = find_schema(IMAGE_MODEL)
    refs = {"image_urls": [sample_image(1, 400, 400)]}
    emu.faults.add("file", "bad_file", times=None)
    with pytest.raises(PaidResultError) as ei:
        run(make_runner(emu, journal, tmp_path / "out").generate(schema, IMAGE_FIELDS, images=refs))
    rid = assert_paid_error(ei.value, emu, journal)
    assert emu.submits_accepted == 1 and ("file", "bad_file") in emu.faults.injected
    # The storage serves the real file again: same inputs, no new submit, the same request delivered.
    emu.faults.clear()
    gen = run(make_runner(emu, journal, tmp_path / "out").generate(schema, IMAGE_FIELDS, images=refs))
    assert gen.request_ids == [rid] and emu.submits_accepted == 1 and len(gen.images) == 1
    assert journal.find_request(rid)["delivered"]


def test_an_audio_result_over_the_length_limit_is_a_paid_error(emu, tmp_path):
    journal = Journal(tmp_path / "journal.json")
    emu.faults.add("file", "bad_file", times=None, data=long_silence_flac(31 * 60))   # over 30 min
    with pytest.raises(PaidResultError) as ei:
        run(make_runner(emu, journal, tmp_path / "out").generate(sample_schema(T2A), {"prompt": "rain", "duration": 5}))
    assert_paid_error(ei.value, emu, journal)
    assert "limit" in str(ei.value) and "long" in str(ei.value) and emu.submits_accepted == 1
    # A re-run fetches the same (too long) file again, never pays again without a changed input.
    with pytest.raises(PaidResultError):
        run(make_runner(emu, journal, tmp_path / "out").generate(sample_schema(T2A), {"prompt": "rain", "duration": 5}))
    assert emu.submits_accepted == 1


def test_a_video_result_that_is_not_a_video_is_a_paid_error(emu, tmp_path):
    journal = Journal(tmp_path / "journal.json")
    emu.faults.add("file", "bad_file", times=None, data=b"\x00\x00\x00\x18ftypisom" + b"\x00" * 400)
    with pytest.raises(PaidResultError) as ei:
        run(make_runner(emu, journal, tmp_path / "out").generate(sample_schema(T2V), {"prompt": "waves"}))
    assert_paid_error(ei.value, emu, journal)


def test_a_truncated_mp4_with_its_index_intact_is_a_paid_error(emu, tmp_path):
    from runcomfy.emulator import mediagen
    whole = mediagen.render_video("waves", 1, [], [], duration_s=2.0, size=(160, 96))
    assert 0 < whole.find(b"moov") < whole.find(b"mdat")          # the index comes first and survives the cut
    journal = Journal(tmp_path / "journal.json")
    emu.faults.add("file", "bad_file", times=None, data=whole[: len(whole) * 6 // 10])
    with pytest.raises(PaidResultError) as ei:
        run(make_runner(emu, journal, tmp_path / "out").generate(sample_schema(T2V), {"prompt": "waves"}))
    assert_paid_error(ei.value, emu, journal)
    assert "truncated" in str(ei.value)


def test_a_result_that_cannot_be_written_is_a_paid_error(emu, tmp_path):
    # The output folder is a file: saving the streamed audio fails with an OSError after payment.
    journal = Journal(tmp_path / "journal.json")
    blocker = tmp_path / "out"
    blocker.write_bytes(b"not a folder")
    with pytest.raises(PaidResultError) as ei:
        run(make_runner(emu, journal, blocker).generate(sample_schema(T2A), {"prompt": "wind", "duration": 2}))
    assert_paid_error(ei.value, emu, journal)
    assert isinstance(ei.value, DownloadError) or isinstance(ei.value.cause, OSError)


def test_a_download_failure_after_success_is_still_a_download_error_and_paid(emu, tmp_path):
    journal = Journal(tmp_path / "journal.json")
    emu.faults.add("file", "not_found", times=None)
    with pytest.raises(DownloadError) as ei:
        run(make_runner(emu, journal, tmp_path / "out").generate(
            find_schema(IMAGE_MODEL), IMAGE_FIELDS, images={"image_urls": [sample_image(2, 400, 400)]}))
    assert_paid_error(ei.value, emu, journal)


def test_errors_before_the_result_name_the_request_and_that_it_may_be_billed(emu, tmp_path):
    journal = Journal(tmp_path / "journal.json")
    emu.fail_next_jobs(1, "Content moderation: the prompt was rejected")
    with pytest.raises(JobFailedError) as ei:
        run(make_runner(emu, journal, tmp_path / "out").generate(
            find_schema(IMAGE_MODEL), IMAGE_FIELDS, images={"image_urls": [sample_image(1, 400, 400)]}))
    rid = next(iter(emu.jobs))
    assert ei.value.request_id == rid and rid in str(ei.value)
    assert f"accepted request {rid}, so it may have been billed" in str(ei.value)
    assert "Content moderation" in str(ei.value)


def test_a_message_that_already_states_the_billing_is_not_repeated():
    err = RunComfyError("Stopped: the remote job was cancelled while queued; it is not billed.").accepted_as("r-1")
    assert "may have been billed" not in str(err) and "r-1" in str(err)
    raised = RunComfyError("The status call failed.")
    plain = raised.accepted_as("r-2")
    assert str(plain).count("r-2") == 2 and "may have been billed" in str(plain)
    # A copy: the error already raised is never edited.
    assert str(raised) == "The status call failed." and raised.request_id is None and not raised.accepted
    paid = PaidResultError("r-3", ValueError("bad header"), urls=["https://x/1.png"])
    assert "r-3" in str(paid) and "ValueError: bad header" in str(paid) and "https://x/1.png" in str(paid)
    # The panel's summary (it shows the id and a Fetch button itself) says what happened, once.
    assert "r-3" not in paid.summary and "ValueError: bad header" in paid.summary and "paid for" in paid.summary


def test_a_result_the_node_cannot_turn_into_an_image_batch_is_a_paid_error(pack, start_emulator, monkeypatch):
    # Through the node as ComfyUI loads it: decoded, but over the IMAGE batch's pixel cap.
    from test_node import KEY, TOKEN as NODE_TOKEN, FakeServer, call, kwargs
    emu = start_emulator(NODE_TOKEN, as_env=True, processing_time=0.05, workers=2)
    server = FakeServer.last = FakeServer()
    monkeypatch.setattr(pack.nodes.comfy, "prompt_server", lambda: server)
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    tensors = importlib.import_module(pack.__name__ + ".nodes.tensors")
    cap = tensors.MAX_BATCH_PIXELS
    monkeypatch.setattr(tensors, "MAX_BATCH_PIXELS", 1000)
    with pytest.raises(Exception) as ei:
        call(cls, **kwargs(seed=4242))
    rid = next(iter(emu.jobs))
    assert type(ei.value).__name__ == "PaidResultError" and ei.value.request_id == rid
    assert f"Request {rid} succeeded and is paid for" in str(ei.value) and "1,000" in str(ei.value)
    # What the node shows: the id once in its text (with how to fetch it), not in the panel's summary.
    shown = [d for e, d in FakeServer.last.events if isinstance(d, dict) and d.get("state") == "error"][-1]
    assert rid not in shown["summary"] and "1,000" in shown["summary"]
    assert shown["text"].count(rid) == 1, shown["text"]
    monkeypatch.setattr(tensors, "MAX_BATCH_PIXELS", cap)
    images, urls, rid2 = call(cls, **kwargs(seed=4242))
    assert rid2 == rid and emu.submits_accepted == 1 and images.shape[0] == 1
