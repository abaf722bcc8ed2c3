"""Stop at every stage of a run (issue 18.2), through the node against the emulator over real sockets,
with ComfyUI's Stop machinery faked as it really behaves: Stop sets a flag; ComfyUI's progress hook
(main.py's ``hijack_progress``) raises InterruptProcessingException on the next progress-bar update
*and clears the flag*. Core 0.33 derives that exception from BaseException, core 0.3.x from Exception:
both are run.

Every Stop after RunComfy accepted a request ends with a status event naming it: ``state`` "stopped",
``fetch_request_id`` = the request (unless it was cancelled while queued: not billed, nothing to fetch),
and fetching it on the next run sends no new submit. A Stop during the upload (no request id known)
ends with a status event too, and never leads to paying twice.

The browser suite (tests/test_browser_panel.py) shows the same in real ComfyUIs; this file pins each
stage without a browser, where the race that lost the event in core 0.33 can be made to happen every time.
"""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace

import pytest
import torch

TOKEN = "tok-stop-fetch-18"
WAN = "RunComfy_wan_ai_wan_2_6_image_to_image"


class FakeComfyUI:
    """comfy.model_management, comfy.utils.ProgressBar (with main.py's hook) and the PromptServer,
    as the node sees them. ``arm(state, how)``: when the node's status event of ``state`` goes out,
    Stop is pressed: ``how="flag"`` at once; ``how="hook"`` just as ComfyUI's progress hook runs next
    (the hook raises and clears the flag: the race a loaded machine hits)."""

    def __init__(self, base_exception: bool):
        self.flag = False
        self.armed_state, self.how, self.pending_hook_stop = None, None, False
        self.hook_raised = 0
        self.events: list[dict] = []
        self.client_id = None
        exc = type("InterruptProcessingException", (BaseException if base_exception else Exception,), {})
        self.InterruptProcessingException = exc
        fake = self

        def throw_if_interrupted():
            if fake.flag:
                fake.flag = False           # ComfyUI clears the flag as it raises
                fake.hook_raised += 1
                raise exc()

        def set_flag(value=True):
            fake.flag = bool(value)

        self.mm = SimpleNamespace(InterruptProcessingException=exc, processing_interrupted=lambda: fake.flag,
                                  interrupt_current_processing=set_flag,
                                  throw_exception_if_processing_interrupted=throw_if_interrupted)

        class ProgressBar:
            def __init__(self, total, node_id=None):
                self.total, self.node_id = total, node_id

            def update_absolute(self, value, total=None):
                if fake.pending_hook_stop:
                    fake.pending_hook_stop = False
                    fake.flag = True        # Stop pressed just before the hook runs
                throw_if_interrupted()      # main.py's hook, on every update

        self.utils = SimpleNamespace(ProgressBar=ProgressBar)

    def arm(self, state: str, how: str, when=lambda event: True) -> None:
        self.armed_state, self.how, self.when = state, how, when

    # PromptServer
    def send_progress_text(self, text, node_id):
        pass

    def send_sync(self, event, data, sid=None):
        self.events.append(dict(data))
        if self.armed_state and data.get("state") == self.armed_state and self.when(data):
            self.armed_state = None
            if self.how == "flag":
                self.flag = True
            else:
                self.pending_hook_stop = True

    def last(self) -> dict:
        return self.events[-1]


@pytest.fixture
def emu(start_emulator):
    return start_emulator(TOKEN, as_env=True, processing_time=0.3, workers=2)


@pytest.fixture(params=["core-0.33", "core-0.3.64"])
def comfyui(request, pack, monkeypatch):
    fake = FakeComfyUI(base_exception=request.param == "core-0.33")
    real = pack.nodes.comfy._module
    mods = {"comfy.model_management": fake.mm, "comfy.utils": fake.utils}
    monkeypatch.setattr(pack.nodes.comfy, "_module", lambda name: mods[name] if name in mods else real(name))
    monkeypatch.setattr(pack.nodes.comfy, "prompt_server", lambda: fake)
    return fake


def call(cls, **kw):
    out = getattr(cls(), cls.FUNCTION)(unique_id="7", **kw)
    return asyncio.run(out) if inspect.isawaitable(out) else out


def wan_inputs(seed: int, size=(512, 640), **over) -> dict:
    g = torch.Generator().manual_seed(seed)
    k = {"prompt": "the cat of image 1 in the garden of image 2", "negative_prompt": "",
         "image_1": torch.rand((1, size[0], size[1], 3), generator=g),
         "image_2": torch.rand((1, size[1], size[0], 3), generator=g),
         "image_size": "1024*1024 (1:1)", "seed": seed, "prompt_extend": False}
    k.update(over)
    return k


def run_stopped(pack, comfyui, **kw):
    with pytest.raises(comfyui.InterruptProcessingException):
        call(pack.NODE_CLASS_MAPPINGS[WAN], **kw)
    return comfyui.last()


