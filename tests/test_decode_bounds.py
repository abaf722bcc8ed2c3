"""Result decoding bounded by what it becomes (issue 16, point 8; and the truncated-result part of
point 6): decoded pixels and audio samples count against one job's budget, all files and
variations together, before they are allocated; a process-wide byte budget bounds decodes in
flight across nodes; a limit hit names the limit and keeps the URLs; a truncated result is an
error. The two reproductions of the issue (29-min FLACs, 16 image results of 199 MB) run in a
child process whose peak memory is measured, over real sockets against the emulator."""

from __future__ import annotations

import asyncio
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest

from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.media.codecs import audio as audio_codec
from runcomfy.media.codecs import video as video_codec
from runcomfy.emulator import catalog
from runcomfy.errors import PaidResultError
from runcomfy.journal import SUCCEEDED, Journal
from runcomfy.media.kinds import budget, results
from runcomfy.media.kinds.audio import KIND as AUDIO
from runcomfy.media.kinds.image import KIND as IMAGE
from runcomfy.media.kinds.video import KIND as VIDEO
from runcomfy.run import Runner
from runcomfy.run.polling import PollPolicy
from runcomfy.schema import parse_schema

TOKEN = "tok-decode-bounds-3c1d"
T2I = "emulator-samples/image-gen/text-to-image"
T2A = "emulator-samples/audio-gen/text-to-audio"
T2V = "emulator-samples/video-gen/text-to-video"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GiB = 1 << 30


def silent_flac(seconds: float, rate: int = 48_000, channels: int = 2) -> bytes:
    """A FLAC of silence, written in 1 s frames (a 29-min one is ~300 KB)."""
    import av
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="flac") as out:
        st = out.add_stream("flac", rate=rate)
        st.layout = "stereo" if channels == 2 else "mono"
        zeros = np.zeros((channels, rate), np.int16)
        for i in range(int(seconds)):
            f = av.AudioFrame.from_ndarray(zeros.reshape(1, -1) if channels > 1 else zeros, format="s16",
                                           layout=st.layout.name)
            f.sample_rate, f.pts = rate, i * rate
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return buf.getvalue()


