"""Several RunComfy nodes in one graph run at the same time when driven the way ComfyUI
(0.3.45+) drives async nodes: each node function is a task on one event loop."""

from __future__ import annotations

import asyncio
import importlib
import threading
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


class LoopWatch:
    """A heartbeat on the event loop, and blocking steps wrapped so that each waits (bounded)
    until the loop has beaten a few times while the step is in progress. That can only happen
    when the step runs on another thread: on the loop's own thread the count cannot move, so a
    blocking step there shows as zero beats, however fast or slow the machine is."""

    BEATS = 3

    def __init__(self):
        self.beats = 0
        self.loop_thread = None
        self.steps = []             # (name, ran on the loop's thread, beats seen while it ran)

    async def heartbeat(self, stop: asyncio.Event):
        while not stop.is_set():
            self.beats += 1
            await asyncio.sleep(0.002)

    def wrap(self, name, fn):
        def step(*args, **kwargs):
            on_loop = threading.get_ident() == self.loop_thread
            start = self.beats
            end = time.monotonic() + 30     # safety net only
            while not on_loop and self.beats - start < self.BEATS and time.monotonic() < end:
                time.sleep(0.001)
            try:
                return fn(*args, **kwargs)
            finally:
                self.steps.append((name, on_loop, self.beats - start))
        return step


def test_event_loop_is_never_blocked(pack, emu, monkeypatch):
    """Tensor conversion, hashing, encoding, HTTP, decoding run in threads: the loop keeps beating
    while each of them is in progress."""
    def lib(name):        # the pack's own copy of the library, as its nodes import it
        return importlib.import_module(f"{pack.__name__}.runcomfy.{name}")
    watch = LoopWatch()
    tensors = importlib.import_module(f"{pack.__name__}.nodes.tensors")
    targets = [(tensors, "tensor_to_arrays"), (tensors, "arrays_to_tensor"),
               (lib("run.jobs.run"), "fingerprint"), (lib("media.imageformats"), "encode_many"),
               (lib("journal").Journal, "claim"), (lib("run.pipeline"), "decode_result")]
    targets += [(lib("api.client").RunComfyClient, m) for m in ("submit", "status", "result", "download_to_file")]
    for owner, name in targets:
        monkeypatch.setattr(owner, name, watch.wrap(name, getattr(owner, name)))
    cls = pack.NODE_CLASS_MAPPINGS[KEY]

    async def main():
        watch.loop_thread = threading.get_ident()
        stop = asyncio.Event()
        beat = asyncio.create_task(watch.heartbeat(stop))
        outs = await drive_like_comfyui(cls, [node_kwargs(3, 800), node_kwargs(4, 800)])
        stop.set()
        await beat
        return outs
    outs = asyncio.run(main())
    assert all(o[2] in emu.jobs for o in outs)
    names = {name for name, _, _ in watch.steps}
    assert names == {name for _, name in targets}, names      # every wrapped step really ran
    on_loop = sorted({name for name, loop, _ in watch.steps if loop})
    assert not on_loop, f"ran on the event loop's thread: {on_loop}"
    starved = [(name, n) for name, _, n in watch.steps if n < LoopWatch.BEATS]
    assert not starved, f"the loop did not beat while these ran: {starved}"