def fetch(pack, comfyui, emu, rid: str, seed: int) -> None:
    """The next run with resume_request_id (and a changed seed, as "randomize" would): same request, no submit."""
    comfyui.flag = False
    before = emu.submits_accepted
    _, _, got = call(pack.NODE_CLASS_MAPPINGS[WAN], **wan_inputs(seed + 1, resume_request_id=rid))
    assert got == rid and emu.submits_accepted == before, (got, rid, emu.submits_accepted, before)
    assert comfyui.last()["state"] == "done" and comfyui.last()["request_id"] == rid


@pytest.mark.parametrize("how", ["flag", "hook"])
@pytest.mark.parametrize("stage", ["submitted", "queued", "running"])
def test_stop_after_the_submit_was_accepted_names_the_request_and_fetching_it_pays_nothing(
        pack, emu, comfyui, stage, how):
    # The job runs and stays running until released: Stop lands while it runs, however slow the machine.
    if stage == "queued":
        emu.stick_next_jobs(1)      # it never leaves the queue
    else:
        emu.hold_next_jobs(1)
    seed = {"submitted": 11, "queued": 12, "running": 13}[stage] * 100 + (how == "hook")
    comfyui.arm(stage, how)
    try:
        stopped = run_stopped(pack, comfyui, **wan_inputs(seed))
        (rid,) = list(emu.jobs)
        if stage == "queued":
            # A queued job is cancelled: not billed, nothing to fetch.
            assert emu.jobs[rid].state == "cancelled", emu.jobs[rid].state
            assert stopped["state"] == "stopped" and stopped["billed"] is False, stopped
            assert stopped["request_id"] in (rid, None) and stopped["fetch_request_id"] is None, stopped
            return
        assert emu.jobs[rid].state == "in_progress", "the job ended before Stop: the test proves nothing"
        assert stopped["state"] == "stopped", stopped
        assert stopped["fetch_request_id"] == rid and stopped["request_id"] == rid, stopped
        assert stopped["billed"] is True and stopped["fetch_input"] == "resume_request_id", stopped
        assert rid in stopped["text"] and "run again with the same inputs" not in stopped["text"].lower()
        # Each fact once: the text (ComfyUI's console, headless) names the id once and how to fetch it by
        # the widget's label; the panel's summary names neither (the panel shows the id and a button).
        assert stopped["text"].count(rid) == 1 and '"Resume request id" (resume_request_id)' in stopped["text"]
        assert rid not in stopped["summary"] and "fetch" not in stopped["summary"].lower(), stopped
        assert emu.count("cancel") == 1                 # it asked RunComfy to cancel (running: not cancellable)
        if how == "hook":
            assert comfyui.hook_raised >= 1, "ComfyUI's hook never raised: the race was not exercised"
    finally:
        emu.release()
    fetch(pack, comfyui, emu, rid, seed)


def test_stop_while_downloading_names_the_paid_request(pack, emu, comfyui):
    seed = 1500
    # The file answers after 20 s: Stop (pressed as the download begins) must not wait for it.
    emu.faults.add("file", "slow", times=1, delay=20)
    comfyui.arm("downloading", "flag")
    stopped = run_stopped(pack, comfyui, **wan_inputs(seed))
    (rid,) = list(emu.jobs)
    assert emu.jobs[rid].state == "completed"
    assert stopped["state"] == "stopped" and stopped["fetch_request_id"] == rid, stopped
    assert stopped["billed"] is True, stopped                       # it succeeded: paid for
    fetch(pack, comfyui, emu, rid, seed)


@pytest.mark.parametrize("how", ["flag", "hook"])
def test_stop_during_the_upload_of_several_images_ends_with_a_status_and_never_pays_twice(pack, emu, comfyui, how):
    seed = 1600 + (how == "hook")
    # Stop at the first upload progress report ("sending 1.0 of 7.9 MB"): the body is on its way.
    comfyui.arm("submitting", how, when=lambda e: " of " in (e.get("note") or ""))
    from runcomfy.emulator.shaping import Link
    emu.link = Link(uplink_mbps=40)         # a home uplink: megabytes take a second or two
    kw = wan_inputs(seed, size=(800, 1000), upload_format="png (lossless)")    # megabytes of PNG
    with pytest.raises(BaseException) as info:
        call(pack.NODE_CLASS_MAPPINGS[WAN], **kw)
    assert comfyui.armed_state is None, "no upload progress was reported: the Stop never landed"
    last = comfyui.last()
    known = [e["request_id"] for e in comfyui.events if e.get("request_id")]
    if known:
        # The upload ended and RunComfy's answer arrived before Stop was seen: the request is named.
        assert last["state"] == "stopped" and last["fetch_request_id"] == known[0] in emu.jobs, last
        emu.release()
        fetch(pack, comfyui, emu, known[0], seed)
        return
    assert last["state"] in ("stopped", "error") and last.get("fetch_request_id") is None, last
    if emu.submits_accepted == 0:
        return                      # nothing reached RunComfy: nothing billed, nothing to fetch
    # It reached RunComfy although its answer was lost: the same inputs never submit again silently.
    assert "may have reached RunComfy" in last["text"], last
    comfyui.flag = False
    with pytest.raises(Exception):
        call(pack.NODE_CLASS_MAPPINGS[WAN], **kw)
    assert comfyui.last().get("resubmit_code"), comfyui.last()
    assert emu.submits_accepted == 1, info.value