def png_with_tail(width: int, height: int, total_bytes: int) -> bytes:
    """A black RGB PNG of ``width`` x ``height`` followed by bytes up to ``total_bytes`` (data after
    IEND is allowed and never read: a file this big that decodes to little)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))
    raw = zlib.compress(b"\x00" * ((width * 3 + 1) * height), 9)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return png + b"\x00" * max(0, total_bytes - len(png))


def schema_of(model_id):
    return parse_schema(next(d for d in catalog.sample_entries() if d["model_id"] == model_id))


def runner(emu, journal=None, tmp=None):
    r = Runner(RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05)),
               journal=journal, poll=PollPolicy(first=0.05, cap=0.1), timeout=60)
    r.output_folder = str(tmp) if tmp is not None else None
    return r


def bounded(coro, limit=120):
    async def go():
        return await asyncio.wait_for(coro, limit)
    return asyncio.run(go())


@pytest.fixture
def emu(start_emulator):
    e = start_emulator(TOKEN, processing_time=0.05, workers=4)
    e.serve_catalog(catalog.sample_entries(), replace=False)
    return e


# --- audio: from the header, before allocation ------------------------------------------------------

def test_a_29_minute_flac_is_refused_from_its_header_naming_the_per_job_limit():
    flac = silent_flac(29 * 60)
    assert len(flac) < 1_000_000
    before = budget.PROCESS.in_use
    t0 = time.monotonic()
    with budget.job_decoding(), pytest.raises(budget.DecodeLimitError) as ei:
        AUDIO.decode_output(flac)
    assert time.monotonic() - t0 < 5        # refused from the header: nothing was decoded
    e = ei.value
    assert e.limit == "per-job audio samples" and e.value == 29 * 60 * 48_000 * 2
    assert e.maximum == budget.MAX_JOB_AUDIO_SAMPLES
    assert "167,040,000" in str(e) and "64,000,000" in str(e)
    assert budget.PROCESS.in_use == before


def test_audio_results_of_one_job_share_one_budget():
    clip = audio_codec.tone(440, 3.0, 8000, 2)                  # 48,000 samples each
    data = audio_codec.encode_compressed(clip, "flac")
    with budget.job_decoding(budget.JobBudget(max_audio_samples=100_000)) as job:
        assert AUDIO.decode_output(data).frames == 24_000
        assert AUDIO.decode_output(data).frames == 24_000
        assert job.audio_samples == 96_000
        with pytest.raises(budget.DecodeLimitError, match="per-job audio samples") as ei:
            AUDIO.decode_output(data)
        assert ei.value.value == 144_000 and job.audio_samples == 96_000
    # outside a job each decode has a budget of its own
    assert AUDIO.decode_output(data).frames == 24_000


def test_decoding_is_allocated_once_and_stops_at_the_limit_when_the_header_says_nothing():
    """A WAV 'until the end' has no stated length: the decode grows in reserved steps and stops
    at the limit instead of decoding the rest."""
    data = bytearray(audio_codec.encode_wav(audio_codec.tone(440, 6.0, 8000, 1)))
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    asked = []
    clip = audio_codec.decode(bytes(data), reserve=asked.append)
    assert clip.frames == 48_000 and sum(asked) >= 48_000 and clip.samples.flags.c_contiguous

    def refuse_after(n):
        def reserve(k):
            if sum(asked2) + k > n:
                raise budget.DecodeLimitError("test", sum(asked2) + k, n, "samples")
            asked2.append(k)
        return reserve
    asked2: list[int] = []
    with pytest.raises(budget.DecodeLimitError):
        audio_codec.decode(bytes(data), reserve=refuse_after(20_000))
    assert sum(asked2) <= 20_000


def test_a_flac_cut_short_is_a_truncation_error_not_a_shorter_result():
    data = audio_codec.encode_compressed(audio_codec.tone(440, 4.0, 16000, 1), "flac")
    with pytest.raises(budget.TruncatedMediaError, match=r"header states 4\.00 s"):
        AUDIO.decode_output(data[: len(data) // 2])
    assert AUDIO.decode_output(data).frames == 64_000


# --- images: pixels of every file and variation -----------------------------------------------------

def test_image_pixels_of_one_job_share_one_budget_and_large_files_are_decoded_from_disk(tmp_path, monkeypatch):
    png = png_with_tail(300, 200, 0)
    with budget.job_decoding(budget.JobBudget(max_pixels=150_000)) as job:
        assert IMAGE.decode_output(png).shape == (200, 300, 3)
        assert IMAGE.decode_output(png).shape == (200, 300, 3)
        with pytest.raises(budget.DecodeLimitError, match="per-job result pixels") as ei:
            IMAGE.decode_output(png)
        assert ei.value.value == 180_000 and job.pixels == 120_000
    monkeypatch.setattr(results, "default_folder", lambda: str(tmp_path))
    os.makedirs(results.spill_folder())
    path = os.path.join(results.spill_folder(), "r_1.png")
    with open(path, "wb") as fh:
        fh.write(png_with_tail(64, 32, 5_000_000))
    assert IMAGE.decode_output(path).shape == (32, 64, 3)
    assert not os.path.exists(path)            # a spilled result is removed once decoded


def test_variations_share_the_pixel_budget_and_the_urls_are_kept(emu, tmp_path, monkeypatch):
    # 3 variations x 2 results of 512x512 (262,144 px each): the 5th image passes a 1.2 Mpx budget.
    monkeypatch.setattr(budget, "MAX_JOB_PIXELS", 1_200_000)
    emu.outputs_per_job = 2
    journal = Journal(tmp_path / "j.json")
    with pytest.raises(PaidResultError) as ei:
        bounded(runner(emu, journal).generate(schema_of(T2I), {"prompt": "p", "aspect_ratio": "1:1", "seed": 1},
                                              variations=3))
    err = ei.value
    assert isinstance(err.cause, budget.DecodeLimitError) and err.cause.limit == "per-job result pixels"
    assert "1,310,720" in str(err) and "1,200,000" in str(err) and err.urls and all(u in str(err) for u in err.urls)
    entry = journal.find_request(err.request_id)
    assert entry["state"] == SUCCEEDED and entry["urls"] == err.urls


# --- the process-wide budget ------------------------------------------------------------------------

def test_the_process_budget_makes_concurrent_decodes_wait_and_refuses_one_that_never_fits():
    pb = budget.ProcessBudget(100)
    with pytest.raises(budget.DecodeLimitError, match="process-wide decode"):
        pb.acquire(101)
    order = []
    pb.acquire(70)

    def second():
        pb.acquire(60)
        order.append("second got it")
        pb.release(60)
    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.3)
    order.append("first releases")
    pb.release(70)
    t.join(10)
    assert order == ["first releases", "second got it"] and pb.in_use == 0 and pb.peak == 70
    pb.acquire(90)
    with pytest.raises(budget.DecodeLimitError, match="other nodes are decoding"):
        pb.acquire(20, wait_s=0.2)


def test_concurrent_nodes_decoding_audio_stay_within_the_process_budget(monkeypatch):
    data = audio_codec.encode_compressed(audio_codec.tone(300, 2.0, 16000, 2), "flac")     # 64,000 samples
    pb = budget.ProcessBudget(64_000 * 4 + 64_000 * 2)     # room for one and a half decodes
    monkeypatch.setattr(budget, "PROCESS", pb)

    async def node():
        with budget.job_decoding():
            return await asyncio.to_thread(AUDIO.decode_output, data)

    async def four():
        return await asyncio.gather(*(node() for _ in range(4)))
    clips = bounded(four(), 60)
    assert [c.frames for c in clips] == [32_000] * 4
    assert pb.peak <= pb.capacity and pb.in_use == 0


# --- point 6: a truncated MP4 whose index is intact -------------------------------------------------

def test_a_truncated_mp4_with_an_intact_index_is_an_error_and_the_paid_job_is_kept(emu, tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (48, 96, 128, 3)).astype(np.uint8)
    whole = video_codec.encode_frames(frames, 24)
    cut = whole[: len(whole) * 2 // 3]
    assert video_codec.probe(cut).frames == 48            # the index still lists every frame
    with pytest.raises(budget.TruncatedMediaError, match="truncated"):
        VIDEO.decode_output(cut, {"dir": str(tmp_path)})
    assert VIDEO.decode_output(whole, {"dir": str(tmp_path)}).info.frames == 48

    emu.faults.add("file", "bad_file", times=None, data=cut)
    journal = Journal(tmp_path / "j.json")
    with pytest.raises(PaidResultError) as ei:
        bounded(runner(emu, journal, tmp_path).generate(schema_of(T2V), {"prompt": "p", "duration": "5"}))
    err = ei.value
    assert isinstance(err.cause, budget.TruncatedMediaError)
    assert err.request_id in str(err) and "paid" in str(err) and err.urls[0] in str(err)
    assert journal.find_request(err.request_id)["state"] == SUCCEEDED


# --- the reproductions, peak memory measured in a child process -----------------------------

CHILD = r"""
import asyncio, json, os, resource, sys
sys.path.insert(0, sys.argv[2])
from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.emulator import catalog
from runcomfy.run import Runner
from runcomfy.run.polling import PollPolicy
from runcomfy.schema import parse_schema
import runcomfy.media.kinds, runcomfy.media.images, av, PIL.Image    # loaded before the baseline
a = json.loads(sys.argv[1])
schema = parse_schema(next(d for d in catalog.sample_entries() if d["model_id"] == a["model"]))
r = Runner(RunComfyClient(a["token"], a["base"], retry=RetryPolicy(base_delay=0.01, max_delay=0.05)),
           poll=PollPolicy(first=0.05, cap=0.1), timeout=300)
