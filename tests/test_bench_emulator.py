"""The benchmark's emulator in a child process (devtools/bench/emulator_child.py), driven through the
real client: what it reports about jobs must match what the client saw, and its controls must
change what the emulator does."""

from __future__ import annotations

import base64
import io
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import requests
from PIL import Image

from conftest import ROOT
from devtools.bench.emulator_child import ChildEmulator, ChildEmulatorError
from runcomfy.api import SUCCEEDED, TERMINAL, RunComfyClient

TOKEN = "tok-bench-emulator-test"
WAN = "wan-ai/wan-2-6/image-to-image"
_PNG = None


def _payload(seed: int) -> dict:
    global _PNG
    if _PNG is None:
        buf = io.BytesIO()
        Image.new("RGB", (400, 400), (30, 120, 200)).save(buf, "PNG")
        _PNG = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"prompt": "a cat", "image_urls": [_PNG], "seed": seed}


def _wait_done(client: RunComfyClient, rid: str, timeout: float = 10.0) -> int:
    """Polls /status until the job is done; returns how many /status calls that took."""
    calls = 0
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        calls += 1
        state = client.status(rid).state
        if state in TERMINAL:
            assert state == SUCCEEDED, state
            return calls
        time.sleep(0.02)
    raise AssertionError(f"job {rid} not done within {timeout} s")


def _output_bytes(client: RunComfyClient, rid: str) -> bytes:
    res = client.result(rid)
    assert res.state == SUCCEEDED and len(res.output_urls) == 1
    return client.download(res.output_urls[0])


@pytest.fixture(scope="module")
def child():
    with pytest.MonkeyPatch.context() as mp:       # the environment's settings stay out (see conftest)
        for name in ("RUNCOMFY_API_TOKEN", "RUNCOMFY_MODEL_API_BASE", "RUNCOMFY_DOWNLOAD_HOSTS"):
            mp.delenv(name, raising=False)
        emu = ChildEmulator(token=TOKEN, processing_time=0.1, workers=4)
        try:
            yield emu
            assert emu.internal_errors() == []
        finally:
            emu.close()


@pytest.fixture
def client(child):
    c = RunComfyClient(TOKEN, child.base_url)
    yield c
    c.close()


def test_job_timestamps_are_comparable_with_ours(child, client):
    t0 = time.monotonic()
    rid = client.submit(WAN, _payload(1)).request_id
    _wait_done(client, rid)
    t1 = time.monotonic()
    job = child.job(rid)
    assert t0 <= job["accepted_at"] <= job["started_at"] <= job["finished_at"] <= t1
    assert job["finished_at"] - job["started_at"] >= 0.1 - 1e-3
    assert job["state"] == "completed"


def test_status_calls_per_job(child, client):
    a = client.submit(WAN, _payload(2)).request_id
    b = client.submit(WAN, _payload(3)).request_id
    for _ in range(3):                      # interleaved: each job's calls are its own
        client.status(a)
        client.status(b)
        client.status(b)
    assert child.job(a)["status_calls"] == 3
    assert child.job(b)["status_calls"] == 6
    extra = _wait_done(client, b)           # counted after an earlier query: nothing lost or doubled
    assert child.job(b)["status_calls"] == 6 + extra
    assert child.job(a)["status_calls"] == 3
    _wait_done(client, a)


def test_set_lengths_and_queued_times(child, client):
    child.set_lengths({101: 0.6, 102: 0.25})
    child.queue_processing_times([0.4])     # for the next job without a length of its own
    rids = {seed: client.submit(WAN, _payload(seed)).request_id for seed in (101, 102, 103, 104)}
    for rid in rids.values():
        _wait_done(client, rid)
    jobs = {seed: child.job(rid) for seed, rid in rids.items()}
    expected = {101: 0.6, 102: 0.25, 103: 0.4, 104: 0.1}      # 104: the default
    assert {seed: j["processing_time"] for seed, j in jobs.items()} == expected
    for seed, j in jobs.items():    # each job lasted at least its length (a slow machine only adds)
        assert j["finished_at"] - j["started_at"] >= expected[seed] - 1e-3
    child.set_lengths({})


def test_errors_in_the_child_raise_here(child, client):
    with pytest.raises(ChildEmulatorError, match="KeyError"):
        child.job("nonexistent")
    assert child.cpu_seconds() > 0          # still in step after an error
    with pytest.raises(ChildEmulatorError, match="not-a-command|AttributeError"):
        child._call("not-a-command")
    assert isinstance(child.internal_errors(), list)


def test_bad_emulator_arguments_raise_at_start():
    with pytest.raises(ChildEmulatorError, match="loopback"):
        ChildEmulator(token=TOKEN, host="192.0.2.1")


def test_safe_from_several_threads(child, client):
    rid = client.submit(WAN, _payload(5)).request_id
    _wait_done(client, rid)
    wrong: list = []

    def hammer(i: int) -> None:
        try:
            for _ in range(40):       # answers taken by the wrong thread would show as the wrong type
                if i % 2:
                    r = child.job(rid)
                    if not (isinstance(r, dict) and r["finished_at"] is not None):
                        wrong.append(r)
                else:
                    r = child.cpu_seconds()
                    if not isinstance(r, float):
                        wrong.append(r)
        except Exception as exc:
            wrong.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not wrong and not any(t.is_alive() for t in threads)


def test_cpu_seconds_grow_with_work(child, client):
    c0 = child.cpu_seconds()
    rid = client.submit(WAN, _payload(6)).request_id
    _wait_done(client, rid)
    assert child.cpu_seconds() > c0


def test_reuse_output_then_close(isolated_env):
    with ChildEmulator(token=TOKEN, processing_time=0.05, workers=2) as emu:
        client = RunComfyClient(TOKEN, emu.base_url)
        try:
            first = client.submit(WAN, _payload(11)).request_id
            other = client.submit(WAN, _payload(12)).request_id
            _wait_done(client, first)
            _wait_done(client, other)
            a = _output_bytes(client, first)
            assert _output_bytes(client, other) != a       # rendered per job so far
            assert emu.reuse_output(first) is True
            later = client.submit(WAN, _payload(13)).request_id
            _wait_done(client, later)
            assert _output_bytes(client, later) == a
            assert emu.internal_errors() == []
        finally:
            client.close()
        proc, base = emu.process, emu.base_url
    assert not proc.is_alive() and proc.exitcode == 0      # stopped politely, not terminated
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/models", timeout=2)
    with pytest.raises(RuntimeError, match="closed"):
        emu.cpu_seconds()
    emu.close()                                            # twice is fine


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:                                                   # a zombie has exited too
        with open(f"/proc/{pid}/status") as f:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except OSError:
        return True


def test_child_ends_when_its_parent_dies(isolated_env):
    code = textwrap.dedent("""
        import os, sys
        from devtools.bench.emulator_child import ChildEmulator
        emu = ChildEmulator(token="t", processing_time=0.1)
        print(emu.process.pid, flush=True)
        os._exit(0)        # no atexit, no close(): only the pipe's EOF tells the child
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=90)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[0])
    end = time.monotonic() + 15
    while not _gone(pid) and time.monotonic() < end:
        time.sleep(0.05)
    assert _gone(pid)


def test_start_times_out_with_a_clear_error(isolated_env):
    before = set(multiprocessing.active_children())
    with pytest.raises(TimeoutError, match="did not start within"):
        ChildEmulator(start_timeout=0.001, token=TOKEN)     # a spawned interpreter takes far longer
    assert set(multiprocessing.active_children()) <= before   # and the child was ended, not left running
