"""Several RunComfy nodes in one graph run at the same time when driven the way ComfyUI
(0.3.45+) drives async nodes: each node function is a task on one event loop."""

from __future__ import annotations

import asyncio
import time

import pytest
import torch


TOKEN = "tok-concurrency-test-xyz"
KEY = "RunComfy_wan_ai_wan_2_6_image_to_image"


@pytest.fixture
def emu(start_emulator):
    return start_emulator(TOKEN, as_env=True, processing_time=1.0, workers=4)


def node_kwargs(seed, size=400):
    return {"prompt": f"p{seed}", "image_1": torch.rand((1, size, size, 3)), "negative_prompt": "",
            "image_size": "1024*1024 (1:1)", "seed": seed, "prompt_extend": False, "unique_id": str(seed)}


async def drive_like_comfyui(cls, kwargs_list):
    """execution.py: create_task per async node, then await the pending ones."""
    tasks = [asyncio.create_task(getattr(cls(), cls.FUNCTION)(**kw)) for kw in kwargs_list]
    return await asyncio.gather(*tasks)


def test_two_nodes_overlap_in_time(pack, emu):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    outs = asyncio.run(drive_like_comfyui(cls, [node_kwargs(1), node_kwargs(2)]))
    a, b = (emu.jobs[o[2]] for o in outs)
    # both remote jobs were running at the same moment
    assert max(a.started_at, b.started_at) < min(a.finished_at, b.finished_at)
    assert {emu.jobs[o[2]].payload["seed"] for o in outs} == {1, 2}


@pytest.fixture
def emulator_process(isolated_env, monkeypatch):
    """The emulator in its own process: its parsing of large bodies must not hold this process's
    GIL, or the test would measure the emulator instead of the node."""
    import socket
    import subprocess
    import sys

    import requests

    from conftest import ROOT
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "runcomfy", "emulator", "--port", str(port), "--token", TOKEN,
                             "--processing-time", "1", "--workers", "4", "--duration", "120"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(base + "/models", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("emulator process did not start")
            time.sleep(0.1)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", base)
    yield base
    proc.kill()
    proc.wait(timeout=10)


def test_event_loop_is_never_blocked(pack, emulator_process):
    """Encoding, HTTP and decoding run in threads: a ticker on the same loop keeps ticking."""
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    gaps = []

    async def main():
        stop = asyncio.Event()

        async def ticker():
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
        t = asyncio.create_task(ticker())
        # large inputs make any encode on the loop obvious (a 1600px noise PNG takes well over 0.1 s)
        await drive_like_comfyui(cls, [node_kwargs(3, 1600), node_kwargs(4, 1600)])
        stop.set()
        await t
    asyncio.run(main())
    print(f"max event-loop gap {max(gaps):.3f}s")
    assert len(gaps) > 20
    assert max(gaps) < 0.25, f"event loop stalled for {max(gaps):.3f}s"