r.output_folder = a["dir"]

def rss_now():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
start = rss_now()
try:
    g = asyncio.run(r.generate(schema, a["fields"], variations=a.get("variations", 1)))
    out = {"ok": True, "outputs": {k: len(v) for k, v in g.outputs.items()}}
except Exception as e:
    c = getattr(e, "cause", None)
    out = {"ok": False, "type": type(e).__name__, "cause": type(c).__name__, "limit": getattr(c, "limit", None),
           "message": str(e), "urls": len(getattr(e, "urls", []) or [])}
# ru_maxrss is the whole life's peak: if an earlier one was higher this overstates, never understates.
out["extra_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - start) / 2**20
print(json.dumps(out))
"""


def run_child(emu, tmp_path, model, fields, root=ROOT, timeout=600):
    args = json.dumps({"token": TOKEN, "base": emu.base_url, "model": model, "fields": fields,
                       "dir": str(tmp_path / "media")})
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", CHILD, args, root], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_four_29_minute_flac_results_stay_under_1_5_gb_with_a_clear_error(emu, tmp_path):
    emu.outputs_per_job = 4
    emu.faults.add("file", "bad_file", times=None, data=silent_flac(29 * 60))
    out = run_child(emu, tmp_path, T2A, {"prompt": "quiet", "duration": 1})
    print("4 x 29-min FLAC:", out)
    assert not out["ok"] and out["type"] == "PaidResultError" and out["cause"] == "DecodeLimitError"
    assert out["limit"] == "per-job audio samples" and out["urls"] == 4
    assert "paid" in out["message"] and "64,000,000" in out["message"]
    assert out["extra_mb"] < 1.5 * 1024


def test_sixteen_199_mb_image_results_stay_under_1_5_gb_with_a_clear_error(emu, tmp_path):
    # Each file: an 8 Mpx PNG padded to 199 MB. 16 of them pass the 100 Mpx per-job budget.
    emu.outputs_per_job = 16
    emu.faults.add("file", "bad_file", times=None, data=png_with_tail(4000, 2000, 199_000_000))
    out = run_child(emu, tmp_path, T2I, {"prompt": "big", "aspect_ratio": "1:1", "seed": 1})
    print("16 x 199 MB images:", out)
    assert not out["ok"] and out["type"] == "PaidResultError" and out["cause"] == "DecodeLimitError"
    assert out["limit"] == "per-job result pixels" and out["urls"] == 16
    assert out["extra_mb"] < 1.5 * 1024


def test_spilled_images_whose_decode_never_came_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "default_folder", lambda: str(tmp_path))
    # Pruning runs at most once a minute per process: an earlier test's spill must not count.
    monkeypatch.setattr(results, "_PRUNED_AT", [0.0])
    folder = results.spill_folder()
    os.makedirs(folder)
    old, new = os.path.join(folder, "old_1.png"), os.path.join(folder, "new_1.png")
    for p in (old, new):
        with open(p, "wb") as fh:
            fh.write(b"x")
    os.utime(old, (time.time() - results.SPILL_KEEP_S - 10,) * 2)
    results._prune_spill(folder)
    assert sorted(os.listdir(folder)) == ["new_1.png"]
