"""The whole generation path (the node's and the demo's) against the emulator: images really
travel, Stop cancels, waits are bounded, paid results are resumed instead of paid again."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.emulator import Emulator
from runcomfy.emulator.imagegen import render_output
from runcomfy.errors import (DownloadError, Interrupted, JobFailedError, JobTimeoutError, SubmitOutcomeUnknownError,
                             ValidationError)
from runcomfy.journal import Journal
from runcomfy.run import Hooks, Runner, fingerprint
from runcomfy.samples import sample_image
from runcomfy.schema import find_schema

TOKEN = "tok-pipeline-test-abcdef"
MODEL = "wan-ai/wan-2-6/image-to-image"
SCHEMA = find_schema(MODEL)
FIELDS = {"prompt": "two monsters", "image_size": "1280*720 (16:9)", "seed": 11, "prompt_extend": False}


@pytest.fixture
def emu(start_emulator):
    return start_emulator(TOKEN, processing_time=0.3, workers=2)


def make_runner(emu, tmp_path=None, **kw):
    client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
    journal = Journal(tmp_path / "journal.json") if tmp_path is not None else None
    return Runner(client, journal=journal, **kw)


def images(*sizes):
    return [sample_image(1 + i % 2, w, h) for i, (w, h) in enumerate(sizes)]


def run(coro):
    return asyncio.run(coro)


def test_inputs_really_travel(emu):
    refs = images((400, 400), (512, 640))
    gen = run(make_runner(emu).generate(SCHEMA, FIELDS, images={"image_urls": refs}))
    assert len(gen.images) == 1 and gen.images[0].shape == (720, 1280, 3)
    expected = render_output([Image.fromarray(a) for a in refs], FIELDS["prompt"], FIELDS["seed"], (1280, 720))
    assert np.array_equal(gen.images[0], np.asarray(expected.convert("RGB")))
    assert gen.cost == pytest.approx(0.03) and gen.request_ids[0] in emu.jobs
    sent = emu.jobs[gen.request_ids[0]].payload
    assert len(sent["image_urls"]) == 2 and all(u.startswith("data:image/png;base64,") for u in sent["image_urls"])
    assert sent["prompt_extend"] is False


def test_submitting_update_says_how_much_is_sent(emu):
    seen = []
    big = [np.random.default_rng(1).integers(0, 256, (800, 800, 3), dtype=np.uint8)]   # ~1.9 MB PNG
    run(make_runner(emu).generate(SCHEMA, FIELDS, images={"image_urls": big},
                                  hooks=Hooks(on_update=lambda u: seen.append(u))))
    sub = next(u for u in seen if u.state == "submitting")
    sent = len(emu.jobs[seen[-1].request_id].payload["image_urls"][0])
    assert sub.note == f"sending {sent / 1e6:.1f} MB" and sub.note in sub.text()
    seen.clear()
    run(make_runner(emu).generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))},
                                  hooks=Hooks(on_update=lambda u: seen.append(u))))
    assert next(u for u in seen if u.state == "submitting").note == ""      # small: nothing to say


def test_seed_changes_output(emu):
    r = make_runner(emu)
    a = run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    b = run(r.generate(SCHEMA, {**FIELDS, "seed": 12}, images={"image_urls": images((400, 400))}))
    assert not np.array_equal(a.images[0], b.images[0])


def test_urls_follow_images_in_order(emu):
    r = make_runner(emu)
    first = run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    gen = run(r.generate(SCHEMA, {**FIELDS, "seed": 5}, images={"image_urls": images((500, 500))},
                         image_urls={"image_urls": first.urls}))
    sent = emu.jobs[gen.request_ids[0]].payload["image_urls"]
    assert sent[0].startswith("data:image/png") and sent[1] == first.urls[0]


def test_local_validation_before_any_call(emu):
    r = make_runner(emu)
    with pytest.raises(ValidationError) as ei:
        run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400), (400, 400), (400, 400), (400, 400))}))
    assert "image_urls" in str(ei.value) and "3" in str(ei.value) and "4 images" in str(ei.value)
    with pytest.raises(ValidationError) as ei:
        run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((383, 600))}))
    assert "image_urls[1]" in str(ei.value) and "384" in str(ei.value) and "383" in str(ei.value)
    with pytest.raises(ValidationError, match="prompt"):
        run(r.generate(SCHEMA, {**FIELDS, "prompt": "p" * 2000}, images={"image_urls": images((400, 400))}))
    with pytest.raises(ValidationError, match="image_urls"):
        run(r.generate(SCHEMA, FIELDS))
    assert emu.calls == []


def test_multiple_images_out_of_mixed_sizes(emu):
    emu.extra_output_sizes = [(640, 640)]
    gen = run(make_runner(emu).generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    assert [a.shape for a in gen.images] == [(720, 1280, 3), (640, 640, 3)]
    assert len(gen.urls) == 2


def wait_until(fn, timeout=30.0):
    end = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.01)


def run_bounded(coro, limit=60.0):
    """asyncio.run in a thread, so a test that would hang fails after ``limit`` s instead."""
    box = {}

    def go():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc
    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f"still running after {limit:g} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_variations_run_in_parallel_with_consecutive_seeds(emu):
    # Both jobs stay in progress until both were submitted, which one after the other cannot be
    # (the releaser gives up after 20 s, and the second submit then comes after the first job).
    emu.hold_next_jobs(2)

    def release_when_both_submitted():
        try:
            wait_until(lambda: emu.submits_accepted >= 2, timeout=20)
        finally:
            emu.release()
    threading.Thread(target=release_when_both_submitted, daemon=True).start()
    gen = run(make_runner(emu).generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}, variations=2))
    jobs = [emu.jobs[r] for r in gen.request_ids]
    assert max(j.accepted_at for j in jobs) < min(j.finished_at for j in jobs)
    seeds = sorted(emu.jobs[r].payload["seed"] for r in gen.request_ids)
    assert seeds == [11, 12] and len(gen.images) == 2


def test_failed_job_surfaces_server_text(emu):
    emu.fail_next_jobs(1, message="Moderation: image 2 shows a real person")
    with pytest.raises(JobFailedError) as ei:
        run(make_runner(emu).generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    assert "Moderation: image 2 shows a real person" in str(ei.value)
    assert ei.value.request_id and ei.value.request_id in str(ei.value)


def test_timeout_names_request_and_a_rerun_resumes(emu, tmp_path):
    emu.set_processing_time(1.5)
    r = make_runner(emu, tmp_path, timeout=0.4)
    with pytest.raises(JobTimeoutError) as ei:
        run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    rid = ei.value.request_id
    assert rid in str(ei.value)
    r2 = make_runner(emu, tmp_path, timeout=10)
    gen = run(r2.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    assert gen.request_ids == [rid] and emu.submits_accepted == 1
    assert any("resumed" in n for n in gen.notes)
    # and once it has succeeded, the same inputs are served from the same paid request
    gen = run(make_runner(emu, tmp_path).generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    assert gen.request_ids == [rid] and emu.submits_accepted == 1


def test_resume_request_id_fetches_without_submitting(emu):
    r = make_runner(emu)
    first = run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    again = run(r.generate(SCHEMA, {**FIELDS, "seed": 99}, images={"image_urls": images((400, 400))},
                           resume_request_id=first.request_ids[0]))
    assert again.request_ids == first.request_ids and emu.submits_accepted == 1
    assert np.array_equal(again.images[0], first.images[0])


def test_expired_journal_entry_submits_afresh(emu, tmp_path):
    r = make_runner(emu, tmp_path)
    first = run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    emu.jobs[first.request_ids[0]].finished_at -= 2 * emu.result_ttl  # expired: 404001 from now on
    second = run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    assert second.request_ids != first.request_ids and emu.submits_accepted == 2


def test_unknown_submit_outcome_is_journaled(emu, tmp_path):
    emu.faults.add("submit", "drop_after", times=1)
    r = make_runner(emu, tmp_path)
    with pytest.raises(SubmitOutcomeUnknownError):
        run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    assert [e["state"] for e in r.journal.entries()] == ["submit_unknown"]


class Stopper:
    def __init__(self):
        self.flag = threading.Event()

    def __call__(self):
        return self.flag.is_set()


def test_stop_while_queued_cancels_remote_job():
    with Emulator(token=TOKEN, processing_time=0.05, workers=1) as emu:
        r = make_runner(emu, timeout=60)
        emu.hold_next_jobs(1)      # the blocker holds the only worker until the end: ours stays queued
        blocker = r.client.submit(MODEL, {"prompt": "x", "image_urls": ["data:image/png;base64," +
                                  __import__("base64").b64encode(_png(400, 400)).decode()]})
        stop = Stopper()
        seen = []

        def on_update(u):
            seen.append(u)
            if u.state == "queued":
                stop.flag.set()
        # Ignoring Stop while queued would wait for a job that cannot start: a timeout, not this.
        with pytest.raises(Interrupted) as ei:
            run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))},
                           hooks=Hooks(on_update=on_update, is_interrupted=stop)))
        assert emu.jobs[blocker.request_id].state == "in_progress"
        assert ei.value.cancel_outcome == "cancelled"
        assert emu.jobs[ei.value.request_id].state == "cancelled"
        assert "not billed" in str(ei.value)
        assert blocker.request_id != ei.value.request_id


def test_stop_while_running_reports_not_cancellable_and_keeps_result(tmp_path):
    with Emulator(token=TOKEN, processing_time=1.0, workers=1) as emu:
        r = make_runner(emu, tmp_path)
        stop = Stopper()

        def on_update(u):
            if u.state == "running":
                stop.flag.set()
        with pytest.raises(Interrupted) as ei:
            run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))},
                           hooks=Hooks(on_update=on_update, is_interrupted=stop)))
        assert ei.value.cancel_outcome == "not_cancellable" and "billed" in str(ei.value)
        gen = run(make_runner(emu, tmp_path).generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
        assert gen.request_ids == [ei.value.request_id] and emu.submits_accepted == 1


def _png(w, h):
    buf = io.BytesIO()
    Image.fromarray(sample_image(1, w, h)).save(buf, format="PNG")
    return buf.getvalue()


def test_fingerprint_is_stable_and_input_sensitive():
    a = fingerprint(MODEL, {"prompt": "x", "seed": 1})
    assert a == fingerprint(MODEL, {"seed": 1, "prompt": "x"})
    assert a != fingerprint(MODEL, {"prompt": "x", "seed": 2})
    assert len(a) == 64


def test_stop_during_retry_backoff_still_cancels():
    with Emulator(token=TOKEN, processing_time=0.05, workers=1) as emu:
        stop = Stopper()
        # Every status call fails and the next try waits 5 to 10 minutes: Stop must end that wait.
        client = RunComfyClient(TOKEN, emu.base_url, should_abort=stop,
                                retry=RetryPolicy(base_delay=600, max_delay=600, max_attempts=50, max_elapsed=7200))
        r = Runner(client)
        emu.hold_next_jobs(1)      # the blocker holds the only worker: ours stays queued, so cancellable
        blocker = client.submit(MODEL, {"prompt": "x", "image_urls": ["data:image/png;base64," +
                                __import__("base64").b64encode(_png(400, 400)).decode()]})
        emu.faults.add("status", "http", times=None, status=503)

        def stop_after_the_first_failed_status():
            wait_until(lambda: any(f[0] == "status" for f in emu.faults.injected))
            stop.flag.set()
        threading.Thread(target=stop_after_the_first_failed_status, daemon=True).start()
        with pytest.raises(Interrupted) as ei:
            run_bounded(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))},
                                   hooks=Hooks(is_interrupted=stop)))
        assert ei.value.cancel_outcome == "cancelled" and emu.count("cancel") == 1
        assert emu.count("status") == 1          # no retry was sent after Stop
        assert blocker.request_id != ei.value.request_id


def test_fit_inputs_on_request_resizes_with_a_note(emu):
    r = make_runner(emu)
    gen = run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((300, 400))}, fit_inputs=True))
    from runcomfy.media import images as media
    _, data = media.parse_data_uri(emu.jobs[gen.request_ids[0]].payload["image_urls"][0])
    assert media.probe(data)[:2] == (384, 512)
    assert any("300x400 -> 384x512" in n for n in gen.notes), gen.notes


def test_fit_inputs_jpeg_fallback_for_files_over_the_byte_limit(emu):
    noise = np.random.default_rng(0).integers(0, 256, (1900, 1900, 3), dtype=np.uint8)
    r = make_runner(emu)
    with pytest.raises(ValidationError, match="MB"):
        run(r.generate(SCHEMA, FIELDS, images={"image_urls": [noise]}))
    gen = run(r.generate(SCHEMA, FIELDS, images={"image_urls": [noise]}, fit_inputs=True))
    assert any("JPEG quality" in n for n in gen.notes), gen.notes
    assert emu.jobs[gen.request_ids[0]].payload["image_urls"][0].startswith("data:image/jpeg;base64,")


def test_fit_inputs_refuses_what_cannot_fit_without_distortion(emu):
    with pytest.raises(ValidationError, match="crop"):
        run(make_runner(emu).generate(SCHEMA, FIELDS, images={"image_urls": images((6000, 400))}, fit_inputs=True))
    assert emu.calls == []


def test_resumed_request_that_result_says_is_gone_is_submitted_afresh(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.1, workers=2, result_ttl=3.0)
    first = run(make_runner(emu, tmp_path).generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    time.sleep(3.2)        # RunComfy no longer keeps the request: /result answers 404001
    second = run(make_runner(emu, tmp_path).generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    assert second.request_ids != first.request_ids and emu.submits_accepted == 2
    states = {e["request_id"]: e["state"] for e in Journal(tmp_path / "journal.json").entries()}
    assert states[first.request_ids[0]] == "expired"


def test_resumed_request_survives_a_flaky_network_without_paying_again(emu, tmp_path):
    r = make_runner(emu, tmp_path)
    first = run(r.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    emu.faults.add("file", "drop_before", times=None)
    r2 = make_runner(emu, tmp_path)
    r2.client.retry.download_window = 0.5
    with pytest.raises(DownloadError, match="paid for"):
        run(r2.generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    emu.faults.clear()
    again = run(make_runner(emu, tmp_path).generate(SCHEMA, FIELDS, images={"image_urls": images((400, 400))}))
    assert again.request_ids == first.request_ids and emu.submits_accepted == 1


def test_fingerprint_sees_every_byte_of_inline_images():
    img = "data:image/png;base64," + "A" * 10000
    other = img[:-1] + "B"
    assert fingerprint(MODEL, {"image_urls": [img]}) != fingerprint(MODEL, {"image_urls": [other]})
    assert fingerprint(MODEL, {"image_urls": [img]}) == fingerprint(MODEL, {"image_urls": [img[:]]})


# --- the explicit request and context (issue 17) ---------------------------------------------

def test_a_generation_request_runs_with_its_context_and_keeps_the_raw_files(emu):
    from runcomfy.api.upload_progress import UplinkEstimate
    from runcomfy.run import GenerationRequest
    uplink = UplinkEstimate()
    r = make_runner(emu, uplink=uplink)
    big = images((1600, 1600), (1600, 1600))          # a body large enough to be measured
    gen = run(r.run(GenerationRequest(SCHEMA, FIELDS, media={"image_urls": big}, decode=False)))
    assert gen.outputs == {} and len(gen.outcomes) == 1
    raw = gen.outcomes[0].files[0]
    assert isinstance(raw, (bytes, bytearray)) and raw[:8] == b"\x89PNG\r\n\x1a\n"     # as the service sent it
    assert uplink.measured                              # the context's estimate learnt the submit


def test_a_known_price_dry_run_asks_nothing_and_names_the_model(emu):
    from runcomfy.run import GenerationRequest
    r = make_runner(emu)
    price = {"base_price_usd": 0.03, "price_unit": "per image"}
    gen = run(r.run(GenerationRequest(SCHEMA, FIELDS, media={"image_urls": images((400, 400))}, dry_run=True,
                                      variations=2, known_price=price)))
    # The batch's old override got the schema where the model id belongs.
    assert gen.dry_run["model_id"] == MODEL and gen.dry_run["requests"] == 2
    assert gen.dry_run["price"] == {**price, "source": "caller"}
    assert emu.count("submit") == 0 and emu.count("model") == 0


def test_run_job_takes_its_context_explicitly(emu):
    from runcomfy.run import RunContext, jobs
    from runcomfy.run.polling import PollPolicy
    client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
    updates = []
    ctx = RunContext(client=client, poll=PollPolicy(first=0.05, cap=0.1), timeout=30,
                     hooks=Hooks(on_update=updates.append))
    from runcomfy.media import images as media
    payload = {**FIELDS, "image_urls": [media.to_data_uri(media.encode_png(sample_image(1, 400, 400)), "image/png")]}
    out = run(jobs.run_job(ctx, MODEL, payload))
    assert out.request_id in emu.jobs and out.files
    assert [u.state for u in updates][0] == "submitting" and updates[-1].state == "done"
