"""Upload progress (runcomfy/upload_progress.py): the submit body is streamed with its length, the
listener sees bytes sent of total and a rate, and the uplink estimate learns from it. Over real
sockets against a link-shaped emulator, so the send takes long enough to have a middle."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
import requests

from devtools import photomodel
from runcomfy.api import upload_progress
from runcomfy.media import images as media
from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.emulator import Emulator
from runcomfy.api.jsonbody import dumps_bytes
from runcomfy.api.upload_progress import ProgressBody, UplinkEstimate, UploadProgress, stream_body

TOKEN = "tok-progress-test"
MODEL = "wan-ai/wan-2-6/image-to-image"


def _payload(side: int = 700, n: int = 1) -> dict:
    uris = [media.to_data_uri(media.encode_png(photomodel.photo(11 + i, side)), "image/png") for i in range(n)]
    return {"prompt": "p", "image_urls": uris, "image_size": "1024*1024 (1:1)"}


def test_progress_text_and_rate():
    p = UploadProgress(sent=3_100_000, total=7_200_000, elapsed=1.25)
    assert p.text() == "sending 3.1 of 7.2 MB, 2.5 MB/s"
    assert p.fraction == pytest.approx(3.1 / 7.2)
    assert UploadProgress(0, 7_200_000, 0.0).text() == "sending 0.0 of 7.2 MB"


def test_small_bodies_are_sent_as_plain_bytes():
    assert stream_body(b"{}") == b"{}"
    big = b"x" * upload_progress.STREAM_MIN_BYTES
    assert isinstance(stream_body(big), ProgressBody) and len(stream_body(big)) == len(big)


def test_body_slices_share_the_buffer_no_copy():
    data = bytes(range(256)) * 4096
    body = ProgressBody(data, None, uplink=UplinkEstimate())
    parts = list(body)
    assert all(isinstance(p, memoryview) and p.obj is body._view.obj for p in parts)
    assert b"".join(parts) == data and body.sent == len(data)


def test_streamed_submit_over_a_shaped_link_reports_progress(monkeypatch):
    payload = _payload(800, 3)                   # ~4.5 MB: well over what socket buffers absorb at once
    body_bytes = dumps_bytes(payload)
    events: list[UploadProgress] = []
    est = UplinkEstimate()
    monkeypatch.setattr(upload_progress, "UPLINK", est)
    monkeypatch.setattr(upload_progress, "EVENT_INTERVAL", 0.05)
    with Emulator(token=TOKEN, uplink_mbps=16, processing_time=0.05) as emu:
        s = requests.Session()
        s.trust_env = False
        r = upload_progress.request(s, "POST", f"{emu.base_url}/models/{MODEL}", data=body_bytes, timeout=60,
                                    listener=events.append, uplink=est,
                                    headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        job = emu.jobs[r.json()["request_id"]]
    # The emulator got the very payload (Content-Length framing, not chunked), image bytes intact.
    assert r.request.headers["Content-Length"] == str(len(body_bytes))
    assert "Transfer-Encoding" not in r.request.headers
    assert job.payload["prompt"] == "p"
    assert job.inputs[0] == base64.b64decode(payload["image_urls"][0].split(",", 1)[1])
    # Events: first at 0, growing, several in the middle, the last one done once the server answered.
    assert events[0].sent == 0 and not events[0].done
    assert events[-1].done and events[-1].sent == events[-1].total == len(body_bytes)
    assert [e.done for e in events].count(True) == 1
    sents = [e.sent for e in events]
    assert sents == sorted(sents)
    middle = [e for e in events if 0 < e.sent < e.total]
    assert len(middle) >= 3
    assert all(e.rate and e.rate > 0 for e in middle)
    assert "of %.1f MB" % (len(body_bytes) / 1e6) in middle[0].text()
    # The uplink estimate learnt the link's rate (16 Mbit/s = 2 MB/s): not the kernel buffer's.
    assert est.measured
    assert 2e6 * 0.5 < est.bytes_per_s() < 2e6 * 1.15


def test_a_listener_that_raises_does_not_break_the_send():
    def bad(_p):
        raise RuntimeError("display broke")
    with Emulator(token=TOKEN, processing_time=0.05) as emu:
        s = requests.Session()
        s.trust_env = False
        r = upload_progress.request(s, "POST", f"{emu.base_url}/models/{MODEL}", data=dumps_bytes(_payload(500)),
                                    timeout=60, listener=bad, headers={"Authorization": f"Bearer {TOKEN}",
                                                                       "Content-Type": "application/json"})
        assert r.status_code == 200


def test_client_submit_reports_to_the_listener_it_is_given(monkeypatch):
    est = UplinkEstimate()
    default = UplinkEstimate()
    monkeypatch.setattr(upload_progress, "UPLINK", default)
    events: list[UploadProgress] = []
    with Emulator(token=TOKEN, uplink_mbps=24, processing_time=0.05) as emu:
        client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
        try:
            async def main():
                return await asyncio.to_thread(client.submit, MODEL, _payload(800, 3), progress=events.append,
                                               uplink=est)
            sub = asyncio.run(main())
            assert sub.request_id in emu.jobs
            assert not default.measured                  # the named estimate learnt it, not the default
            before = len(events)
            client.submit(MODEL, _payload(600))          # no listener given: nobody hears it
            assert len(events) == before
        finally:
            client.close()
    assert events and events[-1].done and events[-1].sent == events[-1].total
    assert any(0 < e.sent < e.total for e in events)
    assert est.measured        # every large submit feeds the uplink estimate


def test_pipeline_updates_show_the_upload(monkeypatch):
    from runcomfy.run import Hooks, Runner
    from runcomfy.schema import find_schema
    monkeypatch.setattr(upload_progress, "UPLINK", UplinkEstimate())
    updates = []
    arrays = [photomodel.photo(70 + i, 800) for i in range(3)]
    with Emulator(token=TOKEN, uplink_mbps=24, processing_time=0.05) as emu:
        client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
        try:
            gen = asyncio.run(Runner(client).generate(
                find_schema(MODEL), {"prompt": "p", "image_size": "1024*1024 (1:1)"},
                media={"image_urls": arrays}, hooks=Hooks(on_update=updates.append)))
        finally:
            client.close()
    assert len(gen.images) == 1
    sending = [u for u in updates if u.state == "submitting" and u.progress is not None]
    assert len(sending) >= 3
    fracs = [u.progress for u in sending]
    assert fracs == sorted(fracs) and fracs[0] < 0.5 and fracs[-1] == 1.0
    assert any("MB/s" in u.note for u in sending)
    assert "sending" in sending[1].text()          # the node's status line carries it
