"""The one download sink (runcomfy/api/downloads.FileSink) in both of its uses: a temp file renamed
onto its target (the node's downloads), and a batch's file written at the path it names, hashed
as it streams. A retry starts the file, its size, SHA-256 and first bytes over: a digest kept
across a broken attempt would not match the file, and the batch would refetch a result it has."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from runcomfy.api import RunComfyClient, downloads
from runcomfy.batch.outputs import Streamed, fetch_into
from runcomfy.errors import DownloadError
from tests.test_client import TOKEN, fast_retry, wait_terminal

GOOD = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 9
BROKEN = b"GIF89a" + b"x" * 5000          # a first attempt that broke off, other bytes


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("hashed", [True, False])
def test_a_reset_starts_file_size_digest_and_head_over(tmp_path, hashed):
    part = os.path.join(str(tmp_path), "k+1.part")
    sink = downloads.FileSink(part=part, durable=False, hashed=hashed)
    sink.reset()
    sink.write(BROKEN[:7])
    sink.write(BROKEN[7:])
    sink.reset()
    for i in range(0, len(GOOD), 1000):
        sink.write(GOOD[i:i + 1000])
    assert sink.close() == len(GOOD)
    with open(part, "rb") as fh:
        assert fh.read() == GOOD
    assert _mode(part) == 0o644 and sink.part == part and isinstance(sink.part, str)
    if hashed:
        assert sink.hash.hexdigest() == hashlib.sha256(GOOD).hexdigest()
        assert sink.head == GOOD[:16]
    else:
        assert sink.hash is None and sink.head == b""
    assert os.listdir(tmp_path) == ["k+1.part"]    # written where named: no temp file, no rename


def test_a_head_shorter_than_16_bytes_is_filled_across_chunks(tmp_path):
    sink = downloads.FileSink(part=str(tmp_path / "k.part"), durable=False, hashed=True)
    for b in GOOD[:20]:
        sink.write(bytes([b]))
    sink.close()
    assert sink.head == GOOD[:16] and sink.size == 20


def test_discard_removes_the_file_written_at_its_path(tmp_path):
    part = str(tmp_path / "k.part")
    sink = downloads.FileSink(part=part, durable=False, hashed=True)
    sink.write(GOOD)
    sink.discard()
    assert not os.path.exists(part)


@pytest.mark.parametrize("durable", [True, False])
def test_commit_renames_the_temp_file_onto_its_target(tmp_path, durable):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    sink = downloads.FileSink(target, durable)
    sink.reset()
    sink.write(BROKEN)
    sink.reset()
    sink.write(GOOD)
    assert target.read_bytes() == b"old"       # the target changes only when complete
    assert sink.commit() == len(GOOD)
    assert target.read_bytes() == GOOD and os.listdir(tmp_path) == ["out.png"]
    sink.discard()                             # as download_to_file's finally does: nothing left to do
    assert target.read_bytes() == GOOD


def test_a_node_result_gets_the_mode_of_the_users_other_files(tmp_path):
    """Not mkstemp's 0o600: a video in ComfyUI's output folder is readable like its images are
    (0o666 less the umask; here the umask is set to 022 and 027 in turn)."""
    for umask, want in ((0o022, 0o644), (0o027, 0o640)):
        old = os.umask(umask)
        try:
            target = tmp_path / f"out-{umask:o}.mp4"
            sink = downloads.FileSink(target, False)
            sink.write(GOOD)
            sink.commit()
        finally:
            os.umask(old)
        assert stat.S_IMODE(os.stat(target).st_mode) == want


# --- over real sockets, against the emulator ------------------------------------------------
# A WAV result (10 s: ~1.7 MB) is several of fetch's 256 KiB reads, so an attempt the emulator
# cuts off after half the bytes has written (and hashed) some before it breaks.

AUDIO = "emulator-samples/audio-gen/text-to-audio"


@pytest.fixture
def emu(start_emulator):
    from runcomfy.emulator.catalog import SAMPLE_CATALOG
    emu = start_emulator(TOKEN, processing_time=0.0, workers=2)
    emu.add_model(next(m for m in json.loads(SAMPLE_CATALOG.read_text(encoding="utf-8"))["models"]
                       if m.get("model_id") == AUDIO))
    return emu


@pytest.fixture
def client(emu):
    c = RunComfyClient(TOKEN, emu.base_url, retry=fast_retry(), read_timeout=5)
    yield c
    c.close()


def _result(emu, client):
    rid = client.submit(AUDIO, {"prompt": "a bell", "duration": 10}).request_id
    wait_terminal(client, rid)
    url = client.result(rid).output_urls[0]
    assert len(emu.file_bytes(rid, 0)) > 4 * 256 * 1024
    return rid, url


def _attempts(emu) -> int:
    return sum(1 for c in emu.calls if c.endpoint == "file")


def test_truncated_attempts_leave_no_trace_in_the_digest_of_a_batch_result(emu, client, tmp_path):
    rid, url = _result(emu, client)
    served = emu.file_bytes(rid, 0)
    emu.faults.add("file", "truncated", times=2)   # two attempts break off after half the bytes
    got = fetch_into(str(tmp_path), "job-1")(client, url, request_id=rid, n=0)
    assert _attempts(emu) == 3
    assert isinstance(got, Streamed) and got.path == os.path.join(str(tmp_path), "job-1+1.part")
    with open(got.path, "rb") as fh:
        assert fh.read() == served
    assert got.size == len(served) and got.sha256 == hashlib.sha256(served).hexdigest()
    assert got.head == served[:16] and _mode(got.path) == 0o644
    assert os.listdir(tmp_path) == ["job-1+1.part"]


def test_a_batch_result_that_fails_leaves_no_part_file(emu, client, tmp_path):
    rid, url = _result(emu, client)
    emu.faults.add("file", "truncated", times=1)          # some bytes written, then
    emu.faults.add("file", "http", times=1, status=403)   # an answer not worth a retry
    with pytest.raises(DownloadError, match="HTTP 403"):
        fetch_into(str(tmp_path), "job-1")(client, url, request_id=rid, n=0)
    assert _attempts(emu) == 2 and os.listdir(tmp_path) == []


def test_a_node_download_after_a_truncated_attempt_is_the_served_file(emu, client, tmp_path):
    rid, url = _result(emu, client)
    emu.faults.add("file", "truncated", times=1)
    target = tmp_path / "sub" / "out.wav"
    assert client.download_to_file(url, target) == len(emu.file_bytes(rid, 0))
    assert _attempts(emu) == 2
    assert target.read_bytes() == emu.file_bytes(rid, 0) and os.listdir(target.parent) == ["out.wav"]
